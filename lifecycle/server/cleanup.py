"""Removing the bytes of what was deleted: a consumer of the change feed (docs/events.md).

An asset deleted for good (by its tenant, a batch, the recycle bin's sweep, an operator's script,
any instance of the service) reaches ``DELETED``; a file deleted on its own is a ``delete_file``
move. Either comes through the feed to this consumer, which removes the bytes kept for it. The
feed hands each event at least once (a batch in flight comes again after a crash), and removing
what is already gone does nothing, so every deletion is carried out, exactly in effect.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

from anyio import to_thread

from lifecycle.definition import AssetState
from lifecycle.feed import FeedEvent
from lifecycle.server.uploads import UploadStore

CONSUMER = "lifecycle-server-uploads"
DELETE_FILE = "delete_file"


class FileCleanup:
    """The handler: for each event, remove what it deleted from ``uploads``."""

    def __init__(self, uploads: UploadStore) -> None:
        self.uploads = uploads
        self.handled = 0
        self._progress = threading.Condition()

    def wait_for(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``done()`` holds, checked after each batch handled; False after ``timeout``
        seconds (for tests and shutdowns)."""
        with self._progress:
            return self._progress.wait_for(done, timeout)

    async def __call__(self, events: Sequence[FeedEvent], _connection: Any) -> None:
        for event in events:
            record = event.record
            if record.to_state is AssetState.DELETED and record.from_state is not AssetState.DELETED:
                await to_thread.run_sync(self.uploads.remove_asset, record.project_id, record.asset_id)
            elif record.event.value == DELETE_FILE and record.declared:
                file_id = json.loads(record.declared).get("file_id")
                if isinstance(file_id, str):
                    await to_thread.run_sync(
                        self.uploads.remove_file, record.project_id, record.asset_id, file_id
                    )
        with self._progress:
            self.handled += len(events)
            self._progress.notify_all()

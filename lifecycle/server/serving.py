"""``lifecycle serve``: the application under uvicorn, with the sweeps, until SIGTERM or Ctrl-C.

uvicorn handles the signals: it stops accepting connections, lets the requests in flight finish,
then runs the application's shutdown, which stops the sweep scheduler (after the batch in flight)
and the file clean-up consumer. The sweeps are tasks of the service's event loop
(``AsyncSweepScheduler``), on the same ``AsyncLifecycle`` as the requests.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn

from lifecycle.aio import AsyncLifecycle
from lifecycle.engine import Lifecycle
from lifecycle.scheduler import AsyncSweepScheduler
from lifecycle.server.app import create_app
from lifecycle.server.keys import AccessKeys
from lifecycle.server.uploads import UploadStore


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server, telling ``announce`` its address once it accepts connections."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[str], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self._announce(f"http://{host}:{port}")


async def serve_forever(
    lifecycle: Lifecycle,
    *,
    host: str,
    port: int,
    access_keys: Path,
    uploads: Path,
    sweep_interval: timedelta,
    upload_secret: bytes | None = None,
    public_url: str | None = None,
    announce: Callable[[str], None] = lambda _url: None,
) -> None:
    """Serve until uvicorn is told to stop. ``lifecycle``: the engine the admin script opened (and
    checked the schema of): its database URL and settings make the async engine the service runs
    on."""
    keys = AccessKeys.load(access_keys)
    store = UploadStore(uploads, secret=upload_secret, link_lifetime=lifecycle.settings.upload_window)
    engine = AsyncLifecycle(
        lifecycle.database.url.render_as_string(hide_password=False), settings=lifecycle.settings
    )
    scheduler = AsyncSweepScheduler(engine, interval=sweep_interval)
    background: Sequence[Any] = (scheduler,)
    app = create_app(engine, access_keys=keys, uploads=store, run_with=background, public_url=public_url)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="on", access_log=False)
    try:
        with _stop_requested():
            await AnnouncingServer(config, announce).serve()
    finally:
        await engine.close()


@contextlib.contextmanager
def _stop_requested() -> Iterator[None]:
    """uvicorn stops on SIGTERM and SIGINT, then raises the signal again once it has shut down, for
    the handler that was there before it: this one, which lets the stop be the clean end it was."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.getsignal(number) for number in signals}
    for number in signals:
        signal.signal(number, lambda _number, _frame: None)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)

"""Uploads for real: signed, expiring upload URLs, and the bytes kept under one directory.

``create_file`` answers an ``upload_url`` on this service: ``PUT /uploads/{file_id}`` with a query
that names the tenant, the asset, the declared size and MD5 and an expiry, signed with the
service's secret (HMAC-SHA256), so the link is its own credential, as an object store's pre-signed
URL is. The PUT is refused (nothing kept) when its body is larger than the declared size or does
not match its own ``Content-MD5``; otherwise the bytes are kept, whatever they are, and the
confirmation (``POST /files/{file_id}/complete``) reports to the engine what was *received*: its
size and MD5. A file that is not the one declared fails its asset, as the platform does.

Files live at ``DIRECTORY/{project_id}/{asset_id}/{file_id}``, each with ``{file_id}.json`` (its
size and MD5), written whole before it is renamed into place: a reader never sees half a file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from anyio import to_thread

from lifecycle.clock import Clock, SystemClock
from lifecycle.errors import InvalidParameter
from lifecycle.server.errors import UploadLinkInvalid

DEFAULT_LINK_LIFETIME = timedelta(hours=24)
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class UploadTicket:
    """What an upload URL allows: one file's bytes, up to its declared size, until ``expires``
    (Unix seconds)."""

    project_id: str
    asset_id: str
    file_id: str
    file_size: int
    file_md5: str
    expires: int

    def fields(self) -> dict[str, str]:
        return {
            "project_id": self.project_id,
            "asset_id": self.asset_id,
            "file_size": str(self.file_size),
            "file_md5": self.file_md5,
            "expires": str(self.expires),
        }


@dataclass(frozen=True, slots=True)
class Received:
    """What an upload delivered: its size and its MD5 (24 characters of base64)."""

    file_size: int
    file_md5: str


class UploadStore:
    """Issues and checks upload URLs, and keeps the bytes under ``directory``.

    ``secret`` signs the URLs: instances of a service behind one address share it (else a URL
    issued by one is refused by another). Without one, a random secret for this process.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        secret: bytes | None = None,
        link_lifetime: timedelta = DEFAULT_LINK_LIFETIME,
        clock: Clock | None = None,
    ) -> None:
        """``link_lifetime``: how long an upload URL is taken; ``clock``: the time links expire by
        (default: the wall clock)."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._secret = secret or secrets.token_bytes(32)
        if link_lifetime <= timedelta(0):
            raise InvalidParameter("link_lifetime", "must be positive")
        self.link_lifetime = link_lifetime
        self.clock = clock or SystemClock()

    # Links ------------------------------------------------------------------------------------

    def ticket(
        self, project_id: str, asset_id: str, file_id: str, file_size: int, file_md5: str
    ) -> UploadTicket:
        expires = int((self.clock.now() + self.link_lifetime).timestamp())
        return UploadTicket(project_id, asset_id, file_id, file_size, file_md5, expires)

    def link(self, base_url: str, ticket: UploadTicket) -> str:
        """The URL a client PUTs the file's bytes to."""
        query = {**ticket.fields(), "signature": self._sign(ticket)}
        return f"{base_url.rstrip('/')}/uploads/{ticket.file_id}?{urlencode(query)}"

    def check(self, file_id: str, query: dict[str, str]) -> UploadTicket:
        """The ticket an upload URL carries; ``UploadLinkInvalid`` unless this service signed it
        for ``file_id`` and it has not expired."""
        try:
            ticket = UploadTicket(
                project_id=query["project_id"],
                asset_id=query["asset_id"],
                file_id=file_id,
                file_size=int(query["file_size"]),
                file_md5=query["file_md5"],
                expires=int(query["expires"]),
            )
            given = query["signature"]
        except (KeyError, ValueError):
            raise UploadLinkInvalid("it lacks the fields this service signs") from None
        if not hmac.compare_digest(self._sign(ticket), given):
            raise UploadLinkInvalid("its signature does not match")
        if ticket.expires < self.clock.now().timestamp():
            raise UploadLinkInvalid("it has expired")
        return ticket

    def _sign(self, ticket: UploadTicket) -> str:
        text = "\n".join((ticket.file_id, *ticket.fields().values()))
        return hmac.new(self._secret, text.encode("utf-8"), hashlib.sha256).hexdigest()

    # Bytes ------------------------------------------------------------------------------------

    def path(self, project_id: str, asset_id: str, file_id: str) -> Path:
        return self._asset_directory(project_id, asset_id) / _safe(file_id)

    def _asset_directory(self, project_id: str, asset_id: str) -> Path:
        return self.directory / _safe(project_id) / _safe(asset_id)

    async def receive(
        self, ticket: UploadTicket, chunks: AsyncIterator[bytes], content_md5: str | None
    ) -> Received:
        """Keep the bytes ``chunks`` deliver as the ticket's file; ``InvalidParameter`` (nothing
        kept) past the declared size, or when they do not match ``content_md5``."""
        target = self.path(ticket.project_id, ticket.asset_id, ticket.file_id)
        await to_thread.run_sync(lambda: target.parent.mkdir(parents=True, exist_ok=True))
        partial = target.with_name(f"{target.name}.part-{secrets.token_hex(8)}")
        digest, size = hashlib.md5(usedforsecurity=False), 0
        handle = await to_thread.run_sync(partial.open, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > ticket.file_size:
                    declared = ticket.file_size
                    raise InvalidParameter("body", f"is larger than the declared file_size {declared}")
                digest.update(chunk)
                await to_thread.run_sync(handle.write, chunk)
            received = Received(size, base64.b64encode(digest.digest()).decode("ascii"))
            if content_md5 is not None and content_md5.strip() != received.file_md5:
                raise InvalidParameter("Content-MD5", "does not match the bytes received; nothing was kept")
            await to_thread.run_sync(handle.close)
            await to_thread.run_sync(self._keep, partial, target, received)
            return received
        finally:
            handle.close()
            partial.unlink(missing_ok=True)

    @staticmethod
    def _keep(partial: Path, target: Path, received: Received) -> None:
        meta = target.with_name(f"{target.name}.json")
        meta_partial = meta.with_name(f"{meta.name}.part-{secrets.token_hex(8)}")
        meta_partial.write_text(json.dumps({"file_size": received.file_size, "file_md5": received.file_md5}))
        os.replace(partial, target)
        os.replace(meta_partial, meta)

    def received(self, project_id: str, asset_id: str, file_id: str) -> Received | None:
        """What was uploaded for the file, or None if nothing was."""
        meta = self.path(project_id, asset_id, file_id).with_name(f"{_safe(file_id)}.json")
        try:
            values = json.loads(meta.read_text())
        except FileNotFoundError:
            return None
        return Received(int(values["file_size"]), str(values["file_md5"]))

    def remove_file(self, project_id: str, asset_id: str, file_id: str) -> None:
        target = self.path(project_id, asset_id, file_id)
        target.with_name(f"{target.name}.json").unlink(missing_ok=True)
        target.unlink(missing_ok=True)

    def remove_asset(self, project_id: str, asset_id: str) -> bool:
        """Remove every file of an asset; whether there were any. Safe to repeat."""
        directory = self._asset_directory(project_id, asset_id)
        if not directory.exists():
            return False
        shutil.rmtree(directory, ignore_errors=True)
        return True


def _safe(identifier: str) -> str:
    """An id as one path segment: the engine's ids never hold '/' or start with '.', checked again
    here because a path is built from them."""
    if not _SAFE_ID.fullmatch(identifier):
        raise InvalidParameter("id", f"{identifier!r} cannot name a stored file")
    return identifier

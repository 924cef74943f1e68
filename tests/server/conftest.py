"""A live service per test module and backend: uvicorn on 127.0.0.1, a free port, in a thread.

The service runs on its own event loop in a thread, over an ``AsyncLifecycle`` on a fresh SQLite
file or the PostgreSQL test database (emptied first); the tests call it as the platform's
clients do, with the official SDK (``huaweicloudsdkmetastudio``) or with requests signed by the
SDK's own signer (``tests.server.signed``). Stopped at the end of the module.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkmetastudio.v1 import MetaStudioClient
from sqlalchemy import text

from lifecycle.aio import AsyncLifecycle
from lifecycle.clock import SystemClock
from lifecycle.server.app import create_app
from lifecycle.server.keys import AccessKey, AccessKeys
from lifecycle.server.serving import AnnouncingServer
from lifecycle.server.uploads import UploadStore
from tests.conftest import BACKENDS, POSTGRES_URL, TABLES

TENANT_A = AccessKey("TENANTAAK0000000000001", "tenant-a-secret", project_id="tenant-a")
TENANT_B = AccessKey("TENANTBAK0000000000002", "tenant-b-secret", project_id="tenant-b")
OPERATOR = AccessKey("OPERATORAK000000000003", "operator-secret", operator="operator-7")
KEYS = AccessKeys([TENANT_A, TENANT_B, OPERATOR])


class ShiftedClock:
    """The wall clock, moved by ``shift``: the time the service checks signatures against."""

    def __init__(self) -> None:
        self.shift = timedelta(0)
        self._wall = SystemClock()

    def now(self) -> datetime:
        return self._wall.now() + self.shift


class LiveServer:
    """The service in a thread: ``start`` returns once it accepts connections; ``stop`` waits
    until it has shut down (its consumer stopped, its engine closed)."""

    def __init__(self, database_url: str, uploads: Path) -> None:
        self.database_url = database_url
        self.uploads = UploadStore(uploads)
        self.signature_clock = ShiftedClock()
        self.url = ""
        self._ready = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self.app = None

    async def _serve(self) -> None:
        engine = AsyncLifecycle(self.database_url)
        self.app = create_app(
            engine,
            access_keys=KEYS,
            uploads=self.uploads,
            signature_clock=self.signature_clock,
            cleanup_poll_interval=timedelta(milliseconds=50),
        )
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=0, log_config=None, lifespan="on", access_log=False
        )
        self._server = AnnouncingServer(config, self._started)
        try:
            await self._server.serve()
        finally:
            self._ready.set()
            await engine.close()

    def _started(self, url: str) -> None:
        self.url = url
        self._ready.set()

    def start(self) -> LiveServer:
        self._thread.start()
        assert self._ready.wait(60), "the service did not start within a minute"
        assert self.url, "the service failed to start"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(60)
        assert not self._thread.is_alive(), "the service did not stop within a minute"

    @property
    def cleanup(self):  # type: ignore[no-untyped-def]
        assert self.app is not None
        return self.app.state.file_cleanup

    def client(self, key: AccessKey) -> MetaStudioClient:
        """The platform's SDK client, signing with ``key``."""
        return self.client_for(self.url, key)

    @staticmethod
    def client_for(url: str, key: AccessKey) -> MetaStudioClient:
        config = HttpConfig.get_default_config()
        config.timeout = (10, 60)
        return (
            MetaStudioClient.new_builder()
            .with_http_config(config)
            .with_credentials(BasicCredentials(key.ak, key.sk, key.project_id))
            .with_endpoints([url])
            .build()
        )


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("server")
    if request.param == "sqlite":
        path = directory / "lifecycle.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        postgres = request.getfixturevalue("postgres_engine")
        with postgres.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
        assert POSTGRES_URL is not None
        url = POSTGRES_URL
    live = LiveServer(url, directory / "uploads").start()
    yield live
    live.stop()

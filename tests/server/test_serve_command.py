"""``lifecycle serve`` in a real process: it announces its address once it accepts connections,
takes sixteen SDK clients at once (two hundred requests each) with its sweeps running, and stops
cleanly on SIGTERM, its audit trail clean."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from huaweicloudsdkmetastudio.v1 import ListAssetsRequest
from sqlalchemy import text

from lifecycle.server.keys import AccessKey
from tests.conftest import BACKENDS, POSTGRES_URL, TABLES
from tests.server.conftest import OPERATOR, TENANT_A, LiveServer
from tests.server.load import hammer
from tests.server.signed import call


class ServeProcess:
    """``lifecycle serve`` as a child process; its address read from its announcement."""

    def __init__(self, database_url: str, directory: Path) -> None:
        keys = directory / "keys.json"
        keys.write_text(json.dumps([_entry(key) for key in (TENANT_A, OPERATOR)]))
        self.process = subprocess.Popen(  # noqa: S603 - this Python, running the package's own script
            [
                sys.executable,
                "-m",
                "lifecycle.cli",
                "--db",
                database_url,
                "serve",
                "--port",
                "0",
                "--access-keys",
                str(keys),
                "--uploads",
                str(directory / "uploads"),
                "--sweep-interval",
                "1",
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()  # blocks until it announces, or exits
        assert line.startswith("serving on http://127.0.0.1:"), line + self.process.stderr.read()
        self.url = line.split()[2].rstrip(";")

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _out, err = self.process.communicate(timeout=60)
        return self.process.returncode, err


def _entry(key: AccessKey) -> dict[str, str]:
    entry = {"ak": key.ak, "sk": key.sk}
    entry.update({"project_id": key.project_id} if key.project_id else {"operator": str(key.operator)})
    return entry


@pytest.fixture(scope="module", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[ServeProcess]:
    directory = tmp_path_factory.mktemp("serve")
    if request.param == "sqlite":
        path = directory / "lifecycle.db"
        path.write_bytes(sqlite_template.read_bytes())
        url = f"sqlite:///{path}"
    else:
        postgres = request.getfixturevalue("postgres_engine")
        with postgres.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
        assert POSTGRES_URL is not None
        url = POSTGRES_URL
    process = ServeProcess(url, directory)
    yield process
    if process.process.poll() is None:
        process.stop()


def test_16_clients_200_requests_each_leave_a_clean_audit(served: ServeProcess) -> None:
    client = LiveServer.client_for(served.url, TENANT_A)
    outcomes, unexpected = hammer(served.url, clients=16, requests=200)
    assert unexpected == []
    assert sum(outcomes.values()) == 16 * 200
    assert outcomes["ok"] > 16 * 200 // 2, outcomes
    assert client.list_assets(ListAssetsRequest(name="load")).count > 0
    report = call("GET", served.url, "/admin/v1/audit/verify", OPERATOR)
    assert report.status_code == 200
    assert report.json()["clean"] is True, report.json()


def test_sigterm_stops_it_cleanly(served: ServeProcess) -> None:
    code, err = served.stop()
    assert code == 0, err
    assert err.strip().endswith("server stopped"), err
    assert "Traceback" not in err

"""docs/fastapi.md's service, run exactly as printed: through httpx's ASGITransport (no server), its
lifespan entered as the server would, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text

from lifecycle.clock import ManualClock
from lifecycle.store import schema
from lifecycle.store.database import open_database
from tests.conftest import MD5, POSTGRES_URL, START, TABLES

DOC = (Path(__file__).parent.parent / "docs" / "fastapi.md").read_text(encoding="utf-8")


def _service(tmp_path: Path) -> ModuleType:
    blocks = re.findall(r"```python\n(.*?)```", DOC, flags=re.DOTALL)
    (source,) = [block for block in blocks if block.startswith("# service.py")]
    path = tmp_path / "service.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("fastapi_example_service", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'service.db'}"
    else:
        if not POSTGRES_URL:
            pytest.skip("LIFECYCLE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
        url = POSTGRES_URL
        emptied = open_database(url)
        schema.upgrade(emptied)
        with emptied.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
        emptied.dispose()
    app = _service(tmp_path).create_app(url, clock=ManualClock(START))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as made,
    ):
        yield made
    sys.modules.pop("fastapi_example_service", None)


NEW = {"name": "Teacher", "file_name": "teacher.png", "file_size": 110321, "file_md5": MD5}


async def _created(client: httpx.AsyncClient, **headers: str) -> dict[str, Any]:
    answer = await client.post("/projects/acme/assets", json=NEW, headers=headers)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.mark.asyncio
async def test_the_documented_service_creates_uploads_and_moves_an_asset(client: httpx.AsyncClient) -> None:
    asset = await _created(client)
    (main,) = asset["files"]
    asset_path = f"/projects/acme/assets/{asset['asset_id']}"
    uploaded = await client.post(f"{asset_path}/files/{main['file_id']}/uploaded")
    assert uploaded.status_code == 200 and uploaded.json()["transition"]["to_state"] == "UNACTIVED"
    moved = await client.post(f"/projects/acme/assets/{asset['asset_id']}/activate")
    assert moved.status_code == 200, moved.text
    assert (moved.json()["from_state"], moved.json()["to_state"]) == ("UNACTIVED", "ACTIVED")
    shown = await client.get(f"/projects/acme/assets/{asset['asset_id']}")
    assert shown.json()["asset_state"] == "ACTIVED"


@pytest.mark.asyncio
async def test_the_documented_service_answers_refusals_with_the_platforms_error_body(
    client: httpx.AsyncClient,
) -> None:
    asset = await _created(client)
    refused = await client.post(f"/projects/acme/assets/{asset['asset_id']}/activate")  # still CREATING
    assert refused.status_code == 409
    assert refused.json()["error_code"] == "MSS.00000003"
    assert "CREATING" in refused.json()["error_msg"]
    unknown = await client.post(f"/projects/acme/assets/{asset['asset_id']}/teleport")
    assert (unknown.status_code, unknown.json()["error_code"]) == (404, "MSS.00000002")
    elsewhere = await client.get(f"/projects/other/assets/{asset['asset_id']}")
    assert (elsewhere.status_code, elsewhere.json()["error_code"]) == (404, "MSS.00000002")


@pytest.mark.asyncio
async def test_racing_retries_through_the_documented_service_make_one_asset(
    client: httpx.AsyncClient,
) -> None:
    answers = await asyncio.gather(*(_created(client, **{"request-id": "create-1"}) for _ in range(8)))
    assert len({answer["asset_id"] for answer in answers}) == 1

"""The application mounted in another at ``/assets``: its signed paths, its upload links and its
unsigned pages all answer under the prefix (ASGI in process: no server to start)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from lifecycle.aio import AsyncLifecycle
from lifecycle.server.app import create_app
from tests.server.conftest import KEYS, TENANT_A
from tests.server.sdk import PICTURE, md5
from tests.server.signed import signed_request

BASE = "http://svc"
PREFIX = "/assets"


@pytest_asyncio.fixture
async def outer(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[httpx.AsyncClient]:
    shutil.copy(sqlite_template, tmp_path / "lifecycle.db")
    engine = AsyncLifecycle(f"sqlite:///{tmp_path / 'lifecycle.db'}")
    app = FastAPI()
    app.mount(
        PREFIX, create_app(engine, access_keys=KEYS, uploads=tmp_path / "uploads", clean_up_files=False)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client
    await engine.close()


async def signed(client: httpx.AsyncClient, method: str, path: str, body: Any = None) -> httpx.Response:
    request = signed_request(method, BASE, PREFIX + path, TENANT_A, body=body)
    return await client.request(method, request.uri, headers=request.header_params, content=request.body)


@pytest.mark.asyncio
async def test_a_mounted_service_signs_uploads_and_documents_under_its_prefix(
    outer: httpx.AsyncClient,
) -> None:
    created = await signed(
        outer, "POST", "/v1/tenant-a/digital-assets", {"asset_name": "A", "asset_type": "IMAGE"}
    )
    assert created.status_code == 200, created.text
    asset_id = created.json()["asset_id"]
    declared = await signed(
        outer,
        "POST",
        "/v1/tenant-a/files",
        {
            "file_name": "main.png",
            "file_size": len(PICTURE),
            "file_md5": md5(PICTURE),
            "asset_id": asset_id,
            "asset_file_category": "MAIN",
        },
    )
    assert declared.status_code == 200, declared.text
    upload_url = declared.json()["upload_url"]
    assert upload_url.startswith(f"{BASE}{PREFIX}/uploads/")
    put = await outer.put(upload_url, content=PICTURE, headers={"Content-MD5": md5(PICTURE)})
    assert put.status_code == 200, put.text

    document = await outer.get(f"{PREFIX}/openapi.json")
    assert document.status_code == 200, document.text

    missing = await signed(outer, "GET", "/v1/tenant-a/no-such-path")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "MSS.00000002"

"""A failure of the service answers in the platform's shape, without its detail: the database's
failure is the engine's 503 with its fixed text, anything unforeseen a 500 that says only that; the
detail goes to the ``lifecycle.server`` log with the request id the client was given."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from lifecycle.errors import StoreUnavailable
from lifecycle.server.app import create_app
from tests.server.conftest import KEYS, TENANT_A
from tests.server.signed import signed_request

DRIVER_DETAIL = "connection to db-7.internal:5432 as lifecycle_rw failed: FATAL password authentication"


class FailingEngine:
    """Stands in for ``AsyncLifecycle``: every read fails as ``error`` says."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def get_asset(self, *_args: Any, **_kwargs: Any) -> Any:
        raise self.error


def answer(error: Exception, tmp_path: Path) -> Any:
    app = create_app(FailingEngine(error), access_keys=KEYS, uploads=tmp_path, clean_up_files=False)  # type: ignore[arg-type]
    request = signed_request("GET", "http://testserver", "/v1/tenant-a/digital-assets/a1", TENANT_A)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(request.uri, headers=request.header_params)

    with capture_logs() as logs:
        response = asyncio.run(get())
    return response, logs


@pytest.mark.parametrize(
    ("error", "status", "code", "message"),
    [
        (
            StoreUnavailable(f"the database failed: {DRIVER_DETAIL}", detail=DRIVER_DETAIL),
            503,
            "LIFECYCLE.STORE_UNAVAILABLE",
            "the service's database is unavailable; try again later",
        ),
        (RuntimeError(DRIVER_DETAIL), 500, "LIFECYCLE.INTERNAL_ERROR", "the service failed"),
    ],
)
def test_a_failure_answers_without_its_detail(
    tmp_path: Path, error: Exception, status: int, code: str, message: str
) -> None:
    response, logs = answer(error, tmp_path)
    assert response.status_code == status
    assert response.json() == {"error_code": code, "error_msg": message}
    assert "db-7" not in response.text
    request_id = response.headers["X-Request-Id"]
    failed = [entry for entry in logs if entry["event"] == "request_failed"]
    assert [entry["request_id"] for entry in failed] == [request_id]
    assert DRIVER_DETAIL in failed[0]["error"]

"""Every refusal and failure as the platform answers them: ``{"error_code", "error_msg"}``.

An engine error carries its own status, code and client-safe message (``LifecycleError.to_dict``);
a request the framework could not parse is the platform's ``MSS.00000003``; an unknown path its
``MSS.00000002``. A failure of the service is a 500 whose body says only that: the detail goes to
the ``lifecycle.server`` log with the request id the client was given.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from lifecycle.errors import INVALID_PARAMETER, NOT_FOUND, LifecycleError
from lifecycle.logs import EventLog

INTERNAL_ERROR = "LIFECYCLE.INTERNAL_ERROR"
INTERNAL_MESSAGE = "the service failed"

log = EventLog("lifecycle.server")


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error_code": code, "error_msg": message}


def refusal(error: LifecycleError, request_id: str | None = None) -> JSONResponse:
    if error.http_status >= 500:
        log.error("request_failed", request_id=request_id, error_code=error.code, error=error.message)
    return JSONResponse(error.to_dict(), status_code=error.http_status)


def internal_error(error: BaseException, request_id: str | None) -> JSONResponse:
    log.error(
        "request_failed",
        request_id=request_id,
        error_code=INTERNAL_ERROR,
        error=f"{type(error).__name__}: {error}",
        exc_info=error,
    )
    return JSONResponse(error_body(INTERNAL_ERROR, INTERNAL_MESSAGE), status_code=500)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def _lifecycle_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, LifecycleError)
    return refusal(error, _request_id(request))


async def _invalid_request(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [_problem(entry) for entry in error.errors()[:5]]
    return JSONResponse(
        error_body(INVALID_PARAMETER, "invalid parameter " + "; ".join(problems)), status_code=400
    )


def _problem(entry: Any) -> str:
    location = ".".join(str(part) for part in entry.get("loc", ()) if part not in ("body", "query", "path"))
    return f"{location or 'body'}: {entry.get('msg', 'is not valid')}"


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        body = error_body(NOT_FOUND, f"no such path: {request.method} {request.url.path}")
    elif error.status_code == 405:
        body = error_body(INVALID_PARAMETER, f"{request.method} is not allowed on {request.url.path}")
    else:
        body = error_body(INVALID_PARAMETER, str(error.detail))
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


def install(app: FastAPI) -> None:
    """Answer every refusal in the platform's shape."""
    app.add_exception_handler(LifecycleError, _lifecycle_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)

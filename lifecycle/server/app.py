"""The application factory: ``create_app`` builds the service over an ``AsyncLifecycle``.

FastAPI (on Starlette) because the service is a typed API first: the request bodies are pydantic
models of the SDK's own (validated, and refused by field name), the OpenAPI document is generated
from the routes and served at ``/openapi.json`` (pages at ``/docs``), and the handlers are
coroutines over ``AsyncLifecycle``, so one process serves many requests while each waits for the
database. Starlette alone would do the routing; FastAPI adds the models and the document.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from lifecycle.clock import Clock, SystemClock
from lifecycle.feed import DEFAULT_POLL
from lifecycle.server import admin, answers, tenant, transfer
from lifecycle.server.cleanup import CONSUMER, FileCleanup
from lifecycle.server.gate import MAX_BODY, Gate
from lifecycle.server.keys import AccessKeys
from lifecycle.server.services import Services
from lifecycle.server.signing import Verifier
from lifecycle.server.uploads import UploadStore

if TYPE_CHECKING:
    from lifecycle.aio import AsyncLifecycle

TITLE = "lifecycle: the platform's asset API"


def create_app(
    engine: AsyncLifecycle,
    *,
    access_keys: AccessKeys,
    uploads: UploadStore | str | Path,
    signature_clock: Clock | None = None,
    clean_up_files: bool = True,
    run_with: Sequence[Any] = (),
    max_body: int = MAX_BODY,
    cleanup_poll_interval: timedelta = DEFAULT_POLL,
    public_url: str | None = None,
) -> FastAPI:
    """The ASGI application.

    ``access_keys``: who may call. ``uploads``: where uploaded bytes are kept (an ``UploadStore``,
    or its directory). ``signature_clock``: the time signatures are checked against (default: the
    wall clock; the engine's own clock may be a test's). ``clean_up_files``: run the change-feed
    consumer that removes the bytes of deleted files and assets (on SQLite it looks for new events
    every ``cleanup_poll_interval``; PostgreSQL notifies it). ``run_with``: context managers (sync
    or async) entered when the application starts and left when it stops, such as a sweep
    scheduler. ``public_url``: where clients reach the service, when not at the address they
    called (behind a proxy that rewrites it): the upload URLs point there. A service that mounts
    this application in its own must run its lifespan (``app.router.lifespan_context``) from its
    own, since a mounted application's is not run.
    """
    store = uploads if isinstance(uploads, UploadStore) else UploadStore(uploads)
    cleanup = FileCleanup(store)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for manager in run_with:
                if hasattr(manager, "__aenter__"):
                    await stack.enter_async_context(manager)
                else:
                    stack.enter_context(manager)
            if clean_up_files:
                stop = asyncio.Event()
                consumer = engine.consumer(CONSUMER, cleanup, poll_interval=cleanup_poll_interval)
                task = asyncio.create_task(consumer.run(stop))
                stack.push_async_callback(_stopped, task, stop)
            yield

    app = FastAPI(title=TITLE, version=_version(), lifespan=lifespan)
    app.state.services = Services(engine, store, public_url)
    app.state.file_cleanup = cleanup
    answers.install(app)
    app.include_router(tenant.router)
    app.include_router(transfer.router)
    app.include_router(admin.router)
    app.openapi = lambda: _document(app)  # type: ignore[method-assign]
    verifier = Verifier(access_keys, signature_clock or SystemClock())
    app.add_middleware(Gate, verifier=verifier, max_body=max_body)
    return app


def _document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's OpenAPI document, without the 422 answers it lists for every route with
    parameters: this service answers an invalid request 400, in the platform's shape."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for unused in ("HTTPValidationError", "ValidationError"):
            document.get("components", {}).get("schemas", {}).pop(unused, None)
        app.openapi_schema = document
    return app.openapi_schema


async def _stopped(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    await task


def _version() -> str:
    try:
        return version("lifecycle")
    except PackageNotFoundError:
        return "0"

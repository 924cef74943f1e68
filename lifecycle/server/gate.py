"""What every request passes first: its request id, its signature, and the last line of defence.

A pure ASGI middleware (it reads the body once, checks the signature over it, and hands the same
bytes on), outermost of the application's own:

- every response carries ``X-Request-Id`` (a new id per request; the engine records it with the
  move the request made, so an audit row leads back to the request's log lines);
- nothing is answered without a valid ``SDK-HMAC-SHA256`` signature, except the OpenAPI document
  and its pages, and the upload PUTs, which carry their own signed link;
- a body larger than ``max_body`` is refused before it is read whole;
- an exception nothing else handled becomes a 500 in the platform's shape, without its detail.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from lifecycle.errors import LifecycleError
from lifecycle.server.answers import internal_error, refusal
from lifecycle.server.errors import BodyTooLarge
from lifecycle.server.signing import ReceivedRequest, Verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID = "x-request-id"
MAX_BODY = 4 << 20
"""The JSON paths' bodies: 4 MiB (an asset's metadata is at most 64 KiB per field)."""
UNSIGNED_PREFIXES = ("/uploads/",)
UNSIGNED_PATHS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


class Gate:
    def __init__(self, app: ASGIApp, *, verifier: Verifier, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.verifier = verifier
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            path = route_path(scope)
            if path in UNSIGNED_PATHS or path.startswith(UNSIGNED_PREFIXES):
                await self.app(scope, receive, send_with_id)
                return
            body = await self._body(receive)
            scope["state"]["access_key"] = self.verifier.verify(_received(scope, body))
            await self.app(scope, _replay(body, receive), send_with_id)
        except LifecycleError as error:
            if not started:
                await refusal(error, request_id)(scope, receive, send_with_id)
        except Exception as error:  # noqa: BLE001 - the last line of defence: no detail to the client
            if not started:
                await internal_error(error, request_id)(scope, receive, send_with_id)

    async def _body(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise BodyTooLarge(self.max_body)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def route_path(scope: Scope) -> str:
    """The path within this application: without the prefix it is mounted at (``root_path``),
    which ASGI servers and Starlette's ``Mount`` leave in ``path``."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path


def _received(scope: Scope, body: bytes) -> ReceivedRequest:
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
    headers = [(name.decode("latin-1").lower(), header_text(value)) for name, value in scope["headers"]]
    return ReceivedRequest(
        method=scope["method"],
        path=raw_path.decode("latin-1"),
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
    )


def header_text(value: bytes) -> str:
    """A header value as the SDK signed it: UTF-8 (Latin-1 where it is not)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay

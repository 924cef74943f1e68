"""The async facade seen through the sync facade's calls, so that one suite tests both.

``SyncView(AsyncLifecycle)`` answers every call of ``Lifecycle``: each coroutine of the async
facade is run to its end on an event loop of its own, in a thread of its own, and its result or
error handed back. Calls from several threads at once become concurrent tasks on that one loop:
the racing tests then race tasks, as a service's requests would. Only the test suite uses it; it
adds nothing to the behaviour it shows (every answer is the async facade's own).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util import await_only

from lifecycle.aio import AsyncConsumer, AsyncLifecycle
from lifecycle.feed import FeedEvent

T = TypeVar("T")


def transactions_engine(lifecycle: object) -> Engine:
    """The sync ``Engine`` a facade's transactions run on, for tests that watch it with SQLAlchemy
    events: the ``Lifecycle``'s database, or the ``AsyncLifecycle``'s ``sync_engine``."""
    if isinstance(lifecycle, SyncView):
        return lifecycle.facade.database.sync_engine
    database = getattr(lifecycle, "database", None)
    assert isinstance(database, Engine)
    return database


class EventLoopThread:
    """An event loop running in a daemon thread until ``close``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="async-facade", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """The coroutine's result: from another thread, run on the loop; from the loop's own
        thread (a listener or handler calling the engine, inside a call's greenlet), awaited
        there, as a coroutine listener would ``await`` it."""
        if threading.current_thread() is self._thread:
            return await_only(coroutine)
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


class _Awaiting:
    """Every coroutine function of ``target`` as a plain call run on ``loop``; other attributes
    as they are."""

    def __init__(self, target: object, loop: EventLoopThread) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if inspect.iscoroutinefunction(value):

            def call(*args: Any, **kwargs: Any) -> Any:
                return self._loop.run(value(*args, **kwargs))

            return call
        return value


class SyncView(_Awaiting):
    """An ``AsyncLifecycle`` answering ``Lifecycle``'s calls. ``database`` is the sync engine of
    the same database, for the tests' own SQL (the async engine's sync side works only inside
    the facade's greenlets)."""

    def __init__(self, engine: AsyncLifecycle, loop: EventLoopThread, database: Engine) -> None:
        super().__init__(engine, loop)
        self.facade = engine
        self.database = database

    @property
    def feed(self) -> _Awaiting:
        return _Awaiting(self.facade.feed, self._loop)

    def consumer(
        self, name: str, handler: Callable[[Sequence[FeedEvent], Connection], Any], **options: Any
    ) -> ConsumerView:
        """The async consumer; a sync handler is given the transaction's sync connection, as the
        sync facade gives it (inside the facade's greenlet, where it may be used)."""

        def on_batch(events: Sequence[FeedEvent], connection: AsyncConnection) -> Any:
            return handler(events, connection.sync_connection)  # type: ignore[arg-type]

        return ConsumerView(self.facade.consumer(name, on_batch, **options), self._loop)

    def __enter__(self) -> SyncView:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class ConsumerView(_Awaiting):
    def __init__(self, consumer: AsyncConsumer, loop: EventLoopThread) -> None:
        super().__init__(consumer, loop)
        self.consumer = consumer

    def run(self, stop: threading.Event) -> None:
        """``AsyncConsumer.run`` until ``stop`` (a thread's event, as the sync facade takes) is set."""
        loop = self._loop.loop
        stopping = self._loop.run(_new_event())

        def relay() -> None:
            stop.wait()
            loop.call_soon_threadsafe(stopping.set)

        threading.Thread(target=relay, daemon=True).start()
        self._loop.run(self.consumer.run(stopping))


async def _new_event() -> asyncio.Event:
    return asyncio.Event()

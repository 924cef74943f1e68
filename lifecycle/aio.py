"""The engine for asyncio services: ``AsyncLifecycle``, every call of ``Lifecycle`` awaitable.

**One logic, run in greenlets.** The engine's logic is written once, synchronously: the moves,
the guarded writes, the retries, the audit. ``AsyncLifecycle`` holds a ``Lifecycle`` over the sync
side of an SQLAlchemy ``AsyncEngine`` (``AsyncEngine.sync_engine``: its DBAPI adapter hands every
driver call to the event loop) and runs each call in a greenlet (``greenlet_spawn``), the way
SQLAlchemy's own ``AsyncSession`` runs the ORM: where the sync code waits for the database, the
greenlet switches to the event loop, which awaits the native async driver (aiosqlite,
psycopg 3's ``AsyncConnection``) and runs other tasks meanwhile. No thread pool, and no second
copy of any rule. The engine's own waits (a retry's back-off, the change feed's pauses) are
``lifecycle.waits.pause``: ``asyncio.sleep`` in a greenlet.

**Cancellation.** A task cancelled while a call awaits the database gets ``CancelledError`` at that
await, inside the transaction: SQLAlchemy rolls it back (or, if the driver was mid-statement,
closes the connection, which the server rolls back), the connection goes back to its pool, and
the error leaves the call. A move is one transaction, so it is either written whole or not at
all; cancelled while committing, it may have been committed (the server decides), never half.
A call cancelled after its commit, while its async listeners run, has made its move.

**Listeners and consumers.** ``listen`` takes coroutine functions as well as functions: both are
called after the commit, in the order registered, and a coroutine listener is awaited before the
call returns. ``consumer`` returns an ``AsyncConsumer`` whose handler may be a coroutine function,
given the batch and the consumer's transaction as an ``AsyncConnection``.

docs/async.md tells the whole story.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import warnings
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import await_only, greenlet_spawn

from lifecycle.clock import Clock
from lifecycle.context import Context
from lifecycle.definition import DEFINITION, AssetState, Definition, Event
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidParameter
from lifecycle.feed import (
    CHANNEL,
    DEFAULT_BATCH,
    DEFAULT_POLL,
    Consumer,
    Feed,
    FeedEvent,
    listening_address,
    log_batch_failure,
)
from lifecycle.listeners import Subscription
from lifecycle.logs import EventLogger
from lifecycle.records import TransitionRecord
from lifecycle.retry import RetryPolicy
from lifecycle.settings import DEFAULT_DATABASE_URL, Settings
from lifecycle.store.database import open_async_database

P = ParamSpec("P")
R = TypeVar("R")

AsyncListener = Callable[[TransitionRecord], Any]
"""A function or a coroutine function of a ``TransitionRecord``."""
AsyncHandler = Callable[[Sequence[FeedEvent], AsyncConnection], Any]
"""A consumer's handler on the async facade: a function or a coroutine function of a batch and the
consumer's transaction, as an ``AsyncConnection``."""


def _awaitable(
    method: Callable[Concatenate[Any, P], R],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]:
    """The coroutine that runs ``method`` of the sync object the async one wraps (its ``_sync``)
    in a greenlet: the same name, parameters, docstring, result and errors."""

    async def call(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await greenlet_spawn(functools.partial(method, self._sync, *args, **kwargs))

    functools.update_wrapper(call, method)
    return call


class AsyncLifecycle:
    """The asset lifecycle over one database, for asyncio: ``Lifecycle``'s calls as coroutines.

    Create it once per service (it is safe for any number of concurrent tasks on its event loop)
    and ``await close()`` it, or use ``async with``.
    """

    def __init__(
        self,
        database: str | AsyncEngine = DEFAULT_DATABASE_URL,
        *,
        clock: Clock | None = None,
        settings: Settings | None = None,
        logger: EventLogger | None = None,
        definition: Definition = DEFINITION,
        retry: RetryPolicy | None = None,
    ) -> None:
        """``database``: a URL (``sqlite:///…``, ``postgresql://…``, ``postgresql+psycopg://…``:
        the async driver is chosen here) or an SQLAlchemy ``AsyncEngine`` (yours to dispose of).
        The other options are ``Lifecycle``'s."""
        if not isinstance(database, str | AsyncEngine):
            raise InvalidParameter("database", "must be a database URL or an SQLAlchemy AsyncEngine")
        self._owns_database = isinstance(database, str)
        self.database: AsyncEngine = open_async_database(database) if isinstance(database, str) else database
        self._sync = Lifecycle(
            self.database.sync_engine,
            clock=clock,
            settings=settings,
            logger=logger,
            definition=definition,
            retry=retry,
        )
        self.context: Context = self._sync.context
        self._feed = AsyncFeed(self._sync.feed)

    @property
    def clock(self) -> Clock:
        return self._sync.clock

    @property
    def settings(self) -> Settings:
        return self._sync.settings

    @property
    def definition(self) -> Definition:
        return self._sync.definition

    @property
    def engine(self) -> AsyncEngine:
        """Deprecated: the SQLAlchemy engine is ``database``."""
        warnings.warn(
            "AsyncLifecycle.engine is deprecated: use AsyncLifecycle.database",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.database

    @property
    def retry(self) -> RetryPolicy:
        return self._sync.retry

    @property
    def transaction_retries(self) -> int:
        return self._sync.transaction_retries

    @property
    def feed(self) -> AsyncFeed:
        """The change feed, for operators: ``read``, ``end``, ``settle``, ``consumers``, ``seek``."""
        return self._feed

    # Set-up ----------------------------------------------------------------------------------

    upgrade = _awaitable(Lifecycle.upgrade)
    check_schema = _awaitable(Lifecycle.check_schema)

    async def close(self) -> None:
        """Release the database's connections, if this engine opened it (from a URL)."""
        if self._owns_database:
            await self.database.dispose()

    async def __aenter__(self) -> AsyncLifecycle:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # The calls, each the sync facade's own run in a greenlet ---------------------------------

    create_asset = _awaitable(Lifecycle.create_asset)
    fire = _awaitable(Lifecycle.fire)
    activate = _awaitable(Lifecycle.activate)
    deactivate = _awaitable(Lifecycle.deactivate)
    delete = _awaitable(Lifecycle.delete)
    restore = _awaitable(Lifecycle.restore)
    freeze = _awaitable(Lifecycle.freeze)
    unfreeze = _awaitable(Lifecycle.unfreeze)
    pass_review = _awaitable(Lifecycle.pass_review)
    reject_review = _awaitable(Lifecycle.reject_review)
    confirm_upload = _awaitable(Lifecycle.confirm_upload)
    freeze_tenant = _awaitable(Lifecycle.freeze_tenant)
    unfreeze_tenant = _awaitable(Lifecycle.unfreeze_tenant)
    apply_for_unfreeze = _awaitable(Lifecycle.apply_for_unfreeze)
    approve_unfreeze = _awaitable(Lifecycle.approve_unfreeze)
    reject_unfreeze = _awaitable(Lifecycle.reject_unfreeze)
    get_unfreeze_application = _awaitable(Lifecycle.get_unfreeze_application)
    list_unfreeze_applications = _awaitable(Lifecycle.list_unfreeze_applications)
    batch = _awaitable(Lifecycle.batch)
    sweep = _awaitable(Lifecycle.sweep)
    due_counts = _awaitable(Lifecycle.due_counts)
    storage_report = _awaitable(Lifecycle.storage_report)
    asset_storage = _awaitable(Lifecycle.asset_storage)
    get_asset = _awaitable(Lifecycle.get_asset)
    list_assets = _awaitable(Lifecycle.list_assets)
    history = _awaitable(Lifecycle.history)
    allowed_events = _awaitable(Lifecycle.allowed_events)
    verify_audit = _awaitable(Lifecycle.verify_audit)
    # The changes that move no state (lifecycle.changes): files declared and deleted one by one,
    # the metadata updated, files looked up by id, summaries.
    declare_file = _awaitable(Lifecycle.declare_file)
    delete_file = _awaitable(Lifecycle.delete_file)
    update_asset = _awaitable(Lifecycle.update_asset)
    file_owner = _awaitable(Lifecycle.file_owner)
    asset_summaries = _awaitable(Lifecycle.asset_summaries)

    # Transition events: registering does no I/O, so these two are plain calls -----------------

    def listen(
        self,
        listener: AsyncListener,
        *,
        events: Iterable[Event] | None = None,
        to_states: Iterable[AssetState] | None = None,
        project_id: str | None = None,
    ) -> Subscription:
        """Call ``listener`` (a function, or a coroutine function: awaited) with each
        ``TransitionRecord`` this engine applies, after its commit, in the order registered; the
        call that made the move returns after its listeners. ``close()`` the subscription to stop."""
        if not callable(listener):
            raise InvalidParameter("listener", "must be callable with a TransitionRecord")
        return self._sync.listen(
            _in_greenlet(listener), events=events, to_states=to_states, project_id=project_id
        )

    def consumer(self, name: str, handler: AsyncHandler, **options: Any) -> AsyncConsumer:
        """A named consumer of the durable change feed (``AsyncConsumer``); ``handler`` is given
        each batch and the consumer's transaction (an ``AsyncConnection``); options as
        ``Lifecycle.consumer``'s."""
        if not callable(handler):
            raise InvalidParameter("handler", "must be callable with (events, connection)")
        return AsyncConsumer(self, name, handler, **options)


def _in_greenlet(listener: AsyncListener) -> Callable[[TransitionRecord], None]:
    """``listener`` as the sync engine calls it: in the call's greenlet, its awaitable awaited."""

    @functools.wraps(listener)
    def call(record: TransitionRecord) -> None:
        outcome = listener(record)
        if inspect.isawaitable(outcome):
            await_only(outcome)

    return call


class AsyncFeed:
    """``Feed``'s calls as coroutines (lifecycle.feed)."""

    def __init__(self, feed: Feed) -> None:
        self._sync = feed

    read = _awaitable(Feed.read)
    end = _awaitable(Feed.end)
    settle = _awaitable(Feed.settle)
    consumers = _awaitable(Feed.consumers)
    seek = _awaitable(Feed.seek)
    consume = _awaitable(Feed.consume)
    """One batch for a consumer, with a sync handler (``AsyncConsumer`` takes coroutine ones)."""


class AsyncConsumer:
    """A named consumer of the change feed on the event loop (``Consumer``, lifecycle.feed):
    ``run_once`` handles the events there are now, ``catch_up`` every event committed before it,
    ``run`` keeps handling them until ``stop`` is set, waiting in between for PostgreSQL's
    notification (on psycopg's async connection) or, on SQLite, the poll interval."""

    def __init__(
        self,
        engine: AsyncLifecycle,
        name: str,
        handler: AsyncHandler,
        *,
        batch_size: int = DEFAULT_BATCH,
        start: str = "beginning",
        poll_interval: timedelta = DEFAULT_POLL,
    ) -> None:
        self._database = engine.database
        self._ctx = engine.context

        def handle(events: Sequence[FeedEvent], connection: Connection) -> None:
            outcome = handler(events, AsyncConnection(self._database, connection))
            if inspect.isawaitable(outcome):
                await_only(outcome)

        self._sync = Consumer(
            engine.context, name, handle, batch_size=batch_size, start=start, poll_interval=poll_interval
        )
        self.name = self._sync.name
        self._poll = poll_interval.total_seconds()
        self._listening: Any = None

    run_once = _awaitable(Consumer.run_once)
    catch_up = _awaitable(Consumer.catch_up)

    async def run(self, stop: asyncio.Event) -> None:
        """Handle events as they come until ``stop`` is set (checked between batches and waits)."""
        log = self._ctx.logs.feed
        log.info("consumer_started", consumer=self.name)
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                except Exception as error:  # noqa: BLE001 - logged (with a handler's traceback); the batch comes again
                    log_batch_failure(log, self.name, error)
                await self._wait(stop)
        finally:
            await self.close()
            log.info("consumer_stopped", consumer=self.name)

    async def close(self) -> None:
        if self._listening is not None:
            listening, self._listening = self._listening, None
            await listening.close()

    async def _wait(self, stop: asyncio.Event) -> None:
        """Until a notification (PostgreSQL), the poll interval, or ``stop``."""
        postgres = self._database.dialect.name == "postgresql"
        waiting = asyncio.ensure_future(self._notified() if postgres else asyncio.sleep(self._poll))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((waiting, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiting, stopping):
                task.cancel()
            await asyncio.gather(waiting, stopping, return_exceptions=True)
        error = None if waiting.cancelled() else waiting.exception()
        if error is not None:  # a lost listening connection: wait a poll interval, reconnect next time
            self._ctx.logs.feed.warning("consumer_listen_failed", consumer=self.name, error=str(error))
            await self.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._poll)

    async def _notified(self) -> None:
        connection = await self._listen()
        async for _ in connection.notifies(timeout=self._poll, stop_after=1):
            return

    async def _listen(self) -> Any:
        if self._listening is None:
            import psycopg  # noqa: PLC0415 - PostgreSQL only, whose driver is then installed

            self._listening = await psycopg.AsyncConnection.connect(
                listening_address(self._database.url), autocommit=True
            )
            await self._listening.execute(f"LISTEN {CHANNEL}")
        return self._listening


__all__ = ["AsyncConsumer", "AsyncFeed", "AsyncHandler", "AsyncLifecycle", "AsyncListener"]

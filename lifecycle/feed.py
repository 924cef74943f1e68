"""The durable change feed: every transition applied by any process, read by named consumers.

The feed is the audit trail itself, read in feed order: every transition already writes its audit
row in its own transaction, so the feed costs a transition no second copy, only its place (two
integers) and, on PostgreSQL, a notification.

**Places, and why a reader never skips a row.** On PostgreSQL concurrent transactions commit out of
the order of any sequence they drew from, so a reader following the audit ``id`` could pass a row
that commits a moment later with a smaller id, and lose it. A row's place is instead
``(feed_txid, id)``: ``feed_txid`` is the writing transaction's id (``pg_current_xact_id()``),
raised to the asset's previous row's place if that is higher. A reader reads only rows placed
below the *horizon*: the oldest transaction still in progress in its snapshot
(``pg_snapshot_xmin``). Every transaction below it has ended, and every transaction still to write
has an id at least as high, so no row can ever appear below the horizon later: a cursor that only
ever passes rows below it skips nothing. An asset's rows are in its version order: each row's place
is at least its previous row's, and where equal, its id is higher (it was written after that row
committed). On SQLite, one writer at a time: rows commit in id order, ``feed_txid`` is 0, and the
id alone orders the feed.

**Consumers.** A named consumer keeps its cursor in ``lifecycle_feed_consumers``. Each batch is one
transaction: the consumer's row is claimed (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so that
instances of one consumer in several processes take turns, and one that dies is replaced by the
next), the next events are read, the handler is called with them *and the transaction's
connection*, and the cursor is advanced; all commit together. A handler that writes its own rows on
that connection applies each event exactly once; one with effects outside the database gets each
event at least once (after a crash, the batch in flight comes again) and deduplicates by
``FeedEvent.event_id``. A waiting consumer wakes on PostgreSQL's ``NOTIFY lifecycle_feed`` (sent by
a trigger in the writing transaction, so only once it commits), on SQLite every poll interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import URL, Connection

from lifecycle import waits
from lifecycle.actors import Platform, System
from lifecycle.context import Context
from lifecycle.definition import Role
from lifecycle.errors import FeedHeldBack, InvalidParameter, LifecycleError, PermissionDenied
from lifecycle.inputs import check_actor, check_line
from lifecycle.logs import EventLogger
from lifecycle.records import TransitionRecord
from lifecycle.store import feed as statements

MAX_READ = 10_000
DEFAULT_BATCH = 100
DEFAULT_POLL = timedelta(seconds=1)
DEFAULT_SETTLE = timedelta(seconds=30)
CHANNEL = "lifecycle_feed"


@dataclass(frozen=True, order=True, slots=True)
class FeedPosition:
    """A place in the feed; a cursor at a position has read every event up to it."""

    txid: int
    id: int

    def to_json(self) -> str:
        return f"{self.txid}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> FeedPosition:
        """The position ``to_json`` wrote (``"txid:id"``)."""
        txid, colon, id_ = text.partition(":")
        if not (colon and txid.isascii() and txid.isdigit() and id_.isascii() and id_.isdigit()):
            raise InvalidParameter("position", f"{text!r} is not a feed position such as 812:40117")
        return cls(int(txid), int(id_))


BEGINNING = FeedPosition(0, 0)


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """A transition as the feed hands it on: the record, and its place."""

    position: FeedPosition
    record: TransitionRecord

    @property
    def event_id(self) -> str:
        """Unique per transition (the asset and the version the move made): the key a handler with
        outside effects deduplicates by."""
        return f"{self.record.asset_id}:{self.record.version}"

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "position": self.position.to_json(), **self.record.to_json()}


@dataclass(frozen=True, slots=True)
class ConsumerState:
    name: str
    position: FeedPosition
    lag: int
    """Events after its cursor, committed now."""
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "position": self.position.to_json(),
            "lag": self.lag,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


Handler = Callable[[Sequence[FeedEvent], Connection], Any]
"""Called with a batch of events, in feed order, and the consumer's transaction's connection."""


class Feed:
    """Reading the feed, its consumers' cursors, and running one consumer's batches."""

    def __init__(self, context: Context) -> None:
        self._ctx = context

    def read(
        self, actor: Platform | System, after: FeedPosition | None = None, limit: int = 100
    ) -> list[FeedEvent]:
        """The events after ``after`` (``None``: from the beginning), at most ``limit``."""
        _require_operator(actor, "read the change feed")
        _check_limit(limit)
        start = BEGINNING if after is None else _check_position(after)
        rows = self._ctx.run(lambda c: statements.read(c, (start.txid, start.id), limit), write=False)
        return [_event(row) for row in rows]

    def end(self, actor: Platform | System) -> FeedPosition:
        """The place of the latest event that can be read now: ``read`` after it gives what comes next."""
        _require_operator(actor, "read the change feed")
        return FeedPosition(*self._ctx.run(statements.end, write=False))

    def settle(self, actor: Platform | System, timeout: timedelta = DEFAULT_SETTLE) -> FeedPosition:
        """Wait until every event committed before this call can be read (on PostgreSQL a
        transaction older than one still open holds it back: docs/events.md); the position of the
        latest. Raises ``FeedHeldBack`` after ``timeout``. On SQLite it never waits."""
        _require_operator(actor, "read the change feed")
        deadline = time.monotonic() + _check_timeout(timeout)
        latest = FeedPosition(*self._ctx.run(statements.latest, write=False))
        for pause in _pauses():
            if self.end(actor) >= latest:
                return latest
            if time.monotonic() >= deadline:
                raise FeedHeldBack(
                    "the feed", timeout.total_seconds(), "a transaction open since before they committed"
                )
            pause()
        raise AssertionError("unreachable")  # pragma: no cover

    def consumers(self, actor: Platform | System) -> list[ConsumerState]:
        _require_operator(actor, "see the change feed's consumers")

        def read(connection: Connection) -> list[ConsumerState]:
            rows = statements.all_consumers(connection)
            positions = [(row.position_txid, row.position_id) for row in rows]
            return [
                ConsumerState(row.name, FeedPosition(*position), lag, row.created_at, row.updated_at)
                for row, position, lag in zip(
                    rows, positions, statements.lags(connection, positions), strict=True
                )
            ]

        return self._ctx.run(read, write=False)

    def seek(self, actor: Platform | System, name: str, to: datetime | FeedPosition) -> ConsumerState:
        """Move a consumer's cursor: to a position, or back (or on) to a moment, from which it
        replays every event that happened since. Logged as ``consumer_moved``."""
        _require_operator(actor, "move a change feed consumer")
        name = _check_name(name)
        now = self._ctx.now()

        def move(connection: Connection) -> tuple[FeedPosition, FeedPosition | None]:
            if isinstance(to, FeedPosition):
                target = (to.txid, to.id)
            else:
                target = statements.place_before(
                    connection, self._ctx.as_of(to, "events after now are not known yet")
                )
            before = statements.move(connection, name, target, now)
            return FeedPosition(*target), None if before is None else FeedPosition(*before)

        if not isinstance(to, FeedPosition | datetime):
            raise InvalidParameter("to", "must be a FeedPosition or a timezone-aware datetime")
        position, before = self._ctx.run(move, write=True)
        if before is None:
            raise InvalidParameter("name", f"no consumer named {name!r}")
        self._ctx.logs.feed.info(
            "consumer_moved",
            consumer=name,
            from_position=before.to_json(),
            to_position=position.to_json(),
            actor_kind=actor.role.value,
            actor_id=actor.actor_id,
        )
        return next(state for state in self.consumers(actor) if state.name == name)

    def consume(self, name: str, handler: Handler, batch_size: int, start: FeedPosition) -> int:
        """One batch for the consumer ``name``: the events handled (0 if none, or if another
        instance of it holds its cursor now)."""

        def batch(connection: Connection) -> int:
            now = self._ctx.now()
            cursor = statements.claim(connection, name, (start.txid, start.id), now)
            if cursor is None:
                return 0
            events = [_event(row) for row in statements.read(connection, cursor, batch_size)]
            if not events:
                return 0
            handler(events, connection)
            last = events[-1].position
            statements.advance(connection, name, (last.txid, last.id), now)
            return len(events)

        return self._ctx.run(batch, write=True)


class Consumer:
    """A named consumer of the feed, run by this process: ``run_once`` handles the events there are
    now; ``run`` keeps handling them until ``stop`` is set, waiting in between for a notification
    (PostgreSQL) or the poll interval (SQLite). Several processes may run the same consumer: they
    take turns, and each event is handled by one of them at a time."""

    def __init__(
        self,
        context: Context,
        name: str,
        handler: Handler,
        *,
        batch_size: int = DEFAULT_BATCH,
        start: str = "beginning",
        poll_interval: timedelta = DEFAULT_POLL,
    ) -> None:
        if not callable(handler):
            raise InvalidParameter("handler", "must be callable with (events, connection)")
        _check_limit(batch_size, "batch_size")
        if start not in ("beginning", "end"):
            raise InvalidParameter(
                "start", "must be 'beginning' or 'end' (where a new consumer's cursor starts)"
            )
        if not isinstance(poll_interval, timedelta) or poll_interval <= timedelta(0):
            raise InvalidParameter("poll_interval", "must be a positive timedelta")
        self._ctx = context
        self._feed = Feed(context)
        self.name = _check_name(name)
        self._handler = handler
        self._batch_size = batch_size
        self._start = start
        self._poll = poll_interval.total_seconds()
        self._listening: Any = None

    def run_once(self) -> int:
        """Handle every event there is now, batch after batch; how many were handled."""
        start = BEGINNING if self._start == "beginning" else self._end()
        handled = 0
        while True:
            count = self._feed.consume(self.name, self._handler, self._batch_size, start)
            handled += count
            if count < self._batch_size:
                return handled

    def catch_up(self, timeout: timedelta = DEFAULT_SETTLE) -> int:
        """Handle every event committed before this call (``Feed.settle``, then batches until the
        cursor is past them, while another instance may hold it); how many this one handled.
        Raises ``FeedHeldBack`` after ``timeout``. For tests and shutdowns: "everything so far"."""
        deadline = time.monotonic() + _check_timeout(timeout)
        target = self._feed.settle(System(), timeout)
        handled = 0
        for pause in _pauses():
            handled += self.run_once()
            cursor = self._ctx.run(partial(statements.cursor, name=self.name), write=False)
            if cursor is not None and FeedPosition(*cursor) >= target:
                break
            if time.monotonic() >= deadline:
                raise FeedHeldBack(
                    f"consumer {self.name!r}", timeout.total_seconds(), "another instance holding its cursor"
                )
            pause()
        return handled

    def run(self, stop: threading.Event) -> None:
        """Handle events as they come until ``stop`` is set (checked between batches and waits)."""
        log = self._ctx.logs.feed
        log.info("consumer_started", consumer=self.name)
        try:
            while not stop.is_set():
                try:
                    self.run_once()
                except Exception as error:  # noqa: BLE001 - logged (with a handler's traceback); the batch comes again
                    log_batch_failure(log, self.name, error)
                self._wait(stop)
        finally:
            self.close()
            log.info("consumer_stopped", consumer=self.name)

    def close(self) -> None:
        if self._listening is not None:
            self._listening.close()
            self._listening = None

    def _end(self) -> FeedPosition:
        return FeedPosition(*self._ctx.run(statements.end, write=False))

    def _wait(self, stop: threading.Event) -> None:
        """Until a notification, the poll interval, or ``stop``."""
        if self._ctx.database.dialect.name != "postgresql":
            stop.wait(self._poll)
            return
        try:
            connection = self._listen()
            for _ in connection.notifies(timeout=self._poll, stop_after=1):
                break
        except Exception as error:  # noqa: BLE001 - a lost listening connection: poll, reconnect later
            self._ctx.logs.feed.warning("consumer_listen_failed", consumer=self.name, error=str(error))
            self.close()
            stop.wait(self._poll)

    def _listen(self) -> Any:
        if self._listening is None:
            import psycopg  # noqa: PLC0415 - PostgreSQL only, whose driver is then installed

            self._listening = psycopg.connect(listening_address(self._ctx.database.url), autocommit=True)
            self._listening.execute(f"LISTEN {CHANNEL}")
        return self._listening


def log_batch_failure(log: EventLogger, consumer: str, error: Exception) -> None:
    """A consumer's batch that failed, rolled back (it comes again): the store's typed error, or
    whatever the handler raised, with its traceback."""
    if isinstance(error, LifecycleError):
        log.error("consumer_failed", consumer=consumer, error_code=error.code, error=str(error))
    else:
        log.error(
            "consumer_handler_failed",
            consumer=consumer,
            error=f"{type(error).__name__}: {error}",
            exc_info=error,
        )


def listening_address(url: URL) -> str:
    """The database's address for psycopg's own connection, which waits for notifications (LISTEN)
    outside SQLAlchemy's pool: the engine's URL without SQLAlchemy's driver name."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _event(row: Any) -> FeedEvent:
    return FeedEvent(FeedPosition(int(row.feed_txid), int(row.id)), TransitionRecord.from_audit_row(row))


def _require_operator(actor: object, action: str) -> None:
    check_actor(actor)
    if not isinstance(actor, Platform | System):
        raise PermissionDenied(action, actor.role.value, [Role.PLATFORM.value, Role.SYSTEM.value])  # type: ignore[attr-defined]


def _check_limit(value: object, name: str = "limit") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_READ:
        raise InvalidParameter(name, f"must be a whole number from 1 to {MAX_READ}")
    return value


def _check_position(value: object) -> FeedPosition:
    if not isinstance(value, FeedPosition) or not all(
        isinstance(part, int) and not isinstance(part, bool) and part >= 0 for part in (value.txid, value.id)
    ):
        raise InvalidParameter("after", "must be a FeedPosition")
    return value


def _check_timeout(timeout: object) -> float:
    if not isinstance(timeout, timedelta) or timeout <= timedelta(0):
        raise InvalidParameter("timeout", "must be a positive timedelta")
    return timeout.total_seconds()


def _pauses() -> Iterator[Callable[[], object]]:
    """Waits for the horizon to pass, doubling from 1 ms to 50 ms (it is held by transactions,
    which mostly last milliseconds); on the event loop in an async call (``pause``)."""
    seconds = 0.001
    while True:
        yield partial(waits.pause, seconds)
        seconds = min(seconds * 2, 0.05)


def _check_name(name: object) -> str:
    return check_line(name, "name", maximum=128)


__all__ = ["BEGINNING", "Consumer", "ConsumerState", "Feed", "FeedEvent", "FeedPosition", "Handler"]

"""The moves time makes: sweeps over the stored deadlines, driven by ``TIME_RULES``.

A sweep runs the rules in order, each in batches of three steps:

1. **find**: up to ``batch_size`` due rows, earliest first: one range scan of the rule's index,
   a plain read in a short transaction of its own.
2. **plan**: decide each move with the same pure ``plan_move`` as every other transition, and
   prepare the write's parameters (``Repository.prepare_moves``), in Python alone.
3. **write**, in one transaction: apply the moves with the same guard as every transition
   (expected state and version in the WHERE clause) plus one audit row each, the system as
   actor. On PostgreSQL the write first claims the rows with ``FOR UPDATE SKIP LOCKED``, so a
   row another sweeper (or a user) holds is passed over, never waited for; on SQLite the write
   transaction holds the database. A retry (``RetryPolicy``) plans the batch again, at its own
   time.

Batches overlap: while one batch's write runs in a thread of its own (where it mostly waits on
the database, which gives the GIL up), the next batch is found, planned and its parameters
prepared in the sweeping thread, its rows found apart from those of the batch in flight. One
write is in flight at a time, each in its own transaction; batches are counted, published and
reported in the order they were found, and a stop ends the sweep after the batch in flight (an
interrupt, such as Ctrl-C, waits for that batch too, counts it, and then goes up).
Inside an async call (``AsyncLifecycle``: its connections belong to the event loop) and where the
pool cannot lend a second connection (an in-memory SQLite database), each batch is written in the
sweeping thread before the next is found.

A row that changed between being found and being written fails its guard and is left alone; if
it is still due, the next sweep finds it again. Nothing is kept in memory between sweeps: the
deadlines are columns, so a sweep after downtime catches up with everything that fell due, and a
restart loses nothing.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from threading import Event as StopSignal
from typing import Any, TypeVar

from sqlalchemy import Connection, NullPool, QueuePool, and_
from sqlalchemy.sql.elements import ColumnElement

from lifecycle.actors import System
from lifecycle.context import Context, require
from lifecycle.definition import AssetState, Event, Role, TimeRule
from lifecycle.errors import InvalidParameter, TransitionNotAllowed
from lifecycle.moves import AssetRow, Move, MoveRequest, plan_move
from lifecycle.results import audit_time
from lifecycle.settings import MAX_BATCH_SIZE
from lifecycle.store.repository import BulkWrite, PreparedMoves, assets
from lifecycle.waits import in_async_call

T = TypeVar("T")

WHY_NOT_AHEAD = "a sweep cannot act in the future"


def check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, int) and not isinstance(batch_size, bool) and 1 <= batch_size <= MAX_BATCH_SIZE:
        return batch_size
    raise InvalidParameter("batch_size", f"must be a whole number from 1 to {MAX_BATCH_SIZE}")


class SweepListener:
    """Hooks into a running sweep, for progress bars and tests. Override what you need.

    Both run in the sweeping thread, outside any transaction.
    """

    def found(self, rule: TimeRule, asset_ids: Sequence[str]) -> None:
        """A batch was found and is about to be claimed and written."""

    def written(self, rule: TimeRule, moved: int) -> None:
        """A batch was committed; ``moved`` assets moved (by whichever rule was due first)."""

    def finished(self, report: SweepReport) -> None:
        """The sweep is over (also when nothing was due)."""


@dataclass(frozen=True, slots=True)
class RuleReport:
    """What one time rule did in a sweep."""

    rule: str
    event: Event
    moved: int
    """Assets this rule moved (one audit row each)."""
    changed: int
    """Found due, but changed before they could be written: left alone."""
    busy: int
    """Found due, but held by another transaction (another sweeper) when claimed: left alone."""
    refused: int
    """Found due, but the transition table refused the move: reported, not moved."""
    seconds: float
    corrupt: int = 0
    """Found due, but the row holds what no legal history can: skipped (``SweepReport.skipped``)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "event": self.event.value,
            "moved": self.moved,
            "changed": self.changed,
            "busy": self.busy,
            "refused": self.refused,
            "corrupt": self.corrupt,
            "seconds": round(self.seconds, 6),
        }


@dataclass(frozen=True, slots=True)
class SkippedRow:
    """A due row a sweep passed over because it is corrupt (see ``CorruptRecord``)."""

    asset_id: str
    rule: str
    problem: str

    def to_json(self) -> dict[str, Any]:
        return {"asset_id": self.asset_id, "rule": self.rule, "problem": self.problem}


@dataclass(frozen=True, slots=True)
class SweepReport:
    as_of: datetime
    """What was due at this moment was moved (the moves are recorded at the clock's time)."""
    rules: tuple[RuleReport, ...]
    batches: int
    seconds: float
    stopped: bool
    """Stopped on request between two batches; what is left waits for the next sweep."""
    skipped: tuple[SkippedRow, ...] = ()
    """Corrupt rows passed over (each also logged as ``sweep_row_skipped``); the rest moved."""

    @property
    def moved(self) -> int:
        return sum(report.moved for report in self.rules)

    def rule(self, name: str) -> RuleReport:
        return next(report for report in self.rules if report.rule == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": audit_time(self.as_of),
            "moved": self.moved,
            "batches": self.batches,
            "seconds": round(self.seconds, 6),
            "stopped": self.stopped,
            "rules": [report.to_json() for report in self.rules],
            "skipped": [row.to_json() for row in self.skipped],
        }


@dataclass
class _Tally:
    moved: int = 0
    changed: int = 0
    busy: int = 0
    refused: int = 0
    corrupt: int = 0
    seconds: float = 0.0


@dataclass
class _Batch:
    found: Sequence[AssetRow]
    moves: list[tuple[AssetRow, Move]] = field(default_factory=list)
    fired: list[TimeRule] = field(default_factory=list)
    changed: int = 0
    busy: int = 0
    refusals: list[tuple[TimeRule, AssetRow, TransitionNotAllowed]] = field(default_factory=list)


class Sweeper:
    """Runs the time rules of the context's definition over its database."""

    def __init__(self, context: Context) -> None:
        self._ctx = context
        self._repo = context.repository
        self._log = context.logs.sweeps
        self._rules = context.definition.time_rules
        self._delays = {
            rule.name: timedelta(0) if rule.delay is None else context.settings.duration(rule.delay)
            for rule in self._rules
        }
        self._states = {rule.name: context.definition.rule_states(rule) for rule in self._rules}
        self._rules_in: dict[AssetState, list[tuple[int, TimeRule]]] = {}
        """The rules that look at each state, with their place in the order."""
        for index, rule in enumerate(self._rules):
            for state in self._states[rule.name]:
                self._rules_in.setdefault(state, []).append((index, rule))
        self._requests = {rule.name: MoveRequest(reason=rule.reason) for rule in self._rules}

    # The rules, as SQL and in Python ---------------------------------------------------------

    def due_clause(self, rule: TimeRule, as_of: datetime) -> ColumnElement[bool]:
        """The rule's query: in one of its states, not frozen, plan matching, basis + delay ≤ as_of."""
        basis = assets.c[rule.basis.value]
        clauses: list[ColumnElement[bool]] = [
            assets.c.asset_state.in_(sorted(self._states[rule.name], key=list(AssetState).index)),
            assets.c.pre_freeze_state.is_(None),
            basis <= as_of - self._delays[rule.name],
        ]
        if rule.plan is not None:
            clauses.append(assets.c.planned_operation == rule.plan)
        return and_(*clauses)

    def due_at(self, rule: TimeRule, row: AssetRow) -> datetime | None:
        """When ``rule`` falls due for ``row``, or None if it does not apply (``due_clause`` in Python)."""
        if row.state not in self._states[rule.name] or row.facts.pre_freeze is not None:
            return None
        if rule.plan is not None and row.planned_operation is not rule.plan:
            return None
        basis: datetime | None = getattr(row, rule.basis.value)
        if basis is None:
            return None
        try:
            return basis + self._delays[rule.name]
        except OverflowError:  # a stored time the engine cannot have written: that moment never comes
            return None

    def first_due(self, row: AssetRow, as_of: datetime) -> TimeRule | None:
        """The rule that fell due first for ``row`` (rule order breaks ties), so that a sweep
        after downtime makes the moves in the order time made them due."""
        due = [
            (moment, index, rule)
            for index, rule in self._rules_in.get(row.state, ())
            if (moment := self.due_at(rule, row)) is not None and moment <= as_of
        ]
        return min(due)[2] if due else None

    def due_counts(self, as_of: datetime | None) -> dict[str, int]:
        """How many assets each time rule would move now (or as of ``as_of``)."""
        moment = self._ctx.as_of(as_of, WHY_NOT_AHEAD)
        return self._ctx.run(
            lambda connection: {
                rule.name: self._repo.count(connection, self.due_clause(rule, moment)) for rule in self._rules
            },
            write=False,
        )

    # A sweep ---------------------------------------------------------------------------------

    def sweep(
        self,
        as_of: datetime | None,
        *,
        batch_size: int,
        actor: System | None,
        listener: SweepListener | None,
        stop: StopSignal | None,
    ) -> SweepReport:
        as_of = self._ctx.as_of(as_of, WHY_NOT_AHEAD)
        check_batch_size(batch_size)
        if listener is not None and not isinstance(listener, SweepListener):
            raise InvalidParameter("listener", "must be a SweepListener")
        if stop is not None and not isinstance(stop, StopSignal):
            raise InvalidParameter("stop", "must be a threading.Event")
        actor = System() if actor is None else actor
        require(actor, Role.SYSTEM, "sweep")
        return self._sweep(as_of, batch_size, actor, listener or SweepListener(), stop)

    def _sweep(
        self,
        as_of: datetime,
        batch_size: int,
        actor: System,
        listener: SweepListener,
        stop: StopSignal | None,
    ) -> SweepReport:
        started = time.perf_counter()
        tallies = {rule.name: _Tally() for rule in self._rules}
        batches = 0
        stopped = False
        skipped: dict[str, SkippedRow] = {}
        with _Writer(overlap=self._can_overlap()) as writer:
            for rule in self._rules:
                rule_started = time.perf_counter()
                rule_batches, stopped = self._sweep_rule(
                    rule, as_of, batch_size, actor, listener, stop, writer, tallies, skipped
                )
                batches += rule_batches
                tallies[rule.name].seconds += time.perf_counter() - rule_started
                if stopped:
                    break
        report = SweepReport(
            as_of=as_of,
            rules=tuple(
                RuleReport(
                    rule.name,
                    rule.event,
                    tallies[rule.name].moved,
                    tallies[rule.name].changed,
                    tallies[rule.name].busy,
                    tallies[rule.name].refused,
                    round(tallies[rule.name].seconds, 6),
                    tallies[rule.name].corrupt,
                )
                for rule in self._rules
            ),
            batches=batches,
            seconds=round(time.perf_counter() - started, 6),
            stopped=stopped,
            skipped=tuple(skipped.values()),
        )
        # A sweep that found nothing is routine: it runs every minute in every instance.
        idle = batches == 0 and not skipped
        (self._log.debug if idle else self._log.info)(
            "sweep_finished",
            as_of=as_of.isoformat(),
            moved=report.moved,
            batches=batches,
            duration_ms=round(report.seconds * 1000, 3),
            stopped=stopped,
            actor_id=actor.actor_id,
            rules={
                r.rule: {
                    **{
                        name: value
                        for name, value in (
                            ("moved", r.moved),
                            ("changed", r.changed),
                            ("busy", r.busy),
                            ("refused", r.refused),
                            ("corrupt", r.corrupt),
                        )
                        if value
                    },
                    "duration_ms": round(r.seconds * 1000, 3),
                }
                for r in report.rules
                if r.moved or r.changed or r.busy or r.refused or r.corrupt
            },
        )
        listener.finished(report)
        return report

    def _can_overlap(self) -> bool:
        """Whether a batch's write may run in a thread of its own while the next batch is found
        and planned: not in an async call (its connections belong to the event loop's greenlet),
        and only where the pool can lend a second connection."""
        pool = self._ctx.database.pool
        return (
            not in_async_call()
            and (isinstance(pool, NullPool) or (isinstance(pool, QueuePool) and pool.size() >= 2))
        )

    def _sweep_rule(
        self,
        rule: TimeRule,
        as_of: datetime,
        batch_size: int,
        actor: System,
        listener: SweepListener,
        stop: StopSignal | None,
        writer: _Writer,
        tallies: dict[str, _Tally],
        skipped: dict[str, SkippedRow],
    ) -> tuple[int, bool]:
        """One rule's batches until none is due (or none moves, or ``stop``): how many batches
        were written, and whether the sweep was stopped.

        Batches overlap when ``writer`` can: while one batch's write runs in the writer's thread
        (mostly waiting on the database), the next is found and planned here, its rows found
        apart from those in flight. Each batch is still written whole in its own transaction,
        and counted, told to the listeners and to ``listener`` in the order found."""
        batches = 0
        due, order = self.due_clause(rule, as_of), assets.c[rule.basis.value]
        in_flight: Future[tuple[_Batch, BulkWrite]] | None = None
        in_flight_ids: list[str] = []

        def counted() -> int:
            """The batch in flight, once written: counted, and how many assets it moved."""
            nonlocal in_flight, batches
            assert in_flight is not None
            written = in_flight.result()  # an interrupt meanwhile leaves it in flight, to be counted
            in_flight = None
            batches += 1
            return self._count(rule, *written, listener, tallies)

        try:
            while True:
                if stop is not None and stop.is_set():
                    if in_flight is not None:
                        counted()
                    return batches, True
                found, corrupt = self._ctx.run(
                    partial(
                        self._repo.find_due,
                        due=due,
                        order=order,
                        limit=batch_size,
                        exclude=[*skipped, *in_flight_ids],
                    ),
                    write=False,
                )
                for error in corrupt:
                    skipped[error.asset_id] = SkippedRow(error.asset_id, rule.name, error.problem)
                    tallies[rule.name].corrupt += 1
                    self._log.warning(
                        "sweep_row_skipped", rule=rule.name, asset_id=error.asset_id, problem=error.problem
                    )
                if not found and corrupt:
                    continue  # the batch was all corrupt rows: look past them
                # Planned and prepared here, while the batch before is being written.
                planned = self._plan_batch(found, as_of, actor, self._ctx.now())
                prepared = self._repo.prepare_moves(planned.moves)
                if in_flight is not None:
                    if counted() == 0:
                        return batches, False  # all left alone or refused: the next sweep looks again
                    if stop is not None and stop.is_set():
                        return batches, True
                if not found:
                    return batches, False
                listener.found(rule, [row.asset_id for row in found])
                in_flight = writer.submit(partial(self._write, planned, prepared, as_of, actor))
                if writer.overlaps:  # written meanwhile: its rows are not to be found again
                    in_flight_ids = [row.asset_id for row in found]
        except BaseException:
            if in_flight is not None:  # committed or not, it ends before the sweep does
                with suppress(Exception):
                    counted()
            raise

    def _write(
        self, planned: _Batch, prepared: PreparedMoves, as_of: datetime, actor: System
    ) -> tuple[_Batch, BulkWrite]:
        attempts = 0

        def write(connection: Connection) -> tuple[_Batch, BulkWrite]:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                return planned, prepared.write(connection)
            # A retry plans the batch again, from the rows found, at its own now.
            batch = self._plan_batch(planned.found, as_of, actor, self._ctx.now())
            return batch, self._repo.write_moves(connection, batch.moves)

        return self._ctx.run(write, write=True)

    def _count(
        self,
        rule: TimeRule,
        batch: _Batch,
        result: BulkWrite,
        listener: SweepListener,
        tallies: dict[str, _Tally],
    ) -> int:
        """A written batch, counted: its tallies, its refusals logged, its moves told to the
        listeners, ``listener.written``; how many assets it moved."""
        written = result.written
        # The guarded write left alone every row held elsewhere or changed since it was found.
        batch.busy += result.busy
        batch.changed += len(batch.moves) - len(written) - result.busy
        tally = tallies[rule.name]
        tally.changed += batch.changed
        tally.busy += batch.busy
        tally.refused += len(batch.refusals)
        for fired, row, refusal in batch.refusals:
            self._log.warning(
                "sweep_move_refused", rule=fired.name, asset_id=row.asset_id, reason=refusal.message
            )
        applied = []
        for (_, move), fired in zip(batch.moves, batch.fired, strict=True):
            if move.asset_id in written:
                tallies[fired.name].moved += 1
                applied.append(move.record)
        # Summed up in sweep_batch_written rather than a log line per move.
        self._ctx.applied(applied, log=False)
        self._log.debug(
            "sweep_batch_written",
            rule=rule.name,
            found=len(batch.found),
            moved=len(written),
            changed=batch.changed,
            busy=batch.busy,
            refused=len(batch.refusals),
        )
        listener.written(rule, len(written))
        return len(written)

    def _plan_batch(
        self,
        found: Sequence[AssetRow],
        as_of: datetime,
        actor: System,
        now: datetime,
    ) -> _Batch:
        batch = _Batch(found)
        for row in found:
            fired = self.first_due(row, as_of)
            if fired is None:  # pragma: no cover - a row found due at as_of stays due at as_of
                batch.changed += 1
                continue
            try:
                move = plan_move(
                    row,
                    fired.event,
                    actor,
                    self._requests[fired.name],
                    now,
                    upload_window=self._ctx.settings.upload_window,
                    definition=self._ctx.definition,
                )
            except TransitionNotAllowed as refusal:
                batch.refusals.append((fired, row, refusal))
                continue
            batch.moves.append((row, move))
            batch.fired.append(fired)
        return batch


class _Writer:
    """Runs a sweep's batch writes: in a thread of its own with ``overlap`` (one write at a
    time, in the caller's context variables, so its log events carry what the caller bound),
    or at once, in the caller's thread."""

    def __init__(self, *, overlap: bool) -> None:
        self.overlaps = overlap
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, write: Callable[[], T]) -> Future[T]:
        if not self.overlaps:
            done: Future[T] = Future()
            try:
                done.set_result(write())
            except Exception as error:  # noqa: BLE001 - handed to whoever takes the result
                done.set_exception(error)  # (an interrupt is not held back: it goes up at once)
            return done
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lifecycle-sweep-write")
        return self._pool.submit(contextvars.copy_context().run, write)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *_: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

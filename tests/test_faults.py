"""Faults never split a state change from its audit row: sweepers killed mid-sweep, connections cut
mid-transaction.

1. A real sweeper process is SIGKILLed at seeded-random points of a large sweep (several thousand
   assets due under four time rules), over and over on one database; after every kill the stored
   history must still explain every asset exactly (audit rows 1..version, the last one matching the
   row, files following the moves, no orphans), SQLite's file must pass ``integrity_check`` and
   PostgreSQL must have dropped every lock of the dead sweeper. A last sweep then finishes: every
   due asset moved exactly once.
2. The engine's connection is cut right before each statement of a write transaction (and right
   before its commit): PostgreSQL's backend terminated from a second connection, SQLite's driver
   connection closed or its statement interrupted. The caller gets ``StoreUnavailable`` (not
   retried: a lost connection's commit may have an unknown outcome), nothing is half-written, and
   the same call made again succeeds on a connection the pool hands out afresh.

No sleeps: the tests wait on the child's output lines and on the database's own locks, each wait
bounded. The randomness is seeded (``LIFECYCLE_FAULT_SEED`` to repeat a run); the seed is printed.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    create_engine,
    distinct,
    event,
    exc,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_only

from lifecycle.actors import Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    DEFINITION,
    ApplicationState,
    AssetState,
    Event,
    FileCategory,
    FileState,
    PlannedOperation,
    TimeRule,
    UploadResult,
)
from lifecycle.engine import Lifecycle
from lifecycle.errors import StoreUnavailable
from lifecycle.settings import Settings
from lifecycle.store.database import WRITE, open_database
from lifecycle.store.models import applications, assets, audit, files
from lifecycle.sweeps import SweepListener
from tests.conftest import START, TABLES, new_asset
from tests.facades import transactions_engine
from tests.seeding import seed_creating

pytestmark = pytest.mark.facades

SEED = int(os.environ.get("LIFECYCLE_FAULT_SEED") or random.SystemRandom().randrange(2**32))
WAIT = 60  # seconds: a bound on waiting for a child's line or its exit, never a delay
SERVER_NOTICE_MS = 10_000  # bound on PostgreSQL noticing a dead client and dropping its locks
TERMINATE_WAIT_MS = 5_000  # bound on pg_terminate_backend waiting for the backend to be gone

WINDOW = Settings().upload_window
RETENTION = Settings().recycle_retention
MAIN_FILE_AFTER = DEFINITION.main_file_moves()


def _seeded(what: str) -> random.Random:
    print(f"{what}: seed {SEED} (LIFECYCLE_FAULT_SEED={SEED} repeats this run)")
    return random.Random(f"{SEED}-{what}")


def _checker(database: Engine) -> Engine:
    """A second engine on the same database, without a pool: every check connects afresh (on
    SQLite after a kill, that connection recovers the WAL), and the engine under test's pool is
    left to the engine."""
    return create_engine(database.url, poolclass=NullPool)


# What must hold after any fault -----------------------------------------------------------------


def _inconsistencies(connection: Connection) -> dict[str, list[Any]]:
    """Every way the stored rows could fail to explain each other; empty lists when they do."""
    trail = (
        select(
            audit.c.asset_id,
            func.count().label("rows"),
            func.count(distinct(audit.c.seq)).label("seqs"),
            func.min(audit.c.seq).label("first"),
            func.max(audit.c.seq).label("last"),
        )
        .group_by(audit.c.asset_id)
        .subquery()
    )
    gaps = (
        select(assets.c.asset_id, assets.c.version, trail.c.rows, trail.c.first, trail.c.last)
        .outerjoin(trail, trail.c.asset_id == assets.c.asset_id)
        .where(
            or_(
                trail.c.rows.is_(None),
                trail.c.rows != assets.c.version,
                trail.c.seqs != assets.c.version,
                trail.c.first != 1,
                trail.c.last != assets.c.version,
            )
        )
    )
    last = audit.alias("last_row")
    contradicted = (
        select(
            assets.c.asset_id,
            assets.c.asset_state,
            last.c.to_state,
            last.c.pre_freeze_state,
            last.c.pre_delete_state,
        )
        .join(last, and_(last.c.asset_id == assets.c.asset_id, last.c.seq == assets.c.version))
        .where(
            or_(
                last.c.to_state != assets.c.asset_state,
                last.c.pre_freeze_state.is_distinct_from(assets.c.pre_freeze_state),
                last.c.pre_delete_state.is_distinct_from(assets.c.pre_delete_state),
            )
        )
    )
    orphans = (
        select(audit.c.asset_id, audit.c.seq)
        .outerjoin(assets, assets.c.asset_id == audit.c.asset_id)
        .where(assets.c.asset_id.is_(None))
    )
    return {
        "assets whose audit rows are not exactly 1..version": list(connection.execute(gaps.limit(5))),
        "assets whose last audit row contradicts the row": list(connection.execute(contradicted.limit(5))),
        "audit rows of no asset": list(connection.execute(orphans.limit(5))),
        "files that did not follow their asset's moves": _files_off_track(connection),
    }


def _files_off_track(connection: Connection) -> list[Any]:
    """Files whose state is not what the asset's audit trail says it must be: the MAIN file's
    state replayed from the trail's events, and every file DELETED once the asset is."""
    expected: dict[str, FileState] = {}
    deleted: set[str] = set()
    for asset_id, event_, to_state in connection.execute(
        select(audit.c.asset_id, audit.c.event, audit.c.to_state).order_by(audit.c.asset_id, audit.c.seq)
    ):
        if to_state is AssetState.DELETED:
            deleted.add(asset_id)
            expected[asset_id] = FileState.DELETED
        elif event_ is Event.CREATE:
            expected[asset_id] = FileState.CREATING
        elif event_ in MAIN_FILE_AFTER:
            expected[asset_id] = MAIN_FILE_AFTER[event_]
    off: list[Any] = []
    for asset_id, category, state in connection.execute(
        select(files.c.asset_id, files.c.asset_file_category, files.c.state)
    ):
        if asset_id in deleted and state is not FileState.DELETED:
            off.append((asset_id, category, state, "asset deleted"))
        elif category is FileCategory.MAIN and state is not expected.get(asset_id):
            off.append((asset_id, category, state, f"trail says {expected.get(asset_id)}"))
    return off[:5]


def _assert_consistent(checker: Engine, where: str) -> None:
    with checker.connect() as connection:
        problems = {name: rows for name, rows in _inconsistencies(connection).items() if rows}
    assert problems == {}, f"{where}: {problems}"


def _snapshot(checker: Engine, *, leaving_out: frozenset[str] = frozenset()) -> dict[str, list[Any]]:
    """Every row of the four tables (but those of the assets left out), in a stable order."""
    tables: tuple[Table, ...] = (assets, files, audit, applications)  # type: ignore[assignment]
    with checker.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
                if row.asset_id not in leaving_out
            ]
            for table in tables
        }


# 1. SIGKILL at random points of large sweeps --------------------------------------------------------

T0 = START
T1 = T0 + timedelta(hours=2)  # the set-up sweep: the recycle-bin group is deleted then
T2 = T1 + RETENTION + timedelta(days=1)  # the killed sweeps and the final one run at this time
GROUP = 1_000  # assets per time rule
KILLS = 24  # per backend (at least 20)
KILL_BATCH = 40
KILLED_SWEEPER, FINAL_SWEEPER = "killed-sweeper", "final-sweeper"
EXPECTED = {  # project (one per rule) -> the one move the sweeps at T2 must make
    "fault-timeout": Event.TIME_OUT_UPLOAD,
    "fault-freeze": Event.FREEZE,
    "fault-delete": Event.DELETE,
    "fault-purge": Event.PURGE,
}

SWEEPER = textwrap.dedent(
    """
    import sys
    from datetime import datetime

    import structlog
    from sqlalchemy import event

    from lifecycle.actors import System
    from lifecycle.clock import ManualClock
    from lifecycle.engine import Lifecycle
    from lifecycle.store.database import WRITE
    from lifecycle.sweeps import SweepListener


    def drop(_logger, _name, _event):
        raise structlog.DropEvent


    structlog.configure(processors=[drop])
    url, moment, actor = sys.argv[1], datetime.fromisoformat(sys.argv[2]), System(sys.argv[3])
    batch_size, pause_at = int(sys.argv[4]), int(sys.argv[5])
    lifecycle = Lifecycle(url, clock=ManualClock(moment))
    steps = 0


    def say(*words):
        # One write per line, so that a kill cuts a line short as rarely as possible.
        sys.stdout.write(" ".join(map(str, words)) + "\\n")
        sys.stdout.flush()


    def step(connection, what):
        # Every statement of a write transaction, reported once it ran; "(commit)" right before the commit.
        global steps
        if connection.get_execution_options().get(WRITE):
            steps += 1
            say("STEP", steps, what)
            if steps == pause_at:
                sys.stdin.readline()  # held inside the write transaction until killed


    @event.listens_for(lifecycle.engine, "after_cursor_execute")
    def after_statement(connection, cursor, statement, parameters, context, executemany):
        step(connection, statement.split(None, 1)[0].upper())


    @event.listens_for(lifecycle.engine, "commit")
    def before_commit(connection):
        step(connection, "(commit)")


    class Progress(SweepListener):
        def found(self, rule, asset_ids):
            say("FOUND", rule.name, *asset_ids)

        def written(self, rule, moved):
            say("WRITTEN", rule.name, moved)

        def finished(self, report):
            say("FINISHED", report.moved)


    lifecycle.sweep(as_of=moment, batch_size=batch_size, actor=actor, listener=Progress())
    """
)


def _seed_kill_database(database: Engine) -> dict[str, list[str]]:
    """``GROUP`` assets due at T2 under each time rule, in one project per rule; their ids."""
    groups: dict[str, list[str]] = {}
    # The recycle-bin group: planned deletes, made at T1 by a sweep, so their retention has run out
    # at T2 and their trail is the engine's own.
    groups["fault-purge"] = _planned(
        database, "fault-purge", T0, PlannedOperation.DELETE, T0 + timedelta(hours=1)
    )
    setup = Lifecycle(database, clock=ManualClock(T1))
    assert setup.sweep(as_of=T1, batch_size=500).rule("planned_delete").moved == GROUP
    groups["fault-timeout"] = seed_creating(
        database,
        GROUP,
        created_at=T2 - WINDOW - timedelta(days=1),
        upload_window=WINDOW,
        project_id="fault-timeout",
    )
    soon = T2 - timedelta(minutes=30)
    groups["fault-freeze"] = _planned(
        database, "fault-freeze", T2 - timedelta(hours=1), PlannedOperation.BLOCK, soon
    )
    groups["fault-delete"] = _planned(
        database, "fault-delete", T2 - timedelta(hours=1), PlannedOperation.DELETE, soon
    )
    due = Lifecycle(database, clock=ManualClock(T2)).due_counts(as_of=T2)
    assert due == {
        "upload_timeout": GROUP,
        "planned_freeze": GROUP,
        "planned_delete": GROUP,
        "recycle_bin_purge": GROUP,
    }
    return groups


def _planned(
    database: Engine, project: str, created: datetime, plan: PlannedOperation, at: datetime
) -> list[str]:
    """Assets in CREATING with a planned operation: what ``create_asset`` with an ``AutoOperation``
    writes (the plan is not in the audit trail)."""
    ids = seed_creating(database, GROUP, created_at=created, upload_window=WINDOW, project_id=project)
    with database.begin() as connection:
        connection.execute(
            update(assets)
            .where(assets.c.project_id == project)
            .values(planned_operation=plan, planned_operation_time=at)
        )
    return ids


@dataclass
class _Kill:
    mode: str
    lines: list[list[str]] = field(default_factory=list)
    """Everything the child printed before it died, split into words."""

    def in_flight(self) -> tuple[list[str], list[str]]:
        """The ids of the batch found but not reported written when the child died, and the
        statements its write transaction had run (([], []) if it died between batches)."""
        ids: list[str] = []
        steps: list[str] = []
        for words in self.lines:
            if words[0] == "FOUND":
                ids, steps = words[2:], []
            elif words[0] == "STEP":
                steps.append(words[2])
            elif words[0] == "WRITTEN":
                ids, steps = [], []
        return ids, steps


def _kill_a_sweeper(url: str, rng: random.Random, index: int, stderr: Path) -> _Kill:
    """Start a sweeper and SIGKILL it at a random point: after a random number of its lines
    (racing whatever it does next), right on the line of a batch found (racing its write
    transaction), or while it is held inside a write transaction right after its n-th statement
    or right before its commit."""
    mode = ("line", "found", "held")[index % 3]
    kill = _Kill(mode)
    lines_before_kill = rng.randint(1, 24)
    found_before_kill = rng.randint(1, 3)
    held_at = rng.randint(1, 14) if mode == "held" else 0
    command = [
        sys.executable,
        "-c",
        SWEEPER,
        url,
        T2.isoformat(),
        KILLED_SWEEPER,
        str(KILL_BATCH),
        str(held_at),
    ]
    with (
        stderr.open("w") as errors,
        subprocess.Popen(  # noqa: S603 - our interpreter, our script
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True
        ) as child,
    ):
        assert child.stdout is not None and child.stdin is not None
        hung = threading.Event()

        def hang_up() -> None:
            hung.set()
            child.kill()

        watchdog = threading.Timer(WAIT, hang_up)  # a bound, should the child hang: never a delay
        watchdog.start()
        try:
            for line in child.stdout:
                if not line.endswith("\n"):
                    break  # the kill cut this line short: it says nothing for sure
                words = line.split()
                kill.lines.append(words)
                if (
                    (mode == "line" and len(kill.lines) >= lines_before_kill)
                    or (mode == "found" and sum(w[0] == "FOUND" for w in kill.lines) >= found_before_kill)
                    or (mode == "held" and words[:2] == ["STEP", str(held_at)])
                ):
                    child.kill()
                    break
            child.wait(WAIT)
            kill.lines += [
                line.split() for line in child.stdout.read().splitlines(keepends=True) if line.endswith("\n")
            ]
        finally:
            watchdog.cancel()
            child.kill()
    assert not hung.is_set(), f"kill {index} ({mode}): the sweeper hung for {WAIT} s: {kill.lines[-3:]}"
    finished = any(words[0] == "FINISHED" for words in kill.lines)
    assert child.returncode == -9 and not finished, (
        f"kill {index} ({mode}): the sweeper was not killed (exit {child.returncode}, finished={finished}):"
        f" {stderr.read_text()[-2000:]}"
    )
    return kill


def _wait_for_the_server_to_drop(checker: Engine, application: str) -> tuple[float, int]:
    """PostgreSQL: wait until the dead sweeper's backends hold no lock and are gone; (seconds, polls).

    The locks are waited for by taking every table's ACCESS EXCLUSIVE lock, which is granted once
    no other transaction holds any lock on them, bounded by ``lock_timeout`` (SERVER_NOTICE_MS);
    then pg_locks must show nothing of the sweeper's. Its backends' rows leave pg_stat_activity
    a moment after their locks are released: that is polled, one query per poll, until they are
    gone or SERVER_NOTICE_MS has passed.
    """
    started = time.monotonic()
    with checker.begin() as connection:
        connection.execute(text(f"SET LOCAL lock_timeout = {SERVER_NOTICE_MS}"))
        connection.execute(text(f"LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE"))
    with checker.connect() as connection:
        held = connection.execute(
            text(
                "SELECT a.pid, a.state, l.locktype, l.mode, l.granted FROM pg_locks l"
                " JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE a.datname = current_database() AND a.application_name = :name"
            ),
            {"name": application},
        ).all()
    assert held == [], f"the killed sweeper's backend still holds locks: {held}"
    polls = 0
    while True:
        polls += 1
        with checker.connect() as connection:
            left = connection.execute(
                text(
                    "SELECT pid, state, xact_start FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": application},
            ).all()
        if not left:
            return time.monotonic() - started, polls
        assert time.monotonic() - started < SERVER_NOTICE_MS / 1000, f"the dead sweeper's backends: {left}"


def _sweep_moves(connection: Connection) -> Counter[tuple[str, Event]]:
    """The sweeps' moves at T2 (the set-up sweep aside), per asset and event."""
    return Counter(
        (asset_id, event_)
        for asset_id, event_ in connection.execute(
            select(audit.c.asset_id, audit.c.event).where(
                audit.c.actor_id.in_([KILLED_SWEEPER, FINAL_SWEEPER])
            )
        )
    )


def test_sigkilled_sweepers_never_split_a_move_from_its_audit_row(database: Engine, tmp_path: Path) -> None:
    backend = database.dialect.name
    rng = _seeded(f"sigkill-{backend}")
    groups = _seed_kill_database(database)
    due = {asset_id: EXPECTED[project] for project, ids in groups.items() for asset_id in ids}
    checker = _checker(database)
    places: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    longest_notice = (0.0, 0)
    moved_by_killed = 0
    try:
        for index in range(KILLS):
            application = f"fault-sweeper-{index}"
            url = database.url
            if backend == "postgresql":
                url = url.update_query_dict({"application_name": application})
            kill = _kill_a_sweeper(
                url.render_as_string(hide_password=False), rng, index, tmp_path / "child.err"
            )
            where = f"seed {SEED}, kill {index} ({kill.mode}, after {len(kill.lines)} lines)"
            modes[kill.mode] += 1
            if backend == "postgresql":
                longest_notice = max(longest_notice, _wait_for_the_server_to_drop(checker, application))
            else:
                with checker.connect() as connection:
                    assert connection.exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"], (
                        where
                    )
            _assert_consistent(checker, where)
            with checker.connect() as connection:
                moves = _sweep_moves(connection)
            assert max(moves.values(), default=1) == 1, f"{where}: an asset moved twice"
            assert all(due.get(asset_id) is event_ for asset_id, event_ in moves), f"{where}: a wrong move"
            assert len(moves) >= moved_by_killed, f"{where}: committed moves disappeared"
            moved_by_killed = len(moves)
            in_flight, steps = kill.in_flight()
            committed = sum((asset_id, due[asset_id]) in moves for asset_id in in_flight)
            assert committed in (0, len(in_flight)), (
                f"{where}: {committed} of a batch of {len(in_flight)} moved"
            )
            if kill.mode == "held":
                assert in_flight and steps and committed == 0, f"{where}: the held transaction was committed"
            places[_place(in_flight, steps, committed)] += 1
        final = Lifecycle(database, clock=ManualClock(T2)).sweep(
            as_of=T2, batch_size=500, actor=System(FINAL_SWEEPER)
        )
        with checker.connect() as connection:
            moves = _sweep_moves(connection)
        _assert_consistent(checker, f"seed {SEED}, after the final sweep")
        # And the engine's own verifier: every audit chain intact, every history replayable.
        verified = Lifecycle(database, clock=ManualClock(T2)).verify_audit(System())
        assert verified.clean, verified.problems[:5]
    finally:
        checker.dispose()
    assert Lifecycle(database, clock=ManualClock(T2)).due_counts(as_of=T2) == dict.fromkeys(
        ("upload_timeout", "planned_freeze", "planned_delete", "recycle_bin_purge"), 0
    )
    assert set(moves) == set(due.items()), "every due asset moved, by the move its rule makes"
    assert set(moves.values()) == {1}, "and exactly once"
    assert final.moved == len(due) - moved_by_killed
    mid_transaction = places["mid-transaction"] + places["in commit"]
    assert sum(places.values()) == KILLS >= 20
    print(
        f"{backend}: {KILLS} kills {dict(modes)}; where they landed {dict(places)}"
        f" ({mid_transaction} inside a write transaction); {len(due)} due;"
        f" moved by the killed sweepers {moved_by_killed}, by the final sweep {final.moved}"
        + (
            f"; the server dropped a dead sweeper within {longest_notice[0] * 1000:.0f} ms"
            f" ({longest_notice[1]} polls) at worst"
            if backend == "postgresql"
            else ""
        )
    )


def _place(in_flight: list[str], steps: list[str], committed: int) -> str:
    """Where a kill landed, from what the child had printed and what the database holds."""
    if not in_flight:
        return "between batches"
    if committed:
        return "after commit"
    if not steps:
        return "found, no write statement yet"
    return "in commit" if steps[-1] == "(commit)" else "mid-transaction"


# 2. A connection cut in the middle of a transaction ---------------------------------------------------

COMMIT = "(commit)"  # the step that is the commit itself (the commit event, not a statement)
CUT_MODES = {"sqlite": ("close", "interrupt"), "postgresql": ("terminate",)}


class _Cut:
    """Watches the engine's write transactions and, if told to, cuts the connection right before
    statement ``statement`` (1-based; BEGIN IMMEDIATE counts on SQLite) of write transaction
    ``transaction``, or right before its commit when that is the step named.

    ``terminate``: PostgreSQL's ``pg_terminate_backend`` on the connection's backend, from a second
    connection, waiting (bounded) until the backend is gone. ``close``: SQLite's driver connection
    closed under the engine. ``interrupt``: SQLite's running statement interrupted
    (``sqlite3_interrupt`` from its progress handler: SQLITE_INTERRUPT).
    """

    def __init__(
        self,
        database: Engine,
        *,
        mode: str | None = None,
        transaction: int = 1,
        statement: int = 0,
        killer: Any = None,
    ) -> None:
        self.database = database
        self.mode = mode
        self.transaction = transaction
        self.statement = statement
        self.killer = killer
        self.writes = 0
        self.steps: list[list[str]] = []
        self.fired: str | None = None
        self._interrupted: Any = None
        self._connection: Connection | None = None
        self._async = database.dialect.is_async

    def __enter__(self) -> _Cut:
        event.listen(self.database, "before_cursor_execute", self._before_statement)
        event.listen(self.database, "commit", self._before_commit)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.database, "before_cursor_execute", self._before_statement)
        event.remove(self.database, "commit", self._before_commit)
        if self._interrupted is not None and not self._async:
            self._interrupted.set_progress_handler(None, 0)

    def _before_statement(self, connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if connection.get_execution_options().get(WRITE):
            self._step(connection, _label(statement))

    def _before_commit(self, connection: Connection) -> None:
        if connection.get_execution_options().get(WRITE):
            self._step(connection, COMMIT)

    def _step(self, connection: Connection, label: str) -> None:
        if connection is not self._connection:  # each transaction has a connection of its own
            self._connection = connection
            self.writes += 1
            self.steps.append([])
        self.steps[-1].append(label)
        if (
            self.mode is None
            or self.fired is not None
            or (self.writes, len(self.steps[-1])) != (self.transaction, self.statement)
        ):
            return
        self.fired = label
        driver = connection.connection.driver_connection
        assert driver is not None
        if self._async:
            self._cut_async(driver)
        elif self.mode == "terminate":
            pid = driver.execute("SELECT pg_backend_pid()").fetchone()[0]
            terminated = self.killer.execute(
                "SELECT pg_terminate_backend(%s, %s)", (pid, TERMINATE_WAIT_MS)
            ).fetchone()[0]
            assert terminated, f"backend {pid} was not gone within {TERMINATE_WAIT_MS} ms"
        elif self.mode == "close":
            driver.close()
        else:
            self._interrupted = driver

            def interrupt() -> int:
                driver.interrupt()
                driver.set_progress_handler(None, 0)
                return 1  # and abort the statement now, however short it is

            driver.set_progress_handler(interrupt, 1)

    def _cut_async(self, driver: Any) -> None:
        """The same cuts through an async driver (psycopg's ``AsyncConnection``, aiosqlite's
        ``Connection``), from inside the async facade's greenlet: each driver call awaited there."""
        if self.mode == "terminate":
            cursor = await_only(driver.execute("SELECT pg_backend_pid()"))
            pid = await_only(cursor.fetchone())[0]
            terminated = self.killer.execute(
                "SELECT pg_terminate_backend(%s, %s)", (pid, TERMINATE_WAIT_MS)
            ).fetchone()[0]
            assert terminated, f"backend {pid} was not gone within {TERMINATE_WAIT_MS} ms"
        elif self.mode == "close":
            await_only(driver.close())
        else:
            # aiosqlite runs the handler in its own thread: the handler aborts the next statement
            # once (a non-zero answer is SQLITE_INTERRUPT), then lets every later one run.
            self._interrupted = driver
            fired: list[bool] = []

            def interrupt() -> int:
                if fired:
                    return 0
                fired.append(True)
                return 1

            await_only(driver.set_progress_handler(interrupt, 1))


def _label(statement: str) -> str:
    verb = statement.split(None, 1)[0].upper()
    if verb == "BEGIN":
        return " ".join(statement.split()[:2]).upper()
    table = re.search(r"\blifecycle_[a-z_]+", statement)
    return f"{verb} {table.group(0) if table else ''}".strip()


@pytest.fixture
def killer(database: Engine) -> Iterator[Any]:
    """PostgreSQL: a second connection, autocommitting, to terminate the engine's backends from."""
    if database.dialect.name != "postgresql":
        yield None
        return
    import psycopg

    url = database.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


def _cut_everywhere(
    database: Engine,
    watched: Engine,
    killer: Any,
    name: str,
    prepare: Callable[[str], Callable[[], Any]],
    succeeded: Callable[[Any], None],
) -> None:
    """Run ``prepare(tag)()`` once to learn its write transaction's steps, then, for every cut
    mode and every step, on fresh assets: cut there, expect ``StoreUnavailable`` and nothing
    written, and the same call again to succeed. ``watched``: the engine the facade's
    transactions run on."""
    checker = _checker(database)
    try:
        operation = prepare("dry")
        with _Cut(watched) as recorder:
            succeeded(operation())
        assert recorder.writes == 1, recorder.steps
        steps = recorder.steps[0]
        assert steps[-1] == COMMIT, steps
        for mode in CUT_MODES[database.dialect.name]:
            for index, label in enumerate(steps, start=1):
                where = f"{name}: {mode} before step {index} of {steps}"
                operation = prepare(f"{mode}-{index}")
                before = _snapshot(checker)
                with (
                    _Cut(watched, mode=mode, statement=index, killer=killer) as cut,
                    pytest.raises(StoreUnavailable) as raised,
                ):
                    operation()
                assert cut.fired == label, where
                assert _snapshot(checker) == before, f"{where}: something was written"
                _assert_lost_connection_error(raised.value, cut, 1, where)
                succeeded(operation())  # the same call again: a working connection, the move made
                _assert_consistent(checker, where)
    finally:
        checker.dispose()
    modes = CUT_MODES[database.dialect.name]
    print(
        f"{name} ({database.dialect.name}): {len(steps) * len(modes)} cuts,", "/".join(modes), "before", steps
    )


def _assert_lost_connection_error(error: StoreUnavailable, cut: _Cut, writes: int, where: str) -> None:
    assert type(error) is StoreUnavailable, (
        f"{where}: {type(error).__name__} (a lost connection is no StoreBusy)"
    )
    assert isinstance(error.__cause__, exc.DBAPIError), f"{where}: caused by {error.__cause__!r}"
    assert cut.writes == writes, f"{where}: the transaction was tried {cut.writes - writes + 1} times"
    # A connection lost at the commit cannot tell whether the server committed first; a statement
    # interrupted, or a connection lost before the commit, can: the server rolled back.
    lost_at_commit = cut.fired == COMMIT and cut.mode != "interrupt"
    outcome = "may or may not have been written" if lost_at_commit else "nothing was written"
    assert outcome in str(error), f"{where}: {error}"


def _uploaded(lifecycle: Lifecycle, tenant: Tenant) -> str:
    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    return asset.asset_id


@pytest.mark.parametrize("move", ["freeze", "delete", "delete_force"])
def test_a_connection_lost_during_a_move_leaves_nothing_and_the_move_then_succeeds(
    database: Engine, lifecycle: Lifecycle, platform: Platform, killer: Any, move: str
) -> None:
    expected = {
        "freeze": AssetState.BLOCK,
        "delete": AssetState.DELETING,
        "delete_force": AssetState.DELETED,
    }[move]

    def prepare(tag: str) -> Callable[[], Any]:
        tenant = Tenant(f"cut-{move}-{tag}")
        asset_id = _uploaded(lifecycle, tenant)
        request_id = f"{move}-{tag}"
        if move == "freeze":
            return lambda: lifecycle.freeze(platform, asset_id, request_id=request_id, block_reason_code="R1")
        if move == "delete":
            return lambda: lifecycle.delete(tenant, asset_id, request_id=request_id)
        # Deleted for good while frozen with an unfreeze application pending: the files are
        # deleted and the application rejected in the same transaction.
        lifecycle.freeze(platform, asset_id)
        lifecycle.apply_for_unfreeze(tenant, asset_id, reason="please")
        return lambda: lifecycle.delete(platform, asset_id, force=True, request_id=request_id)

    def succeeded(result: Any) -> None:
        assert (result.to_state, result.replayed) == (expected, False)
        asset = lifecycle.get_asset(platform, result.asset_id)
        assert (asset.asset_state, asset.version) == (expected, result.version)
        if move == "delete_force":
            assert {f.state for f in asset.files} == {FileState.DELETED}
            (application,) = lifecycle.list_unfreeze_applications(platform, project_id=result.project_id)
            assert application.state is ApplicationState.REJECTED

    _cut_everywhere(database, transactions_engine(lifecycle), killer, move, prepare, succeeded)


def test_a_connection_lost_during_confirm_upload_leaves_nothing_and_it_then_succeeds(
    database: Engine, lifecycle: Lifecycle, killer: Any
) -> None:
    def prepare(tag: str) -> Callable[[], Any]:
        tenant = Tenant(f"cut-upload-{tag}")
        asset = lifecycle.create_asset(tenant, new_asset())
        return lambda: lifecycle.confirm_upload(
            tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED, request_id=f"upload-{tag}"
        )

    def succeeded(result: Any) -> None:
        assert result.file.state is FileState.CREATED
        assert result.transition is not None and result.transition.to_state is AssetState.UNACTIVED
        assert not result.transition.replayed

    _cut_everywhere(database, transactions_engine(lifecycle), killer, "confirm_upload", prepare, succeeded)


def test_a_connection_lost_during_a_tenant_wide_freeze_leaves_nothing_and_it_then_succeeds(
    database: Engine, lifecycle: Lifecycle, platform: Platform, killer: Any
) -> None:
    def prepare(tag: str) -> Callable[[], Any]:
        tenant = Tenant(f"cut-tenant-{tag}")
        for _ in range(3):
            _uploaded(lifecycle, tenant)
        return lambda: lifecycle.freeze_tenant(platform, tenant.project_id, reason="fault", request_id=tag)

    def succeeded(result: Any) -> None:
        assert [moved.to_state for moved in result.moved] == [AssetState.BLOCK] * 3
        assert result.skipped == ()

    _cut_everywhere(database, transactions_engine(lifecycle), killer, "freeze_tenant", prepare, succeeded)


def test_a_connection_lost_during_an_unfreeze_approval_leaves_nothing_and_it_then_succeeds(
    database: Engine, lifecycle: Lifecycle, platform: Platform, killer: Any
) -> None:
    def prepare(tag: str) -> Callable[[], Any]:
        tenant = Tenant(f"cut-approve-{tag}")
        asset_id = _uploaded(lifecycle, tenant)
        lifecycle.freeze(platform, asset_id)
        application = lifecycle.apply_for_unfreeze(tenant, asset_id, reason="please")
        return lambda: lifecycle.approve_unfreeze(
            platform, application.application_id, request_id=f"approve-{tag}"
        )

    def succeeded(result: Any) -> None:
        assert (result.to_state, result.replayed) == (AssetState.UNACTIVED, False)
        (application,) = lifecycle.list_unfreeze_applications(platform, project_id=result.project_id)
        assert application.state is ApplicationState.APPROVED

    _cut_everywhere(database, transactions_engine(lifecycle), killer, "approve_unfreeze", prepare, succeeded)


class _Batches(SweepListener):
    def __init__(self) -> None:
        self.found_ids: list[list[str]] = []
        self.written_counts: list[int] = []

    def found(self, rule: TimeRule, asset_ids: Any) -> None:
        self.found_ids.append(list(asset_ids))

    def written(self, rule: TimeRule, moved: int) -> None:
        self.written_counts.append(moved)


def test_a_connection_lost_during_a_sweep_batch_leaves_the_batches_before_it_whole_and_it_nothing(
    database: Engine, lifecycle: Lifecycle, clock: ManualClock, killer: Any
) -> None:
    batch, due = 4, 10
    checker = _checker(database)
    watched = transactions_engine(lifecycle)

    def seed(tag: str) -> list[str]:
        created = clock.now() - WINDOW - timedelta(hours=1)
        return seed_creating(
            database, due, created_at=created, upload_window=WINDOW, project_id=f"cut-sweep-{tag}"
        )

    def timeouts(ids: list[str]) -> Counter[str]:
        with checker.connect() as connection:
            return Counter(
                connection.execute(
                    select(audit.c.asset_id).where(
                        audit.c.event == Event.TIME_OUT_UPLOAD, audit.c.asset_id.in_(ids)
                    )
                ).scalars()
            )

    try:
        ids = seed("dry")
        with _Cut(watched) as recorder:
            assert lifecycle.sweep(batch_size=batch).moved == due
        assert recorder.writes == 3, recorder.steps
        steps = recorder.steps[1]
        for mode in CUT_MODES[database.dialect.name]:
            for index, label in enumerate(steps, start=1):
                where = f"sweep: {mode} before step {index} of batch 2's {steps}"
                ids = seed(f"{mode}-{index}")
                before = _snapshot(checker)
                batches = _Batches()
                with (
                    _Cut(watched, mode=mode, transaction=2, statement=index, killer=killer) as cut,
                    pytest.raises(StoreUnavailable) as raised,
                ):
                    lifecycle.sweep(batch_size=batch, listener=batches)
                assert cut.fired == label, where
                first, _cut = batches.found_ids
                assert batches.written_counts == [batch], where
                # The batch written before the cut is whole, the cut one left nothing.
                assert _snapshot(checker, leaving_out=frozenset(first)) == _without(before, first), where
                assert timeouts(ids) == Counter(first), where
                _assert_consistent(checker, where)
                _assert_lost_connection_error(raised.value, cut, 2, where)
                report = lifecycle.sweep(batch_size=batch)  # again: it finishes the rest
                assert report.moved == due - batch, where
                assert timeouts(ids) == Counter(ids), f"{where}: not every due asset timed out once"
                _assert_consistent(checker, where)
        modes = CUT_MODES[database.dialect.name]
        print(
            f"sweep ({database.dialect.name}): {len(steps) * len(modes)} cuts,",
            "/".join(modes),
            "before",
            steps,
        )
    finally:
        checker.dispose()


def _without(snapshot: dict[str, list[Any]], asset_ids: list[str]) -> dict[str, list[Any]]:
    leaving_out = set(asset_ids)
    column = {
        table.name: list(table.columns.keys()).index("asset_id")
        for table in (assets, files, audit, applications)
    }
    return {
        name: [row for row in rows if row[column[name]] not in leaving_out] for name, rows in snapshot.items()
    }


@pytest.mark.postgresql
def test_pooled_connections_whose_backends_died_while_idle_are_replaced_unseen(
    postgres_engine: Engine, platform: Platform
) -> None:
    """A server restart or an idle timeout kills connections as they sit in the pool: the pool's
    check at checkout (lifecycle/store/checkout.py) notices and connects afresh, so no call sees a
    dead one."""
    import psycopg

    url = postgres_engine.url.render_as_string(hide_password=False)
    pooled = open_database(url, pool_size=4, max_overflow=0)
    try:
        lifecycle = Lifecycle(pooled, clock=ManualClock(START))
        tenant = Tenant("killed-while-idle")
        asset_id = _uploaded(lifecycle, tenant)
        held = [pooled.connect() for _ in range(4)]  # the whole pool, each on a backend of its own
        pids = {connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for connection in held}
        for connection in held:
            connection.close()
        assert len(pids) == 4 and pooled.pool.checkedin() == 4  # type: ignore[attr-defined]
        killer_url = postgres_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(killer_url, autocommit=True) as killer:
            for pid in pids:
                terminated = killer.execute("SELECT pg_terminate_backend(%s, %s)", (pid, TERMINATE_WAIT_MS))
                assert terminated.fetchone() == (True,), (
                    f"backend {pid} still there after {TERMINATE_WAIT_MS} ms"
                )
        assert lifecycle.freeze(platform, asset_id).to_state is AssetState.BLOCK
        assert lifecycle.history(tenant, asset_id)[-1].event is Event.FREEZE
        held = [pooled.connect() for _ in range(4)]
        fresh = {connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for connection in held}
        for connection in held:
            connection.close()
        assert not fresh & pids, "a connection to a terminated backend was handed out again"
    finally:
        pooled.dispose()

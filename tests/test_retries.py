"""Transactions refused for contention are run again, whole, within a bound; past it: StoreBusy.

SQLite: another connection really holds the write lock, and the engine's busy timeout is tiny.
PostgreSQL: a test-installed trigger on the audit table raises the SQLSTATE under test for its
first k calls (counted by a sequence, which a rollback does not undo), and two genuine cases: a
deadlock between the engine and a test transaction, and a lock wait that runs into
``lock_timeout``. No test sleeps: the policy's ``sleep`` is a recorder that can act instead.
"""

from __future__ import annotations

import functools
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner
from sqlalchemy import Connection, Engine, event, exc, func, inspect, select, table, text
from structlog.testing import capture_logs

import lifecycle.engine
import lifecycle.store.database
from lifecycle.actors import Platform, Tenant
from lifecycle.cli import ExitCode
from lifecycle.clock import ManualClock
from lifecycle.engine import Lifecycle
from lifecycle.errors import (
    AssetNotFound,
    Conflict,
    InvalidParameter,
    StoreBusy,
    StoreUnavailable,
    TransitionNotAllowed,
)
from lifecycle.results import Asset, TenantOperation, Transitioned
from lifecycle.retry import Retries, RetryPolicy
from lifecycle.store.database import WRITE, open_database, transient_code, translated_errors
from lifecycle.sweeps import SweepReport
from tests.conftest import MD5, POSTGRES_URL, TABLES, new_asset

TENANT = Tenant("tenant-a", app_user_id="user-1")
PLATFORM = Platform("operator-7")
# Waits that are easy to tell apart: 10 ms, 20 ms, 40 ms … plus up to 1 ms of jitter.
FIRST_WAIT = timedelta(milliseconds=10)
JITTER = timedelta(milliseconds=1)


@dataclass
class Sleeper:
    """The policy's ``sleep``: records each wait and, instead of sleeping, runs what it is told."""

    waits: list[float] = field(default_factory=list)
    actions: list[Callable[[], None]] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.actions:
            self.actions.pop(0)()


def policy(sleeper: Callable[[float], None], attempts: int = 5) -> RetryPolicy:
    return RetryPolicy(
        attempts=attempts, first_wait=FIRST_WAIT, max_wait=timedelta(seconds=1), jitter=JITTER, sleep=sleeper
    )


def _assert_set(event: threading.Event) -> None:
    assert event.wait(30), "the event was never set"


def never_sleep(seconds: float) -> None:
    raise AssertionError(f"retried (would wait {seconds} s), but nothing transient happened")


def row_counts(database: Engine) -> dict[str, int]:
    """Rows in every table of the schema (whatever tables it has by now)."""
    names = [name for name in inspect(database).get_table_names() if name != "alembic_version"]
    with database.connect() as connection:
        return {
            name: int(connection.execute(select(func.count()).select_from(table(name))).scalar_one())
            for name in names
        }


def retry_events(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == "transaction_retried"]


class WriteBegins:
    """Counts the write transactions an engine begins, those SQLite refuses included: on SQLite
    the ``BEGIN IMMEDIATE`` statements sent, on PostgreSQL the begins of write transactions."""

    def __init__(self, database: Engine) -> None:
        self.database = database
        self.count = 0
        self._event = "before_cursor_execute" if database.dialect.name == "sqlite" else "begin"
        event.listen(database, self._event, self._seen)

    def _seen(self, connection: Connection, _cursor: object = None, statement: str = "", *_: object) -> None:
        if statement == "BEGIN IMMEDIATE" or (
            self._event == "begin" and connection.get_execution_options().get(WRITE)
        ):
            self.count += 1

    def remove(self) -> None:
        event.remove(self.database, self._event, self._seen)


# The operations retried, each with what a success writes ------------------------------------------


@dataclass
class Operation:
    run: Callable[[], object]
    audit_rows: int
    """Audit rows a success writes (one per move, the creation included)."""


def _created(lifecycle: Lifecycle, clock: ManualClock) -> Operation:
    return Operation(lambda: lifecycle.create_asset(TENANT, new_asset()), 1)


def _move(lifecycle: Lifecycle, clock: ManualClock) -> Operation:
    asset_id = lifecycle.create_asset(TENANT, new_asset()).asset_id
    return Operation(lambda: lifecycle.freeze(PLATFORM, asset_id, reason="retry test"), 1)


def _sweep(lifecycle: Lifecycle, clock: ManualClock) -> Operation:
    for name in ("first", "second", "third"):
        lifecycle.create_asset(TENANT, new_asset(name))
    clock.advance(timedelta(days=2))  # past the upload window: all three time out, in one batch
    return Operation(lambda: lifecycle.sweep(batch_size=10), 3)


def _tenant_freeze(lifecycle: Lifecycle, clock: ManualClock) -> Operation:
    for name in ("first", "second"):
        lifecycle.create_asset(TENANT, new_asset(name))
    return Operation(lambda: lifecycle.freeze_tenant(PLATFORM, TENANT.project_id, reason="retry test"), 2)


OPERATIONS = {
    "create_asset": _created,
    "move": _move,
    "sweep_batch": _sweep,
    "tenant_freeze": _tenant_freeze,
}


def moves_made(result: object) -> int:
    """How many audit rows the operation's own answer says it wrote."""
    if isinstance(result, Asset | Transitioned):
        return 1
    if isinstance(result, SweepReport):
        return result.moved
    assert isinstance(result, TenantOperation), result
    assert result.skipped == ()
    return len(result.moved)


def audit_delta(before: dict[str, int], after: dict[str, int]) -> int:
    return after["lifecycle_audit"] - before["lifecycle_audit"]


# The policy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field_name"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": 101}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"attempts": 2.0}, "attempts"),
        ({"first_wait": 0.05}, "first_wait"),
        ({"first_wait": timedelta(seconds=-1)}, "first_wait"),
        ({"jitter": timedelta(microseconds=-1)}, "jitter"),
        ({"max_wait": "1s"}, "max_wait"),
        ({"first_wait": timedelta(seconds=2), "max_wait": timedelta(seconds=1)}, "max_wait"),
        ({"sleep": 0.1}, "sleep"),
    ],
)
def test_a_bad_policy_is_an_invalid_parameter(options: dict[str, Any], field_name: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        RetryPolicy(**options)
    assert refused.value.field == field_name


def test_the_default_policy_tries_five_times_and_really_sleeps() -> None:
    default = RetryPolicy()
    assert default.attempts == 5
    assert default.sleep is time.sleep
    assert timedelta(0) < default.first_wait <= default.max_wait


def test_waits_grow_exponentially_with_jitter_up_to_the_maximum() -> None:
    steady = RetryPolicy(
        first_wait=timedelta(milliseconds=50), max_wait=timedelta(milliseconds=300), jitter=timedelta(0)
    )
    assert [steady.wait(n) for n in range(1, 6)] == [0.05, 0.1, 0.2, 0.3, 0.3]
    jittery = RetryPolicy(
        first_wait=timedelta(milliseconds=50),
        max_wait=timedelta(seconds=10),
        jitter=timedelta(milliseconds=20),
    )
    draws = [jittery.wait(2) for _ in range(200)]
    assert all(0.1 <= wait <= 0.12 for wait in draws)
    assert len(set(draws)) > 1, "the jitter spreads the waits"
    assert jittery.wait(10_000) == 10.0


def test_the_engine_takes_only_a_retry_policy() -> None:
    with pytest.raises(InvalidParameter, match="retry"):
        Lifecycle("sqlite://", retry=5)  # type: ignore[arg-type]
    custom = RetryPolicy(attempts=2)
    with Lifecycle("sqlite://", retry=custom) as database:
        assert database.retry is custom
        assert database.transaction_retries == 0


# Classifying driver errors --------------------------------------------------------------------------


def _sqlite_error(code: int, name: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = code
    error.sqlite_errorname = name
    return error


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        (_sqlite_error(5, "SQLITE_BUSY"), "SQLITE_BUSY"),
        (_sqlite_error(5 | (2 << 8), "SQLITE_BUSY_SNAPSHOT"), "SQLITE_BUSY_SNAPSHOT"),
        (_sqlite_error(6, "SQLITE_LOCKED"), "SQLITE_LOCKED"),
        (_sqlite_error(1, "SQLITE_ERROR"), None),
        (_sqlite_error(19, "SQLITE_CONSTRAINT"), None),
    ],
)
def test_sqlite_busy_and_locked_are_transient(original: Exception, expected: str | None) -> None:
    assert transient_code(exc.OperationalError("BEGIN IMMEDIATE", {}, original)) == expected


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [("40001", "40001"), ("40P01", "40P01"), ("55P03", "55P03"), ("57P01", None), ("23505", None)],
)
def test_postgresql_serialization_failures_deadlocks_and_lock_timeouts_are_transient(
    sqlstate: str, expected: str | None
) -> None:
    errors = pytest.importorskip("psycopg.errors")
    original = errors.lookup(sqlstate)("from the server")
    assert original.sqlstate == sqlstate
    assert transient_code(exc.OperationalError("UPDATE …", {}, original)) == expected


def test_a_lost_connection_is_never_transient_whatever_its_code() -> None:
    """The commit's outcome may be unknown when the connection is gone: not ours to run again."""
    errors = pytest.importorskip("psycopg.errors")
    lost = exc.OperationalError("COMMIT", {}, errors.lookup("40001")("x"), connection_invalidated=True)
    assert transient_code(lost) is None
    with pytest.raises(StoreUnavailable) as raised, translated_errors():
        raise lost
    assert type(raised.value) is StoreUnavailable
    assert raised.value.__cause__ is lost


def test_transient_errors_become_store_busy_with_the_cause_kept() -> None:
    original = exc.OperationalError("BEGIN IMMEDIATE", {}, _sqlite_error(5, "SQLITE_BUSY"))
    with pytest.raises(StoreBusy) as raised, translated_errors():
        raise original
    busy = raised.value
    assert isinstance(busy, StoreUnavailable)
    assert (busy.code, busy.http_status, busy.db_code, busy.attempts) == (
        "LIFECYCLE.STORE_BUSY",
        503,
        "SQLITE_BUSY",
        1,
    )
    assert busy.__cause__ is original
    assert (
        busy.message
        == "the database was busy (SQLITE_BUSY: database is locked) on 1 attempt; nothing was written"
    )
    assert busy.to_dict() == {"error_code": "LIFECYCLE.STORE_BUSY", "error_msg": StoreBusy.server_message}


def test_retries_are_counted_across_threads() -> None:
    retries = Retries(RetryPolicy(attempts=3, sleep=lambda _seconds: None), logger=_Silent())
    start = threading.Barrier(8)
    failures = 2

    def run() -> None:
        start.wait()
        for _ in range(50):
            failed = 0

            def attempt() -> None:
                nonlocal failed
                if failed < failures:
                    failed += 1
                    raise StoreBusy("40001", "injected")

            retries.run(attempt)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert retries.count == 8 * 50 * failures


class _Silent:
    def warning(self, *_args: object, **_kwargs: object) -> None:
        pass


# Nothing else is retried, on either backend --------------------------------------------------------


def test_refusals_conflicts_replays_and_missing_assets_are_not_retried(
    database: Engine, clock: ManualClock
) -> None:
    service = Lifecycle(database, clock=clock, retry=policy(never_sleep))
    writes = WriteBegins(database)
    try:
        asset = service.create_asset(TENANT, new_asset())
        writes.count = 0
        with pytest.raises(TransitionNotAllowed):
            service.activate(TENANT, asset.asset_id)  # still CREATING
        with pytest.raises(Conflict):
            service.freeze(PLATFORM, asset.asset_id, expected_version=7)
        with pytest.raises(AssetNotFound):
            service.freeze(PLATFORM, "no-such-asset")
        first = service.freeze(PLATFORM, asset.asset_id, request_id="req-1")
        replayed = service.freeze(PLATFORM, asset.asset_id, request_id="req-1")  # raises _Replayed inside
        assert replayed.replayed and replayed.version == first.version
        assert writes.count == 5, "each refused or replayed call ran its transaction once"
        assert service.transaction_retries == 0
    finally:
        writes.remove()


def test_a_database_error_that_is_not_contention_is_not_retried(database: Engine, clock: ManualClock) -> None:
    service = Lifecycle(database, clock=clock, retry=policy(never_sleep))
    before = row_counts(database)
    writes = WriteBegins(database)
    if database.dialect.name == "sqlite":
        install = [
            "CREATE TRIGGER retry_test_refuse BEFORE INSERT ON lifecycle_audit"
            " BEGIN SELECT RAISE(ABORT, 'refused by test_retries'); END"
        ]
        remove = ["DROP TRIGGER retry_test_refuse"]
    else:
        install = [
            "CREATE FUNCTION retry_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'refused by test_retries' USING ERRCODE = 'P0001'; END $$",
            "CREATE TRIGGER retry_test_refuse BEFORE INSERT ON lifecycle_audit"
            " FOR EACH ROW EXECUTE FUNCTION retry_test_refuse()",
        ]
        remove = ["DROP TRIGGER retry_test_refuse ON lifecycle_audit", "DROP FUNCTION retry_test_refuse()"]
    with database.begin() as connection:
        for statement in install:
            connection.exec_driver_sql(statement)
    try:
        with pytest.raises(StoreUnavailable) as raised:
            service.create_asset(TENANT, new_asset())
    finally:
        with database.begin() as connection:
            for statement in remove:
                connection.exec_driver_sql(statement)
        writes.remove()
    assert "refused by test_retries" in raised.value.message
    assert type(raised.value) is StoreUnavailable, "not StoreBusy"
    assert writes.count == 1
    assert service.transaction_retries == 0
    assert row_counts(database) == before


# SQLite: a write lock held by another connection -----------------------------------------------------


@pytest.fixture
def sqlite_path(tmp_path: Path, sqlite_template: Path) -> Path:
    path = tmp_path / "lifecycle.db"
    shutil.copy(sqlite_template, path)
    return path


@pytest.fixture
def busy_engine(sqlite_path: Path) -> Iterator[Engine]:
    """An engine that gives up on a lock after 10 ms (instead of 10 s) on each attempt."""
    database = open_database(f"sqlite:///{sqlite_path}", connect_args={"timeout": 0.01})
    yield database
    database.dispose()


class WriteLock:
    """Another connection holding SQLite's write lock (``BEGIN IMMEDIATE``) until released."""

    def __init__(self, path: Path) -> None:
        # Released from whichever thread retries (a sweep writes its batches in a thread of its own).
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.held = False

    def take(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")
        self.held = True

    def release(self) -> None:
        self._connection.execute("ROLLBACK")
        self.held = False

    def close(self) -> None:
        if self.held:
            self.release()
        self._connection.close()


@pytest.fixture
def write_lock(sqlite_path: Path) -> Iterator[WriteLock]:
    lock = WriteLock(sqlite_path)
    yield lock
    lock.close()


def test_the_engines_busy_timeout_is_the_one_asked_for(busy_engine: Engine) -> None:
    with busy_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 10


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_sqlite_busy_is_retried_until_the_lock_is_released(
    operation: str, busy_engine: Engine, write_lock: WriteLock, clock: ManualClock
) -> None:
    sleeper = Sleeper()
    service = Lifecycle(busy_engine, clock=clock, retry=policy(sleeper))
    run = OPERATIONS[operation](service, clock)
    before = row_counts(busy_engine)
    writes = WriteBegins(busy_engine)
    write_lock.take()
    sleeper.actions.append(write_lock.release)  # after the first refusal, the other writer is done
    try:
        with capture_logs() as logs:
            result = run.run()
    finally:
        writes.remove()
    assert (
        sleeper.waits
        and FIRST_WAIT.total_seconds() <= sleeper.waits[0] <= (FIRST_WAIT + JITTER).total_seconds()
    )
    assert len(sleeper.waits) == 1
    assert writes.count == 2, "refused once, then written"
    assert service.transaction_retries == 1
    (retried,) = retry_events(logs)
    assert retried["log_level"] == "warning"
    assert retried["attempt"] == 1
    assert retried["max_attempts"] == 5
    assert retried["db_code"] == "SQLITE_BUSY"
    assert retried["wait_ms"] == round(sleeper.waits[0] * 1000, 3)
    assert moves_made(result) == run.audit_rows
    assert audit_delta(before, row_counts(busy_engine)) == run.audit_rows


def test_a_sweep_retries_the_batch_in_flight_while_it_finds_the_next(
    busy_engine: Engine, write_lock: WriteLock, clock: ManualClock
) -> None:
    """The first batch's write is refused once, in the sweep's writer thread, while the sweeping
    thread finds the next batch: retried, and every batch written once, in order."""
    sleeper = Sleeper()
    service = Lifecycle(busy_engine, clock=clock, retry=policy(sleeper))
    for name in ("first", "second", "third"):
        service.create_asset(TENANT, new_asset(name))
    clock.advance(timedelta(days=2))
    before = row_counts(busy_engine)
    write_lock.take()
    sleeper.actions.append(write_lock.release)
    report = service.sweep(batch_size=1)
    assert (report.moved, report.batches, report.rule("upload_timeout").changed) == (3, 3, 0)
    assert len(sleeper.waits) == 1
    assert service.transaction_retries == 1
    assert audit_delta(before, row_counts(busy_engine)) == 3


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_sqlite_busy_past_the_bound_is_store_busy_and_nothing_is_written(
    operation: str, busy_engine: Engine, write_lock: WriteLock, clock: ManualClock
) -> None:
    sleeper = Sleeper()
    service = Lifecycle(busy_engine, clock=clock, retry=policy(sleeper, attempts=4))
    run = OPERATIONS[operation](service, clock)
    before = row_counts(busy_engine)
    writes = WriteBegins(busy_engine)
    write_lock.take()
    try:
        with capture_logs() as logs, pytest.raises(StoreBusy) as raised:
            run.run()
    finally:
        writes.remove()
    busy = raised.value
    assert busy.attempts == 4
    assert busy.db_code == "SQLITE_BUSY"
    assert busy.message == (
        f"the database {busy_engine.url} was busy (SQLITE_BUSY: database is locked) on all 4 attempts;"
        " nothing was written"
    )
    assert isinstance(busy.__cause__, exc.OperationalError)
    assert busy.__cause__.orig.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
    assert writes.count == 4
    assert [event["attempt"] for event in retry_events(logs)] == [1, 2, 3]
    assert service.transaction_retries == 3
    for retry, wait in enumerate(sleeper.waits, start=1):
        base = FIRST_WAIT.total_seconds() * 2 ** (retry - 1)
        assert base <= wait <= base + JITTER.total_seconds()
    assert len(sleeper.waits) == 3
    write_lock.release()
    assert row_counts(busy_engine) == before


def test_the_admin_script_exits_7_when_the_database_stays_busy(
    sqlite_path: Path, write_lock: WriteLock, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    sleeper = Sleeper()
    monkeypatch.setattr(lifecycle.store.database, "SQLITE_BUSY_TIMEOUT_MS", 10)
    # The admin script imports the engine when a command first opens it (tests/test_imports.py).
    monkeypatch.setattr(lifecycle.engine, "Lifecycle", functools.partial(Lifecycle, retry=policy(sleeper, 3)))
    monkeypatch.delenv("LIFECYCLE_OPERATOR", raising=False)
    (entry_point,) = entry_points(group="console_scripts", name="lifecycle")
    admin_script = entry_point.load()
    create = [
        "--db", f"sqlite:///{sqlite_path}", "create", "--tenant", "tenant-a", "--name", "Teacher",
        "--type", "HUMAN_MODEL", "--main-file", "male001.bin", "31032142", MD5,
    ]  # fmt: skip
    write_lock.take()
    quiet = CliRunner().invoke(admin_script, [*create[:2], "--log-level", "error", *create[2:]])
    assert quiet.exit_code == ExitCode.UNAVAILABLE == 7
    assert quiet.stdout == ""
    assert quiet.stderr == (
        f"error LIFECYCLE.STORE_BUSY: the database sqlite:///{sqlite_path} was busy"
        " (SQLITE_BUSY: database is locked) on all 3 attempts; nothing was written\n"
    )
    assert len(sleeper.waits) == 2
    # At the default log level the operator also sees each retry, as a warning, before the error.
    default = CliRunner().invoke(admin_script, create)
    assert default.exit_code == ExitCode.UNAVAILABLE
    *warnings, last = default.stderr.splitlines()
    assert last.startswith("error LIFECYCLE.STORE_BUSY: ")
    assert len(warnings) == 2
    assert all("transaction_retried" in line and "SQLITE_BUSY" in line for line in warnings)
    write_lock.release()
    assert CliRunner().invoke(admin_script, create).exit_code == 0, "the same command, once the lock is gone"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The admin script configures logging (it is an application); put the suite's back."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers, root.level = handlers, level


# PostgreSQL: injected SQLSTATEs, a genuine deadlock, a lock timeout ---------------------------------


@pytest.fixture
def pg(postgres_engine: Engine) -> Engine:
    with postgres_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    return postgres_engine


class Faults:
    """A BEFORE INSERT trigger on the audit table raising ``sqlstate`` for its first ``first`` calls.

    The calls are counted by a sequence: ``nextval`` is not undone by the rollback it causes.
    """

    def __init__(self, database: Engine) -> None:
        self.database = database

    def install(self, sqlstate: str, first: int, action: str | None = None) -> None:
        action = action or f"RAISE EXCEPTION 'injected by test_retries' USING ERRCODE = '{sqlstate}'"
        with self.database.begin() as connection:
            connection.exec_driver_sql("CREATE SEQUENCE retry_test_calls")
            connection.exec_driver_sql(
                f"""
                CREATE FUNCTION retry_test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF nextval('retry_test_calls') <= {first} THEN
                        {action};
                    END IF;
                    RETURN NEW;
                END $$
                """
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER retry_test_fault BEFORE INSERT ON lifecycle_audit"
                " FOR EACH ROW EXECUTE FUNCTION retry_test_fault()"
            )

    @property
    def calls(self) -> int:
        with self.database.connect() as connection:
            return int(
                connection.exec_driver_sql(
                    "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM retry_test_calls"
                ).scalar_one()
            )

    def remove(self) -> None:
        with self.database.begin() as connection:
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS retry_test_fault ON lifecycle_audit")
            connection.exec_driver_sql("DROP FUNCTION IF EXISTS retry_test_fault()")
            connection.exec_driver_sql("DROP SEQUENCE IF EXISTS retry_test_calls")


@pytest.fixture
def faults(pg: Engine) -> Iterator[Faults]:
    injected = Faults(pg)
    injected.remove()  # whatever an interrupted run left behind
    yield injected
    injected.remove()


TRANSIENT = ["40001", "40P01", "55P03"]
ALWAYS = 2**62


@pytest.mark.postgresql
@pytest.mark.parametrize("sqlstate", TRANSIENT)
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_postgresql_transient_errors_are_retried_and_the_operation_made(
    operation: str, sqlstate: str, pg: Engine, faults: Faults, clock: ManualClock
) -> None:
    sleeper = Sleeper()
    service = Lifecycle(pg, clock=clock, retry=policy(sleeper))
    run = OPERATIONS[operation](service, clock)
    before = row_counts(pg)
    failures = 2
    faults.install(sqlstate, first=failures)
    with capture_logs() as logs:
        result = run.run()
    assert service.transaction_retries == failures
    assert [(e["attempt"], e["db_code"]) for e in retry_events(logs)] == [(1, sqlstate), (2, sqlstate)]
    assert len(sleeper.waits) == failures
    assert moves_made(result) == run.audit_rows
    assert audit_delta(before, row_counts(pg)) == run.audit_rows
    # Each refused attempt stopped at its first audit row; the last one wrote them all.
    assert faults.calls == failures + run.audit_rows


@pytest.mark.postgresql
@pytest.mark.parametrize("sqlstate", TRANSIENT)
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_postgresql_transient_errors_past_the_bound_are_store_busy_and_nothing_is_written(
    operation: str, sqlstate: str, pg: Engine, faults: Faults, clock: ManualClock
) -> None:
    sleeper = Sleeper()
    service = Lifecycle(pg, clock=clock, retry=policy(sleeper, attempts=3))
    run = OPERATIONS[operation](service, clock)
    before = row_counts(pg)
    faults.install(sqlstate, first=ALWAYS)
    with pytest.raises(StoreBusy) as raised:
        run.run()
    busy = raised.value
    assert (busy.db_code, busy.attempts) == (sqlstate, 3)
    assert busy.database == pg.url.render_as_string(hide_password=True)
    assert busy.message.startswith(
        f"the database {busy.database} was busy ({sqlstate}: injected by test_retries)"
    )
    assert busy.message.endswith("on all 3 attempts; nothing was written")
    assert isinstance(busy.__cause__, exc.DBAPIError)
    assert busy.__cause__.orig.sqlstate == sqlstate
    assert faults.calls == 3, "exactly three attempts"
    assert service.transaction_retries == 2
    assert len(sleeper.waits) == 2
    assert row_counts(pg) == before


@pytest.mark.postgresql
def test_postgresql_a_lost_connection_is_not_retried(pg: Engine, faults: Faults, clock: ManualClock) -> None:
    """The backend is terminated in the middle of the transaction: StoreUnavailable, once."""
    service = Lifecycle(pg, clock=clock, retry=policy(never_sleep))
    asset_id = service.create_asset(TENANT, new_asset()).asset_id
    before = row_counts(pg)
    faults.install("", first=ALWAYS, action="PERFORM pg_terminate_backend(pg_backend_pid())")
    with pytest.raises(StoreUnavailable) as raised:
        service.freeze(PLATFORM, asset_id)
    assert type(raised.value) is StoreUnavailable
    assert isinstance(raised.value.__cause__, exc.DBAPIError)
    assert raised.value.__cause__.connection_invalidated
    assert faults.calls == 1
    assert service.transaction_retries == 0
    assert row_counts(pg) == before


@pytest.fixture
def postgres_url() -> str:
    if not POSTGRES_URL:
        pytest.skip("LIFECYCLE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    return POSTGRES_URL


def _waiting(watcher: Connection, pid: int) -> bool:
    """Whether backend ``pid`` waits for a lock (pg_locks shows the live lock table: polling it
    waits for that state itself, not for some time to pass)."""
    return bool(
        watcher.execute(
            text("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = :pid AND NOT granted)"), {"pid": pid}
        ).scalar_one()
    )


@pytest.mark.postgresql
def test_postgresql_a_genuine_deadlock_is_retried_and_the_tenant_frozen(
    pg: Engine, postgres_url: str, clock: ManualClock
) -> None:
    """The engine's tenant-wide freeze locks the tenant's rows, then wants the audit table; a test
    transaction holds the audit table (SHARE) and wants one of those rows. PostgreSQL aborts the
    engine's side (its deadlock_timeout is the short one, and it starts waiting last); the freeze
    is run again once the test transaction commits."""
    database = open_database(postgres_url, connect_args={"options": "-c deadlock_timeout=100"})
    committed = threading.Event()
    # The retry waits for the test transaction to commit: run at once, it could lock the first row
    # again before the test's UPDATE takes it, and deadlock a second time.
    sleeper = Sleeper(actions=[lambda: _assert_set(committed)])
    service = Lifecycle(database, clock=clock, retry=policy(sleeper))
    asset_ids = sorted(service.create_asset(TENANT, new_asset(name)).asset_id for name in ("first", "second"))
    rows_locked = threading.Event()
    hooked: list[str] = []
    other = pg.connect()
    other_transaction = other.begin()
    other_pid = int(other.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def after_locking(_conn: Connection, _cursor: Any, statement: str, *_args: object) -> None:
        if "FOR UPDATE" not in statement or hooked:
            return
        hooked.append(statement)
        rows_locked.set()
        # Go on (into the audit table the test holds) only once the test waits for our row.
        deadline = time.monotonic() + 30
        with pg.connect() as watcher:
            while not _waiting(watcher, other_pid):
                assert time.monotonic() < deadline, "the test transaction never waited for the row"

    event.listen(database, "after_cursor_execute", after_locking)
    outcome: dict[str, object] = {}

    def freeze_tenant() -> None:
        try:
            outcome["result"] = service.freeze_tenant(PLATFORM, TENANT.project_id)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = error

    try:
        other.execute(text("SET LOCAL deadlock_timeout = '1min'"))
        other.execute(text("SET LOCAL lock_timeout = '30s'"))  # a safety net, never reached
        other.execute(text("LOCK TABLE lifecycle_audit IN SHARE MODE"))
        with capture_logs() as logs:
            freezer = threading.Thread(target=freeze_tenant)
            freezer.start()
            assert rows_locked.wait(30)
            other.execute(
                text("UPDATE lifecycle_assets SET asset_name = asset_name WHERE asset_id = :id"),
                {"id": asset_ids[0]},
            )  # waits for the engine's row lock: the deadlock, until the engine's side is aborted
            other_transaction.commit()
            committed.set()
            freezer.join(30)
        assert not freezer.is_alive()
    finally:
        other.close()
        event.remove(database, "after_cursor_execute", after_locking)
        database.dispose()
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert isinstance(result, TenantOperation)
    assert sorted(move.asset_id for move in result.moved) == asset_ids
    assert [(e["attempt"], e["db_code"]) for e in retry_events(logs)] == [(1, "40P01")]
    assert service.transaction_retries == 1
    assert len(sleeper.waits) == 1


@pytest.mark.postgresql
def test_postgresql_a_lock_timeout_is_retried_once_the_lock_is_free(
    pg: Engine, postgres_url: str, clock: ManualClock
) -> None:
    database = open_database(postgres_url, connect_args={"options": "-c lock_timeout=50"})
    sleeper = Sleeper()
    service = Lifecycle(database, clock=clock, retry=policy(sleeper))
    asset_id = service.create_asset(TENANT, new_asset()).asset_id
    other = pg.connect()
    other_transaction = other.begin()
    try:
        other.execute(
            text("SELECT 1 FROM lifecycle_assets WHERE asset_id = :id FOR UPDATE"), {"id": asset_id}
        )
        sleeper.actions.append(other_transaction.rollback)
        with capture_logs() as logs:
            moved = service.freeze(PLATFORM, asset_id)
    finally:
        other.close()
        database.dispose()
    assert moved.version == 2
    assert [(e["attempt"], e["db_code"]) for e in retry_events(logs)] == [(1, "55P03")]
    assert service.transaction_retries == 1

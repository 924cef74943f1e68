"""AsyncLifecycle's own promises: Lifecycle's calls, each a coroutine with the same parameters; its
URLs and engines; coroutine listeners; and that it never blocks its event loop.

What the calls do is tested once for both facades (the tests marked ``facades``, through
``tests.facades.SyncView``); this file tests what only the async facade has.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.util import await_only
from structlog.testing import capture_logs

from lifecycle import AsyncLifecycle, Lifecycle
from lifecycle.actors import Platform, Tenant
from lifecycle.aio import AsyncFeed
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, Event, TimeRule
from lifecycle.errors import (
    DatabaseMissing,
    InvalidParameter,
    SchemaOutOfDate,
    StoreBusy,
    TransitionNotAllowed,
)
from lifecycle.feed import Feed, FeedEvent
from lifecycle.records import TransitionRecord
from lifecycle.retry import RetryPolicy
from lifecycle.scheduler import AsyncSweepScheduler
from lifecycle.store import schema
from lifecycle.store.database import open_async_database, open_database
from lifecycle.sweeps import SweepListener, SweepReport
from tests.conftest import POSTGRES_URL, START, TABLES, new_asset

TENANT = Tenant("tenant-a")
PLATFORM = Platform("operator-7")
WAIT = 30  # seconds; a bound on waiting for an event, never a delay
NOT_COROUTINES = {"listen", "consumer"}
"""Registering a listener or making a consumer does no I/O: plain calls on both facades."""


def _public(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and (callable(member) or isinstance(member, property))
    }


def test_every_public_call_of_lifecycle_is_on_the_async_facade_with_the_same_parameters() -> None:
    sync, asynchronous = _public(Lifecycle), _public(AsyncLifecycle)
    missing = sorted(set(sync) - set(asynchronous))
    assert not missing, f"missing on AsyncLifecycle: {missing}"
    for name, member in sync.items():
        counterpart = asynchronous[name]
        if isinstance(member, property):
            assert isinstance(counterpart, property), f"{name} is a property on Lifecycle"
            continue
        assert callable(counterpart)
        expected = inspect.signature(member).parameters
        actual = inspect.signature(counterpart).parameters
        assert [(p.name, p.kind, p.default) for p in actual.values()] == [
            (p.name, p.kind, p.default) for p in expected.values()
        ], f"AsyncLifecycle.{name} takes other parameters than Lifecycle.{name}"
        assert inspect.iscoroutinefunction(counterpart) is (name not in NOT_COROUTINES), name


def test_the_async_feed_has_every_call_of_the_feed() -> None:
    for name, member in _public(Feed).items():
        counterpart = getattr(AsyncFeed, name)
        assert inspect.iscoroutinefunction(counterpart), name
        assert inspect.signature(counterpart) == inspect.signature(member)


def test_the_constructors_take_the_same_options() -> None:
    sync = inspect.signature(Lifecycle.__init__).parameters
    asynchronous = inspect.signature(AsyncLifecycle.__init__).parameters
    assert list(sync) == list(asynchronous)
    assert [p.default for p in sync.values()] == [p.default for p in asynchronous.values()]


@pytest_asyncio.fixture
async def sqlite_file(tmp_path: Path) -> AsyncIterator[str]:
    yield f"sqlite:///{tmp_path / 'lifecycle.db'}"


@pytest.mark.asyncio
async def test_a_sqlite_url_is_opened_with_aiosqlite_and_upgrade_creates_the_file(sqlite_file: str) -> None:
    async with AsyncLifecycle(sqlite_file, clock=ManualClock(START)) as engine:
        assert engine.database.dialect.driver == "aiosqlite"
        with pytest.raises(DatabaseMissing):
            await engine.check_schema()
        await engine.upgrade()
        await engine.check_schema()
        asset = await engine.create_asset(TENANT, new_asset())
        assert (await engine.get_asset(TENANT, asset.asset_id)).version == 1


@pytest.mark.asyncio
async def test_the_sqlite_file_gets_the_engines_pragmas(sqlite_file: str) -> None:
    async with AsyncLifecycle(sqlite_file) as engine:
        await engine.upgrade()
        async with engine.database.connect() as connection:
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10_000, "synchronous": 1}


@pytest.mark.asyncio
async def test_an_async_engine_of_ones_own_is_used_and_left_open(sqlite_file: str) -> None:
    database = create_async_engine(sqlite_file.replace("sqlite://", "sqlite+aiosqlite://"))
    async with AsyncLifecycle(database) as engine:
        assert engine.database is database
        with pytest.raises(SchemaOutOfDate):
            await engine.check_schema()  # a new empty file: SQLAlchemy's own engine creates it
    async with database.connect() as connection:  # not disposed: still usable
        assert (await connection.exec_driver_sql("SELECT 1")).scalar_one() == 1
    await database.dispose()


@pytest.mark.parametrize("database", ["mysql://x/y", "not a url", 42])
def test_what_is_not_a_supported_database_is_refused(database: object) -> None:
    with pytest.raises(InvalidParameter):
        AsyncLifecycle(database)  # type: ignore[arg-type]


@pytest.mark.asyncio
@pytest.mark.postgresql
@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
async def test_postgresql_urls_choose_psycopgs_async_driver(scheme: str) -> None:
    if not POSTGRES_URL:
        pytest.skip("LIFECYCLE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    url = scheme + POSTGRES_URL[POSTGRES_URL.index(":") :]
    async with AsyncLifecycle(url) as engine:
        assert engine.database.dialect.driver == "psycopg"
        assert engine.database.dialect.is_async
        await engine.upgrade()
        await engine.check_schema()


@pytest_asyncio.fixture
async def engine(sqlite_file: str) -> AsyncIterator[AsyncLifecycle]:
    async with AsyncLifecycle(sqlite_file, clock=ManualClock(START)) as made:
        await made.upgrade()
        yield made


@pytest.mark.asyncio
async def test_coroutine_listeners_are_awaited_after_the_commit_in_the_order_registered(
    engine: AsyncLifecycle,
) -> None:
    heard: list[str] = []

    async def first(record: TransitionRecord) -> None:
        await asyncio.sleep(0)
        committed = await engine.get_asset(TENANT, record.asset_id)
        assert committed.version == record.version, "heard after the commit"
        heard.append(f"first {record.event.value}")

    def second(record: TransitionRecord) -> None:
        heard.append(f"second {record.event.value}")

    async def failing(_record: TransitionRecord) -> None:
        raise RuntimeError("a listener's failure is logged, not raised")

    engine.listen(first)
    engine.listen(failing)
    with engine.listen(second, events=[Event.CREATE]):
        asset = await engine.create_asset(TENANT, new_asset())
    assert heard == ["first create", "second create"], "the call returns after its listeners"
    with pytest.raises(TransitionNotAllowed):
        await engine.activate(TENANT, asset.asset_id)
    assert heard == ["first create", "second create"], "a refusal tells nothing"


@pytest.mark.asyncio
async def test_the_event_loop_runs_other_tasks_while_a_call_waits_for_the_database(
    engine: AsyncLifecycle,
) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    running = asyncio.create_task(ticker())
    for _ in range(5):
        await engine.create_asset(TENANT, new_asset())
    stop.set()
    await running
    assert ticks > 5, "the loop ran the ticker between the driver's awaits"


@pytest.mark.asyncio
async def test_the_deprecated_engine_property_warns_and_answers_the_database(engine: AsyncLifecycle) -> None:
    with pytest.warns(DeprecationWarning, match=r"use AsyncLifecycle\.database"):
        assert engine.engine is engine.database


@pytest.mark.asyncio
async def test_a_retrys_back_off_awaits_on_the_loop_while_other_tasks_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite answers busy while another connection holds its write lock; the engine backs off and
    runs the move again. The back-off is an ``asyncio.sleep``: the task that releases the lock runs
    during it (a ``time.sleep`` would hold the loop, and the lock, until the retries ran out)."""
    path = tmp_path / "lifecycle.db"
    async with AsyncLifecycle(f"sqlite:///{path}") as made:
        await made.upgrade()
    database = open_async_database(f"sqlite:///{path}", connect_args={"timeout": 0.01})
    patient = RetryPolicy(attempts=3, first_wait=timedelta(milliseconds=200), jitter=timedelta(0))
    engine = AsyncLifecycle(database, clock=ManualClock(START), retry=patient)

    def blocking_sleep(_seconds: float) -> None:
        raise AssertionError("time.sleep on the event loop")

    monkeypatch.setattr("lifecycle.waits.time.sleep", blocking_sleep)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def release_once_refused() -> None:
        while engine.transaction_retries == 0:
            await asyncio.sleep(0.001)
        other.execute("ROLLBACK")

    try:
        releasing = asyncio.create_task(release_once_refused())
        asset = await engine.create_asset(TENANT, new_asset())
        await releasing
        assert engine.transaction_retries == 1
        assert (await engine.get_asset(TENANT, asset.asset_id)).version == 1
    finally:
        other.close()
        await database.dispose()


class _AsyncGate(SweepListener):
    """Holds the first batch between being found and being written until released. Its hooks run
    in the sweep's greenlet on the loop: they wait with ``await_only``, never blocking the loop."""

    def __init__(self) -> None:
        self.found_batch = asyncio.Event()
        self.release = asyncio.Event()
        self.done = asyncio.Event()
        self.written_batches: list[int] = []
        self.reports: list[SweepReport] = []

    def found(self, rule: TimeRule, asset_ids: Sequence[str]) -> None:
        if not self.found_batch.is_set():
            self.found_batch.set()
            await_only(asyncio.wait_for(self.release.wait(), WAIT))

    def written(self, rule: TimeRule, moved: int) -> None:
        self.written_batches.append(moved)

    def finished(self, report: SweepReport) -> None:
        self.reports.append(report)
        self.done.set()


async def _due(engine: AsyncLifecycle, count: int) -> list[str]:
    ids = [(await engine.create_asset(TENANT, new_asset())).asset_id for _ in range(count)]
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=2))  # past the upload window: each is due to fail
    return ids


@pytest.mark.asyncio
async def test_the_async_scheduler_sweeps_on_the_loop_and_logs(engine: AsyncLifecycle) -> None:
    ids = await _due(engine, 3)
    gate = _AsyncGate()
    gate.release.set()
    with capture_logs() as logs:
        async with AsyncSweepScheduler(engine, interval=timedelta(hours=1), listener=gate) as scheduler:
            assert scheduler.running
            await asyncio.wait_for(gate.done.wait(), WAIT)
        assert not scheduler.running
    assert gate.reports[0].moved == 3
    assert [(await engine.get_asset(TENANT, i)).asset_state for i in ids] == [AssetState.FAILED] * 3
    events = [entry["event"] for entry in logs]
    assert events[0] == "scheduler_started" and events[-1] == "scheduler_stopped"
    assert "sweep_finished" in events


@pytest.mark.asyncio
async def test_the_async_scheduler_stops_after_the_batch_in_flight_and_never_overlaps(
    engine: AsyncLifecycle,
) -> None:
    await _due(engine, 10)
    gate = _AsyncGate()
    scheduler = AsyncSweepScheduler(engine, batch_size=4, listener=gate)
    scheduler.start()
    await asyncio.wait_for(gate.found_batch.wait(), WAIT)
    with capture_logs() as logs:
        assert await scheduler.sweep_now() is None, "one sweep at a time"
    assert [entry["event"] for entry in logs] == ["sweep_skipped"]
    stopping = asyncio.create_task(scheduler.stop())
    await asyncio.sleep(0)
    assert not stopping.done(), "stop waits for the batch in flight"
    gate.release.set()
    await asyncio.wait_for(stopping, WAIT)
    assert gate.written_batches == [4], "the batch in flight was written whole, and no other begun"
    assert (await engine.due_counts())["upload_timeout"] == 6


def test_the_async_scheduler_checks_its_schedule_as_the_sync_one_does() -> None:
    engine = AsyncLifecycle("sqlite://")
    with pytest.raises(InvalidParameter):
        AsyncSweepScheduler(engine, interval=timedelta(0))
    with pytest.raises(InvalidParameter):
        AsyncSweepScheduler(engine, interval=timedelta(minutes=1), jitter=timedelta(minutes=1))
    assert AsyncSweepScheduler(engine, interval=timedelta(minutes=10)).jitter == timedelta(minutes=1)


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncLifecycle]:
    """An upgraded, empty AsyncLifecycle on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lifecycle.db'}"
    else:
        if not POSTGRES_URL:
            pytest.skip("LIFECYCLE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
        url = POSTGRES_URL
    async with AsyncLifecycle(url, clock=ManualClock(START)) as made:
        await made.upgrade()
        async with made.database.begin() as connection:
            if made.database.dialect.name == "postgresql":
                await connection.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)}")
        yield made


@pytest.mark.asyncio
async def test_a_coroutine_handler_writes_on_the_consumers_transaction_exactly_once(
    any_engine: AsyncLifecycle,
) -> None:
    engine = any_engine
    async with engine.database.begin() as connection:
        await connection.exec_driver_sql("DROP TABLE IF EXISTS aio_effects")
        await connection.exec_driver_sql("CREATE TABLE aio_effects (event_id VARCHAR(200) PRIMARY KEY)")
    for _ in range(3):
        await engine.create_asset(TENANT, new_asset())
    calls = 0

    async def handler(events: Sequence[FeedEvent], connection: AsyncConnection) -> None:
        nonlocal calls
        calls += 1
        for event in events:
            await connection.execute(
                text("INSERT INTO aio_effects (event_id) VALUES (:id)"), {"id": event.event_id}
            )
        if calls == 2:
            raise RuntimeError("the second batch fails after writing its rows")

    consumer = engine.consumer("effects", handler, batch_size=2)
    await engine.feed.settle(PLATFORM)
    with pytest.raises(RuntimeError):
        await consumer.run_once()
    assert await _effects(engine) == 2, "the first batch committed with its cursor; the failed one nothing"
    assert await consumer.catch_up() == 1
    assert await _effects(engine) == 3
    (state,) = await engine.feed.consumers(PLATFORM)
    assert (state.name, state.lag) == ("effects", 0)
    async with engine.database.begin() as connection:
        await connection.exec_driver_sql("DROP TABLE aio_effects")


async def _effects(engine: AsyncLifecycle) -> int:
    async with engine.database.connect() as connection:
        return int((await connection.exec_driver_sql("SELECT count(*) FROM aio_effects")).scalar_one())


@pytest.mark.asyncio
async def test_a_running_async_consumer_wakes_for_a_commit_and_stops_when_told(
    any_engine: AsyncLifecycle,
) -> None:
    """On PostgreSQL a NOTIFY (on psycopg's async connection) wakes it; on SQLite its poll does."""
    engine = any_engine
    received: list[FeedEvent] = []
    got = asyncio.Event()

    async def handler(events: Sequence[FeedEvent], _connection: AsyncConnection) -> None:
        received.extend(events)
        got.set()

    consumer = engine.consumer("live", handler, start="end", poll_interval=timedelta(milliseconds=50))
    await consumer.run_once()  # its cursor placed at the end
    stop = asyncio.Event()
    with capture_logs() as logs:
        running = asyncio.create_task(consumer.run(stop))
        asset = await engine.create_asset(TENANT, new_asset("live"))
        await asyncio.wait_for(got.wait(), WAIT)
        stop.set()
        await asyncio.wait_for(running, WAIT)
    assert [event.record.asset_id for event in received] == [asset.asset_id]
    events = [entry["event"] for entry in logs]
    assert events[0] == "consumer_started" and events[-1] == "consumer_stopped"
    assert "consumer_listen_failed" not in events


@pytest.mark.asyncio
@pytest.mark.postgresql
@pytest.mark.parametrize("any_engine", ["postgresql"], indirect=True)
async def test_an_async_consumer_that_cannot_listen_polls_instead(
    any_engine: AsyncLifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    async def refused(*_args: object, **_kwargs: object) -> None:
        raise psycopg.OperationalError("the listening connection was refused")

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", refused)
    got = asyncio.Event()
    poll = timedelta(milliseconds=20)
    consumer = any_engine.consumer("polling", lambda _e, _c: got.set(), start="end", poll_interval=poll)
    await consumer.run_once()
    stop = asyncio.Event()
    with capture_logs() as logs:
        running = asyncio.create_task(consumer.run(stop))
        await any_engine.create_asset(TENANT, new_asset("polled"))
        await asyncio.wait_for(got.wait(), WAIT)
        stop.set()
        await asyncio.wait_for(running, WAIT)
    assert "consumer_listen_failed" in [entry["event"] for entry in logs]


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def test_engines_upgrading_a_fresh_database_at_once_all_succeed(backend: str, tmp_path: Path) -> None:
    """The migrations' lock (PostgreSQL's advisory lock, SQLite's write lock) taken on the async
    drivers: the first engine migrates, the others find the schema up to date."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        if not POSTGRES_URL:
            pytest.skip("LIFECYCLE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
        url = POSTGRES_URL
        dropped = open_database(url)
        schema.drop(dropped)
        dropped.dispose()
    engines = [AsyncLifecycle(url) for _ in range(4)]
    try:
        await asyncio.gather(*(engine.upgrade() for engine in engines))
        for engine in engines:
            await engine.check_schema()
    finally:
        for engine in engines:
            await engine.close()


@pytest.mark.asyncio
async def test_sqlite_writers_of_one_engine_take_turns_on_the_loop_instead_of_meeting_busy(
    tmp_path: Path,
) -> None:
    """With a 10 ms busy timeout and no retry, concurrent writers waiting in SQLite's busy handler
    would fail with StoreBusy; queued on the loop, each gets the lock in turn."""
    path = tmp_path / "lifecycle.db"
    async with AsyncLifecycle(f"sqlite:///{path}") as made:
        await made.upgrade()
    database = open_async_database(f"sqlite:///{path}", connect_args={"timeout": 0.01})
    engine = AsyncLifecycle(database, clock=ManualClock(START), retry=RetryPolicy(attempts=1))
    try:
        created = await asyncio.gather(*(engine.create_asset(TENANT, new_asset()) for _ in range(24)))
        assert len({asset.asset_id for asset in created}) == 24
        assert engine.transaction_retries == 0
    finally:
        await database.dispose()


@pytest.mark.asyncio
async def test_a_write_that_waits_too_long_for_its_turn_meets_sqlites_lock_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler writing through the engine inside its own consumer batch waits for a turn its
    batch holds: past the turn's timeout it goes on to SQLite's lock, and is refused StoreBusy,
    as without turns (never a hang)."""
    monkeypatch.setattr("lifecycle.store.database.WRITER_TURN_TIMEOUT_S", 0.05)
    path = tmp_path / "lifecycle.db"
    async with AsyncLifecycle(f"sqlite:///{path}") as made:
        await made.upgrade()
    database = open_async_database(f"sqlite:///{path}", connect_args={"timeout": 0.01})
    engine = AsyncLifecycle(database, clock=ManualClock(START), retry=RetryPolicy(attempts=1))
    try:
        await engine.create_asset(TENANT, new_asset())

        async def nested(_events: Sequence[FeedEvent], _connection: AsyncConnection) -> None:
            await engine.create_asset(TENANT, new_asset("inside the batch"))

        with pytest.raises(StoreBusy):
            await engine.consumer("nested", nested).run_once()
    finally:
        await database.dispose()


def test_the_engines_waits_need_no_greenlet_outside_async_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where greenlet is not installed (SQLAlchemy's ``in_greenlet`` raises then), the sync engine's
    waits still sleep."""
    from sqlalchemy.util import concurrency

    from lifecycle import waits

    slept: list[float] = []
    monkeypatch.setattr(concurrency, "have_greenlet", False)
    monkeypatch.setattr(concurrency, "in_greenlet", lambda: pytest.fail("in_greenlet called"))
    monkeypatch.setattr(waits.time, "sleep", slept.append)
    waits.pause(0.25)
    assert slept == [0.25]


class _HeldWrite(SweepListener):
    """Holds the sweep inside its write: the first batch's claim waits on the loop (as a database
    await does) until released, so a stop arriving then finds the sweep in the middle of its work."""

    def __init__(self) -> None:
        self.writing = asyncio.Event()
        self.release = asyncio.Event()
        self.written_batches: list[int] = []

    def found(self, rule: TimeRule, asset_ids: Sequence[str]) -> None:
        self.writing.set()
        await_only(asyncio.wait_for(self.release.wait(), WAIT))

    def written(self, rule: TimeRule, moved: int) -> None:
        self.written_batches.append(moved)


@pytest.mark.asyncio
async def test_stopping_the_async_scheduler_never_cancels_the_sweep_in_flight(
    engine: AsyncLifecycle, caplog: pytest.LogCaptureFixture
) -> None:
    """APScheduler's asyncio executor cancels its jobs' tasks when it shuts down: the scheduler
    must not shut it down before the sweep in flight has ended, or a SIGTERM cancels a batch."""
    await _due(engine, 6)
    held = _HeldWrite()
    scheduler = AsyncSweepScheduler(engine, batch_size=4, listener=held)
    scheduler.start()
    await asyncio.wait_for(held.writing.wait(), WAIT)
    stopping = asyncio.create_task(scheduler.stop())
    for _ in range(5):  # let the stop (and any shutdown it asks of APScheduler) run its course
        await asyncio.sleep(0)
    held.release.set()
    await asyncio.wait_for(stopping, WAIT)
    assert held.written_batches == [4], "the batch in flight was written whole"
    assert not [record for record in caplog.records if record.exc_info], "no job ended by an exception"
    assert (await engine.due_counts())["upload_timeout"] == 2

"""AsyncLifecycle's own promises: Lifecycle's calls, each a coroutine with the same parameters; its
URLs and engines; coroutine listeners; and that it never blocks its event loop.

What the calls do is tested once for both facades (the tests marked ``facades``, through
``tests.facades.SyncView``); this file tests what only the async facade has.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import create_async_engine

from lifecycle import AsyncLifecycle, Lifecycle
from lifecycle.actors import Platform, Tenant
from lifecycle.aio import AsyncFeed
from lifecycle.clock import ManualClock
from lifecycle.definition import Event
from lifecycle.errors import DatabaseMissing, InvalidParameter, SchemaOutOfDate, TransitionNotAllowed
from lifecycle.feed import Feed
from lifecycle.records import TransitionRecord
from tests.conftest import POSTGRES_URL, START, new_asset

TENANT = Tenant("tenant-a")
PLATFORM = Platform("operator-7")
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

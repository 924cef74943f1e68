"""Racing retries and racing processes, with real threads and processes, on both backends.

- Retries of one creation request racing each other make one asset, and every caller gets it.
- A retry racing the call it retries answers with that call's outcome, never ``Conflict``.
- Processes upgrading a fresh database at once all succeed (migrations take a lock).

On SQLite these hold by the single writer; on PostgreSQL by the database's own constraints and
locks: a creation request's primary key, the guarded write's row lock, an advisory lock.
"""

from __future__ import annotations

import functools
import multiprocessing
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, func, select, text

from lifecycle.actors import Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import Event, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import LifecycleError
from lifecycle.results import Transitioned
from lifecycle.store import schema
from lifecycle.store.database import open_database
from lifecycle.store.models import assets, audit
from tests.conftest import POSTGRES_URL, START, new_asset
from tests.test_interleavings import Interleaver, Subject

pytestmark = pytest.mark.facades

T = TypeVar("T")
TENANT = Tenant("racing")
THREADS = 6


def _race(calls: list[Callable[[], T]]) -> list[T | LifecycleError]:
    """Run the calls on as many threads, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T | LifecycleError:
        barrier.wait()
        try:
            return call()
        except LifecycleError as error:
            return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _count(database: Engine, table: Any, *where: Any) -> int:
    with database.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


# Idempotent creation ---------------------------------------------------------------------------


def test_racing_retries_of_one_creation_make_one_asset_and_all_get_it(
    lifecycle: Lifecycle, database: Engine
) -> None:
    for round_ in range(25):
        request_id = f"create-{round_}"
        create = functools.partial(lifecycle.create_asset, TENANT, new_asset(), request_id=request_id)
        calls = [create] * THREADS
        answers = _race(calls)
        assert not [a for a in answers if isinstance(a, LifecycleError)], answers
        assert len({a.asset_id for a in answers if not isinstance(a, LifecycleError)}) == 1, request_id
    assert _count(database, assets) == 25
    assert lifecycle.verify_audit(System()).clean


def test_the_same_request_id_of_two_tenants_makes_an_asset_each(
    lifecycle: Lifecycle, database: Engine
) -> None:
    answers = _race(
        [
            lambda: lifecycle.create_asset(TENANT, new_asset(), request_id="shared"),
            lambda: lifecycle.create_asset(Tenant("other"), new_asset(), request_id="shared"),
        ]
    )
    assert len({a.asset_id for a in answers if not isinstance(a, LifecycleError)}) == 2
    assert _count(database, assets) == 2


def test_a_creation_retried_after_a_refusal_past_the_allowance_is_not_stuck(
    lifecycle: Lifecycle, database: Engine, clock: ManualClock
) -> None:
    """A refused creation writes nothing, its request claim included: the retry is decided anew."""
    from lifecycle.billing import StoragePolicy
    from lifecycle.errors import StorageAllowanceExceeded
    from lifecycle.settings import Settings

    strict = Lifecycle(
        database,
        clock=clock,
        settings=Settings(storage=StoragePolicy(free_bytes=1, refuse_uploads_over_allowance=True)),
    )
    with pytest.raises(StorageAllowanceExceeded):
        strict.create_asset(TENANT, new_asset(), request_id="too-big")
    assert _count(database, assets) == 0
    created = lifecycle.create_asset(TENANT, new_asset(), request_id="too-big")
    assert lifecycle.create_asset(TENANT, new_asset(), request_id="too-big").asset_id == created.asset_id


# A retry racing the call it retries --------------------------------------------------------------


def _uploaded(lifecycle: Lifecycle) -> str:
    asset = lifecycle.create_asset(TENANT, new_asset())
    lifecycle.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    return asset.asset_id


def test_a_retry_racing_its_call_answers_with_the_first_outcome(
    lifecycle: Lifecycle, database: Engine
) -> None:
    for round_ in range(40):
        asset_id = _uploaded(lifecycle)
        request_id = f"activate-{round_}"
        answers = _race([functools.partial(lifecycle.activate, TENANT, asset_id, request_id=request_id)] * 2)
        moves = [a for a in answers if isinstance(a, Transitioned)]
        assert len(moves) == 2, answers
        assert sorted(move.replayed for move in moves) == [False, True]
        assert moves[0].version == moves[1].version == 3
        assert _count(database, audit, audit.c.asset_id == asset_id, audit.c.event == Event.ACTIVATE) == 1


def test_a_racing_call_with_another_request_id_still_loses_with_conflict(
    lifecycle: Lifecycle, database: Engine
) -> None:
    """Only the same request is answered as replayed: a different one that lost is a lost race,
    or a refusal by the table, as before."""
    outcomes: set[str] = set()
    for round_ in range(20):
        asset_id = _uploaded(lifecycle)
        answers = _race(
            [
                functools.partial(lifecycle.activate, TENANT, asset_id, request_id=f"a-{round_}-{n}")
                for n in range(2)
            ]
        )
        outcomes |= {type(a).__name__ for a in answers}
        assert sum(isinstance(a, Transitioned) for a in answers) == 1, answers
    assert outcomes <= {"Transitioned", "Conflict", "TransitionNotAllowed"}


@pytest.mark.postgresql
def test_a_retry_paused_at_every_statement_of_its_call_gets_the_first_outcome(
    postgres_engine: Engine,
) -> None:
    """The interleaving that lost before: both read the asset, the call commits, the retry's
    guarded write then matches nothing. At every pause the retry answers replayed."""
    assert POSTGRES_URL is not None
    runner = Interleaver(POSTGRES_URL, postgres_engine)
    try:

        def setup(lc: Lifecycle) -> Subject:
            return Subject(_uploaded(lc), "", None)

        def activate(lc: Lifecycle, subject: Subject) -> object:
            return lc.activate(TENANT, subject.asset_id, request_id="the-request")

        alone = runner.interleaved(setup, activate, activate, pause_after=10**6)
        for pause_after in range(alone.statements + 1):
            run = runner.interleaved(setup, activate, activate, pause_after)
            assert run.outcomes == ("ok", "ok"), f"paused after {pause_after}: {run.outcomes}"
            moves = [move for move in run.stored[3] if move[0] is Event.ACTIVATE]  # type: ignore[index]
            assert len(moves) == 1, run.stored
    finally:
        runner.close()


# Concurrent upgrades -----------------------------------------------------------------------------


PROCESSES = 4


def _upgrade_when_released(url: str, barrier: Any, answers: Any) -> None:
    database = open_database(url)
    try:
        barrier.wait()
        schema.upgrade(database)
        answers.put("upgraded")
    except LifecycleError as error:
        answers.put(f"{type(error).__name__}: {error}")
    finally:
        database.dispose()


@pytest.fixture
def fresh_database_url(database: Engine, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it: a new SQLite file, or a new PostgreSQL schema."""
    if database.dialect.name == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    assert POSTGRES_URL is not None
    name = f"upgrade_race_{uuid.uuid4().hex[:8]}"
    with database.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {name}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{name}"
    finally:
        with database.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {name} CASCADE"))


def test_processes_upgrading_a_fresh_database_at_once_all_succeed(fresh_database_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    answers = context.Queue()
    processes = [
        context.Process(target=_upgrade_when_released, args=(fresh_database_url, barrier, answers))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    results = [answers.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert results == ["upgraded"] * PROCESSES
    database = open_database(fresh_database_url)
    try:
        assert schema.current_revision(database) == schema.head_revision()
        with Lifecycle(database, clock=ManualClock(START)) as lifecycle:
            lifecycle.create_asset(TENANT, new_asset())
            lifecycle.freeze(Platform("ops"), lifecycle.list_assets(TENANT).items[0].asset_id)
    finally:
        database.dispose()

"""Tasks instead of threads: AsyncLifecycle under concurrency and cancellation.

- 200 tasks on one event loop moving 50 shared assets (PostgreSQL): no move lost or doubled, the
  audit verified.
- A move cancelled at its k-th await, for every k, on both backends: nothing half-written, its
  connection back in the pool, the asset unchanged or moved whole.

The racing-retry and idempotency guarantees across tasks are the sync suite's own tests
(tests/test_racing_requests.py, tests/test_concurrency.py), run on the async facade as well: their
threads' calls become concurrent tasks on the facade's one loop (tests/facades.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator, Coroutine, Generator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from lifecycle.actors import System, Tenant
from lifecycle.aio import AsyncLifecycle
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, Event, UploadResult
from lifecycle.errors import Conflict, TransitionNotAllowed
from lifecycle.results import Transitioned
from lifecycle.store import schema
from lifecycle.store.database import open_database
from tests.conftest import POSTGRES_URL, START, TABLES, new_asset

T = TypeVar("T")
TENANT = Tenant("tasks")
TASKS = 200
ASSETS = 50
MOVES_PER_TASK = 5


class CancelledAt:
    """Awaits ``coroutine`` as its task would, and cancels it when it suspends for the
    ``at``-th time: the future it waits on is cancelled and ``CancelledError`` is thrown in at that
    await, exactly what ``Task.cancel()`` does then. ``suspensions`` counts them all."""

    def __init__(self, coroutine: Coroutine[Any, Any, T], at: int) -> None:
        self._coroutine = coroutine
        self._at = at
        self.suspensions = 0
        self.cancelled = False

    def __await__(self) -> Generator[Any, Any, Any]:
        steps = self._coroutine.__await__()
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            try:
                waited = steps.send(sent) if thrown is None else steps.throw(thrown)
            except StopIteration as done:
                return done.value
            sent, thrown = None, None
            self.suspensions += 1
            if self.suspensions == self._at:
                self.cancelled = True
                if isinstance(waited, asyncio.Future):
                    waited.cancel()
                thrown = asyncio.CancelledError()
                continue
            try:
                sent = yield waited
            except BaseException as error:  # noqa: BLE001 - handed on into the coroutine, as a task does
                thrown = error


async def _uploaded(engine: AsyncLifecycle) -> str:
    asset = await engine.create_asset(TENANT, new_asset())
    await engine.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    return asset.asset_id


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncLifecycle]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lifecycle.db'}"
    else:
        if not POSTGRES_URL:
            pytest.skip("LIFECYCLE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
        url = POSTGRES_URL
        emptied = open_database(url)
        schema.upgrade(emptied)
        with emptied.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)}")
        emptied.dispose()
    async with AsyncLifecycle(url, clock=ManualClock(START)) as made:
        await made.upgrade()
        yield made


def _checked_out(engine: AsyncLifecycle) -> int:
    return int(engine.database.sync_engine.pool.checkedout())  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_a_move_cancelled_at_any_await_is_written_whole_or_not_at_all(engine: AsyncLifecycle) -> None:
    asset_id = await _uploaded(engine)
    outcomes: Counter[str] = Counter()
    at = 0
    while True:
        at += 1
        before = await engine.get_asset(TENANT, asset_id)
        assert before.asset_state is AssetState.UNACTIVED
        move = CancelledAt(engine.activate(TENANT, asset_id), at)
        try:
            await move
        except asyncio.CancelledError:
            assert move.cancelled
        assert _checked_out(engine) == 0, f"cancelled at await {at}: its connection is back in the pool"
        after = await engine.get_asset(TENANT, asset_id)
        if after.version == before.version:
            assert after.asset_state is AssetState.UNACTIVED
            outcomes["not written"] += 1
        else:
            assert (after.version, after.asset_state) == (before.version + 1, AssetState.ACTIVED)
            outcomes["written whole"] += 1
            await engine.deactivate(TENANT, asset_id)
        report = await engine.verify_audit(System())
        assert report.clean, f"cancelled at await {at}: {report.problems}"
        if not move.cancelled:
            break  # the move ran to its end before its at-th await: every await was tried
        assert at < 500, "a move that never ends"
    assert at > 3, "a move awaits the database several times"
    assert outcomes["not written"] >= 1 and outcomes["written whole"] >= 1, outcomes


@pytest.mark.asyncio
@pytest.mark.postgresql
@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)  # SQLite: one writer at a time
async def test_two_hundred_tasks_moving_fifty_shared_assets_lose_and_double_nothing(
    engine: AsyncLifecycle,
) -> None:
    asset_ids = [await _uploaded(engine) for _ in range(ASSETS)]
    start = {asset_id: (await engine.get_asset(TENANT, asset_id)).version for asset_id in asset_ids}
    rng = random.Random(18)
    events = (Event.ACTIVATE, Event.DEACTIVATE)
    plans = [
        [(rng.choice(asset_ids), rng.choice(events)) for _ in range(MOVES_PER_TASK)] for _ in range(TASKS)
    ]
    go = asyncio.Event()

    async def task(plan: list[tuple[str, Event]]) -> list[Transitioned]:
        await go.wait()
        made = []
        for asset_id, event in plan:
            with contextlib.suppress(TransitionNotAllowed, Conflict):  # lost races: typed, nothing written
                made.append(await engine.fire(TENANT, asset_id, event))
        return made

    running = [asyncio.create_task(task(plan)) for plan in plans]
    go.set()
    made = [move for made in await asyncio.gather(*running) for move in made]

    assert made, "some moves were made"
    made_versions = Counter((move.asset_id, move.version) for move in made)
    assert max(made_versions.values()) == 1, "no version made twice"
    for asset_id in asset_ids:
        asset = await engine.get_asset(TENANT, asset_id)
        mine = sorted(move.version for move in made if move.asset_id == asset_id)
        assert mine == list(range(start[asset_id] + 1, asset.version + 1)), "every move counted once"
        history = await engine.history(TENANT, asset_id)
        assert len(history) == asset.version
    report = await engine.verify_audit(System())
    assert report.clean, report.problems
    assert _checked_out(engine) == 0


@pytest.mark.asyncio
async def test_racing_retries_across_tasks_make_one_asset_and_one_move(engine: AsyncLifecycle) -> None:
    """Tasks of one loop retrying one request at once: one asset, every caller answered with it; one
    move, the others answered with it, ``replayed``. (The thread-based suite runs on this facade
    too: tests/test_racing_requests.py.)"""
    for round_ in range(5):
        created = await asyncio.gather(
            *(engine.create_asset(TENANT, new_asset(), request_id=f"create-{round_}") for _ in range(8))
        )
        assert len({asset.asset_id for asset in created}) == 1
        asset = created[0]
        await engine.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
        moves = await asyncio.gather(
            *(engine.activate(TENANT, asset.asset_id, request_id=f"activate-{round_}") for _ in range(8))
        )
        assert sorted(move.replayed for move in moves) == [False] + [True] * 7
        assert {move.version for move in moves} == {3}
    assert (await engine.verify_audit(System())).clean

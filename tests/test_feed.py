"""The durable change feed: every transition, from any process, reaches each named consumer once, in
each asset's version order; a handler's own rows commit with its cursor (exactly once); a failed
batch comes again; cursors can be moved; reading it is the platform's."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest
from sqlalchemy import Connection, Engine, text
from structlog.testing import capture_logs

from lifecycle.actors import Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import BatchAction, Event, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import FeedHeldBack, InvalidParameter, PermissionDenied
from lifecycle.feed import BEGINNING, FeedEvent
from tests.conftest import new_asset

pytestmark = pytest.mark.facades

TENANT = Tenant("fed")
PLATFORM = Platform("feed-operator")
EFFECTS = "test_feed_effects"


def _history(lifecycle: Lifecycle, clock: ManualClock) -> list[str]:
    """Moves of every kind; the assets."""
    ids = []
    for name in ("one", "two", "three"):
        asset = lifecycle.create_asset(TENANT, new_asset(name))
        lifecycle.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
        ids.append(asset.asset_id)
    lifecycle.activate(TENANT, ids[0])
    lifecycle.batch(TENANT, BatchAction.DELETE, ids[1:])
    lifecycle.freeze_tenant(PLATFORM, TENANT.project_id)
    lifecycle.unfreeze_tenant(PLATFORM, TENANT.project_id)
    lifecycle.delete(TENANT, ids[0])
    clock.advance(lifecycle.settings.recycle_retention + timedelta(seconds=1))
    lifecycle.sweep(actor=System())
    return ids


def _audit_ids(lifecycle: Lifecycle, asset_ids: Sequence[str]) -> list[str]:
    return [
        f"{asset_id}:{entry.seq}" for asset_id in asset_ids for entry in lifecycle.history(PLATFORM, asset_id)
    ]


def test_every_transition_reaches_each_consumer_once_in_each_assets_order(
    lifecycle: Lifecycle, clock: ManualClock
) -> None:
    ids = _history(lifecycle, clock)
    lifecycle.feed.settle(PLATFORM)
    seen: dict[str, list[FeedEvent]] = {"billing": [], "search": []}
    for name, events_seen in seen.items():
        consumer = lifecycle.consumer(
            name, lambda events, _c, into=events_seen: into.extend(events), batch_size=4
        )
        assert consumer.run_once() == len(_audit_ids(lifecycle, ids))
        assert consumer.run_once() == 0, "nothing twice"
    for events in seen.values():
        assert sorted(event.event_id for event in events) == sorted(_audit_ids(lifecycle, ids))
        positions = [event.position for event in events]
        assert positions == sorted(positions), "in feed order"
        for asset_id in ids:
            versions = [event.record.version for event in events if event.record.asset_id == asset_id]
            assert versions == sorted(versions) == list(range(1, len(versions) + 1))
    assert {event.record.event for event in seen["billing"]} >= {Event.CREATE, Event.DELETE, Event.PURGE}
    states = {state.name: state for state in lifecycle.feed.consumers(PLATFORM)}
    assert set(states) == {"billing", "search"} and all(state.lag == 0 for state in states.values())


@pytest.fixture
def effects(database: Engine) -> Iterator[str]:
    with database.begin() as connection:
        connection.execute(text(f"DROP TABLE IF EXISTS {EFFECTS}"))
        connection.execute(text(f"CREATE TABLE {EFFECTS} (event_id VARCHAR(200) PRIMARY KEY)"))
    yield EFFECTS
    with database.begin() as connection:
        connection.execute(text(f"DROP TABLE {EFFECTS}"))


def _count(database: Engine, table: str) -> int:
    with database.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_handlers_own_rows_commit_with_the_cursor_and_a_failed_batch_comes_again(
    lifecycle: Lifecycle, database: Engine, clock: ManualClock, effects: str
) -> None:
    ids = _history(lifecycle, clock)
    lifecycle.feed.settle(PLATFORM)
    total = len(_audit_ids(lifecycle, ids))
    calls = {"n": 0}

    def handler(events: Sequence[FeedEvent], connection: Connection) -> None:
        for event in events:
            connection.execute(text(f"INSERT INTO {effects} (event_id) VALUES (:id)"), {"id": event.event_id})
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the second batch fails after writing its rows")

    consumer = lifecycle.consumer("effects", handler, batch_size=5)
    with pytest.raises(RuntimeError):
        consumer.run_once()
    assert _count(database, effects) == 5, "the first batch committed; the failed one wrote nothing"
    assert lifecycle.feed.consumers(PLATFORM)[0].lag == total - 5
    assert consumer.run_once() == total - 5
    assert _count(database, effects) == total, (
        "each event's effect exactly once (the table's key would refuse twice)"
    )


def test_a_new_consumer_may_start_at_the_end_and_a_cursor_may_be_moved_back(
    lifecycle: Lifecycle, clock: ManualClock
) -> None:
    first = lifecycle.create_asset(TENANT, new_asset("before"))
    lifecycle.feed.settle(PLATFORM)
    clock.advance(timedelta(hours=1))
    moment = clock.now()
    late: list[FeedEvent] = []
    consumer = lifecycle.consumer("late", lambda events, _c: late.extend(events), start="end")
    assert consumer.run_once() == 0
    second = lifecycle.create_asset(TENANT, new_asset("after"))
    assert consumer.catch_up() == 1 and late[0].record.asset_id == second.asset_id
    with capture_logs() as logs:
        state = lifecycle.feed.seek(PLATFORM, "late", to=moment - timedelta(minutes=1))
    assert state.lag == 1
    assert [entry["event"] for entry in logs] == ["consumer_moved"]
    assert consumer.run_once() == 1 and late[-1].record.asset_id == second.asset_id
    lifecycle.feed.seek(PLATFORM, "late", to=BEGINNING)
    assert consumer.run_once() == 2 and late[-2].record.asset_id == first.asset_id
    with pytest.raises(InvalidParameter, match="no consumer"):
        lifecycle.feed.seek(PLATFORM, "nobody", to=BEGINNING)


def test_reading_the_feed_is_the_platforms(lifecycle: Lifecycle) -> None:
    lifecycle.create_asset(TENANT, new_asset())
    lifecycle.feed.settle(PLATFORM)
    assert [event.record.event for event in lifecycle.feed.read(PLATFORM)] == [Event.CREATE]
    assert lifecycle.feed.read(PLATFORM, after=lifecycle.feed.end(PLATFORM)) == []
    for call in (
        lambda: lifecycle.feed.read(TENANT),  # type: ignore[arg-type]
        lambda: lifecycle.feed.consumers(TENANT),  # type: ignore[arg-type]
        lambda: lifecycle.feed.seek(TENANT, "x", to=BEGINNING),  # type: ignore[arg-type]
    ):
        with pytest.raises(PermissionDenied):
            call()
    with pytest.raises(PermissionDenied):
        lifecycle.feed.settle(TENANT)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="limit"):
        lifecycle.feed.read(PLATFORM, limit=0)
    with pytest.raises(InvalidParameter, match="timeout"):
        lifecycle.feed.settle(PLATFORM, timeout=timedelta(0))
    with pytest.raises(InvalidParameter, match="start"):
        lifecycle.consumer("x", lambda _e, _c: None, start="now")


def test_catching_up_handles_everything_committed_before_it_and_says_when_it_cannot(
    lifecycle: Lifecycle, database: Engine
) -> None:
    made = [lifecycle.create_asset(TENANT, new_asset(name)).asset_id for name in ("a", "b", "c")]
    seen: list[FeedEvent] = []
    consumer = lifecycle.consumer("catching-up", lambda events, _c: seen.extend(events), batch_size=2)
    assert consumer.catch_up() == 3
    assert [event.record.asset_id for event in seen] == made
    assert consumer.catch_up() == 0
    later = lifecycle.create_asset(TENANT, new_asset("d")).asset_id
    if database.dialect.name != "postgresql":
        return  # one writer at a time: no other instance can hold the cursor between batches
    with database.begin() as connection:  # another instance, in the middle of a batch
        connection.execute(text("SELECT * FROM lifecycle_feed_consumers FOR UPDATE"))
        with pytest.raises(FeedHeldBack, match="another instance holding its cursor"):
            consumer.catch_up(timeout=timedelta(milliseconds=20))
    assert consumer.catch_up() == 1 and seen[-1].record.asset_id == later


def test_a_running_consumer_wakes_for_a_commit_and_stops_when_told(lifecycle: Lifecycle) -> None:
    """On PostgreSQL a NOTIFY from the writing transaction wakes it; on SQLite its poll does."""
    got = threading.Event()
    received: list[FeedEvent] = []

    def handler(events: Sequence[FeedEvent], _connection: Connection) -> None:
        received.extend(events)
        got.set()

    consumer = lifecycle.consumer("live", handler, start="end", poll_interval=timedelta(milliseconds=50))
    # Its cursor placed at the end now: else the runner's first claim could come after the commit
    # below, and start past it.
    assert consumer.run_once() == 0
    stop = threading.Event()
    runner = threading.Thread(target=consumer.run, args=(stop,))
    runner.start()
    try:
        asset = lifecycle.create_asset(TENANT, new_asset("live"))
        assert got.wait(30), "the consumer never heard the commit"
    finally:
        stop.set()
        runner.join(30)
    assert not runner.is_alive()
    assert [event.record.asset_id for event in received] == [asset.asset_id]

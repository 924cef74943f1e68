"""Races: many threads, one asset. A lost race is a typed error, never a silent overwrite."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from lifecycle.actors import Platform, Tenant
from lifecycle.context import Context
from lifecycle.definition import Event, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import Conflict, LifecycleError, TransitionNotAllowed
from lifecycle.feed import Feed
from tests.conftest import new_asset

pytestmark = pytest.mark.facades

THREADS = 16
ROUNDS = 100
WAIT = 30  # seconds; a bound on waiting for another thread, never a delay

TENANT = Tenant("racer")
PLATFORM = Platform("race-operator")


def _contenders(lifecycle: Lifecycle, asset_id: str) -> list[Event]:
    """Events that would each succeed alone now, short of ending the asset."""
    allowed = lifecycle.allowed_events(TENANT, asset_id) + lifecycle.allowed_events(PLATFORM, asset_id)
    return [event for event in dict.fromkeys(allowed) if event is not Event.DELETE_FORCE]


def _actor(event: Event) -> Tenant | Platform:
    return PLATFORM if event in (Event.FREEZE, Event.UNFREEZE) else TENANT


def _uploaded(lifecycle: Lifecycle) -> str:
    asset = lifecycle.create_asset(TENANT, new_asset())
    lifecycle.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    return asset.asset_id


def test_sixteen_threads_firing_conflicting_events_at_one_version_one_wins_each_round(
    lifecycle: Lifecycle,
) -> None:
    asset_id = _uploaded(lifecycle)
    start_version = lifecycle.get_asset(TENANT, asset_id).version
    barrier = threading.Barrier(THREADS)
    outcomes: Counter[str] = Counter()
    unexpected: list[BaseException] = []

    def contend(event: Event, version: int) -> str:
        barrier.wait()
        try:
            lifecycle.fire(_actor(event), asset_id, event, expected_version=version)
        except Conflict:
            return "conflict"
        except BaseException as error:  # noqa: BLE001 - anything else is the failure we look for
            unexpected.append(error)
            return "unexpected"
        return "won"

    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(ROUNDS):
            current = lifecycle.get_asset(TENANT, asset_id)
            events = _contenders(lifecycle, asset_id)
            round_outcomes = list(
                pool.map(
                    contend, [events[i % len(events)] for i in range(THREADS)], [current.version] * THREADS
                )
            )
            assert round_outcomes.count("won") == 1, round_outcomes
            outcomes.update(round_outcomes)

    assert not unexpected, unexpected[:3]
    assert outcomes == Counter({"won": ROUNDS, "conflict": ROUNDS * (THREADS - 1)})
    final = lifecycle.get_asset(TENANT, asset_id)
    history = lifecycle.history(TENANT, asset_id)
    assert final.version == start_version + ROUNDS, "the version rose by exactly the wins"
    assert len(history) == final.version, "one audit row per win, none for a loss"
    assert [h.seq for h in history] == list(range(1, final.version + 1))
    for earlier, later in itertools.pairwise(history):
        assert later.from_state is earlier.to_state, "the trail has no gap and no contradiction"


def test_sixteen_threads_firing_the_same_event_move_the_asset_once(lifecycle: Lifecycle) -> None:
    """Without an expected version the losers see either the race (Conflict) or its result."""
    barrier = threading.Barrier(THREADS)
    errors: list[LifecycleError] = []
    unexpected: list[BaseException] = []

    def activate(asset_id: str) -> bool:
        barrier.wait()
        try:
            lifecycle.activate(TENANT, asset_id)
        except (Conflict, TransitionNotAllowed) as error:
            errors.append(error)
            return False
        except BaseException as error:  # noqa: BLE001
            unexpected.append(error)
            return False
        return True

    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(20):
            asset_id = _uploaded(lifecycle)
            wins = sum(pool.map(activate, [asset_id] * THREADS))
            assert wins == 1
            assert len(lifecycle.history(TENANT, asset_id)) == 3  # create, accept_upload, activate
    assert not unexpected, unexpected[:3]
    assert len(errors) == 20 * (THREADS - 1)


def test_two_threads_first_using_a_collaborator_at_once_get_the_one_built(
    database: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine builds a collaborator (here the feed) when a call first needs it, under its lock:
    a thread that asks while another builds waits for that one. The first build is held until the
    second thread has asked, then until a second build starts, or 0.2 s: the window in which an
    engine without the lock would build a second feed."""
    built: list[Feed] = []
    first_building, second_asked, second_built = threading.Event(), threading.Event(), threading.Event()
    build = Feed.__init__

    def held(feed: Feed, context: Context) -> None:
        built.append(feed)
        if len(built) == 1:
            first_building.set()
            assert second_asked.wait(WAIT)
            second_built.wait(0.2)
        else:
            second_built.set()
        build(feed, context)

    monkeypatch.setattr(Feed, "__init__", held)
    engine = Lifecycle(database)
    feeds: dict[str, Feed] = {}

    def first() -> None:
        feeds["first"] = engine.feed

    def second() -> None:
        second_asked.set()
        feeds["second"] = engine.feed

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_building.wait(WAIT)
    threads[1].start()
    for thread in threads:
        thread.join(WAIT)
    assert len(built) == 1
    assert feeds["first"] is feeds["second"] is engine.feed

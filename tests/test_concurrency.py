"""Races: many threads, one asset. A lost race is a typed error, never a silent overwrite."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from lifecycle.actors import Platform, Tenant
from lifecycle.definition import Event, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import Conflict, LifecycleError, TransitionNotAllowed
from tests.conftest import new_asset

pytestmark = pytest.mark.facades

THREADS = 16
ROUNDS = 100

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

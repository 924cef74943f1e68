"""lifecycle.strategies: the sequences it draws are legal, reach the whole table and shrink; the
state machine base class checks users' code and catches an engine that strays from the table."""

from __future__ import annotations

import functools
import importlib
import itertools
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import invariant, run_state_machine_as_test
from hypothesis.vendor.pretty import pretty

import lifecycle.applications
import lifecycle.manager
import lifecycle.moves
from lifecycle.actors import Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import TRANSITIONS, AssetFacts, AssetState, Event, Role, build_definition
from lifecycle.engine import Lifecycle
from lifecycle.errors import LifecycleError, MissingDependency, PermissionDenied, TransitionNotAllowed
from lifecycle.explore import Step, initial_facts, moves, reachable
from lifecycle.explore import situations as explore_situations
from lifecycle.moves import Move
from lifecycle.results import TenantOperation, Transitioned
from lifecycle.strategies import (
    EventSequence,
    LifecycleStateMachine,
    event_sequences,
    situations,
    stored_facts,
)
from lifecycle.sweeps import SweepReport
from lifecycle.testing import AssetFactory

MACHINE_SETTINGS = settings(
    max_examples=15, stateful_step_count=30, deadline=None, database=None, derandomize=True
)
"""For the state machines below: enough to find what they look for, deterministic, not slow."""


@functools.cache
def _engine() -> Lifecycle:
    """One in-memory database for the replays (each replay's asset has a tenant of its own)."""
    lifecycle = Lifecycle("sqlite://", clock=ManualClock())
    lifecycle.upgrade()
    return lifecycle


_tenants = itertools.count()


def _is_walk(sequence: EventSequence) -> bool:
    """Each step is one the table offers from the facts before it, leading to the facts after it."""
    return sequence.start in initial_facts() and all(
        (step, after) in set(_successors(before))
        for step, before, after in zip(sequence.steps, sequence.facts, sequence.facts[1:], strict=False)
    )


def _successors(facts: AssetFacts) -> list[tuple[Step, AssetFacts]]:
    return [(step, after) for step, _arrow, after in moves(facts)]


# Sequences -----------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(sequence=event_sequences(max_size=10))
def test_every_drawn_sequence_replays_through_the_engine_to_the_facts_it_says(
    sequence: EventSequence,
) -> None:
    assert _is_walk(sequence), sequence
    assert len(sequence.facts) == len(sequence) + 1 <= 11
    owner = Tenant(f"strategies-{next(_tenants)}")  # its own: a tenant-wide freeze freezes only it
    replayed = list(AssetFactory(_engine(), owner).walk(sequence, tenant=owner))
    assert [stored_facts(asset) for asset in replayed] == list(sequence.facts)
    history = _engine().history(owner, replayed[0].asset_id)
    assert [entry.event for entry in history] == [Event.CREATE, *sequence.events]
    assert [entry.to_state for entry in history] == list(sequence.states)


def test_a_seeded_run_of_the_strategy_takes_every_arrow_of_the_table_tenant_wide_freezes_too() -> None:
    every = {(arrow, step.tenant_wide) for facts in reachable() for step, arrow, _ in moves(facts)}
    taken: set[object] = set()

    @settings(max_examples=1000, derandomize=True, database=None, phases=[Phase.generate], deadline=None)
    @given(sequence=event_sequences())
    def walk(sequence: EventSequence) -> None:
        for step, arrow in zip(sequence.steps, sequence.arrows(), strict=True):
            taken.add((arrow, step.tenant_wide))

    walk()
    assert len(every) == 44  # 39 arrows, and a tenant-wide freeze beside each freeze from a live state
    assert {str(arrow) + (" (tenant-wide)" if wide else "") for arrow, wide in every - taken} == set()


def test_a_sequence_found_for_a_property_shrinks_to_a_shortest_one_or_nearly() -> None:
    # Derandomized, but Hypothesis also draws on constants of the modules loaded, so the shrinker
    # may stop one step short of the shortest path where a step cannot be deleted alone.
    quick = settings(database=None, derandomize=True)
    deleted = find(event_sequences(), lambda s: s.end.state is AssetState.DELETED, settings=quick)
    assert deleted.start == initial_facts()[0]  # the default choices: no review, stays UNACTIVED
    assert deleted.steps == (Step(Event.DELETE_FORCE),)

    restored_frozen = find(
        event_sequences(),
        lambda s: Step(Event.RESTORE) in s.steps and s.end.state is AssetState.BLOCK,
        settings=quick,
    )
    assert restored_frozen.events == (Event.FREEZE, Event.DELETE, Event.RESTORE)

    frozen_in_bin = find(
        event_sequences(),
        lambda s: s.end.state is AssetState.BLOCK and s.end.pre_freeze is AssetState.DELETING,
        settings=quick,
    )
    shortest = min(
        len(path.steps) for facts, path in reachable().items() if facts.pre_freeze is AssetState.DELETING
    )
    assert shortest == 2  # delete, freeze
    assert len(frozen_in_bin) <= shortest + 1, frozen_in_bin
    assert frozen_in_bin.events[-2:] == (Event.DELETE, Event.FREEZE)


@given(sequence=event_sequences(max_size=0))
def test_a_sequence_of_no_steps_is_an_asset_as_created(sequence: EventSequence) -> None:
    assert sequence.steps == ()
    assert sequence.facts in [(facts,) for facts in initial_facts()]


@pytest.mark.parametrize("max_size", [-1, 2.5, True, "3"])
def test_max_size_must_be_a_whole_number(max_size: object) -> None:
    with pytest.raises(InvalidArgument, match="max_size"):
        event_sequences(max_size=max_size)  # type: ignore[arg-type]


def test_a_sequence_prints_in_one_line_also_in_hypothesis_reports() -> None:
    frozen_with_tenant = next(facts for facts in reachable() if facts.frozen_by_tenant)
    sequence = EventSequence.of(reachable()[frozen_with_tenant])
    assert repr(sequence) == "EventSequence('freeze_tenant', states='CREATING>BLOCK')"
    assert pretty(sequence) == repr(sequence)


@settings(max_examples=60)
@given(situation=situations())
def test_situations_are_shortest_legal_sequences_to_each_situation(situation: EventSequence) -> None:
    assert _is_walk(situation)
    assert explore_situations()[situation.end].steps == situation.steps


def test_the_first_situation_drawn_when_shrinking_is_the_asset_as_created() -> None:
    first = find(situations(), lambda _: True, settings=settings(database=None))
    assert first.steps == ()


# The state machine base class --------------------------------------------------------------------


class NeverFrozen(LifecycleStateMachine):
    """A user's wrong belief: nothing they care about is ever frozen."""

    def on_applied(self, asset_id: str, transition: Transitioned) -> None:
        assert transition.to_state is not AssetState.BLOCK, f"{self.assets[asset_id]} was frozen"


def test_a_wrong_hook_fails_the_run_and_shrinks_to_a_freeze() -> None:
    with pytest.raises(AssertionError, match="was frozen") as failure:
        run_state_machine_as_test(
            NeverFrozen, settings=settings(MACHINE_SETTINGS, phases=[Phase.generate, Phase.shrink])
        )
    steps = [note for note in failure.value.__notes__ if note.startswith("state.") and "(" in note]
    rules = [step for step in steps if not step.startswith("state.stored_assets_follow_the_table")]
    assert rules[0].startswith("state.create_first(")
    assert rules[1].startswith(("state.fire_into_block(", "state.tenant_wide("))
    assert rules[2:] == ["state.teardown()"]


class UsableCache:
    """A user's cache of usable assets, fed with the moves their service sees."""

    def __init__(self, *, hasty: bool) -> None:
        self.usable: set[str] = set()
        self.hasty = hasty

    def transition_applied(self, transition: Transitioned) -> None:
        if transition.event is Event.ACCEPT_UPLOAD and self.hasty:
            self.usable.add(transition.asset_id)  # the bug: uploaded is not yet usable (UNACTIVED)
            return
        if transition.to_state is AssetState.ACTIVED:
            self.usable.add(transition.asset_id)
        else:
            self.usable.discard(transition.asset_id)


class UsableCacheMachine(LifecycleStateMachine):
    hasty: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.cache = UsableCache(hasty=self.hasty)

    def on_applied(self, asset_id: str, transition: Transitioned) -> None:
        self.cache.transition_applied(transition)

    @invariant()
    def the_cache_holds_exactly_the_actived_assets(self) -> None:
        actived = {a for a, tracked in self.assets.items() if tracked.facts.state is AssetState.ACTIVED}
        assert self.cache.usable == actived, "the cache is not the ACTIVED assets"


class HastyCacheMachine(UsableCacheMachine):
    hasty = True


def test_users_code_that_follows_every_move_passes() -> None:
    run_state_machine_as_test(UsableCacheMachine, settings=MACHINE_SETTINGS)


def test_users_code_that_misses_a_kind_of_move_is_caught() -> None:
    with pytest.raises(AssertionError, match="the cache is not the ACTIVED assets"):
        run_state_machine_as_test(
            HastyCacheMachine, settings=settings(MACHINE_SETTINGS, phases=[Phase.generate])
        )


class Tally(LifecycleStateMachine):
    """Counts what the hooks saw, over a whole run of examples."""

    seen: ClassVar[dict[str, int]] = {}

    def _count(self, name: str) -> None:
        self.seen[name] = self.seen.get(name, 0) + 1

    def on_created(self, asset: object) -> None:
        self._count("created")

    def on_applied(self, asset_id: str, transition: Transitioned) -> None:
        tracked = self.assets[asset_id]
        assert tracked.facts.state is transition.to_state  # already updated when the hook runs
        assert tracked.moments[-1] == transition.occurred_at
        self._count(f"applied by {tracked.actors[-1].role.value}")
        if tracked.sequence.steps[-1].tenant_wide:
            self._count("applied tenant-wide")

    def on_refused(self, asset_id: str, event: Event, actor: object, error: LifecycleError) -> None:
        self._count(type(error).__name__)

    def on_tenant_operation(self, operation: TenantOperation) -> None:
        self._count(f"tenant {operation.event.value}")

    def on_swept(self, report: SweepReport, moved: object) -> None:
        self._count("swept")
        if moved:
            self._count("swept some")


def test_every_hook_is_called_with_what_happened() -> None:
    Tally.seen.clear()
    run_state_machine_as_test(Tally, settings=MACHINE_SETTINGS)
    assert {
        "created",
        f"applied by {Role.TENANT.value}",
        f"applied by {Role.PLATFORM.value}",
        f"applied by {Role.SYSTEM.value}",
        "applied tenant-wide",
        PermissionDenied.__name__,
        TransitionNotAllowed.__name__,
        "tenant freeze",
        "tenant unfreeze",
        "swept",
        "swept some",
    } <= set(Tally.seen), Tally.seen


def _forget_pre_delete_when_frozen_in_the_bin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's decisions forget where a restore would go once frozen in the bin (the table,
    which the model follows, does not)."""
    decide = lifecycle.moves.plan_move

    def forgetful(*args: Any, **kwargs: Any) -> Move:
        move = decide(*args, **kwargs)
        if move.pre_freeze is not AssetState.DELETING:
            return move
        return replace(move, record=replace(move.record, pre_delete_state=None))

    monkeypatch.setattr(lifecycle.manager, "plan_move", forgetful)


def _let_every_role_do_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (lifecycle.manager, lifecycle.applications):
        monkeypatch.setattr(module, "check_role", lambda *_args: None)


@pytest.mark.parametrize(
    ("break_engine", "complaint"),
    [
        (_forget_pre_delete_when_frozen_in_the_bin, r"AssetFacts\(state=<AssetState.BLOCK"),
        (_let_every_role_do_everything, r"was applied to asset_\d|: TransitionNotAllowed\("),
    ],
    ids=["memory", "roles"],
)
def test_the_base_class_alone_catches_an_engine_that_strays_from_the_table(
    monkeypatch: pytest.MonkeyPatch,
    break_engine: Callable[[pytest.MonkeyPatch], None],
    complaint: str,
) -> None:
    break_engine(monkeypatch)
    with pytest.raises(AssertionError, match=complaint):
        run_state_machine_as_test(
            LifecycleStateMachine,
            settings=settings(MACHINE_SETTINGS, max_examples=100, phases=[Phase.generate]),
        )


def test_each_run_gets_a_fresh_database_with_the_current_schema() -> None:
    first, second = LifecycleStateMachine(), LifecycleStateMachine()
    try:
        first.lifecycle.check_schema()
        first.lifecycle.create_asset(
            first.tenants[0], first.new_asset("a", activate_on_upload=False, review_required=False)
        )
        assert first.lifecycle.list_assets(first.tenants[0]).total == 1
        assert second.lifecycle.list_assets(first.tenants[0]).total == 0
        assert first.tenants != second.tenants
    finally:
        first.teardown()
        second.teardown()


def test_without_hypothesis_the_module_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    monkeypatch.delitem(sys.modules, "lifecycle.strategies")
    with pytest.raises(
        MissingDependency, match=r"hypothesis is not installed: pip install 'lifecycle\[testing\]'"
    ):
        importlib.import_module("lifecycle.strategies")


def test_the_strategies_walk_the_definition_they_are_given() -> None:
    without_force = build_definition([edge for edge in TRANSITIONS if edge.event is not Event.DELETE_FORCE])
    ends: set[AssetState] = set()

    @settings(max_examples=200, derandomize=True, database=None, deadline=None)
    @given(sequence=event_sequences(without_force), situation=situations(without_force))
    def walk(sequence: EventSequence, situation: EventSequence) -> None:
        for drawn in (sequence, situation):
            assert Event.DELETE_FORCE not in drawn.events
            drawn.arrows(without_force)  # raises where a step is one this table refuses
            ends.add(drawn.end.state)

    walk()
    assert AssetState.DELETED in ends  # purged: the way left to the end

"""The definition: validated when built, one machine shared by every asset."""

from __future__ import annotations

import dataclasses
import pydoc

import pytest
from transitions import Machine

from lifecycle.definition import (
    DEFINITION,
    EVENTS,
    FINAL_STATES,
    TABLE_EVENTS,
    TRANSITIONS,
    AssetFacts,
    AssetState,
    Event,
    Transition,
    build_definition,
)
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidDefinition


def test_the_table_is_loaded_into_one_transitions_machine_without_shortcuts() -> None:
    machine = DEFINITION.machine
    assert isinstance(machine, Machine)
    assert not machine.auto_transitions
    assert not any(name.startswith("to_") for name in machine.events)
    assert set(machine.events) == {event.value for event in TABLE_EVENTS}
    assert machine.initial == AssetState.CREATING.name


def test_the_definition_has_a_short_repr_so_help_on_the_engine_stays_short() -> None:
    """It is the default of ``Lifecycle(definition=...)``: its repr is in every signature shown."""
    assert repr(DEFINITION) == (
        f"<Definition: {len(DEFINITION.events)} events, {len(AssetState)} states,"
        f" {len(DEFINITION.transitions)} transitions, {len(DEFINITION.time_rules)} time rules,"
        f" {len(DEFINITION.file_transitions)} file transitions>"
    )
    assert dataclasses.is_dataclass(DEFINITION)
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFINITION.time_rules = ()  # type: ignore[misc]
    shown = pydoc.render_doc(Lifecycle, renderer=pydoc.plaintext)
    assert f"definition: 'Definition' = {DEFINITION!r}" in shown
    assert "Transition(" not in shown
    assert max(len(line) for line in shown.splitlines()) < 400


def test_deleted_is_final_and_every_other_state_has_a_way_out() -> None:
    assert {AssetState.DELETED} == FINAL_STATES
    sources = {source for edge in TRANSITIONS for source in edge.sources}
    assert sources == set(AssetState) - {AssetState.DELETED}


def test_a_table_where_deleted_has_a_way_out_is_refused() -> None:
    escape = Transition(Event.RESTORE, frozenset({AssetState.DELETED}), AssetState.ACTIVED)
    with pytest.raises(InvalidDefinition, match="final states with a way out: DELETED"):
        build_definition([*TRANSITIONS, escape])


def test_a_table_with_unreachable_states_is_refused_naming_them() -> None:
    never_failing = [edge for edge in TRANSITIONS if edge.dest is not AssetState.FAILED]
    with pytest.raises(InvalidDefinition, match="unreachable states: FAILED"):
        build_definition(never_failing)


def test_a_table_with_a_trap_state_is_refused() -> None:
    no_way_out_of_failed = [edge for edge in TRANSITIONS if AssetState.FAILED not in edge.sources]
    with pytest.raises(InvalidDefinition, match=r"trap states .*: FAILED"):
        build_definition(no_way_out_of_failed)


def test_unknown_conditions_and_events_without_roles_are_refused() -> None:
    typo = Transition(
        Event.ACTIVATE, frozenset({AssetState.UNACTIVED}), AssetState.ACTIVED, conditions=("is_tuesday",)
    )
    with pytest.raises(InvalidDefinition, match="unknown conditions: is_tuesday"):
        build_definition([*TRANSITIONS, typo])
    with pytest.raises(InvalidDefinition, match="events without roles: activate"):
        build_definition(TRANSITIONS, [spec for spec in EVENTS if spec.event is not Event.ACTIVATE])


def test_decisions_are_read_from_the_loaded_machine() -> None:
    """The index maps (event, state) to the machine's own transitions, in the table's order."""
    for (event, state), edges in DEFINITION._index.items():
        loaded = DEFINITION.machine.events[event.value].transitions[state.name]
        assert [t.dest for t in loaded] == [edge.dest.name for edge in edges]


def test_unfreeze_follows_the_recycle_bin_rule() -> None:
    frozen_in_bin = AssetFacts(
        AssetState.BLOCK, pre_freeze=AssetState.DELETING, pre_delete=AssetState.ACTIVED
    )
    edge = DEFINITION.resolve(Event.UNFREEZE, frozen_in_bin)
    assert edge is not None and edge.dest is AssetState.ACTIVED


def test_the_documented_transition_table_is_current() -> None:
    from pathlib import Path

    from lifecycle.docs import render_into

    committed = (Path(__file__).parents[1] / "docs" / "lifecycle.md").read_text(encoding="utf-8")
    assert render_into(committed) == committed, "docs/lifecycle.md is stale: run python -m lifecycle.docs"

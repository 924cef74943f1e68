"""The test generators: covering paths, refused pairs, conditional refusals, shortest paths.

Pure functions over a ``Definition``; what they generate is run against the engine and the
reference model in ``tests/test_exhaustive.py`` and, through the plugin, in
``tests/test_testing_plugin.py``.
"""

from __future__ import annotations

import re

import pytest

from lifecycle.definition import (
    DEFINITION,
    FINAL_STATES,
    TABLE_EVENTS,
    TRANSITIONS,
    AssetState,
    Event,
    FileState,
    Transition,
    build_definition,
)
from lifecycle.errors import InvalidDefinition, NoLegalPath
from lifecycle.explore import (
    Arrow,
    Path,
    Refusal,
    arrows,
    conditional_refusals,
    covering_paths,
    initial_facts,
    path_to,
    reachable,
    refused_pairs,
)
from lifecycle.moves import advance_facts

S = AssetState


def _is_legal(path: Path) -> bool:
    """Each step is taken from the facts before it and leads to the facts after it."""
    if path.start not in initial_facts() or len(path.facts) != len(path.steps) + 1:
        return False
    for step, before, after in zip(path.steps, path.facts, path.facts[1:], strict=False):
        edge = DEFINITION.resolve(step.event, before)
        if edge is None:
            return False
        moved = advance_facts(
            before, step.event, edge.dest, edge.remembers, definition=DEFINITION, tenant_wide=step.tenant_wide
        )
        if moved != after:
            return False
    return True


def test_the_covering_paths_take_every_arrow_and_visit_every_state() -> None:
    paths = covering_paths()
    assert all(_is_legal(path) for path in paths)
    assert {arrow for path in paths for arrow in path.arrows()} == set(arrows())
    assert {state for path in paths for state in path.states} == set(AssetState)


def test_the_covering_paths_are_few_and_always_the_same() -> None:
    paths = covering_paths()
    # 39 arrows (28 rows of the table, some from several states). A path ends at most once in
    # DELETED, and 7 arrows lead there: no cover has fewer than 7 paths; the greedy one has 8.
    into_final = [arrow for arrow in arrows() if arrow.transition.dest in FINAL_STATES]
    assert (len(arrows()), len(into_final), len(paths)) == (39, 7, 8)
    assert sum(len(path.steps) for path in paths) == 47
    assert covering_paths() == paths
    assert len({str(path) for path in paths}) == len(paths)


def test_a_transition_added_to_the_table_shows_up_in_the_covering_paths() -> None:
    reactivate = Transition(Event.ACTIVATE, frozenset({S.FAILED}), S.ACTIVED)
    definition = build_definition([*TRANSITIONS, reactivate])
    paths = covering_paths(definition)
    taking = [path for path in paths if Arrow(reactivate, S.FAILED) in path.arrows(definition)]
    assert taking
    assert {arrow for path in paths for arrow in path.arrows(definition)} == set(arrows(definition))
    assert Refusal(S.FAILED, Event.ACTIVATE) in refused_pairs()
    assert Refusal(S.FAILED, Event.ACTIVATE) not in refused_pairs(definition)


def test_a_transition_no_legal_path_takes_is_named() -> None:
    # Shadowed: an asset deleted while frozen restores to BLOCK by an earlier edge, always.
    shadowed = Transition(Event.RESTORE, frozenset({S.DELETING}), S.DELETED, ("deleted_while_frozen",))
    definition = build_definition([*TRANSITIONS, shadowed])
    with pytest.raises(InvalidDefinition, match=r"no legal path takes: DELETING -restore-> DELETED \["):
        covering_paths(definition)


def test_the_refused_pairs_are_every_pair_without_a_transition_in_the_enums_order() -> None:
    pairs = refused_pairs()
    events = list(TABLE_EVENTS)
    table = {(source, edge.event) for edge in TRANSITIONS for source in edge.sources}
    assert set(pairs) | table == {(state, event) for state in AssetState for event in events}
    assert not set(pairs) & table
    assert pairs == sorted(pairs, key=lambda p: (list(AssetState).index(p.state), events.index(p.event)))
    assert len(pairs) == 7 * 15 - len(table) == 75
    assert [refusal.event for refusal in pairs if refusal.state is S.DELETED] == events  # final
    assert str(pairs[0]) == "CREATING:activate"
    state, event = pairs[0]
    assert (state, event) == (S.CREATING, Event.ACTIVATE)


def test_the_conditional_refusals_are_refused_where_their_state_has_a_transition() -> None:
    refusals = conditional_refusals()
    assert len(refusals) == 50
    for refusal in refusals:
        assert _is_legal(refusal.path)
        assert refusal.state in DEFINITION.sources(refusal.event)
        assert DEFINITION.resolve(refusal.event, refusal.facts) is None
    assert len({str(refusal) for refusal in refusals}) == len(refusals)
    assert "DELETING,pf=ACTIVED,pd=BLOCK:purge" in {str(refusal) for refusal in refusals}


def test_path_to_takes_a_shortest_path_to_what_is_asked() -> None:
    path = path_to(S.BLOCK, pre_freeze=S.DELETING, pre_delete=S.ACTIVED)
    assert path.end.state is S.BLOCK
    assert (path.end.pre_freeze, path.end.pre_delete) == (S.DELETING, S.ACTIVED)
    assert str(path) == "activate:accept_upload>delete>freeze"
    assert path.describe() == "CREATING -accept_upload-> ACTIVED -delete-> DELETING -freeze-> BLOCK"
    lengths = {facts: len(p.steps) for facts, p in reachable().items()}
    assert len(path.steps) == min(n for facts, n in lengths.items() if facts == path.end)
    assert str(path_to(S.CREATING)) == "created"
    assert not path_to(S.BLOCK).end.frozen_by_tenant
    tenant_wide = path_to(S.BLOCK, frozen_by_tenant=True)
    assert str(tenant_wide) == "freeze_tenant"
    assert tenant_wide.steps[0].tenant_wide
    waiting = path_to(S.CREATING, main_file_state=FileState.UPLOADED, activate_on_upload=True)
    assert str(waiting) == "review,activate:submit_for_review"


def test_path_to_something_unreachable_says_what_is_reachable() -> None:
    with pytest.raises(NoLegalPath) as refusal:
        path_to(S.DELETING, pre_delete=S.DELETED)
    assert str(refusal.value).startswith(
        "no legal path leads to DELETING with pre_delete=DELETED; reachable in DELETING:"
        " pre_delete=CREATING | pre_delete=FAILED | pre_delete=UNACTIVED | pre_delete=ACTIVED"
        " | pre_freeze=CREATING, pre_delete=BLOCK | pre_freeze=CREATING, pre_delete=BLOCK,"
        " frozen_by_tenant=True | "
    )
    assert refusal.value.state is S.DELETING
    with pytest.raises(NoLegalPath, match=r"reachable in ACTIVED: nothing remembered$"):
        path_to(S.ACTIVED, frozen_by_tenant=True)
    with pytest.raises(NoLegalPath, match=re.escape("reachable in CREATING: main_file_state=CREATING | ")):
        path_to(S.CREATING, main_file_state=FileState.CREATED)

"""The file machine (``FILE_TRANSITIONS``): checked against every move the asset table allows,
and against what the engine does to the files."""

from __future__ import annotations

import pytest

from lifecycle.actors import Platform, Tenant
from lifecycle.definition import (
    DEFINITION,
    EVENTS,
    FILE_INITIAL_STATE,
    FILE_TRANSITIONS,
    TRANSITIONS,
    AssetState,
    Declared,
    Event,
    FileScope,
    FileState,
    FileTransition,
    UploadResult,
    build_definition,
)
from lifecycle.engine import Lifecycle
from lifecycle.errors import InvalidDefinition, InvalidParameter, TransitionNotAllowed
from lifecycle.explore import reachable, successors
from tests.conftest import new_asset

pytestmark = pytest.mark.facades

COVER_SIZE = 110321
"""The COVER file ``new_asset`` declares."""


def _moving_main_file(before: AssetState, after: AssetState, event: Event) -> list[FileTransition]:
    """The file transitions that apply to the MAIN file when ``event`` moves its asset."""
    return [
        edge
        for edge in DEFINITION.file_transitions
        if (edge.files is FileScope.MAIN and edge.cause is event)
        or (edge.files is FileScope.ALL and edge.cause is after and before is not after)
    ]


def test_the_file_table_agrees_with_every_move_the_asset_table_allows() -> None:
    """From every reachable configuration, along every edge: the MAIN file is in a source state of
    the file transition that applies, and ends where the table says; where none applies it stays.
    Every source a transition lists is met somewhere, so the table lists no state it never leaves."""
    met: dict[FileTransition, set[FileState]] = {edge: set() for edge in DEFINITION.file_transitions}
    for facts in reachable():
        for step, after in successors(facts):
            applying = _moving_main_file(facts.state, after.state, step.event)
            where = f"{step.event.value} from {facts}"
            assert len(applying) <= 1, where
            if not applying:
                assert after.main_file_state is facts.main_file_state, where
                continue
            edge = applying[0]
            assert facts.main_file_state in edge.sources, where
            assert after.main_file_state is edge.dest, where
            met[edge].add(facts.main_file_state)
    for edge, states in met.items():
        if edge.files is FileScope.MAIN:
            assert states == edge.sources, edge
        elif edge.files is FileScope.ALL:
            assert states, edge
            assert states <= edge.sources, edge


def test_every_file_goes_with_its_asset_from_any_state_a_file_can_be_in() -> None:
    """The sources of the moves of every file are the states some file can reach: the initial
    state and every destination of the other transitions."""
    reached = {FILE_INITIAL_STATE} | {
        edge.dest for edge in DEFINITION.file_transitions if edge.files is not FileScope.ALL
    }
    for edge in DEFINITION.file_transitions:
        if edge.files is FileScope.ALL:
            assert edge.sources == reached


def test_the_file_states_no_move_uses_are_named() -> None:
    assert DEFINITION.unused_file_states() == [FileState.REVIEW, FileState.DELETING, FileState.BLOCK]


def test_the_engines_file_moves_are_read_from_the_table() -> None:
    expected = {
        edge.cause: edge.dest
        for edge in FILE_TRANSITIONS
        if edge.files is FileScope.MAIN and isinstance(edge.cause, Event)
    }
    assert expected == DEFINITION.main_file_after
    for result in UploadResult:
        for declared in Declared:
            edge = DEFINITION.confirmation(result, declared)
            assert (edge.files, edge.cause) == (FileScope.OTHER, result)
            assert edge.declared in (None, declared)


@pytest.mark.parametrize(
    ("edge", "source"),
    [
        pytest.param(edge, source, id=f"{edge.cause.value}-{edge.declared}-from-{source.value}")
        for edge in FILE_TRANSITIONS
        if edge.files is FileScope.OTHER
        for source in sorted(edge.sources, key=list(FileState).index)
    ],
)
def test_confirming_a_file_other_than_main_moves_it_as_the_table_says(
    lifecycle: Lifecycle, tenant: Tenant, edge: FileTransition, source: FileState
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    cover = asset.files[1]
    if source is FileState.CANCELLED:
        lifecycle.confirm_upload(tenant, asset.asset_id, cover.file_id, UploadResult.CANCELLED)
    assert lifecycle.get_asset(tenant, asset.asset_id).files[1].state is source
    assert isinstance(edge.cause, UploadResult)
    size = COVER_SIZE + 1 if edge.declared is Declared.DIFFERS else COVER_SIZE
    confirmed = lifecycle.confirm_upload(tenant, asset.asset_id, cover.file_id, edge.cause, file_size=size)
    assert (confirmed.file.state, confirmed.transition) == (edge.dest, None)
    after = lifecycle.get_asset(tenant, asset.asset_id)
    assert (after.asset_state, after.version) == (AssetState.CREATING, 1)
    assert after.main_file.state is FileState.CREATING


@pytest.mark.parametrize("result", list(UploadResult))
def test_a_file_in_no_source_state_of_its_confirmation_is_refused(
    lifecycle: Lifecycle, tenant: Tenant, result: UploadResult
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    cover = asset.files[1]
    lifecycle.confirm_upload(tenant, asset.asset_id, cover.file_id, UploadResult.CREATED)
    assert FileState.CREATED not in DEFINITION.confirmation(result, Declared.MATCHES).sources
    with pytest.raises(InvalidParameter, match="not awaiting upload"):
        lifecycle.confirm_upload(tenant, asset.asset_id, cover.file_id, result)
    assert lifecycle.get_asset(tenant, asset.asset_id).files[1].state is FileState.CREATED


def test_confirmations_are_accepted_only_in_the_asset_states_the_table_names(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    cover = asset.files[1]
    accepting = DEFINITION.confirmation(UploadResult.CREATED, Declared.MATCHES).asset_states
    assert accepting is not None
    assert AssetState.CREATING in accepting and AssetState.BLOCK not in accepting
    lifecycle.freeze(platform, asset.asset_id)
    with pytest.raises(TransitionNotAllowed, match="files of a frozen or deleted asset"):
        lifecycle.confirm_upload(tenant, asset.asset_id, cover.file_id, UploadResult.CREATED)
    assert lifecycle.get_asset(tenant, asset.asset_id).files[1].state is FileState.CREATING


def test_every_file_moves_with_its_asset_as_the_table_says(lifecycle: Lifecycle, tenant: Tenant) -> None:
    (edge,) = [edge for edge in FILE_TRANSITIONS if edge.files is FileScope.ALL]
    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.files[1].file_id, UploadResult.CREATED)
    before = {file.state for file in lifecycle.get_asset(tenant, asset.asset_id).files}
    assert before == {FileState.CREATING, FileState.CREATED} and before <= edge.sources
    lifecycle.delete(tenant, asset.asset_id, force=True)
    after = lifecycle.get_asset(tenant, asset.asset_id)
    assert after.asset_state is edge.cause
    assert {file.state for file in after.files} == {edge.dest}


def _main(event: Event, *sources: FileState, dest: FileState = FileState.FAILED) -> FileTransition:
    return FileTransition(event, frozenset(sources), dest, FileScope.MAIN)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            [*FILE_TRANSITIONS, _main(Event.FAIL_UPLOAD, FileState.CREATED)],
            "events moving the MAIN file twice: fail_upload",
        ),
        (
            [edge for edge in FILE_TRANSITIONS if edge.cause is not UploadResult.CANCELLED],
            "confirmations of CANCELLED",
        ),
        (
            [edge for edge in FILE_TRANSITIONS if edge.declared is not Declared.DIFFERS],
            "confirmations of CREATED",
        ),
        (
            [
                *FILE_TRANSITIONS,
                FileTransition(UploadResult.FAILED, frozenset(), FileState.FAILED, FileScope.MAIN),
            ],
            "MAIN files move on an asset event",
        ),
        (
            [
                *FILE_TRANSITIONS,
                FileTransition(AssetState.DELETED, frozenset(), FileState.DELETED, FileScope.OTHER),
            ],
            "asset states go with confirmations",
        ),
    ],
)
def test_a_file_table_that_does_not_hold_together_is_refused(
    table: list[FileTransition], problem: str
) -> None:
    with pytest.raises(InvalidDefinition, match=problem):
        build_definition(TRANSITIONS, EVENTS, file_transitions=table)

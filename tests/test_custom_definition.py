"""A ``Lifecycle`` built from another transition table honours it everywhere: the moves it allows and
refuses, where uploads land, what it says is allowed, batches, sweeps, the audit replay, the
diagrams and the derived test paths. Nothing below the facade falls back to the shipped table.

The table here is a stricter platform's: the recycle bin cannot be left (no restore), and an
accepted upload is always activated.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from lifecycle.actors import Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    EVENTS,
    TRANSITIONS,
    AssetState,
    BatchAction,
    Definition,
    Event,
    UploadResult,
    build_definition,
)
from lifecycle.diagrams import asset_graph, to_mermaid
from lifecycle.engine import Lifecycle
from lifecycle.errors import TransitionNotAllowed
from lifecycle.explore import covering_paths
from tests.conftest import new_asset

TENANT = Tenant("strict-tenant")
PLATFORM = Platform("strict-operator")


def _strict() -> Definition:
    accept = next(edge for edge in TRANSITIONS if edge.event is Event.ACCEPT_UPLOAD)
    always_activated = type(accept)(
        Event.ACCEPT_UPLOAD,
        accept.sources,
        AssetState.ACTIVED,
        ("main_file_awaiting_upload",),
        ("review_required",),
    )
    edges = [edge for edge in TRANSITIONS if edge.event not in (Event.RESTORE, Event.ACCEPT_UPLOAD)]
    return build_definition([always_activated, *edges], EVENTS)


STRICT = _strict()


@pytest.fixture
def strict(database: Engine, clock: ManualClock) -> Lifecycle:
    return Lifecycle(database, clock=clock, definition=STRICT)


def _uploaded(lifecycle: Lifecycle) -> str:
    asset = lifecycle.create_asset(TENANT, new_asset(activate_on_upload=False))
    moved = lifecycle.confirm_upload(TENANT, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    assert moved.transition is not None
    assert moved.transition.to_state is AssetState.ACTIVED, (
        "the custom table activates, the asset said not to"
    )
    return asset.asset_id


def test_the_custom_table_decides_every_move_and_what_is_allowed(strict: Lifecycle) -> None:
    asset_id = _uploaded(strict)
    strict.delete(TENANT, asset_id)
    assert Event.RESTORE not in strict.allowed_events(TENANT, asset_id)
    with pytest.raises(TransitionNotAllowed, match=r"cannot 'restore' .* in state DELETING"):
        strict.restore(TENANT, asset_id)
    [result] = strict.batch(TENANT, BatchAction.RESTORE, [asset_id])
    assert result.status == "FAILED"
    assert strict.get_asset(TENANT, asset_id).asset_state is AssetState.DELETING


def test_the_shipped_table_still_restores_over_the_same_database(
    strict: Lifecycle, database: Engine, clock: ManualClock
) -> None:
    """The definition belongs to the engine built with it, not to the process."""
    asset_id = _uploaded(strict)
    strict.delete(TENANT, asset_id)
    shipped = Lifecycle(database, clock=clock)
    assert shipped.restore(TENANT, asset_id).to_state is AssetState.ACTIVED
    with pytest.raises(TransitionNotAllowed):
        strict.restore(TENANT, asset_id)  # nothing to restore now, and no restore in its table anyway


def test_sweeps_and_the_audit_replay_follow_the_custom_table(strict: Lifecycle, clock: ManualClock) -> None:
    asset_id = _uploaded(strict)
    strict.delete(TENANT, asset_id)
    frozen = _uploaded(strict)
    strict.freeze(PLATFORM, frozen)
    clock.advance(strict.settings.recycle_retention + timedelta(seconds=1))
    report = strict.sweep(actor=System())
    assert report.moved == 1
    assert strict.get_asset(TENANT, asset_id).asset_state is AssetState.DELETED
    assert strict.verify_audit(System()).clean, "the replay knows an upload lands in ACTIVED here"
    shipped_view = Lifecycle(strict.database, clock=clock).verify_audit(System())
    assert not shipped_view.clean, "under the shipped table the same histories are not all legal"


def test_diagrams_and_derived_paths_come_from_the_custom_table() -> None:
    assert "restore" not in to_mermaid(asset_graph(STRICT))
    assert "restore" in to_mermaid(asset_graph())
    paths = covering_paths(STRICT)
    assert paths
    assert not any(Event.RESTORE in path.events for path in paths)

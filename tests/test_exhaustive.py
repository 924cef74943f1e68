"""Every (situation, event, role): the engine does what the reference model says, or refuses
with the right typed error and writes nothing.

The situations come from walking the table (``lifecycle.explore.situations``); the expected
outcomes come from ``tests/reference.py``, which is written without the table.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from lifecycle.actors import Platform, Tenant
from lifecycle.definition import AssetFacts, BlockScope, Event, FailType, Role
from lifecycle.engine import Lifecycle
from lifecycle.errors import PermissionDenied, TransitionNotAllowed
from lifecycle.explore import role_for, situations
from lifecycle.store.repository import audit
from tests.conftest import ACTORS, new_asset
from tests.reference import ROLES, RefAsset, ref_apply

SITUATIONS = situations()
EVENTS = [event for event in Event if event is not Event.CREATE]
PLATFORM = Platform("operator-7")


def _label(facts: AssetFacts) -> str:
    parts = [facts.state.value]
    if facts.pre_freeze:
        parts.append(f"pf={facts.pre_freeze.value}")
    if facts.pre_delete:
        parts.append(f"pd={facts.pre_delete.value}")
    if facts.frozen_by_tenant:
        parts.append("tenant-wide")
    if facts.state.value == "CREATING":
        parts.append(f"file={facts.main_file_state.value}")
        parts.append("review" if facts.review_required else "no-review")
        parts.append("activate" if facts.activate_on_upload else "stay-unactived")
    return ",".join(parts)


def _reference(facts: AssetFacts) -> RefAsset:
    return RefAsset(
        frozen_by_tenant=facts.frozen_by_tenant,
        state=facts.state.value,
        pre_freeze=facts.pre_freeze.value if facts.pre_freeze else None,
        pre_delete=facts.pre_delete.value if facts.pre_delete else None,
        activate_on_upload=facts.activate_on_upload,
        review_required=facts.review_required,
        main_file=facts.main_file_state.value,
    )


_owners = itertools.count()


def _bring_to(lifecycle: Lifecycle, facts: AssetFacts) -> tuple[str, Tenant]:
    """A new asset, of a tenant of its own, brought to ``facts`` along legal moves only."""
    owner = Tenant(f"tenant-{next(_owners)}")
    created = lifecycle.create_asset(
        owner, new_asset(activate_on_upload=facts.activate_on_upload, review_required=facts.review_required)
    )
    for step in SITUATIONS[facts].steps:
        if step.tenant_wide:
            lifecycle.freeze_tenant(PLATFORM, owner.project_id)
            continue
        actor = owner if role_for(step.event) is Role.TENANT else ACTORS[role_for(step.event).value]
        fail_type = FailType.MANUAL_REVIEW_REJECT if step.event is Event.REJECT_REVIEW else None
        lifecycle.fire(actor, created.asset_id, step.event, fail_type=fail_type)
    return created.asset_id, owner


def _audit_rows(lifecycle: Lifecycle, asset_id: str) -> int:
    with lifecycle.engine.connect() as connection:
        return connection.execute(select(func.count()).where(audit.c.asset_id == asset_id)).scalar_one()


def test_the_situations_cover_every_state_and_every_edge() -> None:
    states = {facts.state for facts in SITUATIONS}
    assert {s.value for s in states} == {
        "CREATING",
        "FAILED",
        "UNACTIVED",
        "ACTIVED",
        "DELETING",
        "DELETED",
        "BLOCK",
    }
    taken = {
        (event, facts.state)
        for facts in SITUATIONS
        for event in EVENTS
        if ref_apply(_reference(facts), event.value) is not None
    }
    from lifecycle.definition import TRANSITIONS

    table_pairs = {(edge.event, source) for edge in TRANSITIONS for source in edge.sources}
    assert table_pairs == taken


@pytest.mark.parametrize("facts", list(SITUATIONS), ids=_label)
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.value)
def test_every_event_from_every_situation_as_every_role(
    lifecycle: Lifecycle, facts: AssetFacts, event: Event
) -> None:
    refused_id, refused_owner = _bring_to(lifecycle, facts)
    expected = ref_apply(_reference(facts), event.value)
    fail_type = FailType.AUTOMATIC_REVIEW_REJECT if event is Event.REJECT_REVIEW else None
    for role in (Role.TENANT, Role.PLATFORM, Role.SYSTEM):
        allowed_role = role.value in ROLES[event.value]
        if allowed_role and expected is not None:
            asset_id, owner = _bring_to(lifecycle, facts)
            actor = owner if role is Role.TENANT else ACTORS[role.value]
            before = lifecycle.get_asset(actor, asset_id)
            moved = lifecycle.fire(actor, asset_id, event, fail_type=fail_type)
            after = lifecycle.get_asset(actor, asset_id)
            assert (moved.from_state.value, moved.to_state.value) == (facts.state.value, expected.state)
            assert after.asset_state.value == expected.state
            assert (after.pre_freeze_state and after.pre_freeze_state.value) == expected.pre_freeze
            assert (after.pre_delete_state and after.pre_delete_state.value) == expected.pre_delete
            assert after.main_file.state.value == expected.main_file
            assert (after.block_scope is BlockScope.TENANT) == expected.frozen_by_tenant
            assert after.version == before.version + 1
            assert _audit_rows(lifecycle, asset_id) == before.version + 1
            continue
        actor = refused_owner if role is Role.TENANT else ACTORS[role.value]
        before = lifecycle.get_asset(ACTORS["platform"], refused_id)
        error = PermissionDenied if not allowed_role else TransitionNotAllowed
        with pytest.raises(error) as refusal:
            lifecycle.fire(actor, refused_id, event, fail_type=fail_type)
        if isinstance(refusal.value, TransitionNotAllowed):
            assert refusal.value.state is facts.state
            assert refusal.value.event is event
            assert refused_id in str(refusal.value)
        assert lifecycle.get_asset(ACTORS["platform"], refused_id) == before
        assert _audit_rows(lifecycle, refused_id) == before.version

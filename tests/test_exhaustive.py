"""Every (situation, event, role): the engine does what the reference model says, or refuses
with the right typed error and writes nothing.

The situations come from walking the table (``lifecycle.explore.situations``); the expected
outcomes come from ``tests/reference.py``, which is written without the table. Assets are brought
into each situation by ``lifecycle.testing.AssetFactory``, and the generators users derive their
suites from (``covering_paths``, ``refused_pairs``, ``conditional_refusals``) are checked here
against the same reference, so the two cannot drift.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from lifecycle.actors import Actor, Platform, System, Tenant
from lifecycle.definition import (
    TABLE_EVENTS,
    TRANSITIONS,
    AssetFacts,
    AssetState,
    BlockScope,
    Event,
    FailType,
    Role,
)
from lifecycle.engine import Lifecycle
from lifecycle.errors import PermissionDenied
from lifecycle.explore import Path, arrows, describe, situations
from lifecycle.results import Asset
from lifecycle.store.repository import audit
from lifecycle.testing import (
    AssetFactory,
    assert_refused,
    conditional_refusals,
    covering_paths,
    refused_pairs,
)
from tests.conftest import ACTORS, new_asset
from tests.reference import ROLES, RefAsset, ref_apply

SITUATIONS = situations()
EVENTS = list(TABLE_EVENTS)
PLATFORM = Platform("operator-7")
TENANT = Tenant("tenant-a", app_user_id="user-1")


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


def _factory(lifecycle: Lifecycle) -> AssetFactory:
    return AssetFactory(lifecycle, TENANT, platform=PLATFORM, system=System(), template=new_asset())


def _actor(factory: AssetFactory, role: Role, asset: Asset) -> Actor:
    return factory.tenant_of(asset) if role is Role.TENANT else ACTORS[role.value]


def _audit_rows(lifecycle: Lifecycle, asset_id: str) -> int:
    with lifecycle.database.connect() as connection:
        return connection.execute(select(func.count()).where(audit.c.asset_id == asset_id)).scalar_one()


def _matches(asset: Asset, expected: RefAsset) -> None:
    assert asset.asset_state.value == expected.state
    assert (asset.pre_freeze_state and asset.pre_freeze_state.value) == expected.pre_freeze
    assert (asset.pre_delete_state and asset.pre_delete_state.value) == expected.pre_delete
    assert asset.main_file.state.value == expected.main_file
    assert (asset.block_scope is BlockScope.TENANT) == expected.frozen_by_tenant


def _refused_by_reference(facts: AssetFacts, event: Event) -> bool:
    return ref_apply(_reference(facts), event.value) is None


def test_the_situations_cover_every_state_and_every_edge() -> None:
    assert {facts.state for facts in SITUATIONS} == set(AssetState)
    taken = {
        (event, facts.state)
        for facts in SITUATIONS
        for event in EVENTS
        if not _refused_by_reference(facts, event)
    }
    table_pairs = {(edge.event, source) for edge in TRANSITIONS for source in edge.sources}
    assert table_pairs == taken


def test_the_refused_pairs_are_what_the_reference_refuses_in_every_situation() -> None:
    always_refused = [
        (state, event)
        for state in AssetState
        for event in EVENTS
        if all(_refused_by_reference(facts, event) for facts in SITUATIONS if facts.state is state)
    ]
    assert [(refusal.state, refusal.event) for refusal in refused_pairs()] == always_refused


def test_the_conditional_refusals_are_the_reference_s_other_refusals() -> None:
    always = set(refused_pairs())
    expected = {
        (facts, event)
        for facts in SITUATIONS
        for event in EVENTS
        if _refused_by_reference(facts, event) and (facts.state, event) not in always
    }
    refusals = conditional_refusals()
    assert {(refusal.facts, refusal.event) for refusal in refusals} == expected
    assert len(refusals) == len(expected)


def test_the_covering_paths_take_every_arrow_the_reference_allows() -> None:
    taken = {arrow for path in covering_paths() for arrow in path.arrows()}
    assert taken == set(arrows())
    for path in covering_paths():
        reference = _reference(path.start)
        for step, after in zip(path.steps, path.facts[1:], strict=True):
            if step.tenant_wide:  # the reference's freeze is the asset's own; a tenant-wide one says so
                reference = ref_apply(reference, "freeze")
                assert reference is not None
                reference = dataclasses.replace(reference, frozen_by_tenant=True)
            else:
                moved = ref_apply(reference, step.event.value)
                assert moved is not None, f"{path}: the reference refuses {step}"
                reference = moved
            assert reference == _reference(after), f"{path}: after {step}"


@pytest.mark.parametrize("path", covering_paths(), ids=str)
def test_every_covering_path_on_the_engine(lifecycle: Lifecycle, path: Path) -> None:
    for asset, facts in zip(_factory(lifecycle).walk(path), path.facts, strict=True):
        _matches(asset, _reference(facts))
        assert _audit_rows(lifecycle, asset.asset_id) == asset.version


@pytest.mark.parametrize("facts", list(SITUATIONS), ids=describe)
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.value)
def test_every_event_from_every_situation_as_every_role(
    lifecycle: Lifecycle, facts: AssetFacts, event: Event
) -> None:
    factory = _factory(lifecycle)
    refused = factory.follow(SITUATIONS[facts])
    expected = ref_apply(_reference(facts), event.value)
    fail_type = FailType.AUTOMATIC_REVIEW_REJECT if event is Event.REJECT_REVIEW else None
    for role in (Role.TENANT, Role.PLATFORM, Role.SYSTEM):
        allowed_role = role.value in ROLES[event.value]
        if allowed_role and expected is not None:
            asset = factory.follow(SITUATIONS[facts])
            actor = _actor(factory, role, asset)
            moved = lifecycle.fire(actor, asset.asset_id, event, fail_type=fail_type)
            after = lifecycle.get_asset(actor, asset.asset_id)
            assert (moved.from_state.value, moved.to_state.value) == (facts.state.value, expected.state)
            _matches(after, expected)
            assert after.version == asset.version + 1
            assert _audit_rows(lifecycle, asset.asset_id) == asset.version + 1
            continue
        actor = _actor(factory, role, refused)
        if allowed_role:
            refusal = assert_refused(lifecycle, refused, event, actor=actor, fail_type=fail_type)
            assert (refusal.state, refusal.event) == (facts.state, event)
            assert refused.asset_id in str(refusal)
            continue
        with pytest.raises(PermissionDenied):
            lifecycle.fire(actor, refused.asset_id, event, fail_type=fail_type)
        assert lifecycle.get_asset(ACTORS["platform"], refused.asset_id) == refused
        assert _audit_rows(lifecycle, refused.asset_id) == refused.version

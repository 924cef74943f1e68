"""The points domain.md leaves open, as decided in docs/lifecycle.md: one test each."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifecycle.actors import Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import AssetState, BatchAction, BlockScope, Event, FileState, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import TransitionNotAllowed
from lifecycle.settings import Settings
from tests.conftest import new_asset

pytestmark = pytest.mark.facades


def _uploaded(lifecycle: Lifecycle, tenant: Tenant, **options: object) -> str:
    asset = lifecycle.create_asset(tenant, new_asset(**options))  # type: ignore[arg-type]
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    return asset.asset_id


def test_an_accepted_upload_lands_in_unactived_by_default(lifecycle: Lifecycle, tenant: Tenant) -> None:
    asset_id = _uploaded(lifecycle, tenant)
    assert lifecycle.get_asset(tenant, asset_id).asset_state is AssetState.UNACTIVED


def test_an_asset_can_ask_to_be_activated_on_upload(lifecycle: Lifecycle, tenant: Tenant) -> None:
    asset_id = _uploaded(lifecycle, tenant, activate_on_upload=True)
    assert lifecycle.get_asset(tenant, asset_id).asset_state is AssetState.ACTIVED


def test_the_engine_setting_changes_the_default_landing(
    database: object, clock: ManualClock, tenant: Tenant
) -> None:
    activating = Lifecycle(database, clock=clock, settings=Settings(activate_on_upload=True))  # type: ignore[arg-type]
    asset_id = _uploaded(activating, tenant)
    assert activating.get_asset(tenant, asset_id).asset_state is AssetState.ACTIVED


def test_a_deleted_frozen_asset_waits_in_the_bin_and_restores_frozen(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    asset_id = _uploaded(lifecycle, tenant, activate_on_upload=True)
    lifecycle.freeze(platform, asset_id, reason="complaint")
    deleted = lifecycle.delete(tenant, asset_id)
    assert (deleted.to_state, deleted.pre_delete_state, deleted.pre_freeze_state) == (
        AssetState.DELETING,
        AssetState.BLOCK,
        AssetState.ACTIVED,
    )
    restored = lifecycle.restore(tenant, asset_id)
    assert restored.to_state is AssetState.BLOCK, "delete + restore must never make a frozen asset usable"
    assert not lifecycle.get_asset(tenant, asset_id).usable
    unfrozen = lifecycle.unfreeze(platform, asset_id)
    assert unfrozen.to_state is AssetState.ACTIVED


def test_an_asset_deleted_while_frozen_cannot_be_frozen_again(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    asset_id = _uploaded(lifecycle, tenant)
    lifecycle.freeze(platform, asset_id)
    lifecycle.delete(tenant, asset_id)
    with pytest.raises(TransitionNotAllowed, match="deleted while frozen"):
        lifecycle.freeze(platform, asset_id)


def test_an_asset_frozen_in_the_bin_unfreezes_to_its_pre_delete_state(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    asset_id = _uploaded(lifecycle, tenant, activate_on_upload=True)
    lifecycle.delete(tenant, asset_id)
    lifecycle.freeze(platform, asset_id)
    with pytest.raises(TransitionNotAllowed, match="frozen while in the recycle bin"):
        lifecycle.delete(tenant, asset_id)
    assert lifecycle.unfreeze(platform, asset_id).to_state is AssetState.ACTIVED


def test_a_failed_asset_can_be_deleted_and_restored_into_failed(lifecycle: Lifecycle, tenant: Tenant) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.FAILED)
    assert lifecycle.delete(tenant, asset.asset_id).pre_delete_state is AssetState.FAILED
    assert lifecycle.restore(tenant, asset.asset_id).to_state is AssetState.FAILED


def test_a_repeated_command_is_refused_naming_what_is_allowed(lifecycle: Lifecycle, tenant: Tenant) -> None:
    asset_id = _uploaded(lifecycle, tenant)
    lifecycle.activate(tenant, asset_id)
    with pytest.raises(TransitionNotAllowed) as refusal:
        lifecycle.activate(tenant, asset_id)
    assert refusal.value.allowed == (Event.DEACTIVATE, Event.DELETE, Event.DELETE_FORCE)
    assert str(refusal.value) == (
        f"cannot 'activate' asset {asset_id} in state ACTIVED (allowed: deactivate, delete, delete_force)"
    )


def test_a_retried_request_returns_the_first_outcome_without_writing(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    asset_id = _uploaded(lifecycle, tenant)
    first = lifecycle.activate(tenant, asset_id, request_id="req-1")
    again = lifecycle.activate(tenant, asset_id, request_id="req-1")
    assert again.replayed and not first.replayed
    assert (again.version, again.to_state) == (first.version, first.to_state)
    assert len(lifecycle.history(tenant, asset_id)) == first.version
    with pytest.raises(TransitionNotAllowed):
        lifecycle.activate(tenant, asset_id, request_id="req-2")


def test_the_upload_clock_pauses_while_frozen(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, platform: Platform
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    clock.advance(timedelta(hours=20))
    lifecycle.freeze(platform, asset.asset_id)
    assert lifecycle.get_asset(tenant, asset.asset_id).upload_deadline is None
    clock.advance(timedelta(days=3))
    lifecycle.unfreeze(platform, asset.asset_id)
    deadline = lifecycle.get_asset(tenant, asset.asset_id).upload_deadline
    assert deadline == clock.now() + timedelta(hours=4), "four hours of the window were left at the freeze"


def test_the_upload_clock_pauses_in_the_recycle_bin(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    clock.advance(timedelta(hours=1))
    lifecycle.delete(tenant, asset.asset_id)
    clock.advance(timedelta(days=2))
    lifecycle.restore(tenant, asset.asset_id)
    assert lifecycle.get_asset(tenant, asset.asset_id).upload_deadline == clock.now() + timedelta(hours=23)


def test_an_unfreeze_into_creating_after_the_window_fails_at_the_next_timeout_check(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, platform: Platform, system: System
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    clock.advance(timedelta(hours=25))  # the window passed; no timeout check ran yet
    lifecycle.freeze(platform, asset.asset_id)
    clock.advance(timedelta(days=1))
    lifecycle.unfreeze(platform, asset.asset_id)
    after = lifecycle.get_asset(tenant, asset.asset_id)
    assert after.asset_state is AssetState.CREATING
    assert after.upload_deadline == clock.now() - timedelta(hours=1), "the hour overdue stays overdue"
    assert lifecycle.fire(system, asset.asset_id, Event.TIME_OUT_UPLOAD).to_state is AssetState.FAILED


def test_a_cancelled_upload_keeps_the_asset_creating_and_can_be_retried(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    main = asset.main_file.file_id
    cancelled = lifecycle.confirm_upload(tenant, asset.asset_id, main, UploadResult.CANCELLED)
    assert cancelled.transition is not None and cancelled.transition.to_state is AssetState.CREATING
    assert lifecycle.get_asset(tenant, asset.asset_id).main_file.state is FileState.CANCELLED
    accepted = lifecycle.confirm_upload(tenant, asset.asset_id, main, UploadResult.CREATED)
    assert accepted.transition is not None and accepted.transition.to_state is AssetState.UNACTIVED


def test_tenant_unfreeze_leaves_assets_frozen_on_their_own(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    complained_about = _uploaded(lifecycle, tenant)
    innocent = _uploaded(lifecycle, tenant)
    lifecycle.freeze(platform, complained_about, reason="complaint")
    frozen = lifecycle.freeze_tenant(platform, tenant.project_id, reason="tenant under review")
    assert [t.asset_id for t in frozen.moved] == [innocent]
    assert lifecycle.get_asset(tenant, innocent).block_scope is BlockScope.TENANT
    unfrozen = lifecycle.unfreeze_tenant(platform, tenant.project_id)
    assert [t.asset_id for t in unfrozen.moved] == [innocent]
    assert [asset_id for asset_id, _ in unfrozen.skipped] == [complained_about]
    assert lifecycle.get_asset(tenant, complained_about).asset_state is AssetState.BLOCK


def test_a_tenant_freeze_remembers_each_assets_own_state(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    creating = lifecycle.create_asset(tenant, new_asset()).asset_id
    unactived = _uploaded(lifecycle, tenant)
    actived = _uploaded(lifecycle, tenant, activate_on_upload=True)
    binned = _uploaded(lifecycle, tenant, activate_on_upload=True)
    lifecycle.delete(tenant, binned)
    gone = _uploaded(lifecycle, tenant)
    lifecycle.delete(tenant, gone, force=True)
    result = lifecycle.freeze_tenant(platform, tenant.project_id)
    remembered = {t.asset_id: t.pre_freeze_state for t in result.moved}
    assert remembered == {
        creating: AssetState.CREATING,
        unactived: AssetState.UNACTIVED,
        actived: AssetState.ACTIVED,
        binned: AssetState.DELETING,
    }
    lifecycle.unfreeze_tenant(platform, tenant.project_id)
    states = {
        a: lifecycle.get_asset(tenant, a).asset_state for a in (creating, unactived, actived, binned, gone)
    }
    assert states == {
        creating: AssetState.CREATING,
        unactived: AssetState.UNACTIVED,
        actived: AssetState.ACTIVED,
        binned: AssetState.ACTIVED,  # unfrozen out of the bin: to the state before deletion
        gone: AssetState.DELETED,
    }


def test_a_batch_answers_per_asset_and_one_bad_asset_fails_alone(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    good = _uploaded(lifecycle, tenant)
    already_active = _uploaded(lifecycle, tenant, activate_on_upload=True)
    results = lifecycle.batch(tenant, BatchAction.ACTIVE, [good, "no-such-asset", already_active])
    assert [(r.asset_id, r.status, r.error_code) for r in results] == [
        (good, "SUCCESS", None),
        ("no-such-asset", "FAILED", "MSS.00000002"),
        (already_active, "FAILED", "MSS.00000003"),
    ]
    assert lifecycle.get_asset(tenant, good).asset_state is AssetState.ACTIVED


def test_a_retry_answers_the_same_even_with_its_stale_expected_version(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    asset_id = _uploaded(lifecycle, tenant)
    first = lifecycle.activate(tenant, asset_id, request_id="req-1", expected_version=2)
    again = lifecycle.activate(tenant, asset_id, request_id="req-1", expected_version=2)
    assert again.replayed and again.version == first.version == 3


def test_a_repeated_cancellation_with_the_same_request_id_writes_once(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    main = asset.main_file.file_id
    first = lifecycle.confirm_upload(tenant, asset.asset_id, main, UploadResult.CANCELLED, request_id="c-1")
    again = lifecycle.confirm_upload(tenant, asset.asset_id, main, UploadResult.CANCELLED, request_id="c-1")
    assert first.transition is not None and again.transition is not None
    assert again.transition.replayed and again.transition.version == first.transition.version == 2
    assert len(lifecycle.history(tenant, asset.asset_id)) == 2


def test_a_retried_approval_answers_the_same(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.freeze(platform, asset.asset_id)
    application = lifecycle.apply_for_unfreeze(tenant, asset.asset_id)
    first = lifecycle.approve_unfreeze(platform, application.application_id, request_id="ok-1")
    again = lifecycle.approve_unfreeze(platform, application.application_id, request_id="ok-1")
    assert again.replayed and (again.version, again.to_state) == (first.version, AssetState.CREATING)


def test_deleting_an_asset_for_good_closes_its_pending_application(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    from lifecycle.definition import ApplicationState

    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.freeze(platform, asset.asset_id)
    application = lifecycle.apply_for_unfreeze(tenant, asset.asset_id)
    lifecycle.delete(tenant, asset.asset_id, force=True)
    closed = lifecycle.get_unfreeze_application(platform, application.application_id)
    assert (closed.state, closed.decision_reason) == (ApplicationState.REJECTED, "the asset was deleted")


def test_an_application_stays_pending_while_the_frozen_asset_is_in_the_bin(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    """Deleting a frozen asset to the recycle bin leaves it frozen: the application still applies,
    and approving it unfreezes the asset in the bin (where restore then takes it back)."""
    from lifecycle.definition import ApplicationState

    asset_id = _uploaded(lifecycle, tenant, activate_on_upload=True)
    lifecycle.freeze(platform, asset_id)
    application = lifecycle.apply_for_unfreeze(tenant, asset_id)
    lifecycle.delete(tenant, asset_id)
    pending = lifecycle.get_unfreeze_application(platform, application.application_id)
    assert pending.state is ApplicationState.PENDING
    approved = lifecycle.approve_unfreeze(platform, application.application_id)
    assert (approved.from_state, approved.to_state, approved.pre_delete_state) == (
        AssetState.DELETING,
        AssetState.DELETING,
        AssetState.ACTIVED,
    )
    decided = lifecycle.get_unfreeze_application(platform, application.application_id)
    assert decided.state is ApplicationState.APPROVED
    assert lifecycle.restore(tenant, asset_id).to_state is AssetState.ACTIVED


def test_a_tenant_unfreeze_releases_assets_deleted_during_the_freeze(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    asset_id = _uploaded(lifecycle, tenant, activate_on_upload=True)
    lifecycle.freeze_tenant(platform, tenant.project_id)
    lifecycle.delete(tenant, asset_id)  # deleted while frozen: in the bin, still frozen
    unfrozen = lifecycle.unfreeze_tenant(platform, tenant.project_id)
    [moved] = unfrozen.moved
    assert (moved.asset_id, moved.from_state, moved.to_state) == (
        asset_id,
        AssetState.DELETING,
        AssetState.DELETING,
    )
    assert (moved.pre_freeze_state, moved.pre_delete_state) == (None, AssetState.ACTIVED)
    assert lifecycle.restore(tenant, asset_id).to_state is AssetState.ACTIVED


def test_a_complaint_during_a_tenant_freeze_keeps_that_asset_frozen_after_it(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    complained_about = _uploaded(lifecycle, tenant, activate_on_upload=True)
    innocent = _uploaded(lifecycle, tenant, activate_on_upload=True)
    lifecycle.freeze_tenant(platform, tenant.project_id, reason="tenant under review")
    refrozen = lifecycle.freeze(platform, complained_about, reason="complaint about content")
    assert (refrozen.from_state, refrozen.to_state, refrozen.pre_freeze_state) == (
        AssetState.BLOCK,
        AssetState.BLOCK,
        AssetState.ACTIVED,
    )
    again = lifecycle.freeze_tenant(platform, tenant.project_id)
    assert again.moved == () and {asset_id for asset_id, _ in again.skipped} == {complained_about, innocent}
    unfrozen = lifecycle.unfreeze_tenant(platform, tenant.project_id)
    assert [t.asset_id for t in unfrozen.moved] == [innocent]
    assert lifecycle.get_asset(tenant, complained_about).asset_state is AssetState.BLOCK
    assert lifecycle.unfreeze(platform, complained_about).to_state is AssetState.ACTIVED

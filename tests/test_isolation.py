"""Tenant isolation and role checks over every operation.

Another tenant's asset must answer exactly like a missing one: same error type, same code, same
message shape; and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from lifecycle.actors import Platform, System, Tenant
from lifecycle.definition import BatchAction, Event, FailType, UploadResult
from lifecycle.engine import Lifecycle
from lifecycle.errors import AssetNotFound, LifecycleError, PermissionDenied
from lifecycle.store.repository import applications, assets, audit, files
from tests.conftest import new_asset

OWNER = Tenant("owner")
INTRUDER = Tenant("intruder")

Operation = Callable[[Lifecycle, Tenant, str, str], object]

TENANT_OPERATIONS: dict[str, Operation] = {
    "get_asset": lambda lc, actor, asset_id, _f: lc.get_asset(actor, asset_id),
    "history": lambda lc, actor, asset_id, _f: lc.history(actor, asset_id),
    "allowed_events": lambda lc, actor, asset_id, _f: lc.allowed_events(actor, asset_id),
    "confirm_upload": lambda lc, actor, asset_id, file_id: lc.confirm_upload(
        actor, asset_id, file_id, UploadResult.CREATED
    ),
    "apply_for_unfreeze": lambda lc, actor, asset_id, _f: lc.apply_for_unfreeze(actor, asset_id),
    **{
        event.value: (lambda lc, actor, asset_id, _f, event=event: lc.fire(actor, asset_id, event))
        for event in (
            Event.ACCEPT_UPLOAD,
            Event.CANCEL_UPLOAD,
            Event.FAIL_UPLOAD,
            Event.ACTIVATE,
            Event.DEACTIVATE,
            Event.DELETE,
            Event.DELETE_FORCE,
            Event.RESTORE,
        )
    },
}


def _snapshot(lifecycle: Lifecycle) -> tuple[Any, ...]:
    with lifecycle.engine.connect() as connection:
        return tuple(
            tuple(connection.execute(select(table).order_by(*table.primary_key.columns)).all())
            for table in (assets, files, audit, applications)
        )


def _normalised(error: LifecycleError, asset_id: str) -> tuple[str, str, int, str]:
    return type(error).__name__, error.code, error.http_status, str(error).replace(asset_id, "<id>")


@pytest.mark.parametrize("operation", list(TENANT_OPERATIONS), ids=str)
def test_another_tenants_asset_answers_exactly_like_a_missing_one(
    lifecycle: Lifecycle, platform: Platform, operation: str
) -> None:
    owned = lifecycle.create_asset(OWNER, new_asset())
    lifecycle.freeze(platform, owned.asset_id)  # so that an unfreeze application would be possible
    file_id = owned.main_file.file_id
    call = TENANT_OPERATIONS[operation]
    before = _snapshot(lifecycle)
    with pytest.raises(AssetNotFound) as foreign:
        call(lifecycle, INTRUDER, owned.asset_id, file_id)
    with pytest.raises(AssetNotFound) as missing:
        call(lifecycle, INTRUDER, "00000000-0000-0000-0000-000000000000", file_id)
    assert _normalised(foreign.value, owned.asset_id) == _normalised(
        missing.value, "00000000-0000-0000-0000-000000000000"
    )
    assert _snapshot(lifecycle) == before


def test_a_batch_over_another_tenants_assets_fails_each_like_a_missing_one(lifecycle: Lifecycle) -> None:
    owned = lifecycle.create_asset(OWNER, new_asset())
    before = _snapshot(lifecycle)
    results = lifecycle.batch(INTRUDER, BatchAction.DELETE, [owned.asset_id, "missing"])
    assert [(r.status, r.error_code) for r in results] == [("FAILED", "MSS.00000002")] * 2
    assert results[0].error_msg == f"asset {owned.asset_id} not found"
    assert _snapshot(lifecycle) == before


def test_unfreeze_applications_are_private_to_their_tenant(lifecycle: Lifecycle, platform: Platform) -> None:
    owned = lifecycle.create_asset(OWNER, new_asset())
    lifecycle.freeze(platform, owned.asset_id)
    application = lifecycle.apply_for_unfreeze(OWNER, owned.asset_id)
    assert lifecycle.list_unfreeze_applications(INTRUDER) == []
    from lifecycle.errors import ApplicationNotFound

    with pytest.raises(ApplicationNotFound):
        lifecycle.get_unfreeze_application(INTRUDER, application.application_id)
    assert lifecycle.list_assets(INTRUDER).total == 0


def test_tenant_wide_operations_touch_only_that_tenant(lifecycle: Lifecycle, platform: Platform) -> None:
    mine = lifecycle.create_asset(OWNER, new_asset()).asset_id
    theirs = lifecycle.create_asset(INTRUDER, new_asset()).asset_id
    frozen = lifecycle.freeze_tenant(platform, OWNER.project_id)
    assert [t.asset_id for t in frozen.moved] == [mine]
    assert lifecycle.get_asset(INTRUDER, theirs).asset_state.value == "CREATING"


ROLE_REFUSALS: list[tuple[str, Callable[[Lifecycle, Any, str], object], Any]] = [
    ("tenant freezes", lambda lc, a, i: lc.fire(a, i, Event.FREEZE), OWNER),
    ("tenant unfreezes", lambda lc, a, i: lc.fire(a, i, Event.UNFREEZE), OWNER),
    ("tenant passes review", lambda lc, a, i: lc.fire(a, i, Event.PASS_REVIEW), OWNER),
    (
        "tenant rejects review",
        lambda lc, a, i: lc.fire(a, i, Event.REJECT_REVIEW, fail_type=FailType.AUTOMATIC_REVIEW_REJECT),
        OWNER,
    ),
    ("tenant times out an upload", lambda lc, a, i: lc.fire(a, i, Event.TIME_OUT_UPLOAD), OWNER),
    ("tenant purges", lambda lc, a, i: lc.fire(a, i, Event.PURGE), OWNER),
    ("tenant freezes a tenant", lambda lc, a, _i: lc.freeze_tenant(a, "owner"), OWNER),
    ("tenant approves its own application", lambda lc, a, _i: lc.approve_unfreeze(a, "x"), OWNER),
    ("platform activates", lambda lc, a, i: lc.fire(a, i, Event.ACTIVATE), Platform("op")),
    ("platform restores", lambda lc, a, i: lc.fire(a, i, Event.RESTORE), Platform("op")),
    ("platform creates", lambda lc, a, _i: lc.create_asset(a, new_asset()), Platform("op")),
    (
        "platform confirms an upload",
        lambda lc, a, i: lc.confirm_upload(a, i, "f", UploadResult.CREATED),
        Platform("op"),
    ),
    ("platform applies for unfreezing", lambda lc, a, i: lc.apply_for_unfreeze(a, i), Platform("op")),
    ("system unfreezes", lambda lc, a, i: lc.fire(a, i, Event.UNFREEZE), System()),
    ("system force-deletes", lambda lc, a, i: lc.fire(a, i, Event.DELETE_FORCE), System()),
    ("system batch", lambda lc, a, i: lc.batch(a, BatchAction.ACTIVE, [i]), System()),
]


@pytest.mark.parametrize(("name", "call", "actor"), ROLE_REFUSALS, ids=[r[0] for r in ROLE_REFUSALS])
def test_a_move_the_role_may_not_make_is_refused_and_writes_nothing(
    lifecycle: Lifecycle, name: str, call: Callable[[Lifecycle, Any, str], object], actor: Any
) -> None:
    asset_id = lifecycle.create_asset(OWNER, new_asset()).asset_id
    before = _snapshot(lifecycle)
    with pytest.raises(PermissionDenied) as refusal:
        call(lifecycle, actor, asset_id)
    assert refusal.value.http_status == 403
    assert f"a {actor.role.value} may not" in str(refusal.value)
    assert _snapshot(lifecycle) == before


def test_the_platform_and_the_system_see_every_tenants_assets(
    lifecycle: Lifecycle, platform: Platform, system: System
) -> None:
    asset_id = lifecycle.create_asset(OWNER, new_asset()).asset_id
    assert lifecycle.get_asset(platform, asset_id).project_id == "owner"
    assert lifecycle.get_asset(system, asset_id).project_id == "owner"
    with lifecycle.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(audit)).scalar_one() == 1

"""The facade's operations: what they return, what they refuse, and that a refusal writes nothing."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from lifecycle.actors import Platform, System, Tenant
from lifecycle.clock import ManualClock
from lifecycle.definition import (
    ApplicationState,
    AssetState,
    AssetType,
    Event,
    FailType,
    FileCategory,
    FileState,
    PlannedOperation,
    UploadResult,
)
from lifecycle.engine import Lifecycle
from lifecycle.errors import (
    ApplicationNotPending,
    AssetNotFound,
    Conflict,
    FileNotFound,
    InvalidParameter,
    LifecycleError,
    PermissionDenied,
    TransitionNotAllowed,
    UnfreezeAlreadyPending,
)
from lifecycle.inputs import AutoOperation, NewAsset, NewFile
from lifecycle.store.repository import assets, audit, files
from tests.conftest import MD5, START, new_asset

pytestmark = pytest.mark.facades

MD5_BASE64 = base64.b64encode(bytes.fromhex(MD5)).decode()


def _counts(lifecycle: Lifecycle) -> tuple[int, int, int]:
    with lifecycle.database.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (assets, files, audit)
        )


# Creation and the details shape ---------------------------------------------------------------


def test_a_created_asset_reads_out_in_the_platforms_details_shape(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    asset = lifecycle.create_asset(
        tenant, new_asset(tags=["teacher", "male"], asset_description="Male teacher model.", asset_order=3)
    )
    details = asset.to_details()
    assert json.loads(json.dumps(details)) == details
    assert details == {
        "project_id": "tenant-a",
        "asset_id": asset.asset_id,
        "asset_name": "Male Teacher",
        "asset_description": "Male teacher model.",
        "app_user_id": "user-1",
        "create_time": "2026-03-01T09:00:00Z",
        "update_time": "2026-03-01T09:00:00Z",
        "asset_type": "HUMAN_MODEL",
        "asset_state": "CREATING",
        "tags": ["teacher", "male"],
        "system_properties": [],
        "files": [
            {
                "file_id": asset.files[0].file_id,
                "file_name": "male001.bin",
                "file_md5": MD5_BASE64,
                "file_size": 31032142,
                "file_type": "bin",
                "asset_file_category": "MAIN",
                "state": "CREATING",
            },
            {
                "file_id": asset.files[1].file_id,
                "file_name": "male001.png",
                "file_md5": MD5_BASE64,
                "file_size": 110321,
                "file_type": "png",
                "asset_file_category": "COVER",
                "state": "CREATING",
            },
        ],
        "asset_order": 3,
    }


def test_creation_is_the_first_audit_row(lifecycle: Lifecycle, tenant: Tenant) -> None:
    asset = lifecycle.create_asset(tenant, new_asset(), request_id="create-1")
    [created] = lifecycle.history(tenant, asset.asset_id)
    assert (created.seq, created.event, created.from_state, created.to_state) == (
        1,
        Event.CREATE,
        None,
        AssetState.CREATING,
    )
    assert (created.actor_kind.value, created.actor_id, created.request_id) == (
        "tenant",
        "user-1",
        "create-1",
    )
    assert created.occurred_at == START


def test_the_md5_is_stored_in_one_canonical_form_whichever_form_was_given(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    as_hex = lifecycle.create_asset(tenant, new_asset())
    as_base64 = lifecycle.create_asset(
        tenant, NewAsset("Base64", AssetType.IMAGE, [NewFile("a.jpg", 10, MD5_BASE64)])
    )
    assert as_hex.main_file.file_md5 == as_base64.main_file.file_md5 == MD5_BASE64


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"asset_name": ""}, "asset_name"),
        ({"asset_name": "x" * 129}, "asset_name"),
        ({"asset_name": "bad\nname"}, "asset_name"),
        ({"asset_description": "d" * 1025}, "asset_description"),
        ({"tags": ["t"] * 21}, "tags"),
        ({"tags": [""]}, "tags"),
        ({"app_user_id": "用户"}, "app_user_id"),
        ({"files": "main.bin"}, "files"),
        ({"files": [NewFile("a.bin", 0, MD5)]}, "file_size"),
        ({"files": [NewFile("a.bin", 5368709121, MD5)]}, "file_size"),
        ({"files": [NewFile("a.bin", 1, "xyz")]}, "file_md5"),
        ({"files": [NewFile("a.bin", 1, "A" * 24)]}, "file_md5"),
        ({"files": [NewFile("", 1, MD5)]}, "file_name"),
        ({"files": [NewFile("n" * 257, 1, MD5)]}, "file_name"),
        ({"files": [NewFile("a/b.bin", 1, MD5)]}, "file_name"),
        ({"files": [NewFile("a.png", 1, MD5, FileCategory.COVER)]}, "files"),
        ({"files": [NewFile("a.bin", 1, MD5), NewFile("b.bin", 1, MD5)]}, "files"),
        ({"files": [NewFile("a.bin", 1, MD5), NewFile("A.BIN", 1, MD5, FileCategory.COVER)]}, "file_name"),
        (
            {"files": [NewFile("a.bin", 1, MD5), NewFile("s.wav", 1, MD5, FileCategory.SAMPLE)]},
            "asset_file_category",
        ),
        ({"asset_order": -1}, "asset_order"),
        ({"files": None}, "files"),
        ({"files": [{"file_name": "a.bin"}]}, "files"),
        ({"tags": None}, "tags"),
        ({"tags": "teacher"}, "tags"),
        ({"system_properties": [1]}, "system_properties"),
        ({"asset_extra_meta": 5}, "asset_extra_meta"),
        ({"activate_on_upload": "yes"}, "activate_on_upload"),
        ({"review_required": "no"}, "review_required"),
        ({"asset_extra_meta": {"x": object()}}, "asset_extra_meta"),
    ],
)
def test_invalid_input_is_refused_before_anything_is_written(
    lifecycle: Lifecycle, tenant: Tenant, change: dict[str, Any], field: str
) -> None:
    values: dict[str, Any] = {
        "asset_name": "ok",
        "asset_type": AssetType.HUMAN_MODEL,
        "files": [NewFile("a.bin", 1, MD5)],
        **change,
    }
    before = _counts(lifecycle)
    with pytest.raises(InvalidParameter) as refusal:
        lifecycle.create_asset(tenant, NewAsset(**values))
    assert refusal.value.field == field
    assert refusal.value.code == "MSS.00000003"
    assert refusal.value.http_status == 400
    assert _counts(lifecycle) == before


def test_file_categories_follow_the_asset_type(lifecycle: Lifecycle, tenant: Tenant) -> None:
    voice = NewAsset(
        "Voice",
        AssetType.VOICE_MODEL,
        [NewFile("v.bin", 1, MD5), NewFile("sample.wav", 1, MD5, FileCategory.SAMPLE)],
    )
    assert lifecycle.create_asset(tenant, voice).files[1].asset_file_category is FileCategory.SAMPLE
    card = NewAsset(
        "Card",
        AssetType.BUSINESS_CARD_TEMPLET,
        [NewFile("c.bin", 1, MD5), NewFile("x.txt", 1, MD5, FileCategory.OTHER)],
    )
    with pytest.raises(InvalidParameter, match="OTHER is not a file category of BUSINESS_CARD_TEMPLET"):
        lifecycle.create_asset(tenant, card)


def test_asset_ids_are_generated_so_no_tenant_can_probe_for_anothers(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    ids = {lifecycle.create_asset(tenant, new_asset()).asset_id for _ in range(3)}
    assert len(ids) == 3
    assert "asset_id" not in NewAsset.__dataclass_fields__


def test_a_retried_creation_returns_the_asset_it_created(
    lifecycle: Lifecycle, tenant: Tenant, other_tenant: Tenant
) -> None:
    first = lifecycle.create_asset(tenant, new_asset(), request_id="create-7")
    again = lifecycle.create_asset(tenant, new_asset("another name"), request_id="create-7")
    assert again == first
    assert lifecycle.list_assets(tenant).total == 1
    theirs = lifecycle.create_asset(other_tenant, new_asset(), request_id="create-7")
    assert theirs.asset_id != first.asset_id, "request ids are per tenant"


def test_a_planned_operation_must_be_in_the_future_and_aware(lifecycle: Lifecycle, tenant: Tenant) -> None:
    past = AutoOperation(PlannedOperation.DELETE, START - timedelta(seconds=1))
    with pytest.raises(InvalidParameter, match="future"):
        lifecycle.create_asset(tenant, new_asset(auto_operation=past))
    naive = AutoOperation(PlannedOperation.DELETE, (START + timedelta(days=1)).replace(tzinfo=None))
    with pytest.raises(InvalidParameter, match="timezone-aware"):
        lifecycle.create_asset(tenant, new_asset(auto_operation=naive))
    planned = lifecycle.create_asset(
        tenant, new_asset(auto_operation=AutoOperation(PlannedOperation.BLOCK, START + timedelta(days=2)))
    )
    assert (planned.planned_operation, planned.planned_operation_time) == (
        PlannedOperation.BLOCK,
        START + timedelta(days=2),
    )


def test_a_planned_operation_is_consumed_only_when_fired_at_or_after_its_time(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, system: System, platform: Platform
) -> None:
    plan = AutoOperation(PlannedOperation.BLOCK, START + timedelta(days=2))
    early = lifecycle.create_asset(tenant, new_asset(auto_operation=plan))
    lifecycle.freeze(platform, early.asset_id, reason="complaint")
    assert lifecycle.get_asset(tenant, early.asset_id).planned_operation is PlannedOperation.BLOCK

    due = lifecycle.create_asset(tenant, new_asset(auto_operation=plan))
    clock.advance(timedelta(days=2))
    lifecycle.fire(system, due.asset_id, Event.FREEZE, reason="planned freeze")
    after = lifecycle.get_asset(tenant, due.asset_id)
    assert (after.asset_state, after.planned_operation, after.planned_operation_time) == (
        AssetState.BLOCK,
        None,
        None,
    )
    assert lifecycle.history(tenant, due.asset_id)[-1].actor_kind.value == "system"


# Uploads and reviews ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "mismatch"),
    [
        ({"file_size": 31032143}, "file_size"),
        ({"file_md5": "0" * 32}, "file_md5"),
        ({"file_name": "other.bin"}, "file_name"),
    ],
)
def test_an_upload_that_does_not_match_its_declaration_fails_the_asset(
    lifecycle: Lifecycle, tenant: Tenant, actual: dict[str, Any], mismatch: str
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    moved = lifecycle.confirm_upload(
        tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED, **actual
    )
    assert moved.transition is not None and moved.transition.to_state is AssetState.FAILED
    after = lifecycle.get_asset(tenant, asset.asset_id)
    assert after.main_file.state is FileState.FAILED
    assert after.reason is not None and mismatch in after.reason
    assert lifecycle.history(tenant, asset.asset_id)[-1].event is Event.FAIL_UPLOAD


def test_a_matching_upload_is_accepted_whatever_the_md5_form_and_name_case(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    moved = lifecycle.confirm_upload(
        tenant,
        asset.asset_id,
        asset.main_file.file_id,
        UploadResult.CREATED,
        file_size=31032142,
        file_md5=MD5_BASE64,
        file_name="MALE001.BIN",
    )
    assert moved.transition is not None and moved.transition.to_state is AssetState.UNACTIVED
    assert moved.file.state is FileState.CREATED
    assert lifecycle.get_asset(tenant, asset.asset_id).main_file == moved.file


def test_a_reviewed_upload_waits_for_the_platforms_verdict(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    passed = lifecycle.create_asset(tenant, new_asset(review_required=True))
    with pytest.raises(TransitionNotAllowed, match="not awaiting review"):
        lifecycle.pass_review(platform, passed.asset_id)
    waiting = lifecycle.confirm_upload(
        tenant, passed.asset_id, passed.main_file.file_id, UploadResult.CREATED
    )
    assert waiting.transition is not None and waiting.transition.to_state is AssetState.CREATING
    assert lifecycle.get_asset(tenant, passed.asset_id).main_file.state is FileState.UPLOADED
    assert lifecycle.pass_review(platform, passed.asset_id).to_state is AssetState.UNACTIVED

    rejected = lifecycle.create_asset(tenant, new_asset(review_required=True))
    lifecycle.reject_review(
        platform, rejected.asset_id, FailType.MANUAL_REVIEW_REJECT, reason="title violates rules"
    )
    after = lifecycle.get_asset(tenant, rejected.asset_id)
    assert (after.asset_state, after.fail_type, after.reason) == (
        AssetState.FAILED,
        FailType.MANUAL_REVIEW_REJECT,
        "title violates rules",
    )
    assert lifecycle.history(tenant, rejected.asset_id)[-1].fail_type is FailType.MANUAL_REVIEW_REJECT


def test_a_review_rejection_needs_a_fail_type_and_only_it_takes_one(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    with pytest.raises(InvalidParameter, match="fail_type"):
        lifecycle.fire(platform, asset.asset_id, Event.REJECT_REVIEW)
    with pytest.raises(InvalidParameter, match="fail_type"):
        lifecycle.fire(platform, asset.asset_id, Event.FREEZE, fail_type=FailType.AUTOMATIC_REVIEW_REJECT)
    assert len(lifecycle.history(tenant, asset.asset_id)) == 1


def test_other_files_are_confirmed_without_moving_the_asset(lifecycle: Lifecycle, tenant: Tenant) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    cover = asset.files[1]
    confirmed = lifecycle.confirm_upload(tenant, asset.asset_id, cover.file_id, UploadResult.CREATED)
    assert (confirmed.file.state, confirmed.transition) == (FileState.CREATED, None)
    after = lifecycle.get_asset(tenant, asset.asset_id)
    assert (after.asset_state, after.version) == (AssetState.CREATING, 1)
    with pytest.raises(InvalidParameter, match="not awaiting upload"):
        lifecycle.confirm_upload(tenant, asset.asset_id, cover.file_id, UploadResult.CREATED)
    with pytest.raises(FileNotFound):
        lifecycle.confirm_upload(tenant, asset.asset_id, "no-such-file", UploadResult.CREATED)


# Concurrency control ---------------------------------------------------------------------------


def test_an_expected_version_that_is_stale_is_a_conflict_and_writes_nothing(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.confirm_upload(tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED)
    with pytest.raises(Conflict, match="version 1") as conflict:
        lifecycle.activate(tenant, asset.asset_id, expected_version=1)
    assert conflict.value.http_status == 409
    assert lifecycle.get_asset(tenant, asset.asset_id).asset_state is AssetState.UNACTIVED
    assert lifecycle.activate(tenant, asset.asset_id, expected_version=2).version == 3


# Queries -------------------------------------------------------------------------------------


def test_listing_filters_sorts_and_pages(
    lifecycle: Lifecycle, clock: ManualClock, tenant: Tenant, other_tenant: Tenant
) -> None:
    created = []
    for index in range(5):
        clock.advance(timedelta(minutes=1))
        created.append(lifecycle.create_asset(tenant, new_asset(f"asset {index}")).asset_id)
    lifecycle.create_asset(other_tenant, new_asset("not mine"))
    clock.advance(timedelta(minutes=1))
    lifecycle.delete(tenant, created[1])

    newest_first = lifecycle.list_assets(tenant, limit=2)
    assert [a.asset_id for a in newest_first.items] == [created[4], created[3]]
    assert (newest_first.total, newest_first.limit, newest_first.offset) == (5, 2, 0)
    oldest_first = lifecycle.list_assets(tenant, descending=False, limit=2, offset=2)
    assert [a.asset_id for a in oldest_first.items] == [created[2], created[3]]
    by_update = lifecycle.list_assets(tenant, order_by="update_time", limit=1)
    assert [a.asset_id for a in by_update.items] == [created[1]]
    binned = lifecycle.list_assets(tenant, states=[AssetState.DELETING])
    assert [a.asset_id for a in binned.items] == [created[1]] and binned.total == 1
    assert all(len(a.files) == 2 for a in newest_first.items)


def test_listing_refuses_bad_paging_and_other_tenants(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    for options in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"order_by": "asset_name"}):
        with pytest.raises(InvalidParameter):
            lifecycle.list_assets(tenant, **options)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        lifecycle.list_assets(tenant, project_id="tenant-b")
    with pytest.raises(InvalidParameter, match="project_id"):
        lifecycle.list_assets(platform)
    assert lifecycle.list_assets(platform, project_id="tenant-b").total == 0


def test_history_comes_back_in_order_with_the_remembered_states(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform, clock: ManualClock
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.confirm_upload(
        tenant, asset.asset_id, asset.main_file.file_id, UploadResult.CREATED, request_id="up"
    )
    clock.advance(timedelta(seconds=5))
    lifecycle.delete(tenant, asset.asset_id)
    lifecycle.freeze(platform, asset.asset_id, reason="complaint", block_reason_code="C-12")
    lifecycle.unfreeze(platform, asset.asset_id, reason="appeal granted")
    history = lifecycle.history(tenant, asset.asset_id)
    assert [
        (h.seq, h.event.value, h.from_state and h.from_state.value, h.to_state.value) for h in history
    ] == [
        (1, "create", None, "CREATING"),
        (2, "accept_upload", "CREATING", "UNACTIVED"),
        (3, "delete", "UNACTIVED", "DELETING"),
        (4, "freeze", "DELETING", "BLOCK"),
        (5, "unfreeze", "BLOCK", "UNACTIVED"),
    ]
    assert (history[3].pre_freeze_state, history[3].pre_delete_state) == (
        AssetState.DELETING,
        AssetState.UNACTIVED,
    )
    assert (history[4].pre_freeze_state, history[4].pre_delete_state) == (None, None)
    assert (history[3].reason, history[3].actor_id, history[1].request_id) == (
        "complaint",
        "operator-7",
        "up",
    )
    assert history[2].occurred_at == START + timedelta(seconds=5)
    assert lifecycle.get_asset(tenant, asset.asset_id).reason == "appeal granted"


def test_allowed_events_answers_for_the_actors_role(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    assert lifecycle.allowed_events(tenant, asset.asset_id) == [
        Event.ACCEPT_UPLOAD,
        Event.CANCEL_UPLOAD,
        Event.FAIL_UPLOAD,
        Event.DELETE,
        Event.DELETE_FORCE,
    ]
    assert lifecycle.allowed_events(platform, asset.asset_id) == [
        Event.FAIL_UPLOAD,
        Event.REJECT_REVIEW,
        Event.DELETE_FORCE,
        Event.FREEZE,
    ]


# Unfreeze applications -----------------------------------------------------------------------


def test_an_approved_application_unfreezes_the_asset(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    with pytest.raises(TransitionNotAllowed, match="only a frozen asset"):
        lifecycle.apply_for_unfreeze(tenant, asset.asset_id)
    lifecycle.freeze(platform, asset.asset_id)
    application = lifecycle.apply_for_unfreeze(tenant, asset.asset_id, reason="the content is ours")
    assert application.state is ApplicationState.PENDING
    with pytest.raises(UnfreezeAlreadyPending):
        lifecycle.apply_for_unfreeze(tenant, asset.asset_id)
    assert [a.application_id for a in lifecycle.list_unfreeze_applications(platform)] == [
        application.application_id
    ]
    moved = lifecycle.approve_unfreeze(platform, application.application_id, reason="checked")
    assert moved.to_state is AssetState.CREATING
    decided = lifecycle.get_unfreeze_application(tenant, application.application_id)
    assert (decided.state, decided.decided_by, decided.decision_reason) == (
        ApplicationState.APPROVED,
        "operator-7",
        "checked",
    )
    with pytest.raises(ApplicationNotPending):
        lifecycle.approve_unfreeze(platform, application.application_id)


def test_a_rejected_application_leaves_the_asset_frozen(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.freeze(platform, asset.asset_id)
    application = lifecycle.apply_for_unfreeze(tenant, asset.asset_id)
    rejected = lifecycle.reject_unfreeze(platform, application.application_id, reason="violation confirmed")
    assert rejected.state is ApplicationState.REJECTED
    assert lifecycle.get_asset(tenant, asset.asset_id).asset_state is AssetState.BLOCK
    assert lifecycle.apply_for_unfreeze(tenant, asset.asset_id).state is ApplicationState.PENDING


def test_a_direct_unfreeze_closes_the_pending_application(
    lifecycle: Lifecycle, tenant: Tenant, platform: Platform
) -> None:
    asset = lifecycle.create_asset(tenant, new_asset())
    lifecycle.freeze(platform, asset.asset_id)
    application = lifecycle.apply_for_unfreeze(tenant, asset.asset_id)
    lifecycle.unfreeze(platform, asset.asset_id)
    assert (
        lifecycle.get_unfreeze_application(platform, application.application_id).state
        is ApplicationState.APPROVED
    )


# Errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (AssetNotFound("a"), "MSS.00000002", 404),
        (InvalidParameter("f", "bad"), "MSS.00000003", 400),
        (PermissionDenied("freeze", "tenant", ["platform"]), "MSS.00000003", 403),
        (TransitionNotAllowed("a", Event.ACTIVATE, AssetState.DELETED, []), "MSS.00000003", 409),
        (Conflict("a", Event.ACTIVATE, AssetState.UNACTIVED, 2), "MSS.00000003", 409),
    ],
)
def test_every_error_carries_the_code_and_status_a_service_answers_with(
    error: LifecycleError, code: str, status: int
) -> None:
    assert (error.code, error.http_status) == (code, status)
    assert error.to_dict() == {"error_code": code, "error_msg": str(error)}


def test_a_refusal_is_logged_and_an_applied_move_is_logged_after_commit(
    lifecycle: Lifecycle, tenant: Tenant
) -> None:
    from structlog.testing import capture_logs

    asset = lifecycle.create_asset(tenant, new_asset())
    with capture_logs() as logs:
        lifecycle.fire(tenant, asset.asset_id, Event.ACCEPT_UPLOAD, request_id="r-9")
        with pytest.raises(TransitionNotAllowed):
            lifecycle.fire(tenant, asset.asset_id, Event.DEACTIVATE)
    applied, refused = logs
    assert applied["event"] == "transition_applied"
    assert (applied["event_name"], applied["from_state"], applied["to_state"], applied["request_id"]) == (
        "accept_upload",
        "CREATING",
        "UNACTIVED",
        "r-9",
    )
    assert refused["event"] == "transition_refused"
    assert (refused["event_name"], refused["state"]) == ("deactivate", "UNACTIVED")
    assert refused["allowed"] == ["activate", "delete", "delete_force"]

"""Every tenant path, driven by the platform's official SDK against a live service, on both
backends: each answer parses into the SDK's models, each refusal is the SDK's exception with the
platform's status and code, and uploads carry real bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmetastudio.v1 import (
    AutoOperationConfig,
    BatchAssetActionReq,
    BatchExecuteAssetActionRequest,
    BatchExecuteAssetActionResponse,
    DeleteAssetRequest,
    DeleteFileRequest,
    DigitalAssetInfo,
    ListAssetsRequest,
    ListAssetsResponse,
    ListAssetSummaryRequest,
    ListAssetSummaryResponse,
    ListAssetSummarysReq,
    RestoreAssetRequest,
    ReviewConfig,
    ShowAssetResponse,
    SystemProperty,
    UpdateDigitalAssetRequest,
    UpdateDigitalAssetRequestBody,
    UpdateDigitalAssetResponse,
)

from lifecycle.actors import Platform
from lifecycle.engine import Lifecycle
from tests.server.conftest import TENANT_A, LiveServer
from tests.server.sdk import PICTURE, confirm, create, declare, md5, put, show, uploaded


def refused(call: object, status: int, code: str) -> ClientRequestException:
    """The SDK's exception the call raises, checked for the platform's status and code."""
    with pytest.raises(ClientRequestException) as caught:
        call()  # type: ignore[operator]
    error = caught.value
    assert (error.status_code, error.error_code) == (status, code), error.error_msg
    assert error.request_id, "every answer carries X-Request-Id"
    return error


def test_create_show_and_list_in_the_sdks_shapes(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    plan = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    asset_id = create(
        client,
        "Lecturer 讲师",
        "VIDEO",
        asset_description="for the spring course",
        tags=["course", "spring"],
        review_config=ReviewConfig(no_need_review=True),
        auto_operation_config=[AutoOperationConfig(operation="DELETE", operation_time=plan)],
        asset_extra_meta={"video_meta": {"duration": 12.5}},
        system_properties=[SystemProperty(key="BACKGROUND_IMG", value="Yes")],
        asset_order=3,
    )
    shown = show(client, asset_id)
    assert isinstance(shown, ShowAssetResponse)
    assert shown.status_code == 200
    assert (shown.asset_id, shown.project_id, shown.asset_state) == (asset_id, "tenant-a", "CREATING")
    assert (shown.asset_name, shown.asset_type, shown.tags) == (
        "Lecturer 讲师",
        "VIDEO",
        ["course", "spring"],
    )
    assert shown.asset_description == "for the spring course"
    assert shown.asset_order == 3
    assert shown.system_properties[0].key == "BACKGROUND_IMG"
    assert shown.files == []
    assert shown.x_request_id

    listed = client.list_assets(ListAssetsRequest(name="lecturer", tag="SPRING", asset_type="VIDEO,IMAGE"))
    assert isinstance(listed, ListAssetsResponse)
    assert listed.count == 1
    assert isinstance(listed.assets[0], DigitalAssetInfo)
    assert listed.assets[0].asset_id == asset_id
    nothing = client.list_assets(ListAssetsRequest(name="lecturer", asset_state="ACTIVED,UNACTIVED"))
    assert (nothing.count, nothing.assets) == (0, [])
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert client.list_assets(ListAssetsRequest(name="lecturer", start_time=later)).count == 0
    assert client.list_assets(ListAssetsRequest(name="lecturer", end_time=later)).count == 1


def test_listing_sorts_pages_and_filters_by_end_user(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    ids = [create(client, f"Paged {n}", x_app_user_id="end-user-9") for n in range(3)]
    ascending = client.list_assets(ListAssetsRequest(name="paged", sort_key="create_time", sort_dir="asc"))
    descending = client.list_assets(ListAssetsRequest(name="paged", sort_key="create_time", sort_dir="desc"))
    assert [a.asset_id for a in ascending.assets] == ids
    assert [a.asset_id for a in descending.assets] == ids[::-1]
    page = client.list_assets(ListAssetsRequest(name="paged", limit=2, offset=2, sort_dir="asc"))
    assert (page.count, [a.asset_id for a in page.assets]) == (3, ids[2:])
    mine = client.list_assets(ListAssetsRequest(app_user_id="end-user-9"))
    assert mine.count == 3
    assert {a.app_user_id for a in mine.assets} == {"end-user-9"}
    refused(lambda: client.list_assets(ListAssetsRequest(sort_dir="up")), 400, "MSS.00000003")
    refused(lambda: client.list_assets(ListAssetsRequest(asset_state="GONE")), 400, "MSS.00000003")
    refused(lambda: client.list_assets(ListAssetsRequest(start_time="yesterday")), 400, "MSS.00000003")


def test_listing_by_asset_order_ids_and_several_states_in_the_sdks_names(server: LiveServer) -> None:
    """Before: sort_key=asset_order was refused naming order_by; asset_id was ignored, and of a
    list of states only the last was kept."""
    client = server.client(TENANT_A)
    second, first = create(client, "Ordered", asset_order=2), create(client, "Ordered", asset_order=1)
    ordered = client.list_assets(ListAssetsRequest(name="ordered", sort_key="asset_order", sort_dir="asc"))
    assert [a.asset_id for a in ordered.assets] == [first, second]
    by_id = client.list_assets(ListAssetsRequest(asset_id=[second, "no-such-asset"]))
    assert [a.asset_id for a in by_id.assets] == [second]
    usable = uploaded(client, "Ordered")
    both = client.list_assets(ListAssetsRequest(name="ordered", asset_state=["CREATING", "UNACTIVED"]))
    assert {a.asset_id for a in both.assets} == {first, second, usable}
    commas = client.list_assets(ListAssetsRequest(name="ordered", asset_state="UNACTIVED,ACTIVED"))
    assert [a.asset_id for a in commas.assets] == [usable]
    assert client.list_assets(ListAssetsRequest(asset_state="WAITING_DELETE")).count == 0
    for request, name in [
        (ListAssetsRequest(sort_key="size"), "sort_key"),
        (ListAssetsRequest(start_time="2026-01-02T00:00:00Z", end_time="2026-01-01T00:00:00Z"), "end_time"),
        (ListAssetsRequest(asset_id=["../x"]), "asset_id"),
    ]:
        error = refused(lambda request=request: client.list_assets(request), 400, "MSS.00000003")
        assert f"invalid parameter {name}" in error.error_msg, error.error_msg
        for engine_name in ("order_by", "created_from", "created_to", "asset_ids"):
            assert engine_name not in error.error_msg, error.error_msg


def test_a_non_ascii_end_user_is_read_as_the_sdk_sent_it(server: LiveServer) -> None:
    """Before: the gate checked the signature over UTF-8, the routes read Latin-1: "zoë" was
    recorded as "zoÃ«", and a Chinese id passed the engine's rule against Chinese characters."""
    client = server.client(TENANT_A)
    asset_id = create(client, "Accented", x_app_user_id="zoë")
    assert show(client, asset_id).app_user_id == "zoë"
    error = refused(lambda: create(client, "Chinese", x_app_user_id="张三"), 400, "MSS.00000003")
    assert "Chinese" in error.error_msg


def test_an_upload_for_real_makes_the_asset_usable(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = create(client)
    file_id, url = declare(client, asset_id)
    assert url.startswith(server.url + "/uploads/")
    answer = put(url, PICTURE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"]
    confirm(client, file_id)
    shown = show(client, asset_id)
    assert shown.asset_state == "UNACTIVED"
    assert (shown.files[0].file_id, shown.files[0].file_size, shown.files[0].file_md5) == (
        file_id,
        len(PICTURE),
        md5(PICTURE),
    )
    assert server.uploads.path("tenant-a", asset_id, file_id).read_bytes() == PICTURE


def test_bytes_other_than_declared_fail_the_asset(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = create(client)
    other = PICTURE[::-1]
    file_id, url = declare(client, asset_id, PICTURE)
    assert put(url, other).status_code == 200  # the bytes match their own Content-MD5: kept
    confirm(client, file_id)
    shown = show(client, asset_id)
    assert shown.asset_state == "FAILED"
    assert shown.files[0].state == "FAILED"


def test_fewer_bytes_than_declared_fail_the_asset(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = create(client)
    file_id, url = declare(client, asset_id, PICTURE)
    assert put(url, PICTURE[:100]).status_code == 200
    confirm(client, file_id)
    assert show(client, asset_id).asset_state == "FAILED"


def test_confirming_what_was_never_uploaded_fails_the_asset(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = create(client)
    file_id, _url = declare(client, asset_id)
    confirm(client, file_id)
    shown = show(client, asset_id)
    assert shown.asset_state == "FAILED"
    assert "nothing was uploaded" in shown.reason


def test_a_cancelled_upload_can_be_tried_again_and_a_failed_one_fails(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = create(client)
    file_id, url = declare(client, asset_id)
    confirm(client, file_id, "CANCELLED")
    assert show(client, asset_id).asset_state == "CREATING"
    assert put(url, PICTURE).status_code == 200
    confirm(client, file_id)
    assert show(client, asset_id).asset_state == "UNACTIVED"
    failing = create(client)
    failed_file, _ = declare(client, failing)
    confirm(client, failed_file, "FAILED")
    assert show(client, failing).asset_state == "FAILED"


def test_an_upload_is_refused_whole_when_its_bytes_or_link_are_wrong(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = create(client)
    file_id, url = declare(client, asset_id)
    path = server.uploads.path("tenant-a", asset_id, file_id)

    wrong_digest = put(url, PICTURE, content_md5=md5(b"something else"))
    assert wrong_digest.status_code == 400
    assert wrong_digest.json()["error_code"] == "MSS.00000003"
    assert "Content-MD5" in wrong_digest.json()["error_msg"]
    too_long = put(url, PICTURE + b"!")
    assert too_long.status_code == 400
    assert "larger than the declared file_size" in too_long.json()["error_msg"]
    assert not path.exists()
    assert list(path.parent.iterdir()) == []  # no half-written file left behind

    tampered = put(url.replace(f"file_size={len(PICTURE)}", f"file_size={len(PICTURE) + 1}"), PICTURE)
    assert (tampered.status_code, tampered.json()["error_code"]) == (403, "MSS.00000003")
    other_file = put(url.replace(f"/uploads/{file_id}?", "/uploads/someone-else?"), PICTURE)
    assert other_file.status_code == 403
    unsigned = put(url.split("?")[0], PICTURE)
    assert unsigned.status_code == 403

    assert put(url, PICTURE).status_code == 200
    confirm(client, file_id)
    closed = put(url, PICTURE)
    assert (closed.status_code, closed.json()["error_code"]) == (409, "MSS.00000003")
    assert path.read_bytes() == PICTURE


def test_update_changes_the_metadata_and_moves_between_actived_and_unactived(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = uploaded(client)

    def update(**fields: object) -> UpdateDigitalAssetResponse:
        body = UpdateDigitalAssetRequestBody(**fields)
        return client.update_digital_asset(UpdateDigitalAssetRequest(asset_id=asset_id, body=body))

    renamed = update(asset_name="Renamed", asset_description="new words", tags=["a", "b"])
    assert isinstance(renamed, UpdateDigitalAssetResponse)
    assert (renamed.asset_name, renamed.asset_description, renamed.tags) == (
        "Renamed",
        "new words",
        ["a", "b"],
    )
    assert update(asset_state="ACTIVED").asset_state == "ACTIVED"
    assert update(asset_state="ACTIVED").asset_state == "ACTIVED"  # already there: nothing to do
    both = update(asset_name="Both", asset_state="UNACTIVED")
    assert (both.asset_name, both.asset_state) == ("Both", "UNACTIVED")
    refused(lambda: update(asset_state="BLOCK"), 400, "MSS.00000003")
    refused(update, 400, "MSS.00000003")
    refused(lambda: update(asset_type="VIDEO"), 400, "MSS.00000003")  # not updatable: refused by name
    creating = create(client)
    error = refused(
        lambda: client.update_digital_asset(
            UpdateDigitalAssetRequest(
                asset_id=creating, body=UpdateDigitalAssetRequestBody(asset_state="ACTIVED")
            )
        ),
        409,
        "MSS.00000003",
    )
    assert "CREATING" in error.error_msg


def test_a_refused_update_changes_nothing(server: LiveServer) -> None:
    """Before: the name was written in one transaction, the refused move tried in another."""
    client = server.client(TENANT_A)
    creating = create(client, "Old")

    def update(**fields: object) -> object:
        body = UpdateDigitalAssetRequestBody(**fields)
        return client.update_digital_asset(UpdateDigitalAssetRequest(asset_id=creating, body=body))

    refused(lambda: update(asset_name="New", asset_state="ACTIVED"), 409, "MSS.00000003")
    refused(lambda: update(asset_description="x" * 100_000, asset_state="UNACTIVED"), 400, "MSS.00000003")
    asset = show(client, creating)
    assert (asset.asset_name, asset.asset_description, asset.asset_state) == ("Old", "", "CREATING")


def test_delete_restore_and_delete_for_good_which_removes_the_files(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = uploaded(client)
    directory = server.uploads.path("tenant-a", asset_id, "x").parent
    assert any(directory.iterdir())

    deleted = client.delete_asset(DeleteAssetRequest(asset_id=asset_id))
    assert deleted.status_code == 204
    assert deleted.x_request_id
    assert show(client, asset_id).asset_state == "DELETING"
    assert client.restore_asset(RestoreAssetRequest(asset_id=asset_id)).status_code == 204
    assert show(client, asset_id).asset_state == "UNACTIVED"
    refused(
        lambda: client.delete_asset(DeleteAssetRequest(asset_id=asset_id, mode="later")), 400, "MSS.00000003"
    )

    client.delete_asset(DeleteAssetRequest(asset_id=asset_id, mode="force"))
    assert show(client, asset_id).asset_state == "DELETED"
    assert server.cleanup.wait_for(lambda: not directory.exists(), timeout=30), "files still there"
    refused(lambda: client.restore_asset(RestoreAssetRequest(asset_id=asset_id)), 409, "MSS.00000003")


def test_delete_takes_mode_force_in_any_case(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = uploaded(client, "Shouted")
    client.delete_asset(DeleteAssetRequest(asset_id=asset_id, mode="FORCE"))
    assert show(client, asset_id).asset_state == "DELETED"


def test_a_batch_answers_in_the_sdks_shape(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    ready = [uploaded(client, f"Batch {n}") for n in range(3)]
    creating = create(client)

    def batch(action: str, ids: list[str]) -> BatchExecuteAssetActionResponse:
        body = BatchAssetActionReq(action=action, asset_ids=ids)
        return client.batch_execute_asset_action(BatchExecuteAssetActionRequest(body=body))

    answer = batch("ACTIVE", [*ready, creating, "no-such-asset"])
    assert isinstance(answer, BatchExecuteAssetActionResponse)
    statuses = {(r.ret_status, tuple(r.asset_ids)) for r in answer.results}
    assert ("SUCCESS", tuple(ready)) in statuses
    failures = {r.asset_ids[0]: r.error_info for r in answer.results if r.ret_status == "FAILED"}
    assert failures[creating].error_code == "MSS.00000003"
    assert failures["no-such-asset"].error_code == "MSS.00000002"
    assert all(show(client, asset_id).asset_state == "ACTIVED" for asset_id in ready)
    for action, state in [("UNACTIVE", "UNACTIVED"), ("DELETE", "DELETING"), ("RESTORE", "UNACTIVED")]:
        assert batch(action, ready).results[0].ret_status == "SUCCESS"
        assert {show(client, asset_id).asset_state for asset_id in ready} == {state}
    batch("DELETE_FORCE", ready[:1])
    assert show(client, ready[0]).asset_state == "DELETED"
    refused(lambda: batch("SHARE", ready), 400, "MSS.00000003")


def test_summaries_of_the_assets_asked_for(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    first, second = create(client, "Summary one", "VIDEO"), uploaded(client, "Summary two")
    body = ListAssetSummarysReq(asset_ids=[second, "no-such-asset", first])
    answer = client.list_asset_summary(ListAssetSummaryRequest(body=body))
    assert isinstance(answer, ListAssetSummaryResponse)
    assert [(s.asset_id, s.asset_name, s.asset_type, s.asset_state) for s in answer.asset_list] == [
        (second, "Summary two", "IMAGE", "UNACTIVED"),
        (first, "Summary one", "VIDEO", "CREATING"),
    ]


def test_a_file_deleted_on_its_own_loses_its_bytes(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = create(client, asset_type="VIDEO")
    cover = b"cover image bytes"
    cover_id, cover_url = declare(client, asset_id, cover, name="cover.png", category="COVER")
    assert put(cover_url, cover).status_code == 200
    path = server.uploads.path("tenant-a", asset_id, cover_id)
    assert path.exists()
    assert client.delete_file(DeleteFileRequest(file_id=cover_id)).status_code == 204
    assert cover_id not in {f.file_id for f in show(client, asset_id).files if f.state != "DELETED"}
    assert server.cleanup.wait_for(lambda: not path.exists(), timeout=30), "the bytes are still there"
    refused(lambda: client.delete_file(DeleteFileRequest(file_id=cover_id)), 404, "MSS.00000002")


def test_refusals_are_the_sdks_exceptions_with_the_platforms_codes(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    missing = refused(lambda: show(client, "no-such-asset"), 404, "MSS.00000002")
    assert "no-such-asset" in missing.error_msg
    refused(lambda: create(client, asset_type="HOLOGRAM"), 400, "MSS.00000003")
    refused(lambda: create(client, name=""), 400, "MSS.00000003")
    asset_id = create(client)
    refused(lambda: declare(client, asset_id, category="WALLPAPER"), 400, "MSS.00000003")
    refused(lambda: declare(client, "no-such-asset"), 404, "MSS.00000002")
    refused(lambda: confirm(client, "no-such-file"), 404, "MSS.00000002")


def test_files_of_an_asset_deleted_for_good_by_another_process_are_removed_too(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = uploaded(client, "Purged elsewhere")
    directory = server.uploads.path("tenant-a", asset_id, "x").parent
    assert any(directory.iterdir())
    with Lifecycle(server.database_url) as elsewhere:  # an operator's script, another instance
        elsewhere.delete(Platform("ops-alice"), asset_id, force=True)
    assert server.cleanup.wait_for(lambda: not directory.exists(), timeout=30), "files still there"
    assert show(client, asset_id).asset_state == "DELETED"

"""Who may call what: signatures, tenants kept apart, the platform's paths, and the answers every
response shares (``X-Request-Id``, the platform's error body, no internal detail on a failure)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import requests
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkmetastudio.v1 import (
    BatchAssetActionReq,
    BatchExecuteAssetActionRequest,
    DeleteAssetRequest,
    DeleteFileRequest,
    ListAssetsRequest,
    ListAssetSummaryRequest,
    ListAssetSummarysReq,
    ReviewConfig,
    UpdateDigitalAssetRequest,
    UpdateDigitalAssetRequestBody,
)

from lifecycle.server.keys import AccessKey
from tests.server.conftest import OPERATOR, TENANT_A, TENANT_B, LiveServer
from tests.server.sdk import confirm, create, declare, put, show, uploaded
from tests.server.signed import call, send, signed_request


def refused(call_: Any, status: int, code: str) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as caught:
        call_()
    assert (caught.value.status_code, caught.value.error_code) == (status, code), caught.value.error_msg
    return caught.value


def admin(server: LiveServer, method: str, path: str, key: AccessKey = OPERATOR, **options: Any) -> Any:
    answer = call(method, server.url, f"/admin/v1{path}", key, **options)
    assert answer.status_code == 200, answer.text
    return answer.json()


# Signatures -------------------------------------------------------------------------------------


def test_nothing_is_answered_without_a_valid_signature(server: LiveServer) -> None:
    for method, path in [
        ("GET", "/v1/tenant-a/digital-assets"),
        ("POST", "/v1/tenant-a/digital-assets"),
        ("GET", "/admin/v1/audit/verify"),
        ("GET", "/no/such/path"),
    ]:
        answer = requests.request(method, server.url + path, json={}, timeout=30)
        assert answer.status_code == 401, (method, path)
        assert answer.json()["error_code"] == "APIGW.0301"
        assert answer.headers["X-Request-Id"]


def test_a_wrong_secret_is_refused(server: LiveServer) -> None:
    impostor = AccessKey(TENANT_A.ak, "guessed", project_id="tenant-a")
    error = refused(lambda: server.client(impostor).list_assets(ListAssetsRequest()), 401, "APIGW.0301")
    assert "signature does not match" in error.error_msg


def test_a_stale_signature_is_refused(server: LiveServer) -> None:
    old = signed_request(
        "GET", server.url, "/v1/tenant-a/digital-assets", TENANT_A, headers={"X-Sdk-Date": "20200101T000000Z"}
    )
    answer = send(old, server.url)
    assert (answer.status_code, answer.json()["error_code"]) == (401, "APIGW.0301")
    assert "15 minutes" in answer.json()["error_msg"]

    client = server.client(TENANT_A)
    client.list_assets(ListAssetsRequest())
    server.signature_clock.shift = timedelta(minutes=16)
    try:
        refused(lambda: client.list_assets(ListAssetsRequest()), 401, "APIGW.0301")
    finally:
        server.signature_clock.shift = timedelta(0)
    client.list_assets(ListAssetsRequest())


def test_a_request_changed_after_signing_is_refused(server: LiveServer) -> None:
    body = {"asset_name": "Signed", "asset_type": "IMAGE"}
    request = signed_request("POST", server.url, "/v1/tenant-a/digital-assets", TENANT_A, body=body)
    changed = send(request, server.url, body=request.body.replace(b"Signed", b"Forged"))
    assert (changed.status_code, changed.json()["error_code"]) == (401, "APIGW.0301")
    moved = send(request, server.url, uri=request.uri.replace("tenant-a", "tenant-b"))
    assert moved.status_code == 401
    assert send(request, server.url).status_code == 200


# Tenants kept apart -----------------------------------------------------------------------------


def test_a_tenant_key_works_only_under_its_own_project(server: LiveServer) -> None:
    answer = call("GET", server.url, "/v1/tenant-b/digital-assets", TENANT_A)
    assert (answer.status_code, answer.json()["error_code"]) == (403, "APIGW.0302")
    assert call("GET", server.url, "/v1/tenant-a/digital-assets", OPERATOR).status_code == 403
    assert call("GET", server.url, "/admin/v1/audit/verify", TENANT_A).status_code == 403


def test_a_wrong_key_is_told_so_before_its_request_is_checked(server: LiveServer) -> None:
    """Before: the key's right was checked after the parameters and body, so 400 came first."""
    for method, path, key, options in [
        ("POST", "/v1/tenant-b/digital-assets", TENANT_A, {"body": {"asset_type": "NOPE"}}),
        ("DELETE", "/v1/tenant-b/digital-assets/x", TENANT_A, {"query": {"mode": "gently"}}),
        ("POST", "/v1/tenant-a/files", OPERATOR, {"body": {}}),
        ("POST", "/admin/v1/digital-assets/x/review", TENANT_A, {"body": {"verdict": "MAYBE"}}),
    ]:
        answer = call(method, server.url, path, key, **options)
        assert (answer.status_code, answer.json()["error_code"]) == (403, "APIGW.0302"), (path, answer.text)


def test_one_tenant_cannot_see_or_touch_anothers_assets(server: LiveServer) -> None:
    owner, intruder = server.client(TENANT_A), server.client(TENANT_B)
    asset_id = uploaded(owner, "Private")
    pending = create(owner, "Private pending")
    file_id, upload_url = declare(owner, pending)

    refused(lambda: show(intruder, asset_id), 404, "MSS.00000002")
    assert asset_id not in {a.asset_id for a in intruder.list_assets(ListAssetsRequest(limit=1000)).assets}
    refused(lambda: intruder.delete_asset(DeleteAssetRequest(asset_id=asset_id)), 404, "MSS.00000002")
    body = UpdateDigitalAssetRequestBody(asset_name="Mine now", asset_state="ACTIVED")
    refused(
        lambda: intruder.update_digital_asset(UpdateDigitalAssetRequest(asset_id=asset_id, body=body)),
        404,
        "MSS.00000002",
    )
    batch = intruder.batch_execute_asset_action(
        BatchExecuteAssetActionRequest(body=BatchAssetActionReq(action="DELETE_FORCE", asset_ids=[asset_id]))
    )
    assert [(r.ret_status, r.error_info.error_code) for r in batch.results] == [("FAILED", "MSS.00000002")]
    summaries = intruder.list_asset_summary(
        ListAssetSummaryRequest(body=ListAssetSummarysReq(asset_ids=[asset_id]))
    )
    assert summaries.asset_list == []
    refused(lambda: declare(intruder, pending), 404, "MSS.00000002")
    refused(lambda: confirm(intruder, file_id), 404, "MSS.00000002")
    refused(lambda: intruder.delete_file(DeleteFileRequest(file_id=file_id)), 404, "MSS.00000002")
    stolen_link = put(upload_url.replace("project_id=tenant-a", "project_id=tenant-b"), b"x")
    assert stolen_link.status_code == 403

    shown = show(owner, asset_id)
    assert (shown.asset_name, shown.asset_state) == ("Private", "UNACTIVED")
    assert show(owner, pending).asset_state == "CREATING"


# The platform's paths ---------------------------------------------------------------------------


def test_the_platform_freezes_reviews_and_decides_unfreeze_applications(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = uploaded(client, "Frozen")
    frozen = admin(server, "POST", f"/digital-assets/{asset_id}/freeze", body={"reason": "complaint"})
    assert (frozen["from_state"], frozen["to_state"]) == ("UNACTIVED", "BLOCK")
    assert show(client, asset_id).asset_state == "BLOCK"

    applied = call(
        "POST",
        server.url,
        f"/v1/tenant-a/digital-assets/{asset_id}/unfreeze-applications",
        TENANT_A,
        body={"reason": "it was fine"},
    ).json()
    assert applied["state"] == "PENDING"
    listed = admin(
        server, "GET", "/unfreeze-applications", query={"project_id": "tenant-a", "state": "PENDING"}
    )
    assert applied["application_id"] in {a["application_id"] for a in listed["applications"]}
    approved = admin(server, "POST", f"/unfreeze-applications/{applied['application_id']}/approve", body={})
    assert approved["to_state"] == "UNACTIVED"
    shown = call(
        "GET", server.url, f"/v1/tenant-a/unfreeze-applications/{applied['application_id']}", TENANT_A
    )
    assert shown.json()["state"] == "APPROVED"

    admin(server, "POST", f"/digital-assets/{asset_id}/freeze", body={"block_reason_code": "B01"})
    again = call(
        "POST", server.url, f"/v1/tenant-a/digital-assets/{asset_id}/unfreeze-applications", TENANT_A, body={}
    ).json()
    rejected = admin(server, "POST", f"/unfreeze-applications/{again['application_id']}/reject", body={})
    assert rejected["state"] == "REJECTED"
    assert show(client, asset_id).block_reason_code == "B01"
    assert admin(server, "POST", f"/digital-assets/{asset_id}/unfreeze", body={})["to_state"] == "UNACTIVED"

    passing, failing = (
        uploaded(client, name, review_config=ReviewConfig(no_need_review=False)) for name in ("Good", "Bad")
    )
    assert show(client, passing).asset_state == "CREATING"  # uploaded, waiting for its review
    passed = admin(server, "POST", f"/digital-assets/{passing}/review", body={"verdict": "PASS"})
    assert (passed["event"], passed["to_state"]) == ("pass_review", "UNACTIVED")
    verdict = {"verdict": "REJECT", "fail_type": "MANUAL_REVIEW_REJECT", "reason": "not a likeness"}
    assert admin(server, "POST", f"/digital-assets/{failing}/review", body=verdict)["to_state"] == "FAILED"
    assert show(client, failing).fail_type == "MANUAL_REVIEW_REJECT"

    history = admin(server, "GET", f"/digital-assets/{asset_id}/history")["history"]
    assert [entry["event"] for entry in history][-2:] == ["freeze", "unfreeze"]
    assert {entry["actor_id"] for entry in history if entry["actor_kind"] == "platform"} == {"operator-7"}


def test_the_platform_freezes_and_unfreezes_a_tenant_and_reads_storage_and_the_audit(
    server: LiveServer,
) -> None:
    client = server.client(TENANT_B)
    asset_id = uploaded(client, "Tenant-wide")
    operation = admin(server, "POST", "/tenants/tenant-b/freeze", body={"reason": "unpaid"})
    assert asset_id in {moved["asset_id"] for moved in operation["moved"]}
    assert show(client, asset_id).asset_state == "BLOCK"
    admin(server, "POST", "/tenants/tenant-b/unfreeze", body={})
    assert show(client, asset_id).asset_state == "UNACTIVED"
    report = admin(server, "GET", "/storage-report", query={"project_id": "tenant-b"})
    assert report
    verified = admin(server, "GET", "/audit/verify")
    assert verified["clean"] is True
    assert verified["assets"] >= 1


def test_the_platforms_paths_refuse_bad_input_in_the_platforms_shape(server: LiveServer) -> None:
    answer = call(
        "POST", server.url, "/admin/v1/digital-assets/nothing/review", OPERATOR, body={"verdict": "MAYBE"}
    )
    assert (answer.status_code, answer.json()["error_code"]) == (400, "MSS.00000003")
    missing = call("POST", server.url, "/admin/v1/digital-assets/nothing/freeze", OPERATOR, body={})
    assert (missing.status_code, missing.json()["error_code"]) == (404, "MSS.00000002")


# What every answer shares -----------------------------------------------------------------------


def test_every_answer_carries_its_request_id_and_the_audit_row_records_it(server: LiveServer) -> None:
    client = server.client(TENANT_A)
    asset_id = uploaded(client, "Traced")
    answer = call(
        "PUT",
        server.url,
        f"/v1/tenant-a/digital-assets/{asset_id}",
        TENANT_A,
        body={"asset_state": "ACTIVED"},
    )
    request_id = answer.headers["X-Request-Id"]
    history = admin(server, "GET", f"/digital-assets/{asset_id}/history")["history"]
    assert history[-1]["event"] == "activate"
    assert history[-1]["request_id"] == request_id
    assert call("GET", server.url, "/v1/tenant-a/nowhere", TENANT_A).json()["error_code"] == "MSS.00000002"
    path = f"/v1/tenant-a/digital-assets/{asset_id}"
    assert len({call("GET", server.url, path, TENANT_A).headers["X-Request-Id"] for _ in range(3)}) == 3


def test_the_openapi_document_is_served(server: LiveServer) -> None:
    document = httpx.get(server.url + "/openapi.json", timeout=30).json()
    paths = document["paths"]
    assert "/v1/{project_id}/digital-assets/{asset_id}" in paths
    assert "/v1/{project_id}/files/{file_id}/complete" in paths
    assert "/admin/v1/tenants/{project_id}/freeze" in paths
    assert paths["/v1/{project_id}/digital-assets"]["post"]["summary"] == "create_digital_asset"
    shown = paths["/v1/{project_id}/digital-assets/{asset_id}"]["get"]["responses"]
    assert shown["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/DigitalAssetInfo")
    assert shown["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert "422" not in shown  # an invalid request is answered 400, in the platform's shape


def test_a_body_too_large_is_refused_before_it_is_read(server: LiveServer) -> None:
    body = {"asset_name": "x" * (5 << 20), "asset_type": "IMAGE"}
    answer = call("POST", server.url, "/v1/tenant-a/digital-assets", TENANT_A, body=body)
    assert (answer.status_code, answer.json()["error_code"]) == (413, "MSS.00000003")

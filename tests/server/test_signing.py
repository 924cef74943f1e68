"""SDK-HMAC-SHA256 as the platform's signer writes it (``huaweicloudsdkcore.signer.Signer``): every
request it signs verifies, and any change to a signed part, an old date or another key does not.
The access keys file: what it takes, and what it refuses by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from lifecycle.clock import ManualClock
from lifecycle.errors import InvalidParameter
from lifecycle.server.errors import NotAuthorized, Unauthenticated
from lifecycle.server.keys import AccessKey, AccessKeys
from lifecycle.server.signing import ReceivedRequest, Verifier, sign

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
KEY = AccessKey("AK-TENANT-1", "s3cr3t/+=", project_id="tenant-a")
KEYS = AccessKeys([KEY, AccessKey("AK-OPERATOR", "op", operator="operator-7")])


def sdk_signed(
    method: str = "GET",
    path: str = "/v1/tenant-a/digital-assets",
    query: list[tuple[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    body: str = "",
    key: AccessKey = KEY,
    at: datetime = NOW,
) -> ReceivedRequest:
    """What the service receives for a request the SDK's signer signed."""
    request = SdkRequest(
        method=method,
        schema="http",
        host="127.0.0.1:8000",
        resource_path=path,
        query_params=query or [],
        header_params={
            "Content-Type": "application/json",
            "X-Sdk-Date": at.strftime("%Y%m%dT%H%M%SZ"),
            **(headers or {}),
        },
        body=body,
    )
    Signer(BasicCredentials(key.ak, key.sk)).sign(request)
    sent_path, _, sent_query = request.uri.partition("?")
    return ReceivedRequest(
        method=method,
        path=sent_path,
        query=sent_query,
        # On the wire: the signer's Latin-1 text is the UTF-8 bytes of the value it signed.
        headers=[
            (k.lower(), str(v).encode("latin-1").decode("utf-8")) for k, v in request.header_params.items()
        ],
        body=request.body if isinstance(request.body, bytes) else request.body.encode(),
    )


def replaced(request: ReceivedRequest, **changes: Any) -> ReceivedRequest:
    values = {field: getattr(request, field) for field in ("method", "path", "query", "headers", "body")}
    return ReceivedRequest(**{**values, **changes})


@pytest.fixture
def verifier() -> Verifier:
    return Verifier(KEYS, ManualClock(NOW))


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(sdk_signed, id="get"),
        pytest.param(
            lambda: sdk_signed(
                query=[("limit", 5), ("asset_state", "ACTIVED,UNACTIVED"), ("name", "a b&c=d")]
            ),
            id="query",
        ),
        pytest.param(lambda: sdk_signed(query=[("asset_id", ["b", "a"])]), id="repeated-query"),
        pytest.param(lambda: sdk_signed(query=[("action_editable", True)]), id="boolean-query"),
        pytest.param(
            lambda: sdk_signed("POST", body=json.dumps({"asset_name": "Лектор 讲师", "tags": ["x"]})),
            id="body",
        ),
        pytest.param(lambda: sdk_signed(headers={"X-App-UserId": "über-user"}), id="utf8-header"),
        pytest.param(
            lambda: sdk_signed("DELETE", "/v1/tenant-a/digital-assets/a%20b", [("mode", "force")]), id="path"
        ),
        pytest.param(lambda: sdk_signed(at=NOW - timedelta(minutes=14)), id="14-minutes-old"),
        pytest.param(lambda: sdk_signed(at=NOW + timedelta(minutes=14)), id="14-minutes-ahead"),
    ],
)
def test_what_the_sdk_signs_verifies(verifier: Verifier, request_: Any) -> None:
    assert verifier.verify(request_()) == KEY


def test_the_services_own_signer_agrees_with_the_sdks(verifier: Verifier) -> None:
    request = sdk_signed("POST", body='{"a": 1}', query=[("x", "1 2")], headers={"X-App-UserId": "u"})
    unsigned = [(name, value) for name, value in request.headers if name != "authorization"]
    ours = sign(replaced(request, headers=unsigned), KEY.ak, KEY.sk)
    assert ours["Authorization"] == request.header("authorization")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda r: replaced(r, method="DELETE"), "does not match"),
        (lambda r: replaced(r, path="/v1/tenant-b/digital-assets"), "does not match"),
        (lambda r: replaced(r, query="limit=6"), "does not match"),
        (lambda r: replaced(r, body=b'{"asset_name": "other"}'), "does not match"),
        (
            lambda r: replaced(r, headers=[(k, "u2" if k == "x-app-userid" else v) for k, v in r.headers]),
            "does not match",
        ),
        (lambda r: replaced(r, headers=[(k, v) for k, v in r.headers if k != "authorization"]), "not signed"),
        (lambda r: replaced(r, headers=[(k, v) for k, v in r.headers if k != "x-app-userid"]), "is missing"),
        (
            lambda r: replaced(r, headers=[*r.headers, ("x-sdk-content-sha256", "UNSIGNED-PAYLOAD")]),
            "must be signed",
        ),
        (lambda r: replaced(r, headers=[*r.headers, ("authorization", "again")]), "more than once"),
        (
            lambda r: replaced(
                r, headers=[(k, v.replace("SDK-HMAC-SHA256", "SDK-HMAC-SM3")) for k, v in r.headers]
            ),
            "is not SDK-HMAC-SHA256",
        ),
    ],
)
def test_a_changed_request_is_refused(verifier: Verifier, change: Any, problem: str) -> None:
    request = sdk_signed(
        "POST", body='{"asset_name": "n"}', headers={"X-App-UserId": "u1"}, query=[("limit", 5)]
    )
    verifier.verify(request)
    with pytest.raises(Unauthenticated, match=problem) as refused:
        verifier.verify(change(request))
    assert refused.value.to_dict()["error_code"] == "APIGW.0301"
    assert refused.value.http_status == 401


@pytest.mark.parametrize("minutes", [16, -16, 60 * 24])
def test_a_date_more_than_15_minutes_away_is_refused(verifier: Verifier, minutes: int) -> None:
    with pytest.raises(Unauthenticated, match="more than 15 minutes"):
        verifier.verify(sdk_signed(at=NOW + timedelta(minutes=minutes)))


def test_the_clock_is_the_services(verifier: Verifier) -> None:
    request = sdk_signed()
    assert isinstance(verifier.clock, ManualClock)
    verifier.clock.advance(timedelta(minutes=15, seconds=1))
    with pytest.raises(Unauthenticated, match="more than 15 minutes"):
        verifier.verify(request)


def test_an_unknown_key_is_told_as_a_wrong_signature(verifier: Verifier) -> None:
    stranger = AccessKey("AK-STRANGER", "whatever", project_id="tenant-a")
    wrong_secret = AccessKey(KEY.ak, "not-the-secret", project_id="tenant-a")
    with pytest.raises(Unauthenticated) as unknown:
        verifier.verify(sdk_signed(key=stranger))
    with pytest.raises(Unauthenticated) as wrong:
        verifier.verify(sdk_signed(key=wrong_secret))
    assert str(unknown.value) == str(wrong.value)


def test_host_and_date_must_be_signed(verifier: Verifier) -> None:
    request = sdk_signed()
    unsigned = [(name, value) for name, value in request.headers if name != "authorization"]
    without_host = sign(replaced(request, headers=unsigned), KEY.ak, KEY.sk, ["content-type", "x-sdk-date"])
    with pytest.raises(Unauthenticated, match="host must be signed"):
        verifier.verify(
            replaced(request, headers=[*unsigned, ("authorization", without_host["Authorization"])])
        )


def test_a_tenant_key_acts_only_under_its_project_and_an_operators_only_under_admin() -> None:
    assert KEY.tenant("tenant-a", "u1").project_id == "tenant-a"
    with pytest.raises(NotAuthorized, match="another project"):
        KEY.tenant("tenant-b", None)
    with pytest.raises(NotAuthorized, match="may not use the platform's paths"):
        KEY.platform()
    operator = KEYS.get("AK-OPERATOR")
    assert operator is not None
    assert operator.platform().operator == "operator-7"
    with pytest.raises(NotAuthorized, match="under /admin"):
        operator.tenant("tenant-a", None)


def test_the_keys_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([
        {"ak": "A1", "sk": "s1", "project_id": "p1"},
        {"ak": "O1", "sk": "s2", "operator": "ops-alice"},
    ]))  # fmt: skip
    keys = AccessKeys.load(path)
    assert len(keys) == 2
    assert keys.get("A1") == AccessKey("A1", "s1", project_id="p1")
    assert "s1" not in repr(keys.get("A1"))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "is not JSON"),
        ('{"ak": "A"}', "must be a JSON list"),
        ('[{"ak": "A", "sk": "s"}]', "exactly one of project_id"),
        ('[{"ak": "A", "sk": "s", "project_id": "p", "operator": "o"}]', "exactly one of project_id"),
        ('[{"ak": "A", "sk": "", "project_id": "p"}]', "non-empty strings"),
        ('[{"ak": "A B", "sk": "s", "project_id": "p"}]', "without spaces"),
        ('[{"ak": "A", "sk": "s", "project_id": "../p"}]', "entry 0: project_id"),
        (
            '[{"ak": "A", "sk": "s", "operator": "o"}, {"ak": "B", "sk": "s", "operator": "a\\nb"}]',
            "entry 1: operator",
        ),
        ('[{"ak": "A", "sk": "s", "project_id": "p", "region": "x"}]', "unknown fields: region"),
        (
            '[{"ak": "A", "sk": "s", "project_id": "p"}, {"ak": "A", "sk": "t", "project_id": "q"}]',
            "entry 1: .* entry 0",
        ),
        ("[1]", "must be an object"),
    ],
)
def test_a_bad_keys_file_is_refused_by_name(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(InvalidParameter, match=problem) as refused:
        AccessKeys.load(path)
    if content.startswith("[{"):
        assert "entry" in str(refused.value)
    assert "s3cr3t" not in str(refused.value)

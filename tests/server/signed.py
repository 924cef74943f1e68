"""Requests signed by the platform's own signer (``huaweicloudsdkcore``), for the paths and the
cases the SDK client does not reach: the platform's ``/admin`` paths, a stale date, a tampered
request."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from lifecycle.server.keys import AccessKey


def signed_request(
    method: str,
    base_url: str,
    path: str,
    key: AccessKey,
    *,
    query: dict[str, Any] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> SdkRequest:
    """The request as the SDK would send it: its ``uri`` (path and canonical query), its headers
    (with ``Authorization``) and its body. A ``X-Sdk-Date`` in ``headers`` is signed as given."""
    request = SdkRequest(
        method=method,
        schema="http",
        host=urlsplit(base_url).netloc,
        resource_path=path,
        query_params=list((query or {}).items()),
        header_params={"Content-Type": "application/json", **(headers or {})},
        body="" if body is None else json.dumps(body),
    )
    return Signer(BasicCredentials(key.ak, key.sk)).sign(request)


def send(
    request: SdkRequest, base_url: str, *, session: requests.Session | None = None, **changes: Any
) -> requests.Response:
    """Send a signed request; ``changes`` (uri, headers, body) tamper with it after signing."""
    uri = changes.get("uri", request.uri)
    headers = changes.get("headers", request.header_params)
    body = changes.get("body", request.body)
    sender = session or requests
    return sender.request(method=request.method, url=base_url + uri, headers=headers, data=body)


def call(method: str, base_url: str, path: str, key: AccessKey, **options: Any) -> requests.Response:
    """Sign and send."""
    return send(signed_request(method, base_url, path, key, **options), base_url)

"""The SDK's calls the server tests make again and again, and a real upload."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
from huaweicloudsdkmetastudio.v1 import (
    ConfirmFileUploadRequest,
    ConfirmFileUploadRequestBody,
    CreateDigitalAssetRequest,
    CreateDigitalAssetRequestBody,
    CreateFileRequest,
    FilesCreateReq,
    MetaStudioClient,
    ShowAssetRequest,
    ShowAssetResponse,
)

PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def create(
    client: MetaStudioClient,
    name: str = "Teacher",
    asset_type: str = "IMAGE",
    *,
    x_app_user_id: str | None = None,
    **fields: Any,
) -> str:
    body = CreateDigitalAssetRequestBody(asset_name=name, asset_type=asset_type, **fields)
    request = CreateDigitalAssetRequest(body=body, x_app_user_id=x_app_user_id)
    return str(client.create_digital_asset(request).asset_id)


def declare(
    client: MetaStudioClient,
    asset_id: str,
    data: bytes = PICTURE,
    *,
    name: str = "main.png",
    category: str = "MAIN",
    declared_md5: str | None = None,
) -> tuple[str, str]:
    """Declare a file of ``data``; its id and its upload URL."""
    body = FilesCreateReq(
        file_name=name,
        file_md5=declared_md5 or md5(data),
        file_size=len(data),
        asset_id=asset_id,
        asset_file_category=category,
    )
    answer = client.create_file(CreateFileRequest(body=body))
    return str(answer.file_id), str(answer.upload_url)


def put(upload_url: str, data: bytes, content_md5: str | None = None) -> httpx.Response:
    headers = {"Content-MD5": content_md5 or md5(data), "Content-Type": "application/octet-stream"}
    return httpx.put(upload_url, content=data, headers=headers, timeout=60)


def confirm(client: MetaStudioClient, file_id: str, state: str = "CREATED") -> None:
    body = ConfirmFileUploadRequestBody(state=state)
    client.confirm_file_upload(ConfirmFileUploadRequest(file_id=file_id, body=body))


def uploaded(client: MetaStudioClient, name: str = "Teacher", data: bytes = PICTURE, **fields: Any) -> str:
    """An asset created, its MAIN file uploaded for real and confirmed: UNACTIVED."""
    asset_id = create(client, name, **fields)
    file_id, url = declare(client, asset_id, data)
    assert put(url, data).status_code == 200
    confirm(client, file_id)
    return asset_id


def show(client: MetaStudioClient, asset_id: str) -> ShowAssetResponse:
    return client.show_asset(ShowAssetRequest(asset_id=asset_id))

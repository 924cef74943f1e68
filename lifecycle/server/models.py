"""The request bodies, as the platform's SDK sends them (``huaweicloudsdkmetastudio.v1.model``).

Field names and enum spellings are the SDK's. A field the SDK can send but this service does not
implement (``shared_config``, ``supported_service``, ``is_need_generate_cover``…) is refused by
name (``extra="forbid"``) rather than ignored: a client must not believe it took effect.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewConfig(Body):
    no_need_review: bool | None = None


class AutoOperationConfig(Body):
    operation: Literal["BLOCK", "DELETE"]
    operation_time: str = Field(description="RFC 3339, e.g. 2026-03-01T09:00:00Z")


class SystemProperty(BaseModel):
    model_config = ConfigDict(extra="allow")

    action: str | None = None
    key: str | None = None
    value: str | None = None


class CreateDigitalAsset(Body):
    """``CreateDigitalAssetRequestBody``: the asset is created in CREATING, without files; its
    files are declared with ``POST /v1/{project_id}/files``."""

    asset_name: str
    asset_type: str
    asset_description: str | None = None
    tags: list[str] | None = None
    review_config: ReviewConfig | None = None
    auto_operation_config: list[AutoOperationConfig] | None = None
    asset_extra_meta: dict[str, Any] | None = None
    system_properties: list[SystemProperty] | None = None
    asset_order: int | None = None


class UpdateDigitalAsset(Body):
    """``UpdateDigitalAssetRequestBody``: name, description and tags; ``asset_state`` ACTIVED or
    UNACTIVED activates or deactivates."""

    asset_name: str | None = None
    asset_description: str | None = None
    tags: list[str] | None = None
    asset_state: Literal["ACTIVED", "UNACTIVED"] | None = None


class BatchAssetAction(Body):
    """``BatchAssetActionReq``."""

    action: str
    asset_ids: list[str]
    params: str | None = None


class AssetSummaries(Body):
    """``ListAssetSummarysReq``."""

    asset_ids: list[str]


class CreateFile(Body):
    """``FilesCreateReq``."""

    file_name: str
    file_md5: str
    file_size: int
    asset_id: str
    file_type: str | None = None
    asset_file_category: str = "MAIN"


class ConfirmFileUpload(Body):
    """``ConfirmFileUploadRequestBody``."""

    state: Literal["CREATED", "FAILED", "CANCELLED"]


# The platform's own paths (/admin) ---------------------------------------------------------------


class Freeze(Body):
    reason: str | None = None
    block_reason_code: str | None = None


class Decision(Body):
    reason: str | None = None


class ReviewVerdict(Body):
    verdict: Literal["PASS", "REJECT"]
    fail_type: Literal["AUTOMATIC_REVIEW_REJECT", "MANUAL_REVIEW_REJECT"] | None = None
    reason: str | None = None


class UnfreezeApplicationRequest(Body):
    reason: str | None = None


# The answers, for the OpenAPI document (the routes answer these shapes; they are not re-validated) --


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(Answer):
    """The platform's error body."""

    error_code: str = Field(examples=["MSS.00000002"])
    error_msg: str = Field(examples=["asset 93769b5a-… not found"])


class AssetFileInfo(Answer):
    file_id: str
    file_name: str
    file_md5: str
    file_size: int
    file_type: str
    asset_file_category: str
    state: str
    reason: str | None = None


class DigitalAssetInfo(Answer):
    """``ShowAssetResponse`` / ``DigitalAssetInfo``: fields without a value are left out."""

    project_id: str
    asset_id: str
    asset_name: str
    asset_description: str | None = None
    app_user_id: str | None = None
    create_time: str
    update_time: str
    asset_type: str
    asset_state: str
    fail_type: str | None = None
    block_reason_code: str | None = None
    reason: str | None = None
    tags: list[str] = []
    asset_extra_meta: dict[str, Any] | None = None
    system_properties: list[dict[str, Any]] = []
    files: list[AssetFileInfo] = []
    asset_order: int | None = None
    auto_operation_config: list[AutoOperationConfig] | None = None


class CreatedAsset(Answer):
    asset_id: str


class AssetList(Answer):
    count: int
    assets: list[DigitalAssetInfo]


class AssetActionResult(Answer):
    ret_status: Literal["SUCCESS", "FAILED"]
    asset_ids: list[str]
    error_info: ErrorBody | None = None


class BatchResults(Answer):
    results: list[AssetActionResult]


class DigitalAssetSummary(Answer):
    asset_id: str
    asset_name: str
    asset_state: str
    asset_type: str
    block_reason_code: str | None = None


class SummaryList(Answer):
    asset_list: list[DigitalAssetSummary]


class CreatedFile(Answer):
    file_id: str
    upload_url: str


def documented(model: type[BaseModel], status: int = 200) -> dict[int | str, dict[str, Any]]:
    """A route's answer for the OpenAPI document."""
    return {status: {"model": model}}


REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "an invalid parameter (MSS.00000003)"),
        (401, "not signed, or not by a known key (APIGW.0301)"),
        (403, "the key may not act here (APIGW.0302), or the engine's permission refusal"),
        (404, "no such asset, file or application (MSS.00000002)"),
        (409, "the asset's state does not allow it, or it changed meanwhile (MSS.00000003)"),
        (503, "the database failed; nothing was written"),
    )
}

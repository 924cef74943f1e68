"""What the engine hands back: typed, immutable, and JSON-ready at the edge.

``Asset.to_details()`` is the platform's asset-details response (``GET /v1/{project_id}/
digital-assets/{asset_id}``): the same field names, nesting and enum spellings. Fields without a
value are left out, as in the platform's example response.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Row

from lifecycle.definition import (
    ApplicationState,
    AssetState,
    AssetType,
    BlockScope,
    Event,
    FailType,
    FileCategory,
    FileState,
    PlannedOperation,
    Role,
)

if TYPE_CHECKING:
    from lifecycle.errors import LifecycleError

T = TypeVar("T")


def api_time(moment: datetime) -> str:
    """The platform's time format: ``2021-10-30T12:30:35Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def audit_time(moment: datetime) -> str:
    """Full precision for records of what happened: ``2021-10-30T12:30:35.123456Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _value(member: enum.Enum | None) -> Any:
    return None if member is None else member.value


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True, slots=True)
class AssetFile:
    file_id: str
    file_name: str
    file_md5: str
    file_size: int
    file_type: str
    asset_file_category: FileCategory
    state: FileState
    reason: str | None
    timbre_model: bool = False
    """A timbre model of a customized image model: its storage is not billed."""
    stored_at: datetime | None = None
    """When its upload was accepted and its bytes began to take storage."""

    @classmethod
    def from_row(cls, row: Row[Any]) -> AssetFile:
        return cls(
            file_id=row.file_id,
            file_name=row.file_name,
            file_md5=row.file_md5,
            file_size=row.file_size,
            file_type=row.file_type,
            asset_file_category=row.asset_file_category,
            state=row.state,
            reason=row.reason,
            timbre_model=row.timbre_model,
            stored_at=row.stored_at,
        )

    def to_details(self) -> dict[str, Any]:
        return _without_none(
            {
                "file_id": self.file_id,
                "file_name": self.file_name,
                "file_md5": self.file_md5,
                "file_size": self.file_size,
                "file_type": self.file_type,
                "asset_file_category": self.asset_file_category.value,
                "state": self.state.value,
                "reason": self.reason,
            }
        )


@dataclass(frozen=True, slots=True)
class Asset:
    """An asset as stored: the platform's fields plus the engine's own (version, memory, clocks)."""

    project_id: str
    asset_id: str
    asset_name: str
    asset_description: str
    app_user_id: str | None
    create_time: datetime
    update_time: datetime
    asset_type: AssetType
    asset_state: AssetState
    fail_type: FailType | None
    reason: str | None
    tags: tuple[str, ...]
    asset_extra_meta: dict[str, Any] | None
    system_properties: tuple[dict[str, Any], ...]
    files: tuple[AssetFile, ...]
    asset_order: int | None
    version: int
    pre_freeze_state: AssetState | None
    pre_delete_state: AssetState | None
    block_reason_code: str | None
    block_scope: BlockScope | None
    activate_on_upload: bool
    review_required: bool
    upload_deadline: datetime | None
    """When the upload window runs out; None while it is paused (frozen, in the bin) or over."""
    retention_started_at: datetime | None
    """While in the recycle bin: when its retention began counting (None while frozen there)."""
    planned_operation: PlannedOperation | None
    planned_operation_time: datetime | None
    customized: bool = False
    """Made by the platform to the tenant's order: storage billing differs (docs/billing.md)."""

    @classmethod
    def from_rows(cls, row: Row[Any], file_rows: list[Row[Any]]) -> Asset:
        return cls(
            project_id=row.project_id,
            asset_id=row.asset_id,
            asset_name=row.asset_name,
            asset_description=row.asset_description,
            app_user_id=row.app_user_id,
            create_time=row.create_time,
            update_time=row.update_time,
            asset_type=row.asset_type,
            asset_state=row.asset_state,
            fail_type=row.fail_type,
            reason=row.reason,
            tags=tuple(row.tags or ()),
            asset_extra_meta=row.asset_extra_meta,
            system_properties=tuple(row.system_properties or ()),
            files=tuple(AssetFile.from_row(f) for f in file_rows),
            asset_order=row.asset_order,
            version=row.version,
            pre_freeze_state=row.pre_freeze_state,
            pre_delete_state=row.pre_delete_state,
            block_reason_code=row.block_reason_code,
            block_scope=row.block_scope,
            activate_on_upload=row.activate_on_upload,
            review_required=row.review_required,
            upload_deadline=row.upload_deadline,
            retention_started_at=row.retention_started_at,
            planned_operation=row.planned_operation,
            planned_operation_time=row.planned_operation_time,
            customized=row.customized,
        )

    @property
    def main_file(self) -> AssetFile:
        """The MAIN file; ``LookupError`` for an asset created without files that has not declared
        its MAIN file yet."""
        for f in self.files:
            if f.asset_file_category is FileCategory.MAIN:
                return f
        raise LookupError(f"asset {self.asset_id} has no MAIN file declared yet")

    @property
    def usable(self) -> bool:
        """Usable as material for content generation: only an ACTIVED asset is."""
        return self.asset_state is AssetState.ACTIVED

    def to_details(self) -> dict[str, Any]:
        """The asset-details response, JSON-ready."""
        return _without_none(
            {
                "project_id": self.project_id,
                "asset_id": self.asset_id,
                "asset_name": self.asset_name,
                "asset_description": self.asset_description,
                "app_user_id": self.app_user_id,
                "create_time": api_time(self.create_time),
                "update_time": api_time(self.update_time),
                "asset_type": self.asset_type.value,
                "asset_state": self.asset_state.value,
                "fail_type": self.fail_type.value if self.fail_type else None,
                "reason": self.reason,
                "tags": list(self.tags),
                "asset_extra_meta": self.asset_extra_meta,
                "system_properties": [dict(p) for p in self.system_properties],
                "files": [f.to_details() for f in self.files],
                "asset_order": self.asset_order,
            }
        )


@dataclass(frozen=True, slots=True)
class AssetSummary:
    """An asset in brief (``list_asset_summary``): its name, type and state, and its cover file."""

    asset_id: str
    asset_name: str
    asset_state: AssetState
    asset_type: AssetType
    block_reason_code: str | None
    cover: AssetFile | None
    """Its first COVER file not deleted, where it has one (a service makes its URLs from it)."""

    def to_details(self) -> dict[str, Any]:
        """The platform's ``DigitalAssetSummary`` fields the engine knows (not its URLs)."""
        return _without_none(
            {
                "asset_id": self.asset_id,
                "asset_name": self.asset_name,
                "asset_state": self.asset_state.value,
                "asset_type": self.asset_type.value,
                "block_reason_code": self.block_reason_code,
            }
        )


@dataclass(frozen=True, slots=True)
class Transitioned:
    """A move that was applied (or, with ``replayed``, had been applied by the same request)."""

    asset_id: str
    project_id: str
    event: Event
    from_state: AssetState
    to_state: AssetState
    version: int
    pre_freeze_state: AssetState | None
    pre_delete_state: AssetState | None
    occurred_at: datetime
    replayed: bool = False

    @classmethod
    def from_audit_row(cls, row: Row[Any], *, replayed: bool) -> Transitioned:
        """The move an audit row records (a retry is answered with it, ``replayed``)."""
        return cls(
            asset_id=row.asset_id,
            project_id=row.project_id,
            event=row.event,
            from_state=row.from_state,
            to_state=row.to_state,
            version=row.seq,
            pre_freeze_state=row.pre_freeze_state,
            pre_delete_state=row.pre_delete_state,
            occurred_at=row.occurred_at,
            replayed=replayed,
        )

    def to_json(self) -> dict[str, Any]:
        """A stable shape: every key always present (null where nothing applies)."""
        return {
            "asset_id": self.asset_id,
            "project_id": self.project_id,
            "event": self.event.value,
            "from_state": self.from_state.value,
            "to_state": self.to_state.value,
            "version": self.version,
            "pre_freeze_state": _value(self.pre_freeze_state),
            "pre_delete_state": _value(self.pre_delete_state),
            "occurred_at": audit_time(self.occurred_at),
            "replayed": self.replayed,
        }


@dataclass(frozen=True, slots=True)
class UploadConfirmed:
    """A confirmed upload: the file as it is now, and the asset's move where the MAIN file made one."""

    file: AssetFile
    transition: Transitioned | None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file.to_details(),
            "transition": None if self.transition is None else self.transition.to_json(),
        }


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of an asset's audit trail."""

    seq: int
    asset_id: str
    project_id: str
    event: Event
    from_state: AssetState | None
    to_state: AssetState
    actor_kind: Role
    actor_id: str
    reason: str | None
    fail_type: FailType | None
    request_id: str | None
    occurred_at: datetime
    pre_freeze_state: AssetState | None
    pre_delete_state: AssetState | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> AuditEntry:
        return cls(
            seq=row.seq,
            asset_id=row.asset_id,
            project_id=row.project_id,
            event=row.event,
            from_state=row.from_state,
            to_state=row.to_state,
            actor_kind=row.actor_kind,
            actor_id=row.actor_id,
            reason=row.reason,
            fail_type=row.fail_type,
            request_id=row.request_id,
            occurred_at=row.occurred_at,
            pre_freeze_state=row.pre_freeze_state,
            pre_delete_state=row.pre_delete_state,
        )

    def to_json(self) -> dict[str, Any]:
        """A stable shape: every key always present (null where nothing applies)."""
        return {
            "seq": self.seq,
            "event": self.event.value,
            "from_state": _value(self.from_state),
            "to_state": self.to_state.value,
            "actor_kind": self.actor_kind.value,
            "actor_id": self.actor_id,
            "reason": self.reason,
            "fail_type": _value(self.fail_type),
            "request_id": self.request_id,
            "occurred_at": audit_time(self.occurred_at),
            "pre_freeze_state": _value(self.pre_freeze_state),
            "pre_delete_state": _value(self.pre_delete_state),
        }


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One asset's outcome in a batch action: SUCCESS, or FAILED with the error.

    ``error_msg`` is what the client may be told (``LifecycleError.client_message``); ``error`` is
    the error itself, its whole message for logs and operators.
    """

    asset_id: str
    status: str
    transition: Transitioned | None = None
    error_code: str | None = None
    error_msg: str | None = None
    error: LifecycleError | None = field(default=None, repr=False, compare=False)

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"

    def to_json(self) -> dict[str, Any]:
        """The platform's per-asset answer, plus the move made: every key always present."""
        return {
            "asset_id": self.asset_id,
            "status": self.status,
            "error_code": self.error_code,
            "error_msg": self.error_msg,
            "transition": None if self.transition is None else self.transition.to_json(),
        }


@dataclass(frozen=True, slots=True)
class TenantOperation:
    """A tenant-wide freeze or unfreeze: what moved, and what was left as it was and why."""

    project_id: str
    event: Event
    moved: tuple[Transitioned, ...]
    skipped: tuple[tuple[str, str], ...]
    """(asset_id, why) for each asset the operation left alone."""

    def to_json(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "event": self.event.value,
            "moved": [transition.to_json() for transition in self.moved],
            "skipped": [{"asset_id": asset_id, "reason": why} for asset_id, why in self.skipped],
        }


@dataclass(frozen=True, slots=True)
class UnfreezeApplication:
    application_id: str
    asset_id: str
    project_id: str
    state: ApplicationState
    reason: str | None
    applied_by: str
    applied_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> UnfreezeApplication:
        return cls(
            application_id=row.application_id,
            asset_id=row.asset_id,
            project_id=row.project_id,
            state=row.state,
            reason=row.reason,
            applied_by=row.applied_by,
            applied_at=row.applied_at,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            decision_reason=row.decision_reason,
        )

    def to_json(self) -> dict[str, Any]:
        """A stable shape: every key always present (null until decided)."""
        return {
            "application_id": self.application_id,
            "asset_id": self.asset_id,
            "project_id": self.project_id,
            "state": self.state.value,
            "reason": self.reason,
            "applied_by": self.applied_by,
            "applied_at": audit_time(self.applied_at),
            "decided_by": self.decided_by,
            "decided_at": None if self.decided_at is None else audit_time(self.decided_at),
            "decision_reason": self.decision_reason,
        }

"""The tables. All share the ``lifecycle_`` prefix so they can live in a host service's database.

States and other enums are stored as their platform spelling, with CHECK constraints, so the
database itself refuses a state the definition does not know.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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
    UnknownValue,
)

PREFIX = "lifecycle_"

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python; ``timestamptz`` on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StoredEnum(Enum):
    """``Enum`` that reads an unknown stored value as ``UnknownValue`` instead of raising."""

    cache_ok = True

    def _object_value_for_elem(self, elem: str) -> str | enum.Enum:
        try:
            return super()._object_value_for_elem(elem)
        except LookupError:
            return UnknownValue(elem)


def enum_column(enum_class: type[enum.Enum], name: str) -> Enum:
    """An enum stored by value, checked by the database (``ck_<table>_<name>``)."""
    return StoredEnum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in enum_class),
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime()}  # noqa: RUF012


class AssetRecord(Base):
    __tablename__ = f"{PREFIX}assets"

    asset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    app_user_id: Mapped[str | None] = mapped_column(String(64))
    asset_name: Mapped[str] = mapped_column(String(128))
    asset_description: Mapped[str] = mapped_column(String(1024))
    asset_type: Mapped[AssetType] = mapped_column(enum_column(AssetType, "asset_type"))
    asset_state: Mapped[AssetState] = mapped_column(enum_column(AssetState, "asset_state"))
    version: Mapped[int] = mapped_column(Integer)
    pre_freeze_state: Mapped[AssetState | None] = mapped_column(enum_column(AssetState, "pre_freeze_state"))
    pre_delete_state: Mapped[AssetState | None] = mapped_column(enum_column(AssetState, "pre_delete_state"))
    fail_type: Mapped[FailType | None] = mapped_column(enum_column(FailType, "fail_type"))
    reason: Mapped[str | None] = mapped_column(String(1024))
    block_reason_code: Mapped[str | None] = mapped_column(String(64))
    block_scope: Mapped[BlockScope | None] = mapped_column(enum_column(BlockScope, "block_scope"))
    activate_on_upload: Mapped[bool] = mapped_column(Boolean)
    review_required: Mapped[bool] = mapped_column(Boolean)
    tags: Mapped[list[str]] = mapped_column(JSON)
    asset_extra_meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    system_properties: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    asset_order: Mapped[int | None] = mapped_column(Integer)
    create_time: Mapped[datetime]
    update_time: Mapped[datetime]
    state_changed_at: Mapped[datetime]
    upload_deadline: Mapped[datetime | None]
    upload_time_left_us: Mapped[int | None] = mapped_column(BigInteger)
    retention_started_at: Mapped[datetime | None]
    planned_operation: Mapped[PlannedOperation | None] = mapped_column(
        enum_column(PlannedOperation, "planned_operation")
    )
    planned_operation_time: Mapped[datetime | None]
    audit_head: Mapped[str] = mapped_column(String(64))
    """The ``chain_hash`` of the asset's latest audit row: the head of its hash chain."""
    customized: Mapped[bool] = mapped_column(Boolean, server_default=false())
    """Made by the platform to the tenant's order (docs/billing.md): storage rules differ."""
    feed_head: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    """PostgreSQL: the change-feed position of the asset's latest audit row (lifecycle.feed), which
    its next row's never goes below; 0 on SQLite, where the row id orders the feed."""

    __table_args__ = (
        Index(None, "project_id", "asset_state"),
        Index(None, "project_id", "create_time"),
        Index(None, "project_id", "update_time"),
        # The listing's filters (revision 0007): by type and by third-party user, each sorted.
        Index(None, "project_id", "asset_type", "create_time"),
        Index(None, "project_id", "app_user_id", "create_time"),
        # One index per time rule basis: a sweep's query is a range scan of one of these.
        Index(None, "asset_state", "upload_deadline"),
        Index(None, "asset_state", "retention_started_at"),
        Index(None, "planned_operation", "planned_operation_time"),
    )


class FileRecord(Base):
    __tablename__ = f"{PREFIX}asset_files"

    file_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey(AssetRecord.asset_id))
    position: Mapped[int] = mapped_column(Integer)
    """The file's place in the list declared at creation."""
    file_name: Mapped[str] = mapped_column(String(256))
    file_md5: Mapped[str] = mapped_column(String(24))
    file_size: Mapped[int] = mapped_column(BigInteger)
    file_type: Mapped[str] = mapped_column(String(32))
    asset_file_category: Mapped[FileCategory] = mapped_column(
        enum_column(FileCategory, "asset_file_category")
    )
    state: Mapped[FileState] = mapped_column(enum_column(FileState, "state"))
    reason: Mapped[str | None] = mapped_column(String(1024))
    create_time: Mapped[datetime]
    update_time: Mapped[datetime]
    stored_at: Mapped[datetime | None]
    """When the upload was accepted and the bytes began to take storage; None until then."""
    timbre_model: Mapped[bool] = mapped_column(Boolean, server_default=false())
    """One of the timbre models of a customized image model: its storage is not billed."""
    deleted_at: Mapped[datetime | None]
    """When ``Lifecycle.delete_file`` deleted the file, its bytes stored: from then on they do not
    count (revision 0007). None for every other file (a file deleted with its asset included)."""

    __table_args__ = (
        Index(None, "asset_id", "asset_file_category"),
        # Covers what storage reports read of each file: the files of a page of assets are read
        # from the index alone (docs/performance.md, "Storage report").
        Index(
            "ix_lifecycle_asset_files_stored_bytes",
            "asset_id",
            "stored_at",
            "file_size",
            "timbre_model",
            "deleted_at",
        ),
    )


class AuditRecord(Base):
    """One row per applied transition, never updated or deleted (PostgreSQL refuses both).

    ``chain_hash`` is the SHA-256 of the row's content and the previous row's hash, per asset
    (``lifecycle.audit.chain_hash``): editing or deleting a row breaks every hash after it.
    """

    __tablename__ = f"{PREFIX}audit"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    asset_id: Mapped[str] = mapped_column(ForeignKey(AssetRecord.asset_id))
    project_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    """The asset's version after the move: 1 for its creation, then one more per move."""
    event: Mapped[Event] = mapped_column(enum_column(Event, "event"))
    from_state: Mapped[AssetState | None] = mapped_column(enum_column(AssetState, "from_state"))
    to_state: Mapped[AssetState] = mapped_column(enum_column(AssetState, "to_state"))
    actor_kind: Mapped[Role] = mapped_column(enum_column(Role, "actor_kind"))
    actor_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(1024))
    fail_type: Mapped[FailType | None] = mapped_column(enum_column(FailType, "fail_type"))
    request_id: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime]
    pre_freeze_state: Mapped[AssetState | None] = mapped_column(enum_column(AssetState, "pre_freeze_state"))
    pre_delete_state: Mapped[AssetState | None] = mapped_column(enum_column(AssetState, "pre_delete_state"))
    block_scope: Mapped[BlockScope | None] = mapped_column(enum_column(BlockScope, "block_scope"))
    """A freeze's scope (the asset alone, or its whole tenant); NULL on every other move."""
    block_reason_code: Mapped[str | None] = mapped_column(String(64))
    """A freeze's block reason code; NULL on every other move."""
    declared: Mapped[str | None] = mapped_column(Text)
    """A creation's facts that later moves depend on and no move records (the asset's type and
    settings, its upload deadline and planned operation, its files' declarations), as canonical
    JSON (``lifecycle.integrity.declared_json``); NULL on every other row."""
    chain_hash: Mapped[str] = mapped_column(String(64))
    feed_txid: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    """The row's place in the change feed, with ``id`` (lifecycle.feed): on PostgreSQL the writing
    transaction's id, raised to the asset's previous row's; 0 on SQLite and for rows written
    before revision 0006. Not hashed: it says where the row sits, not what happened."""

    __table_args__ = (
        UniqueConstraint("asset_id", "seq"),
        Index(None, "project_id", "occurred_at"),
        Index(None, "project_id", "request_id"),
        Index(None, "feed_txid", "id"),
    )


class CreationRequestRecord(Base):
    """Which asset a tenant's creation request made: the primary key makes a request id create at
    most one asset, however many retries race (``Lifecycle.create_asset(..., request_id=...)``)."""

    __tablename__ = f"{PREFIX}creation_requests"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # No foreign key: the request is claimed before its asset is inserted, so that a losing
    # retry has written nothing; ``verify_audit`` reports a request whose asset does not exist.
    asset_id: Mapped[str] = mapped_column(String(64))


class FeedConsumerRecord(Base):
    """A named consumer of the change feed and where it has read to (lifecycle.feed)."""

    __tablename__ = f"{PREFIX}feed_consumers"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    position_txid: Mapped[int] = mapped_column(BigInteger)
    position_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UnfreezeApplicationRecord(Base):
    __tablename__ = f"{PREFIX}unfreeze_applications"

    application_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey(AssetRecord.asset_id))
    project_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[ApplicationState] = mapped_column(enum_column(ApplicationState, "state"))
    reason: Mapped[str | None] = mapped_column(String(1024))
    applied_by: Mapped[str] = mapped_column(String(128))
    applied_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(String(1024))

    __table_args__ = (
        Index(None, "project_id", "state"),
        Index(None, "asset_id", "state"),
        Index(
            "uq_lifecycle_unfreeze_applications_pending",
            "asset_id",
            unique=True,
            sqlite_where=text("state = 'PENDING'"),
            postgresql_where=text("state = 'PENDING'"),
        ),
    )


assets = AssetRecord.__table__
files = FileRecord.__table__
audit = AuditRecord.__table__
applications = UnfreezeApplicationRecord.__table__
creation_requests = CreationRequestRecord.__table__
feed_consumers = FeedConsumerRecord.__table__

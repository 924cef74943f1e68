"""The tables. All share the ``lifecycle_`` prefix so they can live in a host service's database.

States and other enums are stored as their platform spelling, with CHECK constraints, so the
database itself refuses a state the definition does not know.

The tables are SQLAlchemy Core ``Table``s: the engine writes and reads through Core statements
only, and mapped classes would import SQLAlchemy's ORM into every process that opens a database
(the admin script's ``show`` included: docs/performance.md, "The admin script's start").
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    FromClause,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)

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


metadata = MetaData(naming_convention=NAMING)
"""Every lifecycle table: what Alembic's migrations are compared with."""


def _time(name: str, *, nullable: bool = False) -> Column[datetime]:
    return Column(name, UTCDateTime(), nullable=nullable)


def _asset_id() -> Column[str]:
    return Column("asset_id", String(64), ForeignKey(f"{PREFIX}assets.asset_id"), nullable=False)


# Each table is typed FromClause, as the mapped classes' ``__table__`` were: the statement modules
# cast them to ``Table`` where they need one.

assets: FromClause = Table(
    f"{PREFIX}assets",
    metadata,
    Column("asset_id", String(64), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("app_user_id", String(64)),
    Column("asset_name", String(128), nullable=False),
    Column("asset_description", String(1024), nullable=False),
    Column("asset_type", enum_column(AssetType, "asset_type"), nullable=False),
    Column("asset_state", enum_column(AssetState, "asset_state"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("pre_freeze_state", enum_column(AssetState, "pre_freeze_state")),
    Column("pre_delete_state", enum_column(AssetState, "pre_delete_state")),
    Column("fail_type", enum_column(FailType, "fail_type")),
    Column("reason", String(1024)),
    Column("block_reason_code", String(64)),
    Column("block_scope", enum_column(BlockScope, "block_scope")),
    Column("activate_on_upload", Boolean, nullable=False),
    Column("review_required", Boolean, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("asset_extra_meta", JSON),
    Column("system_properties", JSON, nullable=False),
    Column("asset_order", Integer),
    _time("create_time"),
    _time("update_time"),
    _time("state_changed_at"),
    _time("upload_deadline", nullable=True),
    Column("upload_time_left_us", BigInteger),
    _time("retention_started_at", nullable=True),
    Column("planned_operation", enum_column(PlannedOperation, "planned_operation")),
    _time("planned_operation_time", nullable=True),
    # The ``chain_hash`` of the asset's latest audit row: the head of its hash chain.
    Column("audit_head", String(64), nullable=False),
    # Made by the platform to the tenant's order (docs/billing.md): storage rules differ.
    Column("customized", Boolean, nullable=False, server_default=false()),
    # PostgreSQL: the change-feed position of the asset's latest audit row (lifecycle.feed), which
    # its next row's never goes below; 0 on SQLite, where the row id orders the feed.
    Column("feed_head", BigInteger, nullable=False, server_default=text("0")),
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

files: FromClause = Table(
    f"{PREFIX}asset_files",
    metadata,
    Column("file_id", String(64), primary_key=True),
    _asset_id(),
    # The file's place in the list declared at creation.
    Column("position", Integer, nullable=False),
    Column("file_name", String(256), nullable=False),
    Column("file_md5", String(24), nullable=False),
    Column("file_size", BigInteger, nullable=False),
    Column("file_type", String(32), nullable=False),
    Column("asset_file_category", enum_column(FileCategory, "asset_file_category"), nullable=False),
    Column("state", enum_column(FileState, "state"), nullable=False),
    Column("reason", String(1024)),
    _time("create_time"),
    _time("update_time"),
    # When the upload was accepted and the bytes began to take storage; None until then.
    _time("stored_at", nullable=True),
    # One of the timbre models of a customized image model: its storage is not billed.
    Column("timbre_model", Boolean, nullable=False, server_default=false()),
    # When ``Lifecycle.delete_file`` deleted the file, its bytes stored: from then on they do not
    # count (revision 0007). None for every other file (a file deleted with its asset included).
    _time("deleted_at", nullable=True),
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

# One row per applied transition, never updated or deleted (PostgreSQL refuses both).
#
# ``chain_hash`` is the SHA-256 of the row's content and the previous row's hash, per asset
# (``lifecycle.chain.chain_hash``): editing or deleting a row breaks every hash after it.
audit: FromClause = Table(
    f"{PREFIX}audit",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    _asset_id(),
    Column("project_id", String(64), nullable=False),
    # The asset's version after the move: 1 for its creation, then one more per move.
    Column("seq", Integer, nullable=False),
    Column("event", enum_column(Event, "event"), nullable=False),
    Column("from_state", enum_column(AssetState, "from_state")),
    Column("to_state", enum_column(AssetState, "to_state"), nullable=False),
    Column("actor_kind", enum_column(Role, "actor_kind"), nullable=False),
    Column("actor_id", String(128), nullable=False),
    Column("reason", String(1024)),
    Column("fail_type", enum_column(FailType, "fail_type")),
    Column("request_id", String(128)),
    _time("occurred_at"),
    Column("pre_freeze_state", enum_column(AssetState, "pre_freeze_state")),
    Column("pre_delete_state", enum_column(AssetState, "pre_delete_state")),
    # A freeze's scope (the asset alone, or its whole tenant); NULL on every other move.
    Column("block_scope", enum_column(BlockScope, "block_scope")),
    # A freeze's block reason code; NULL on every other move.
    Column("block_reason_code", String(64)),
    # A creation's facts that later moves depend on and no move records (the asset's type and
    # settings, its upload deadline and planned operation, its files' declarations), as canonical
    # JSON (``lifecycle.chain.declared_json``); NULL on every other row.
    Column("declared", Text),
    Column("chain_hash", String(64), nullable=False),
    # The row's place in the change feed, with ``id`` (lifecycle.feed): on PostgreSQL the writing
    # transaction's id, raised to the asset's previous row's; 0 on SQLite and for rows written
    # before revision 0006. Not hashed: it says where the row sits, not what happened.
    Column("feed_txid", BigInteger, nullable=False, server_default=text("0")),
    UniqueConstraint("asset_id", "seq"),
    Index(None, "project_id", "occurred_at"),
    Index(None, "project_id", "request_id"),
    Index(None, "feed_txid", "id"),
)

# Which asset a tenant's creation request made: the primary key makes a request id create at most
# one asset, however many retries race (``Lifecycle.create_asset(..., request_id=...)``).
creation_requests: FromClause = Table(
    f"{PREFIX}creation_requests",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("request_id", String(128), primary_key=True),
    # No foreign key: the request is claimed before its asset is inserted, so that a losing
    # retry has written nothing; ``verify_audit`` reports a request whose asset does not exist.
    Column("asset_id", String(64), nullable=False),
)

# A named consumer of the change feed and where it has read to (lifecycle.feed).
feed_consumers: FromClause = Table(
    f"{PREFIX}feed_consumers",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("position_txid", BigInteger, nullable=False),
    Column("position_id", BigInteger, nullable=False),
    _time("created_at"),
    _time("updated_at"),
)

applications: FromClause = Table(
    f"{PREFIX}unfreeze_applications",
    metadata,
    Column("application_id", String(64), primary_key=True),
    _asset_id(),
    Column("project_id", String(64), nullable=False),
    Column("state", enum_column(ApplicationState, "state"), nullable=False),
    Column("reason", String(1024)),
    Column("applied_by", String(128), nullable=False),
    _time("applied_at"),
    Column("decided_by", String(128)),
    _time("decided_at", nullable=True),
    Column("decision_reason", String(1024)),
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

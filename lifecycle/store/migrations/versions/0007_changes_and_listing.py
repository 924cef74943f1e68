"""changes that move no state, and the listing's filters: audit rows may record a file declared or
deleted after its asset's creation and a metadata update (the event column's check widened); a
deleted file's ``deleted_at``, which storage reports honour (the covering index takes it); indexes
for listing a tenant's assets by type and by third-party user

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

The downgrade refuses while audit rows of those changes exist: the narrower check cannot hold them,
and the audit trail is never rewritten (delete the database's rows of revision 0007 by hand first,
knowing that their assets' chains then break).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lifecycle.errors import InvalidParameter

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ASSETS = "lifecycle_assets"
FILES = "lifecycle_asset_files"
AUDIT = "lifecycle_audit"
EVENT_CHECK = "ck_lifecycle_audit_event"
STORED_BYTES = "ix_lifecycle_asset_files_stored_bytes"

MOVES = (
    "create",
    "accept_upload",
    "submit_for_review",
    "cancel_upload",
    "fail_upload",
    "pass_review",
    "reject_review",
    "time_out_upload",
    "activate",
    "deactivate",
    "delete",
    "delete_force",
    "restore",
    "purge",
    "freeze",
    "unfreeze",
)
CHANGES = ("declare_file", "delete_file", "update_metadata")


def _event_check(events: tuple[str, ...]) -> str:
    return "event IN (" + ", ".join(f"'{event}'" for event in events) + ")"


def _set_event_check(events: tuple[str, ...]) -> None:
    # Batch mode: SQLite cannot alter a constraint in place, so the table is copied (rows, ids and
    # all); PostgreSQL alters it in place.
    with op.batch_alter_table(AUDIT) as batch:
        batch.drop_constraint(op.f(EVENT_CHECK), type_="check")
        batch.create_check_constraint(op.f(EVENT_CHECK), _event_check(events))


def upgrade() -> None:
    _set_event_check(MOVES + CHANGES)
    op.add_column(FILES, sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_index(STORED_BYTES, table_name=FILES)
    op.create_index(STORED_BYTES, FILES, ["asset_id", "stored_at", "file_size", "timbre_model", "deleted_at"])
    op.create_index(
        op.f("ix_lifecycle_assets_project_id_asset_type_create_time"),
        ASSETS,
        ["project_id", "asset_type", "create_time"],
    )
    op.create_index(
        op.f("ix_lifecycle_assets_project_id_app_user_id_create_time"),
        ASSETS,
        ["project_id", "app_user_id", "create_time"],
    )


def downgrade() -> None:
    changes = (
        op.get_bind()
        .execute(
            sa.text(
                f"SELECT count(*) FROM {AUDIT}"  # noqa: S608 - constants
                " WHERE event IN ('declare_file', 'delete_file', 'update_metadata')"
            )
        )
        .scalar_one()
    )
    if changes:
        raise InvalidParameter(
            "revision",
            f"cannot downgrade below 0007: {changes} audit rows record changes that revision 0006"
            " cannot hold (files declared or deleted after creation, metadata updates)",
        )
    op.drop_index(op.f("ix_lifecycle_assets_project_id_app_user_id_create_time"), table_name=ASSETS)
    op.drop_index(op.f("ix_lifecycle_assets_project_id_asset_type_create_time"), table_name=ASSETS)
    op.drop_index(STORED_BYTES, table_name=FILES)
    op.create_index(STORED_BYTES, FILES, ["asset_id", "stored_at", "file_size", "timbre_model"])
    # Plain DROP COLUMN (SQLite 3.35+), as in 0006: the files' rows stay as they are.
    op.drop_column(FILES, "deleted_at")
    _set_event_check(MOVES)

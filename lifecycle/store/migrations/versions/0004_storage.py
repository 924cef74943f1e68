"""storage: when each file's bytes began to take storage, which assets are customized, which files
are the timbre models of a customized image model (docs/billing.md), and an index that covers
what storage reports read of the files

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ASSETS = "lifecycle_assets"
FILES = "lifecycle_asset_files"
AUDIT = "lifecycle_audit"


def upgrade() -> None:
    op.add_column(ASSETS, sa.Column("customized", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column(FILES, sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(FILES, sa.Column("timbre_model", sa.Boolean(), nullable=False, server_default=sa.false()))
    # A MAIN file's bytes were stored when its asset's upload was accepted (the audit trail says
    # when, also for assets deleted since). Another file's only change before its asset is
    # deleted is its confirmation, so its update time is when it was stored; for a file of an
    # asset deleted since, that time was overwritten by the deletion and is not known (NULL:
    # reports as of a time before the deletion leave it out; docs/billing.md).
    op.execute(
        f"UPDATE {FILES} SET stored_at = (SELECT MIN(a.occurred_at) FROM {AUDIT} a"  # noqa: S608 - constants
        f"  WHERE a.asset_id = {FILES}.asset_id AND a.event IN ('accept_upload', 'submit_for_review'))"
        " WHERE asset_file_category = 'MAIN'"
    )
    op.execute(
        f"UPDATE {FILES} SET stored_at = update_time"  # noqa: S608 - constants
        " WHERE asset_file_category <> 'MAIN' AND state IN ('UPLOADED', 'REVIEW', 'CREATED')"
    )
    op.create_index(
        "ix_lifecycle_asset_files_stored_bytes", FILES, ["asset_id", "stored_at", "file_size", "timbre_model"]
    )


def downgrade() -> None:
    op.drop_index("ix_lifecycle_asset_files_stored_bytes", table_name=FILES)
    op.drop_column(FILES, "timbre_model")
    op.drop_column(FILES, "stored_at")
    op.drop_column(ASSETS, "customized")

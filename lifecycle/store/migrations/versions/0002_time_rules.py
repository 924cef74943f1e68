"""time rules: the recycle bin's retention clock, and one index per time rule basis

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ASSETS = "lifecycle_assets"


def upgrade() -> None:
    op.add_column(ASSETS, sa.Column("retention_started_at", sa.DateTime(timezone=True), nullable=True))
    # Assets already in the bin count from the delete; those deleted while frozen count from the
    # unfreeze that left them in the bin (time never moves a frozen asset), and those still
    # frozen there do not count yet (NULL).
    op.execute(
        f"UPDATE {ASSETS} SET retention_started_at = COALESCE("  # noqa: S608 - constants only
        " (SELECT MAX(a.occurred_at) FROM lifecycle_audit a"
        f"  WHERE a.asset_id = {ASSETS}.asset_id AND a.event = 'unfreeze'"
        "   AND a.from_state = 'DELETING' AND a.to_state = 'DELETING'"
        f"   AND a.occurred_at >= {ASSETS}.state_changed_at),"
        " state_changed_at)"
        " WHERE asset_state = 'DELETING' AND pre_freeze_state IS NULL"
    )
    op.drop_index(op.f("ix_lifecycle_assets_asset_state_state_changed_at"), table_name=ASSETS)
    op.drop_index(op.f("ix_lifecycle_assets_planned_operation_time"), table_name=ASSETS)
    op.create_index(
        op.f("ix_lifecycle_assets_asset_state_retention_started_at"),
        ASSETS,
        ["asset_state", "retention_started_at"],
    )
    op.create_index(
        op.f("ix_lifecycle_assets_planned_operation_planned_operation_time"),
        ASSETS,
        ["planned_operation", "planned_operation_time"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_lifecycle_assets_planned_operation_planned_operation_time"), table_name=ASSETS)
    op.drop_index(op.f("ix_lifecycle_assets_asset_state_retention_started_at"), table_name=ASSETS)
    op.create_index(op.f("ix_lifecycle_assets_planned_operation_time"), ASSETS, ["planned_operation_time"])
    op.create_index(
        op.f("ix_lifecycle_assets_asset_state_state_changed_at"), ASSETS, ["asset_state", "state_changed_at"]
    )
    op.drop_column(ASSETS, "retention_started_at")

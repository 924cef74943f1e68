"""audit chain: a hash per audit row chained per asset, the chain head on the asset, and (on
PostgreSQL) a trigger that refuses UPDATE and DELETE on the audit table

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from lifecycle.chain import GENESIS, HASHED_COLUMNS, chain_hash
from lifecycle.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ASSETS = "lifecycle_assets"
AUDIT = "lifecycle_audit"
APPEND_ONLY = "lifecycle_audit_append_only"
_HASHED_TYPES: dict[str, sa.types.TypeEngine[Any]] = {"seq": sa.Integer(), "occurred_at": UTCDateTime()}


def upgrade() -> None:
    # A default lets the columns be added NOT NULL to tables that already hold rows; the rows
    # are then given their real values, and PostgreSQL drops the default (SQLite cannot).
    op.add_column(AUDIT, sa.Column("chain_hash", sa.String(64), nullable=False, server_default=""))
    op.add_column(ASSETS, sa.Column("audit_head", sa.String(64), nullable=False, server_default=""))
    _chain_existing_rows()
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(AUDIT, "chain_hash", server_default=None)
        op.alter_column(ASSETS, "audit_head", server_default=None)
        op.execute(
            f"CREATE FUNCTION {APPEND_ONLY}() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN"
            f"  RAISE EXCEPTION '{AUDIT} is append-only: % refused', TG_OP"
            "   USING ERRCODE = 'insufficient_privilege',"
            "   HINT = 'audit rows are never changed or removed; see lifecycle audit verify';"
            " END $$"
        )
        op.execute(
            f"CREATE TRIGGER {APPEND_ONLY} BEFORE UPDATE OR DELETE ON {AUDIT}"
            f" FOR EACH ROW EXECUTE FUNCTION {APPEND_ONLY}()"
        )


def _chain_existing_rows() -> None:
    """Hash the rows already there, in each asset's order, as the engine would have."""
    connection = op.get_bind()
    audit = sa.table(
        AUDIT,
        sa.column("id", sa.Integer),
        *(sa.column(name, _HASHED_TYPES.get(name, sa.String())) for name in HASHED_COLUMNS),
    )
    rows = connection.execute(sa.select(audit).order_by(audit.c.asset_id, audit.c.seq))
    updates: list[dict[str, object]] = []
    previous, asset_id = GENESIS, None
    for row in rows.mappings():
        if row["asset_id"] != asset_id:
            previous, asset_id = GENESIS, row["asset_id"]
        previous = chain_hash(previous, dict(row))
        updates.append({"row_id": row["id"], "hash": previous})
    if updates:
        connection.execute(
            sa.text(f"UPDATE {AUDIT} SET chain_hash = :hash WHERE id = :row_id"),  # noqa: S608 - constants
            updates,
        )
    op.execute(
        f"UPDATE {ASSETS} SET audit_head = COALESCE((SELECT a.chain_hash FROM {AUDIT} a"  # noqa: S608
        f" WHERE a.asset_id = {ASSETS}.asset_id ORDER BY a.seq DESC LIMIT 1), '')"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY} ON {AUDIT}")
        op.execute(f"DROP FUNCTION IF EXISTS {APPEND_ONLY}()")
    op.drop_column(ASSETS, "audit_head")
    op.drop_column(AUDIT, "chain_hash")

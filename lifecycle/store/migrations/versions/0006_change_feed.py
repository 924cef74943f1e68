"""change feed: each audit row's place in the feed (with its id), the asset's latest place, the
feed's named consumers and their cursors, and (PostgreSQL) a NOTIFY when audit rows are written

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Rows already written get place 0: a consumer starting from the beginning reads them first, in the
order they were written (their ids), then the rows written from this revision on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ASSETS = "lifecycle_assets"
AUDIT = "lifecycle_audit"
CONSUMERS = "lifecycle_feed_consumers"
NOTIFY = "lifecycle_feed_notify"
CHANNEL = "lifecycle_feed"


def upgrade() -> None:
    op.add_column(
        ASSETS, sa.Column("feed_head", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
    )
    op.add_column(AUDIT, sa.Column("feed_txid", sa.BigInteger(), nullable=False, server_default=sa.text("0")))
    op.create_index(op.f("ix_lifecycle_audit_feed_txid_id"), AUDIT, ["feed_txid", "id"])
    op.create_table(
        CONSUMERS,
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("position_txid", sa.BigInteger(), nullable=False),
        sa.Column("position_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f(f"pk_{CONSUMERS}")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Sent in the writing transaction, so delivered only when it commits; one per statement
        # (PostgreSQL folds a transaction's identical notifications into one).
        op.execute(
            f"CREATE FUNCTION {NOTIFY}() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {NOTIFY} AFTER INSERT ON {AUDIT} FOR EACH STATEMENT EXECUTE FUNCTION {NOTIFY}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {NOTIFY} ON {AUDIT}")
        op.execute(f"DROP FUNCTION IF EXISTS {NOTIFY}()")
    op.drop_table(CONSUMERS)
    op.drop_index(op.f("ix_lifecycle_audit_feed_txid_id"), table_name=AUDIT)
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of the assets table would have to drop a
    # table other tables' foreign keys refer to.
    op.drop_column(AUDIT, "feed_txid")
    op.drop_column(ASSETS, "feed_head")

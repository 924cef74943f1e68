"""requests and declarations: a table that makes a creation request id create at most one asset,
and audit columns that record what a creation declared and what a freeze's scope and code were, so
that ``verify_audit`` can check every column that decides who may act, where an asset stands and
what time will do to it

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

A database that already holds duplicates (assets created by racing retries of one request before
this revision) is migrated without losing anything: each request id is given to the asset its
first creation row made (the lowest audit id), so a later retry answers with that asset; the other
assets stay as they are, real assets with their own histories, and are listed in a warning on the
``lifecycle.migrations`` logger (docs/reliability.md, "Idempotent creation").
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ASSETS = "lifecycle_assets"
AUDIT = "lifecycle_audit"
REQUESTS = "lifecycle_creation_requests"
LISTED_DUPLICATES = 20

log = logging.getLogger("lifecycle.migrations")


def upgrade() -> None:
    with op.batch_alter_table(AUDIT) as batch:
        batch.add_column(
            sa.Column(
                "block_scope",
                sa.Enum("ASSET", "TENANT", name="block_scope", native_enum=False, create_constraint=True),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("block_reason_code", sa.String(64), nullable=True))
        batch.add_column(sa.Column("declared", sa.Text(), nullable=True))
    op.create_table(
        REQUESTS,
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        # No foreign key: a request is claimed before its asset is inserted (lifecycle.store.models).
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "request_id", name=op.f(f"pk_{REQUESTS}")),
    )
    op.execute(
        f"INSERT INTO {REQUESTS} (project_id, request_id, asset_id)"  # noqa: S608 - constants
        f" SELECT a.project_id, a.request_id, a.asset_id FROM {AUDIT} a"
        " WHERE a.event = 'create' AND a.request_id IS NOT NULL"
        f"  AND a.id = (SELECT MIN(b.id) FROM {AUDIT} b WHERE b.event = 'create'"
        "   AND b.project_id = a.project_id AND b.request_id = a.request_id)"
    )
    _warn_of_duplicates()


def _warn_of_duplicates() -> None:
    duplicates = (
        op.get_bind()
        .execute(
            sa.text(
                f"SELECT a.project_id, a.request_id, r.asset_id AS kept, a.asset_id AS other"  # noqa: S608
                f" FROM {AUDIT} a JOIN {REQUESTS} r"
                "  ON r.project_id = a.project_id AND r.request_id = a.request_id"
                " WHERE a.event = 'create' AND a.asset_id <> r.asset_id"
                " ORDER BY a.project_id, a.request_id, a.id"
            )
        )
        .all()
    )
    if not duplicates:
        return
    listed = "; ".join(
        f"tenant {row.project_id} request {row.request_id!r}: kept {row.kept}, also made {row.other}"
        for row in duplicates[:LISTED_DUPLICATES]
    )
    more = len(duplicates) - LISTED_DUPLICATES
    log.warning(
        "%d assets were created by a retry of a request that had created another asset already"
        " (before revision 0005 made request ids unique); each request id now answers with the"
        " asset it created first, and the others are left as they are: %s%s",
        len(duplicates),
        listed,
        f"; and {more} more" if more > 0 else "",
    )


def downgrade() -> None:
    op.drop_table(REQUESTS)
    # What the dropped columns held is lost: the hashes of rows that recorded a declaration or a
    # freeze's scope can no longer be recomputed (verify reports their chains broken).
    with op.batch_alter_table(AUDIT) as batch:
        batch.drop_constraint(op.f("ck_lifecycle_audit_block_scope"), type_="check")
        batch.drop_column("declared")
        batch.drop_column("block_reason_code")
        batch.drop_column("block_scope")

"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "lifecycle_assets",
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("app_user_id", sa.String(length=64), nullable=True),
        sa.Column("asset_name", sa.String(length=128), nullable=False),
        sa.Column("asset_description", sa.String(length=1024), nullable=False),
        sa.Column(
            "asset_type",
            sa.Enum(
                "VOICE_MODEL",
                "VIDEO",
                "IMAGE",
                "PPT",
                "MUSIC",
                "AUDIO",
                "COMMON_FILE",
                "HUMAN_MODEL_2D",
                "BUSINESS_CARD_TEMPLET",
                "HUMAN_MODEL",
                "SCENE",
                "ANIMATION",
                "MATERIAL",
                "NORMAL_MODEL",
                name="asset_type",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "asset_state",
            sa.Enum(
                "CREATING",
                "FAILED",
                "UNACTIVED",
                "ACTIVED",
                "DELETING",
                "DELETED",
                "BLOCK",
                name="asset_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "pre_freeze_state",
            sa.Enum(
                "CREATING",
                "FAILED",
                "UNACTIVED",
                "ACTIVED",
                "DELETING",
                "DELETED",
                "BLOCK",
                name="pre_freeze_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column(
            "pre_delete_state",
            sa.Enum(
                "CREATING",
                "FAILED",
                "UNACTIVED",
                "ACTIVED",
                "DELETING",
                "DELETED",
                "BLOCK",
                name="pre_delete_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column(
            "fail_type",
            sa.Enum(
                "AUTOMATIC_REVIEW_REJECT",
                "MANUAL_REVIEW_REJECT",
                name="fail_type",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("reason", sa.String(length=1024), nullable=True),
        sa.Column("block_reason_code", sa.String(length=64), nullable=True),
        sa.Column(
            "block_scope",
            sa.Enum("ASSET", "TENANT", name="block_scope", native_enum=False, create_constraint=True),
            nullable=True,
        ),
        sa.Column("activate_on_upload", sa.Boolean(), nullable=False),
        sa.Column("review_required", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("asset_extra_meta", sa.JSON(), nullable=True),
        sa.Column("system_properties", sa.JSON(), nullable=False),
        sa.Column("asset_order", sa.Integer(), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("upload_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("upload_time_left_us", sa.BigInteger(), nullable=True),
        sa.Column(
            "planned_operation",
            sa.Enum(
                "BLOCK",
                "DELETE",
                name="planned_operation",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("planned_operation_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("asset_id", name=op.f("pk_lifecycle_assets")),
    )
    with op.batch_alter_table("lifecycle_assets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lifecycle_assets_asset_state_state_changed_at"),
            ["asset_state", "state_changed_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_lifecycle_assets_asset_state_upload_deadline"),
            ["asset_state", "upload_deadline"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_lifecycle_assets_planned_operation_time"),
            ["planned_operation_time"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_lifecycle_assets_project_id_asset_state"),
            ["project_id", "asset_state"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_lifecycle_assets_project_id_create_time"),
            ["project_id", "create_time"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_lifecycle_assets_project_id_update_time"),
            ["project_id", "update_time"],
            unique=False,
        )

    op.create_table(
        "lifecycle_asset_files",
        sa.Column("file_id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=256), nullable=False),
        sa.Column("file_md5", sa.String(length=24), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("file_type", sa.String(length=32), nullable=False),
        sa.Column(
            "asset_file_category",
            sa.Enum(
                "MAIN",
                "COVER",
                "PAGE",
                "SAMPLE",
                "OTHER",
                "WHOLE_MODEL",
                "USER_MODIFIED_MODEL",
                name="asset_file_category",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "CREATING",
                "UPLOADED",
                "REVIEW",
                "CREATED",
                "FAILED",
                "CANCELLED",
                "DELETING",
                "DELETED",
                "BLOCK",
                name="state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=1024), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["lifecycle_assets.asset_id"],
            name=op.f("fk_lifecycle_asset_files_asset_id_lifecycle_assets"),
        ),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_lifecycle_asset_files")),
    )
    with op.batch_alter_table("lifecycle_asset_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lifecycle_asset_files_asset_id_asset_file_category"),
            ["asset_id", "asset_file_category"],
            unique=False,
        )

    op.create_table(
        "lifecycle_audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "event",
            sa.Enum(
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
                name="event",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "from_state",
            sa.Enum(
                "CREATING",
                "FAILED",
                "UNACTIVED",
                "ACTIVED",
                "DELETING",
                "DELETED",
                "BLOCK",
                name="from_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_state",
            sa.Enum(
                "CREATING",
                "FAILED",
                "UNACTIVED",
                "ACTIVED",
                "DELETING",
                "DELETED",
                "BLOCK",
                name="to_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "actor_kind",
            sa.Enum(
                "tenant",
                "platform",
                "system",
                name="actor_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("actor_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=True),
        sa.Column(
            "fail_type",
            sa.Enum(
                "AUTOMATIC_REVIEW_REJECT",
                "MANUAL_REVIEW_REJECT",
                name="fail_type",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "pre_freeze_state",
            sa.Enum(
                "CREATING",
                "FAILED",
                "UNACTIVED",
                "ACTIVED",
                "DELETING",
                "DELETED",
                "BLOCK",
                name="pre_freeze_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column(
            "pre_delete_state",
            sa.Enum(
                "CREATING",
                "FAILED",
                "UNACTIVED",
                "ACTIVED",
                "DELETING",
                "DELETED",
                "BLOCK",
                name="pre_delete_state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["lifecycle_assets.asset_id"],
            name=op.f("fk_lifecycle_audit_asset_id_lifecycle_assets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_audit")),
        sa.UniqueConstraint("asset_id", "seq", name=op.f("uq_lifecycle_audit_asset_id_seq")),
    )
    with op.batch_alter_table("lifecycle_audit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lifecycle_audit_project_id_occurred_at"),
            ["project_id", "occurred_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_lifecycle_audit_project_id_request_id"), ["project_id", "request_id"], unique=False
        )

    op.create_table(
        "lifecycle_unfreeze_applications",
        sa.Column("application_id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "PENDING",
                "APPROVED",
                "REJECTED",
                name="state",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=1024), nullable=True),
        sa.Column("applied_by", sa.String(length=128), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.String(length=1024), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["lifecycle_assets.asset_id"],
            name=op.f("fk_lifecycle_unfreeze_applications_asset_id_lifecycle_assets"),
        ),
        sa.PrimaryKeyConstraint("application_id", name=op.f("pk_lifecycle_unfreeze_applications")),
    )
    with op.batch_alter_table("lifecycle_unfreeze_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lifecycle_unfreeze_applications_asset_id_state"),
            ["asset_id", "state"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_lifecycle_unfreeze_applications_project_id_state"),
            ["project_id", "state"],
            unique=False,
        )
        batch_op.create_index(
            "uq_lifecycle_unfreeze_applications_pending",
            ["asset_id"],
            unique=True,
            sqlite_where=sa.text("state = 'PENDING'"),
            postgresql_where=sa.text("state = 'PENDING'"),
        )


def downgrade() -> None:

    with op.batch_alter_table("lifecycle_unfreeze_applications", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_lifecycle_unfreeze_applications_pending",
            sqlite_where=sa.text("state = 'PENDING'"),
            postgresql_where=sa.text("state = 'PENDING'"),
        )
        batch_op.drop_index(batch_op.f("ix_lifecycle_unfreeze_applications_project_id_state"))
        batch_op.drop_index(batch_op.f("ix_lifecycle_unfreeze_applications_asset_id_state"))

    op.drop_table("lifecycle_unfreeze_applications")
    with op.batch_alter_table("lifecycle_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lifecycle_audit_project_id_request_id"))
        batch_op.drop_index(batch_op.f("ix_lifecycle_audit_project_id_occurred_at"))

    op.drop_table("lifecycle_audit")
    with op.batch_alter_table("lifecycle_asset_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lifecycle_asset_files_asset_id_asset_file_category"))

    op.drop_table("lifecycle_asset_files")
    with op.batch_alter_table("lifecycle_assets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lifecycle_assets_project_id_update_time"))
        batch_op.drop_index(batch_op.f("ix_lifecycle_assets_project_id_create_time"))
        batch_op.drop_index(batch_op.f("ix_lifecycle_assets_project_id_asset_state"))
        batch_op.drop_index(batch_op.f("ix_lifecycle_assets_planned_operation_time"))
        batch_op.drop_index(batch_op.f("ix_lifecycle_assets_asset_state_upload_deadline"))
        batch_op.drop_index(batch_op.f("ix_lifecycle_assets_asset_state_state_changed_at"))

    op.drop_table("lifecycle_assets")

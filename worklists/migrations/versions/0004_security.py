"""worklists: audit log, server-side web sessions, failed-login throttle

Revision ID: 0004_wl_security
Revises: 0003_wl_user_time_zone
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_wl_security"
down_revision = "0003_wl_user_time_zone"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wl_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_wl_audit_at", "wl_audit", ["at"])
    op.create_index("ix_wl_audit_actor", "wl_audit", ["actor", "at"])
    op.create_table(
        "wl_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["wl_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sid_hash"),
    )
    op.create_index("ix_wl_session_user", "wl_session", ["user_id"])
    op.create_table(
        "wl_login_throttle",
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("wl_login_throttle")
    op.drop_index("ix_wl_session_user", table_name="wl_session")
    op.drop_table("wl_session")
    op.drop_index("ix_wl_audit_actor", table_name="wl_audit")
    op.drop_index("ix_wl_audit_at", table_name="wl_audit")
    op.drop_table("wl_audit")

"""outbox for side effects delivered after commit

Revision ID: 0002_outbox
Revises: 0001_engine
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_outbox"
down_revision = "0001_engine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wf_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["wf_instance.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("wf_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_wf_outbox_pending", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_wf_outbox_instance_id"), ["instance_id"], unique=False)


def downgrade() -> None:
    op.drop_table("wf_outbox")

"""timer start events: one row per deployed timer start, with its next occurrence

Revision ID: 0005_start_timers
Revises: 0004_jobs
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_start_timers"
down_revision = "0004_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wf_start_timer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=255), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.String(length=255), nullable=False),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("period_seconds", sa.Float(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["wf_process_version.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_wf_start_timer_due", "wf_start_timer", ["state", "next_due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_wf_start_timer_due", table_name="wf_start_timer")
    op.drop_table("wf_start_timer")

"""jobs: asynchronous work acquired by workers with leases

Revision ID: 0004_jobs
Revises: 0003_task_queue
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_jobs"
down_revision = "0003_task_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wf_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("element_id", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["wf_instance.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_id", "task_id"),
    )
    op.create_index("ix_wf_job_due", "wf_job", ["due_at", "lease_expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_wf_job_due", table_name="wf_job")
    op.drop_table("wf_job")

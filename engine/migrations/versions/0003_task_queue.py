"""human tasks carry their queue and claim time

Revision ID: 0003_task_queue
Revises: 0002_outbox
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_task_queue"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wf_human_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queue", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_wf_human_task_queue", ["state", "queue", "assignee", "due_at"], unique=False)
        batch_op.create_index("ix_wf_human_task_done_by", ["completed_by", "completed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("wf_human_task", schema=None) as batch_op:
        batch_op.drop_index("ix_wf_human_task_done_by")
        batch_op.drop_index("ix_wf_human_task_queue")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("queue")

"""signal waits: subscriptions of kind "signal" beside the message ones

Revision ID: 0006_elements15_signal_waits
Revises: 0005_start_timers
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_elements15_signal_waits"
down_revision = "0005_start_timers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wf_message_subscription") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="message"))
    op.create_index("ix_wf_subscription_kind_name", "wf_message_subscription", ["kind", "message_name"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_wf_subscription_kind_name", table_name="wf_message_subscription")
    with op.batch_alter_table("wf_message_subscription") as batch:
        batch.drop_column("kind")

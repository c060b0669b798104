"""worklists: a user's email address, where task reminders go

Revision ID: 0002_user_email
Revises: 0001_worklists
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_user_email"
down_revision = "0001_worklists"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wl_user") as batch:
        batch.add_column(sa.Column("email", sa.String(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wl_user") as batch:
        batch.drop_column("email")

"""worklists: a user's time zone, which the pages show times in

Revision ID: 0003_wl_user_time_zone
Revises: 0002_user_email
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_wl_user_time_zone"
down_revision = "0002_user_email"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wl_user") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wl_user") as batch:
        batch.drop_column("time_zone")

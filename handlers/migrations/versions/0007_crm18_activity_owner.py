"""Activities are work: an owner (a worklist login) beside the due time.

Revision ID: 0007_crm18_activity_owner
Revises: 0006_sla_kpi_calendar
Create Date: 2026-12-06

`crm_activity.owner` (nullable, indexed): "My activities" lists the open activities a user
owns, overdue ones counted. Existing activities stay without an owner (nobody's list).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_crm18_activity_owner"
down_revision = "0006_sla_kpi_calendar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("crm_activity", sa.Column("owner", sa.String(length=150), nullable=True))
    op.create_index("ix_crm_activity_owner", "crm_activity", ["owner", "state"])


def downgrade() -> None:
    op.drop_index("ix_crm_activity_owner", table_name="crm_activity")
    with op.batch_alter_table("crm_activity") as batch:
        batch.drop_column("owner")

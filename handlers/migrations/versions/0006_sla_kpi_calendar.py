"""SLA KPIs remember the business calendar their clock runs on.

Revision ID: 0006_sla_kpi_calendar
Revises: 0005_sales_quotas
Create Date: 2026-11-26

`crm_sla_kpi_instance.calendar` (the calendar's name, nullable): holds and reopens then push a
KPI's times by the working time that passed, not the wall-clock time. Existing KPIs stay
without a calendar and keep running on wall-clock time.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_sla_kpi_calendar"
down_revision = "0005_sales_quotas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("crm_sla_kpi_instance", sa.Column("calendar", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crm_sla_kpi_instance") as batch:
        batch.drop_column("calendar")

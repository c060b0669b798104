"""Sales quotas and opportunity owners.

Revision ID: 0005_sales_quotas
Revises: 0004_pg_search
Create Date: 2026-11-25

`crm_opportunity.owner` (the salesperson's user name, indexed; existing rows stay without
owner) and the `crm_sales_quota` table (one target per owner and period start).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_sales_quotas"
down_revision = "0004_pg_search"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("crm_opportunity", sa.Column("owner", sa.String(length=150), nullable=True))
    op.create_index(op.f("ix_crm_opportunity_owner"), "crm_opportunity", ["owner"])
    op.create_table(
        "crm_sales_quota",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=150), nullable=False),
        sa.Column("team", sa.String(length=150), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("target", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_sales_quota")),
        sa.UniqueConstraint("owner", "period_start", name=op.f("uq_crm_sales_quota_owner_period_start")),
    )


def downgrade() -> None:
    op.drop_table("crm_sales_quota")
    op.drop_index(op.f("ix_crm_opportunity_owner"), table_name="crm_opportunity")
    with op.batch_alter_table("crm_opportunity") as batch:
        batch.drop_column("owner")

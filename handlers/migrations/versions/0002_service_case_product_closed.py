"""Cases: the product a case is about, and when a resolved case was closed for good.

Revision ID: 0002_service
Revises: 0001_crm
Create Date: 2026-11-23

On SQLite the columns are added in place (`ALTER TABLE ... ADD COLUMN ... REFERENCES`),
not by batch-recreating `crm_case`: other tables point at it and foreign keys are on, so
recreating it would fail (or cascade) on a database that already holds cases.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_service"
down_revision = "0001_crm"
branch_labels = None
depends_on = None

FK_NAME = "fk_crm_case_product_id_crm_product"


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _is_sqlite():
        op.execute(
            f"ALTER TABLE crm_case ADD COLUMN product_id INTEGER CONSTRAINT {FK_NAME} REFERENCES crm_product (id)"
        )
        op.execute("ALTER TABLE crm_case ADD COLUMN closed_at DATETIME")
        return
    op.add_column("crm_case", sa.Column("product_id", sa.Integer(), nullable=True))
    op.add_column("crm_case", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(FK_NAME, "crm_case", "crm_product", ["product_id"], ["id"])


def downgrade() -> None:
    if _is_sqlite():
        # SQLite 3.35+ drops a column in place, its inline REFERENCES clause with it
        op.execute("ALTER TABLE crm_case DROP COLUMN closed_at")
        op.execute("ALTER TABLE crm_case DROP COLUMN product_id")
        return
    op.drop_constraint(FK_NAME, "crm_case", type_="foreignkey")
    op.drop_column("crm_case", "closed_at")
    op.drop_column("crm_case", "product_id")

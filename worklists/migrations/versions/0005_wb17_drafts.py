"""worklists: drafts of diagrams saved from the analyst workbench (who, when, deployed as what)

Revision ID: 0005_wb17_drafts
Revises: 0004_wl_security
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_wb17_drafts"
down_revision = "0004_wl_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wl_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=255), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deployed_version", sa.Integer(), nullable=True),
        sa.Column("deployed_by", sa.String(length=255), nullable=True),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_wl_draft_process", "wl_draft", ["process_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_wl_draft_process", table_name="wl_draft")
    op.drop_table("wl_draft")

"""Planning: business-hours calendars, resources and routing, territories.

Revision ID: 0003_planning
Revises: 0002_service
Create Date: 2026-11-24

New tables only; no existing table changes (assignments live in their own tables rather
than as columns on cases and leads).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_planning"
down_revision = "0002_service"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    """A foreign key to `referred.id`, named as `CrmBase`'s naming convention names it."""
    return sa.ForeignKeyConstraint([column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}"))


def _day_table(table: str, *columns: sa.Column) -> None:
    """A per-calendar, per-date table (holidays, exceptions)."""
    op.create_table(
        table,
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *columns,
        _fk(table, "calendar_id", "crm_business_calendar"),
        sa.PrimaryKeyConstraint("calendar_id", "day", name=op.f(f"pk_{table}")),
    )


def upgrade() -> None:
    op.create_table(
        "crm_business_calendar",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("weekly_hours", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_business_calendar")),
        sa.UniqueConstraint("name", name=op.f("uq_crm_business_calendar_name")),
    )
    _day_table("crm_calendar_holiday", sa.Column("name", sa.String(length=200), nullable=True))
    _day_table(
        "crm_calendar_exception",
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
    )
    op.create_table(
        "crm_resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("resource_kind", sa.String(length=16), nullable=False),
        sa.Column("user_name", sa.String(length=100), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        _fk("crm_resource", "calendar_id", "crm_business_calendar"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_resource")),
        sa.UniqueConstraint("name", name=op.f("uq_crm_resource_name")),
    )
    op.create_table(
        "crm_resource_skill",
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("skill", sa.String(length=100), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        _fk("crm_resource_skill", "resource_id", "crm_resource"),
        sa.PrimaryKeyConstraint("resource_id", "skill", name=op.f("pk_crm_resource_skill")),
    )
    op.create_table(
        "crm_resource_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_resource_group")),
        sa.UniqueConstraint("name", name=op.f("uq_crm_resource_group_name")),
    )
    op.create_table(
        "crm_resource_group_member",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        _fk("crm_resource_group_member", "group_id", "crm_resource_group"),
        _fk("crm_resource_group_member", "resource_id", "crm_resource"),
        sa.PrimaryKeyConstraint("group_id", "resource_id", name=op.f("pk_crm_resource_group_member")),
    )
    op.create_table(
        "crm_service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("skill", sa.String(length=100), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        _fk("crm_service", "group_id", "crm_resource_group"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_service")),
        sa.UniqueConstraint("name", name=op.f("uq_crm_service_name")),
    )
    op.create_table(
        "crm_resource_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("regarding_type", sa.String(length=32), nullable=False),
        sa.Column("regarding_id", sa.Integer(), nullable=False),
        sa.Column("skill", sa.String(length=100), nullable=True),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("assigned_at", TZ, nullable=False),
        sa.Column("released_at", TZ, nullable=True),
        _fk("crm_resource_assignment", "resource_id", "crm_resource"),
        _fk("crm_resource_assignment", "group_id", "crm_resource_group"),
        _fk("crm_resource_assignment", "service_id", "crm_service"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_resource_assignment")),
    )
    op.create_index(
        "ix_crm_resource_assignment_regarding", "crm_resource_assignment", ["regarding_type", "regarding_id"]
    )
    op.create_index("ix_crm_resource_assignment_open", "crm_resource_assignment", ["resource_id", "released_at"])
    op.create_table(
        "crm_territory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sales_queue", sa.String(length=100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_territory")),
        sa.UniqueConstraint("name", name=op.f("uq_crm_territory_name")),
    )
    op.create_table(
        "crm_territory_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=100), nullable=False),
        sa.Column("country", sa.String(length=64), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("assigned_at", TZ, nullable=False),
        sa.Column("replaced_at", TZ, nullable=True),
        _fk("crm_territory_assignment", "lead_id", "crm_lead"),
        _fk("crm_territory_assignment", "territory_id", "crm_territory"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_territory_assignment")),
    )
    op.create_index("ix_crm_territory_assignment_lead", "crm_territory_assignment", ["lead_id", "replaced_at"])


def downgrade() -> None:
    op.drop_index("ix_crm_territory_assignment_lead", table_name="crm_territory_assignment")
    op.drop_table("crm_territory_assignment")
    op.drop_table("crm_territory")
    op.drop_index("ix_crm_resource_assignment_open", table_name="crm_resource_assignment")
    op.drop_index("ix_crm_resource_assignment_regarding", table_name="crm_resource_assignment")
    op.drop_table("crm_resource_assignment")
    op.drop_table("crm_service")
    op.drop_table("crm_resource_group_member")
    op.drop_table("crm_resource_group")
    op.drop_table("crm_resource_skill")
    op.drop_table("crm_resource")
    op.drop_table("crm_calendar_exception")
    op.drop_table("crm_calendar_holiday")
    op.drop_table("crm_business_calendar")

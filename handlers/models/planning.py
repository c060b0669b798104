"""Planning records: business-hours calendars, resources and their routing, territories.

Assignments live in their own tables (`crm_resource_assignment`, `crm_territory_assignment`)
rather than as columns on cases and leads, so the planning module can be added (and
migrated) without touching the service and sales records.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import CrmBase

RESOURCE_KINDS = ("person", "tool", "room", "equipment")
ROUTING_STRATEGIES = ("least-busy", "round-robin")


class BusinessCalendar(CrmBase):
    """Working hours of a team or resource, in one IANA time zone.

    `weekly_hours` maps a weekday ("mon" … "sun") to its open intervals as
    `[["09:00", "12:00"], ["13:00", "17:00"]]`; a missing day is closed.
    """

    __tablename__ = "crm_business_calendar"
    kind = "business calendar"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    weekly_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class CalendarHoliday(CrmBase):
    """A whole day off (a public holiday, a company day)."""

    __tablename__ = "crm_calendar_holiday"
    calendar_id: Mapped[int] = mapped_column(ForeignKey("crm_business_calendar.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))


class CalendarException(CrmBase):
    """A date with other hours than its weekday's (an empty `hours` list: closed that day).

    An exception wins over a holiday on the same date: it is the more specific statement.
    """

    __tablename__ = "crm_calendar_exception"
    calendar_id: Mapped[int] = mapped_column(ForeignKey("crm_business_calendar.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    hours: Mapped[list[Any]] = mapped_column(default=list)
    reason: Mapped[str | None] = mapped_column(String(200))


class Resource(CrmBase):
    """A person, tool, room or piece of equipment that work can be routed to.

    `capacity` is how many open items it may hold at once; `user_name` is the worklist
    login of a person (what a user task's `assignee` expression is given).
    """

    __tablename__ = "crm_resource"
    kind = "resource"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    resource_kind: Mapped[str] = mapped_column(String(16))
    user_name: Mapped[str | None] = mapped_column(String(100))
    capacity: Mapped[int] = mapped_column(Integer)
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("crm_business_calendar.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class ResourceSkill(CrmBase):
    __tablename__ = "crm_resource_skill"
    resource_id: Mapped[int] = mapped_column(ForeignKey("crm_resource.id"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(100), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, default=1)


class ResourceGroup(CrmBase):
    """A team or pool; `strategy` is how work is spread over its members unless a call says otherwise."""

    __tablename__ = "crm_resource_group"
    kind = "resource group"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    strategy: Mapped[str] = mapped_column(String(16), default="least-busy")
    created_at: Mapped[datetime]


class ResourceGroupMember(CrmBase):
    __tablename__ = "crm_resource_group_member"
    group_id: Mapped[int] = mapped_column(ForeignKey("crm_resource_group.id"), primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("crm_resource.id"), primary_key=True)


class Service(CrmBase):
    """A service the business delivers: it needs a resource of `skill` from `group`."""

    __tablename__ = "crm_service"
    kind = "service"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    skill: Mapped[str | None] = mapped_column(String(100))
    group_id: Mapped[int] = mapped_column(ForeignKey("crm_resource_group.id"))
    strategy: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]


class ResourceAssignment(CrmBase):
    """A record (case, lead, ...) routed to a resource; open until `released_at`."""

    __tablename__ = "crm_resource_assignment"
    __table_args__ = (
        Index("ix_crm_resource_assignment_regarding", "regarding_type", "regarding_id"),
        Index("ix_crm_resource_assignment_open", "resource_id", "released_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("crm_resource.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("crm_resource_group.id"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("crm_service.id"))
    regarding_type: Mapped[str] = mapped_column(String(32))
    regarding_id: Mapped[int] = mapped_column(Integer)
    skill: Mapped[str | None] = mapped_column(String(100))
    strategy: Mapped[str] = mapped_column(String(16))
    assigned_at: Mapped[datetime]
    released_at: Mapped[datetime | None]


class Territory(CrmBase):
    """A sales territory and the queue its new leads go to (as the territory DMN last said)."""

    __tablename__ = "crm_territory"
    kind = "territory"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    sales_queue: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]


class TerritoryAssignment(CrmBase):
    """A lead placed in a territory; the current one has no `replaced_at`."""

    __tablename__ = "crm_territory_assignment"
    __table_args__ = (Index("ix_crm_territory_assignment_lead", "lead_id", "replaced_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("crm_lead.id"))
    territory_id: Mapped[int] = mapped_column(ForeignKey("crm_territory.id"))
    queue: Mapped[str] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(100))
    assigned_at: Mapped[datetime]
    replaced_at: Mapped[datetime | None]

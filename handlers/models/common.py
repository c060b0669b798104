"""Records shared by every area: accounts, contacts, activities, and bookkeeping tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import CrmBase, StatefulMixin, UTCDateTime

#: what an activity (or a campaign response, a marketing-list member) can point at
REGARDING_TYPES = ("lead", "contact", "account", "opportunity", "case")
ACTIVITY_TYPES = (
    "phone_call",
    "email",
    "task",
    "appointment",
    "letter",
    "fax",
    "campaign_response",
    "service_activity",
)


class Account(StatefulMixin, CrmBase):
    __tablename__ = "crm_account"
    kind = "account"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(50))
    region: Mapped[str | None] = mapped_column(String(100))
    originating_lead_id: Mapped[int | None] = mapped_column(Integer)  # no FK: leads point here


class Contact(StatefulMixin, CrmBase):
    __tablename__ = "crm_contact"
    __table_args__ = (Index("ix_crm_contact_email_normalized", "email_normalized"),)
    kind = "contact"
    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    email_normalized: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(50))
    birthdate: Mapped[date | None]
    region: Mapped[str | None] = mapped_column(String(100))
    unsubscribed: Mapped[bool] = mapped_column(Boolean, default=False)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("crm_account.id"))
    originating_lead_id: Mapped[int | None] = mapped_column(Integer)  # no FK: leads point here

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class Activity(StatefulMixin, CrmBase):
    """Phone call, email, task, ... — Open → Completed | Canceled, regarding one record."""

    __tablename__ = "crm_activity"
    __table_args__ = (
        Index("ix_crm_activity_regarding", "regarding_type", "regarding_id"),
        Index("ix_crm_activity_owner", "owner", "state"),
    )
    kind = "activity"
    id: Mapped[int] = mapped_column(primary_key=True)
    activity_type: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    regarding_type: Mapped[str | None] = mapped_column(String(32))
    regarding_id: Mapped[int | None] = mapped_column(Integer)
    direction: Mapped[str | None] = mapped_column(String(16))  # incoming / outgoing
    due_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    #: the worklist login whose work it is ("My activities"); None: nobody's
    owner: Mapped[str | None] = mapped_column(String(150))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class HandlerCall(CrmBase):
    """The result of a handler call, so a retried call returns it instead of acting twice."""

    __tablename__ = "crm_handler_call"
    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(100), primary_key=True)
    params_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Sequence(CrmBase):
    """Counters for human-facing record numbers (Q-00012), portable across databases."""

    __tablename__ = "crm_sequence"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)

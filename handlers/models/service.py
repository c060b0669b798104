"""Service records: cases, resolutions, SLA KPI instances, contracts, entitlements, knowledge."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import CrmBase, Quantity, StatefulMixin

CASE_ORIGINS = ("Phone", "Email", "Web")
CASE_PRIORITIES = ("High", "Normal", "Low")
KPI_NAMES = ("first_response", "resolve")


class Case(StatefulMixin, CrmBase):
    __tablename__ = "crm_case"
    kind = "case"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("crm_product.id"))
    priority: Mapped[str] = mapped_column(String(16), default="Normal")
    case_type: Mapped[str | None] = mapped_column(String(30))  # Question / Problem / Request
    queue: Mapped[str | None] = mapped_column(String(100))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("crm_account.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("crm_contact.id"))
    entitlement_id: Mapped[int | None] = mapped_column(ForeignKey("crm_entitlement.id"))
    sla_name: Mapped[str | None] = mapped_column(String(100))
    first_response_by: Mapped[datetime | None]
    resolve_by: Mapped[datetime | None]
    first_responded_at: Mapped[datetime | None]
    on_hold_since: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    #: set when a resolved case is closed for good (no reply within the wait): a reply then opens a new case
    closed_at: Mapped[datetime | None]
    reopened_count: Mapped[int] = mapped_column(Integer, default=0)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("crm_case.id"))


class CaseResolution(CrmBase):
    __tablename__ = "crm_case_resolution"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("crm_case.id"))
    subject: Mapped[str] = mapped_column(String(300))
    resolution_type: Mapped[str] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)
    time_spent_minutes: Mapped[int] = mapped_column(Integer, default=0)
    resolved_at: Mapped[datetime]


class SlaKpiInstance(StatefulMixin, CrmBase):
    """One KPI timer of a case: warning and failure times, paused while the case is on hold.

    `calendar` names the business calendar the KPI's clock runs on (None: wall-clock time).
    `paused_seconds` is how far holds and reopens have pushed the failure time, counted on
    that clock: working seconds for a calendar KPI, elapsed seconds otherwise.
    """

    __tablename__ = "crm_sla_kpi_instance"
    __table_args__ = (UniqueConstraint("case_id", "kpi"),)
    kind = "SLA KPI"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("crm_case.id"))
    kpi: Mapped[str] = mapped_column(String(30))
    warning_at: Mapped[datetime]
    failure_at: Mapped[datetime]
    paused_at: Mapped[datetime | None]
    paused_seconds: Mapped[int] = mapped_column(Integer, default=0)
    calendar: Mapped[str | None] = mapped_column(String(100))
    succeeded_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]


class Contract(StatefulMixin, CrmBase):
    __tablename__ = "crm_contract"
    kind = "contract"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("crm_account.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("crm_contact.id"))
    start_date: Mapped[date]
    end_date: Mapped[date]


class Entitlement(StatefulMixin, CrmBase):
    """Support terms (cases or hours) a customer has; decreased on case creation or resolution."""

    __tablename__ = "crm_entitlement"
    kind = "entitlement"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("crm_contract.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("crm_account.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("crm_contact.id"))
    allocation_type: Mapped[str] = mapped_column(String(8))  # cases / hours
    decrease_on: Mapped[str] = mapped_column(String(10))  # creation / resolution
    total_terms: Mapped[Decimal] = mapped_column(Quantity)
    remaining_terms: Mapped[Decimal] = mapped_column(Quantity)
    start_date: Mapped[date]
    end_date: Mapped[date]
    sla_name: Mapped[str | None] = mapped_column(String(100))


class KnowledgeArticle(StatefulMixin, CrmBase):
    """A knowledge-base article; published ones are searchable in full text (FTS5 on SQLite)."""

    __tablename__ = "crm_knowledge_article"
    kind = "knowledge article"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)
    keywords: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime | None]


class CaseArticle(CrmBase):
    """An article suggested on (or linked to) a case."""

    __tablename__ = "crm_case_article"
    case_id: Mapped[int] = mapped_column(ForeignKey("crm_case.id"), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("crm_knowledge_article.id"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    suggested_at: Mapped[datetime]

"""Sales records: leads, opportunities, competitors, products, price lists, quotes,
orders, invoices, payments and sales quotas. Money is `Numeric(14, 2)` read back as `Decimal`."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import CrmBase, Percent, Quantity, StatefulMixin


class Lead(StatefulMixin, CrmBase):
    __tablename__ = "crm_lead"
    __table_args__ = (Index("ix_crm_lead_email_normalized", "email_normalized"),)
    kind = "lead"
    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    email_normalized: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(50))
    company_name: Mapped[str | None] = mapped_column(String(200))
    topic: Mapped[str | None] = mapped_column(String(300))
    lead_source: Mapped[str | None] = mapped_column(String(50))
    region: Mapped[str | None] = mapped_column(String(100))
    score: Mapped[int | None] = mapped_column(Integer)
    rating: Mapped[str | None] = mapped_column(String(16))  # Hot / Warm / Cold
    source_campaign_id: Mapped[int | None] = mapped_column(ForeignKey("crm_campaign.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("crm_account.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("crm_contact.id"))
    qualified_opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("crm_opportunity.id"))
    closed_at: Mapped[datetime | None]


class Opportunity(StatefulMixin, CrmBase):
    __tablename__ = "crm_opportunity"
    kind = "opportunity"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("crm_account.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("crm_contact.id"))
    originating_lead_id: Mapped[int | None] = mapped_column(Integer)  # no FK: the lead points here
    source_campaign_id: Mapped[int | None] = mapped_column(ForeignKey("crm_campaign.id"))
    price_list_id: Mapped[int | None] = mapped_column(ForeignKey("crm_price_list.id"))
    estimated_value: Mapped[Decimal | None]
    probability: Mapped[int | None] = mapped_column(Integer)
    estimated_close_date: Mapped[date | None]
    actual_value: Mapped[Decimal | None]
    actual_close_date: Mapped[date | None]
    #: the user name of the salesperson who owns it (who qualified the lead, unless named otherwise)
    owner: Mapped[str | None] = mapped_column(String(150), index=True)


class OpportunityClose(CrmBase):
    """The close activity recorded when an opportunity is won or lost."""

    __tablename__ = "crm_opportunity_close"
    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("crm_opportunity.id"))
    outcome: Mapped[str] = mapped_column(String(8))  # Won / Lost
    status: Mapped[str] = mapped_column(String(40))  # Won / Canceled / Out-Sold
    actual_revenue: Mapped[Decimal | None]
    competitor_id: Mapped[int | None] = mapped_column(ForeignKey("crm_competitor.id"))
    description: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime]


class Competitor(StatefulMixin, CrmBase):
    __tablename__ = "crm_competitor"
    kind = "competitor"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    website: Mapped[str | None] = mapped_column(String(300))
    strengths: Mapped[str | None] = mapped_column(Text)
    weaknesses: Mapped[str | None] = mapped_column(Text)


class Product(StatefulMixin, CrmBase):
    __tablename__ = "crm_product"
    kind = "product"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(30), default="each")
    description: Mapped[str | None] = mapped_column(Text)


class PriceList(StatefulMixin, CrmBase):
    __tablename__ = "crm_price_list"
    kind = "price list"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    items: Mapped[list[PriceListItem]] = relationship(back_populates="price_list")


class PriceListItem(CrmBase):
    __tablename__ = "crm_price_list_item"
    __table_args__ = (UniqueConstraint("price_list_id", "product_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    price_list_id: Mapped[int] = mapped_column(ForeignKey("crm_price_list.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("crm_product.id"))
    amount: Mapped[Decimal]
    price_list: Mapped[PriceList] = relationship(back_populates="items")


class TotalsMixin:
    """Header totals of a quote, order or invoice (sums of the rounded line amounts)."""

    price_list_id: Mapped[int | None] = mapped_column(ForeignKey("crm_price_list.id"))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    subtotal: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    discount_amount: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    net_amount: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    tax_amount: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    total_amount: Mapped[Decimal] = mapped_column(default=Decimal("0"))


class LineMixin:
    """One priced line: amount = price × quantity, less discount, plus tax (all to cents)."""

    line_number: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("crm_product.id"))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit_price: Mapped[Decimal]
    discount_percent: Mapped[Decimal] = mapped_column(Percent)
    tax_rate: Mapped[Decimal] = mapped_column(Percent)
    amount: Mapped[Decimal]
    discount_amount: Mapped[Decimal]
    net_amount: Mapped[Decimal]
    tax_amount: Mapped[Decimal]
    total_amount: Mapped[Decimal]


class Quote(StatefulMixin, TotalsMixin, CrmBase):
    __tablename__ = "crm_quote"
    __table_args__ = (UniqueConstraint("number", "revision"),)
    kind = "quote"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20))
    revision: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(300))
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("crm_opportunity.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("crm_account.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("crm_contact.id"))
    previous_revision_id: Mapped[int | None] = mapped_column(ForeignKey("crm_quote.id"))
    discount_percent: Mapped[Decimal] = mapped_column(Percent, default=Decimal("0"))
    tax_rate: Mapped[Decimal] = mapped_column(Percent, default=Decimal("0"))
    effective_to: Mapped[date | None]
    closed_at: Mapped[datetime | None]
    lines: Mapped[list[QuoteLine]] = relationship(order_by="QuoteLine.line_number")


class QuoteLine(LineMixin, CrmBase):
    __tablename__ = "crm_quote_line"
    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("crm_quote.id"))


class SalesOrder(StatefulMixin, TotalsMixin, CrmBase):
    __tablename__ = "crm_order"
    kind = "order"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("crm_quote.id"), unique=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("crm_opportunity.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("crm_account.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("crm_contact.id"))
    fulfilled_at: Mapped[datetime | None]
    lines: Mapped[list[OrderLine]] = relationship(order_by="OrderLine.line_number")


class OrderLine(LineMixin, CrmBase):
    __tablename__ = "crm_order_line"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("crm_order.id"))


class Invoice(StatefulMixin, TotalsMixin, CrmBase):
    __tablename__ = "crm_invoice"
    kind = "invoice"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("crm_order.id"), unique=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("crm_opportunity.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("crm_account.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("crm_contact.id"))
    amount_paid: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    due_date: Mapped[date]
    paid_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminder_at: Mapped[datetime | None]
    lines: Mapped[list[InvoiceLine]] = relationship(order_by="InvoiceLine.line_number")
    payments: Mapped[list[Payment]] = relationship(order_by="Payment.id")

    @property
    def balance(self) -> Decimal:
        return self.total_amount - self.amount_paid


class InvoiceLine(LineMixin, CrmBase):
    __tablename__ = "crm_invoice_line"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("crm_invoice.id"))


class Payment(CrmBase):
    __tablename__ = "crm_payment"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("crm_invoice.id"))
    amount: Mapped[Decimal]
    paid_at: Mapped[datetime]
    method: Mapped[str | None] = mapped_column(String(30))
    reference: Mapped[str | None] = mapped_column(String(100))


class SalesQuota(CrmBase):
    """A salesperson's revenue target for a period (both ends inclusive dates).

    One quota per owner and start day; `team` groups owners for the team's sums in the
    quota-attainment report. Set through `handlers.quotas.set_quota`, which keeps one
    owner's periods from overlapping.
    """

    __tablename__ = "crm_sales_quota"
    __table_args__ = (UniqueConstraint("owner", "period_start"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(150))
    team: Mapped[str | None] = mapped_column(String(150))
    period_start: Mapped[date]
    period_end: Mapped[date]
    target: Mapped[Decimal]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]

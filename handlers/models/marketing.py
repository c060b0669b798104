"""Marketing records: marketing lists and members, campaigns, campaign activities, responses."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import CrmBase, StatefulMixin

MEMBER_TYPES = ("account", "contact", "lead")
CHANNELS = ("email", "phone", "letter", "fax", "appointment", "social", "other")
RESPONSE_CODES = ("Interested", "Not Interested", "Do Not Send Marketing Materials", "Error")


class MarketingList(StatefulMixin, CrmBase):
    """Static (explicit members) or dynamic (members resolved from stored `criteria`)."""

    __tablename__ = "crm_marketing_list"
    kind = "marketing list"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    member_type: Mapped[str] = mapped_column(String(16))
    dynamic: Mapped[bool] = mapped_column(Boolean, default=False)
    criteria: Mapped[dict[str, Any] | None]
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_at: Mapped[datetime | None]


class MarketingListMember(CrmBase):
    __tablename__ = "crm_marketing_list_member"
    __table_args__ = (UniqueConstraint("list_id", "member_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("crm_marketing_list.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(Integer)  # id of an account, contact or lead (list.member_type)
    added_at: Mapped[datetime]


class Campaign(StatefulMixin, CrmBase):
    __tablename__ = "crm_campaign"
    kind = "campaign"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    campaign_type: Mapped[str] = mapped_column(String(30), default="Advertisement")
    quick: Mapped[bool] = mapped_column(Boolean, default=False)
    budget: Mapped[Decimal | None]
    other_cost: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    expected_revenue: Mapped[Decimal | None]
    launched_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class CampaignList(CrmBase):
    """The marketing lists a campaign targets."""

    __tablename__ = "crm_campaign_list"
    campaign_id: Mapped[int] = mapped_column(ForeignKey("crm_campaign.id"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("crm_marketing_list.id"), primary_key=True)


class CampaignActivity(StatefulMixin, CrmBase):
    """One channel's work in a campaign (e.g. wave 1 emails), distributed to the lists."""

    __tablename__ = "crm_campaign_activity"
    kind = "campaign activity"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("crm_campaign.id"))
    channel: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300))
    template_body: Mapped[str | None] = mapped_column(Text)
    wave: Mapped[int] = mapped_column(Integer, default=1)
    cost: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    scheduled_at: Mapped[datetime | None]
    distributed_at: Mapped[datetime | None]
    distributed_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)


class CampaignResponse(StatefulMixin, CrmBase):
    __tablename__ = "crm_campaign_response"
    kind = "campaign response"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("crm_campaign.id"))
    campaign_activity_id: Mapped[int | None] = mapped_column(ForeignKey("crm_campaign_activity.id"))
    channel: Mapped[str] = mapped_column(String(16))
    response_code: Mapped[str] = mapped_column(String(40))
    customer_type: Mapped[str | None] = mapped_column(String(16))  # account / contact / lead
    customer_id: Mapped[int | None] = mapped_column(Integer)
    email: Mapped[str | None] = mapped_column(String(254))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    company_name: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[datetime]
    converted_lead_id: Mapped[int | None] = mapped_column(ForeignKey("crm_lead.id"))

"""Marketing handlers against a real migrated database, called as the engine calls them."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

import handlers
from engine import HandlerRegistry
from engine.models import OutboxMessage
from handlers import lifecycle as lc
from handlers.errors import DomainError, IllegalTransition, RecordNotFound
from handlers.marketing.campaigns import (
    add_campaign_list,
    compute_roi,
    create_campaign,
    create_campaign_activity,
    set_campaign_state,
)
from handlers.marketing.distribution import distribute_activity, quick_campaign
from handlers.marketing.lists import add_list_members, create_list, list_member_ids, resolve_list, years_before
from handlers.marketing.responses import close_response, convert_response_to_lead, record_response
from handlers.models import (
    Account,
    Activity,
    Campaign,
    CampaignActivity,
    CampaignResponse,
    Contact,
    Lead,
    MarketingList,
    MarketingListMember,
)
from handlers.sales.leads import capture_lead, qualify_lead, record_lead_score
from handlers.sales.opportunities import close_opportunity
from handlers.templates import TemplateProblem

EU_25_35 = {"member_type": "contact", "age_min": 25, "age_max": 35, "region": "EU"}


def add_contact(crm, last: str, *, first: str | None = None, born: date | None = None, region: str | None = "EU",
                email: str | None = "", unsubscribed: bool = False, active: bool = True) -> int:  # noqa: ANN001
    with crm.session() as ses:
        address = f"{last.lower()}@example.com" if email == "" else email
        contact = Contact(first_name=first, last_name=last, email=address,
                          email_normalized=address.lower() if address else None, birthdate=born, region=region,
                          unsubscribed=unsubscribed)
        lc.CONTACT.start(contact, crm.now, state=None if active else "Inactive")
        ses.add(contact)
        ses.flush()
        return contact.id


def outbox(crm) -> list[OutboxMessage]:  # noqa: ANN001
    with crm.session() as ses:
        rows = ses.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        ses.expunge_all()
        return list(rows)


def get(crm, model, record_id) -> Any:  # noqa: ANN001
    with crm.session() as ses:
        record = ses.get(model, record_id)
        ses.expunge_all()
        return record


def members(crm, list_id: int) -> list[int]:  # noqa: ANN001
    with crm.session() as ses:
        return list_member_ids(ses, list_id)


def launched(crm, name: str = "Spring", **kw: Any) -> dict[str, Any]:  # noqa: ANN001
    campaign = crm.call(create_campaign, name=name, budget=kw.pop("budget", "5000"), **kw)
    crm.call(set_campaign_state, campaign_id=campaign["campaign_id"], state="Ready To Launch")
    return crm.call(set_campaign_state, campaign_id=campaign["campaign_id"], state="Launched")


# -- registration ---------------------------------------------------------------------
def test_every_marketing_operation_is_registered() -> None:
    registry = HandlerRegistry()
    handlers.register(registry)
    assert {n for n in registry.names() if n.startswith("marketing/")} == {
        "marketing/create_list", "marketing/add_list_members", "marketing/resolve_list",
        "marketing/create_campaign", "marketing/add_campaign_list", "marketing/set_campaign_state",
        "marketing/create_campaign_activity", "marketing/distribute_activity", "marketing/quick_campaign",
        "marketing/record_response", "marketing/convert_response_to_lead", "marketing/close_response",
        "marketing/compute_roi",
    }


# -- campaign lifecycle ---------------------------------------------------------------
def test_campaign_moves_proposed_ready_launched_completed_and_stamps_times(crm) -> None:  # noqa: ANN001
    campaign = crm.call(create_campaign, name="Spring", budget="5000", expected_revenue="20000.5")
    assert (campaign["number"], campaign["state"], campaign["budget"], campaign["expected_revenue"]) == (
        "CMP-00001", "Proposed", "5000.00", "20000.50")
    cid = campaign["campaign_id"]
    assert crm.call(set_campaign_state, campaign_id=cid, state="Ready To Launch")["state"] == "Ready To Launch"
    crm.advance(days=1)
    assert crm.call(set_campaign_state, campaign_id=cid, state="Launched")["state"] == "Launched"
    assert get(crm, Campaign, cid).launched_at == crm.now
    crm.advance(days=30)
    done = crm.call(set_campaign_state, campaign_id=cid, state="Completed")
    assert (done["state"], done["status"]) == ("Completed", "Completed")
    assert get(crm, Campaign, cid).ended_at == crm.now
    assert crm.call(create_campaign, name="Autumn", budget=None)["number"] == "CMP-00002"


@pytest.mark.parametrize(
    "path, illegal",
    [
        ([], "Launched"),  # Proposed cannot skip Ready To Launch
        ([], "Completed"),
        (["Ready To Launch"], "Completed"),
        (["Ready To Launch"], "Proposed"),
        (["Ready To Launch", "Launched"], "Ready To Launch"),
        (["Ready To Launch", "Launched", "Completed"], "Canceled"),  # Completed is final
        (["Canceled"], "Ready To Launch"),  # Canceled is final
    ],
)
def test_illegal_campaign_transitions_are_refused(crm, path: list[str], illegal: str) -> None:  # noqa: ANN001
    cid = crm.call(create_campaign, name="C", budget="1")["campaign_id"]
    for state in path:
        crm.call(set_campaign_state, campaign_id=cid, state=state)
    before = get(crm, Campaign, cid).state
    with pytest.raises(IllegalTransition, match=f"campaign CMP-00001 is {before}; it cannot move to {illegal}"):
        crm.call(set_campaign_state, campaign_id=cid, state=illegal)
    assert get(crm, Campaign, cid).state == before


def test_bad_campaign_input_is_refused(crm) -> None:  # noqa: ANN001
    with pytest.raises(DomainError, match="budget must be at least 0"):
        crm.call(create_campaign, name="C", budget="-1")
    with pytest.raises(DomainError, match="campaign name must be non-empty text"):
        crm.call(create_campaign, name=" ", budget="1")
    with pytest.raises(DomainError, match="campaign name must be at most 200 characters"):
        crm.call(create_campaign, name="x" * 201, budget="1")
    cid = crm.call(create_campaign, name="C", budget="1")["campaign_id"]
    with pytest.raises(DomainError, match="campaign has no state 'Running'"):
        crm.call(set_campaign_state, campaign_id=cid, state="Running")
    with pytest.raises(RecordNotFound, match="campaign 999 does not exist"):
        crm.call(set_campaign_state, campaign_id=999, state="Canceled")


def test_canceling_a_campaign_cancels_its_undistributed_activities(crm) -> None:  # noqa: ANN001
    cid = crm.call(create_campaign, name="C", budget="1")["campaign_id"]
    act = crm.call(create_campaign_activity, campaign_id=cid, channel="email", subject="Hi")
    crm.call(set_campaign_state, campaign_id=cid, state="Canceled")
    assert get(crm, CampaignActivity, act["campaign_activity_id"]).state == "Canceled"
    with pytest.raises(IllegalTransition, match="only a Proposed or Ready To Launch or Launched campaign"):
        crm.call(create_campaign_activity, campaign_id=cid, channel="email", subject="Again")


def test_campaign_activity_templates_and_channels_are_checked_when_created(crm) -> None:  # noqa: ANN001
    cid = crm.call(create_campaign, name="C", budget="1")["campaign_id"]
    with pytest.raises(TemplateProblem, match="body template cannot be rendered: 'dict object' has no attribute"):
        crm.call(create_campaign_activity, campaign_id=cid, channel="email", subject="Hi",
                 template_body="Dear {{ member.frist_name }}")
    with pytest.raises(TemplateProblem, match="subject template cannot be rendered"):
        crm.call(create_campaign_activity, campaign_id=cid, channel="email", subject="Hi {{ member.name ")
    with pytest.raises(DomainError, match="a social campaign activity cannot be distributed"):
        crm.call(create_campaign_activity, campaign_id=cid, channel="social", subject="Hi")
    with pytest.raises(TemplateProblem, match="body template cannot be rendered: division by zero"):
        crm.call(create_campaign_activity, campaign_id=cid, channel="email", subject="Hi", template_body="{{ 1/0 }}")
    with pytest.raises(TemplateProblem, match="access to attribute '__class__'"):
        crm.call(create_campaign_activity, campaign_id=cid, channel="email", subject="Hi",
                 template_body="{{ member.__class__.__mro__ }}")
    with pytest.raises(DomainError, match="channel must be one of"):
        crm.call(create_campaign_activity, campaign_id=cid, channel="pigeon", subject="Hi")
    with pytest.raises(DomainError, match="wave must be a whole number from 1"):
        crm.call(create_campaign_activity, campaign_id=cid, channel="email", subject="Hi", wave=0)
    ok = crm.call(create_campaign_activity, campaign_id=cid, channel="letter", subject="Hi", cost="12.5")
    assert (ok["state"], ok["status"], ok["cost"], ok["wave"]) == ("Open", "Proposed", "12.50", 1)


# -- marketing lists ------------------------------------------------------------------
def test_dynamic_list_ages_25_and_35_inclusive_24_and_36_excluded_in_the_region(crm) -> None:  # noqa: ANN001
    # today is 2026-01-05
    exactly_25 = add_contact(crm, "Twentyfive", born=date(2001, 1, 5))  # 25th birthday today
    still_24 = add_contact(crm, "Twentyfour", born=date(2001, 1, 6))  # 25 tomorrow
    still_35 = add_contact(crm, "Thirtyfive", born=date(1990, 1, 6))  # 36 tomorrow
    just_36 = add_contact(crm, "Thirtysix", born=date(1990, 1, 5))  # 36th birthday today
    add_contact(crm, "Us", born=date(1995, 6, 1), region="US")
    lower_eu = add_contact(crm, "Lowercase", born=date(1995, 6, 1), region="eu")
    add_contact(crm, "Nobirthday", born=None)
    add_contact(crm, "Gone", born=date(1995, 6, 1), active=False)
    mlist = crm.call(create_list, name="EU 25-35", member_type="contact", dynamic=True, criteria=EU_25_35)
    assert mlist["member_count"] == 0  # resolved on demand, not at creation

    resolved = crm.call(resolve_list, list_id=mlist["list_id"])
    assert (resolved["member_count"], resolved["added"], resolved["removed"]) == (3, 3, 0)
    assert members(crm, mlist["list_id"]) == sorted([exactly_25, still_35, lower_eu])
    assert get(crm, MarketingList, mlist["list_id"]).resolved_at == crm.now

    crm.advance(days=1)  # a day later one turns 25, another 36
    again = crm.call(resolve_list, list_id=mlist["list_id"])
    assert (again["member_count"], again["added"], again["removed"]) == (3, 1, 1)
    assert members(crm, mlist["list_id"]) == sorted([exactly_25, still_24, lower_eu])
    assert just_36 not in members(crm, mlist["list_id"])


def test_leap_day_birthdays_count_from_the_first_of_march_in_common_years(crm) -> None:  # noqa: ANN001
    assert years_before(date(2025, 2, 28), 25) == date(2000, 2, 28)
    assert years_before(date(2028, 2, 29), 25) == date(2003, 2, 28)
    assert years_before(date(2026, 1, 5), 25) == date(2001, 1, 5)


def test_dynamic_list_region_list_and_subscribed_only(crm) -> None:  # noqa: ANN001
    eu = add_contact(crm, "Eu", region="EU")
    uk = add_contact(crm, "Uk", region="UK")
    add_contact(crm, "Us", region="US")
    opted_out = add_contact(crm, "Optout", region="EU", unsubscribed=True)
    both = crm.call(create_list, name="Europe", member_type="contact", dynamic=True,
                    criteria={"region": ["EU", "UK"]})
    assert members(crm, both["list_id"]) == []
    crm.call(resolve_list, list_id=both["list_id"])
    assert members(crm, both["list_id"]) == [eu, uk, opted_out]
    subscribed = crm.call(create_list, name="Europe, subscribed", member_type="contact", dynamic=True,
                          criteria={"region": ["EU", "UK"], "subscribed_only": True})
    assert crm.call(resolve_list, list_id=subscribed["list_id"])["member_count"] == 2


def test_lead_and_account_lists_filter_by_their_own_fields(crm) -> None:  # noqa: ANN001
    hot = crm.call(capture_lead, email="hot@example.com", region="EU")["lead_id"]
    crm.call(record_lead_score, lead_id=hot, score=90, rating="Hot")
    crm.call(capture_lead, email="cold@example.com", region="EU")
    leads = crm.call(create_list, name="Hot EU leads", member_type="lead", dynamic=True,
                     criteria={"region": "EU", "rating": "Hot"})
    assert crm.call(resolve_list, list_id=leads["list_id"])["member_count"] == 1
    assert members(crm, leads["list_id"]) == [hot]
    with crm.session() as ses:
        acc = Account(name="Acme", region="EU")
        lc.ACCOUNT.start(acc, crm.now)
        ses.add(acc)
    accounts = crm.call(create_list, name="EU accounts", member_type="account", dynamic=True,
                        criteria={"region": "EU"})
    assert crm.call(resolve_list, list_id=accounts["list_id"])["member_count"] == 1


@pytest.mark.parametrize(
    "member_type, criteria, message",
    [
        ("contact", {"age_min": 36, "age_max": 35}, "age_min 36 is above age_max 35"),
        ("contact", {"age_min": "25"}, "age_min must be a whole number of years"),
        ("contact", {"shoe_size": 42}, "cannot be filtered by shoe_size"),
        ("account", {"age_min": 25}, "a account list cannot be filtered by age_min"),
        ("contact", {"member_type": "lead"}, "criteria name member type 'lead' but the list holds contacts"),
        ("contact", {"region": []}, "criterion region must be a region name"),
        ("lead", {"rating": "Lukewarm"}, "criterion rating must be one of Hot, Warm, Cold"),
        ("contact", ["EU"], "criteria must be an object"),
    ],
)
def test_bad_criteria_are_refused(crm, member_type: str, criteria: Any, message: str) -> None:  # noqa: ANN001
    with pytest.raises(DomainError, match=message):
        crm.call(create_list, name="bad", member_type=member_type, dynamic=True, criteria=criteria)
    with crm.session() as ses:
        assert ses.scalar(select(func.count()).select_from(MarketingList)) == 0


def test_static_list_keeps_its_members_and_adds_each_once(crm) -> None:  # noqa: ANN001
    a, b = add_contact(crm, "A", region="US"), add_contact(crm, "B")
    static = crm.call(create_list, name="VIP", member_type="contact", member_ids=[a])
    assert static["member_count"] == 1
    added = crm.call(add_list_members, list_id=static["list_id"], member_ids=[a, b, b])
    assert (added["added"], added["member_count"]) == (1, 2)
    resolved = crm.call(resolve_list, list_id=static["list_id"])
    assert (resolved["member_count"], resolved["added"], resolved["removed"]) == (2, 0, 0)
    with pytest.raises(RecordNotFound, match="contact 999 does not exist"):
        crm.call(add_list_members, list_id=static["list_id"], member_ids=[999])
    with pytest.raises(DomainError, match="a static list takes member ids, not criteria"):
        crm.call(create_list, name="X", member_type="contact", criteria={"region": "EU"})
    with pytest.raises(DomainError, match="a marketing list named 'VIP' exists already"):
        crm.call(create_list, name="VIP", member_type="contact")
    dynamic = crm.call(create_list, name="D", member_type="contact", dynamic=True, criteria={})
    with pytest.raises(DomainError, match="is dynamic; its members come from its criteria"):
        crm.call(add_list_members, list_id=dynamic["list_id"], member_ids=[a])


def test_a_locked_dynamic_list_keeps_its_members(crm) -> None:  # noqa: ANN001
    first = add_contact(crm, "First")
    dyn = crm.call(create_list, name="D", member_type="contact", dynamic=True, criteria={"region": "EU"})
    crm.call(resolve_list, list_id=dyn["list_id"])
    with crm.session() as ses:
        ses.get(MarketingList, dyn["list_id"]).locked = True
    add_contact(crm, "Second")
    resolved = crm.call(resolve_list, list_id=dyn["list_id"])
    assert (resolved["member_count"], resolved["added"], resolved["locked"]) == (1, 0, True)
    assert members(crm, dyn["list_id"]) == [first]


# -- distribution ---------------------------------------------------------------------
@pytest.fixture
def audience(crm, wf_instance) -> dict[str, Any]:  # noqa: ANN001
    """A launched campaign over a dynamic EU 25–35 list and a static list overlapping it."""
    ids = {
        "ada": add_contact(crm, "Lovelace", first="Ada", born=date(1995, 3, 1)),
        "bob": add_contact(crm, "Brown", first="Bob", born=date(1996, 7, 1)),
        "out": add_contact(crm, "Optout", first="Olga", born=date(1994, 1, 1), unsubscribed=True),
        "old": add_contact(crm, "Old", first="Otto", born=date(1950, 1, 1)),
        "nomail": add_contact(crm, "Nomail", first="Nina", born=date(1995, 1, 1), email=None),
    }
    dyn = crm.call(create_list, name="EU 25-35", member_type="contact", dynamic=True, criteria=EU_25_35)
    static = crm.call(create_list, name="Friends", member_type="contact", member_ids=[ids["ada"], ids["old"]])
    campaign = launched(crm, list_ids=[dyn["list_id"], static["list_id"]])
    activity = crm.call(create_campaign_activity, campaign_id=campaign["campaign_id"], channel="email",
                        subject="{{ member.first_name }}, spring is here",
                        template_body="Dear {{ member.name }},\nJoin {{ campaign.name }} ({{ activity.subject }}).",
                        cost="250")
    return {**ids, "campaign": campaign["campaign_id"], "activity": activity["campaign_activity_id"],
            "dynamic_list": dyn["list_id"]}


def test_distribution_sends_one_rendered_email_per_member_and_skips_unsubscribed(crm, audience) -> None:  # noqa: ANN001
    result = crm.call(distribute_activity, task_id="wave1", campaign_activity_id=audience["activity"])
    assert {k: result[k] for k in ("sent", "skipped_unsubscribed", "skipped_no_email", "skipped_duplicate",
                                   "skipped_inactive", "members", "skipped")} == {
        "sent": 3, "skipped_unsubscribed": 1, "skipped_no_email": 1, "skipped_duplicate": 0,
        "skipped_inactive": 0, "members": 5, "skipped": 2}
    assert result["lists"] == [{"list_id": audience["dynamic_list"], "member_count": 4},
                               {"list_id": audience["dynamic_list"] + 1, "member_count": 2}]
    rows = outbox(crm)
    by_to = {r.payload["to"]: r for r in rows}
    assert sorted(by_to) == ["brown@example.com", "lovelace@example.com", "old@example.com"]
    ada = by_to["lovelace@example.com"]
    assert ada.idempotency_key == f"campaign-activity-{audience['activity']}.contact-{audience['ada']}"
    assert ada.payload["subject"] == "Ada, spring is here"
    assert ada.payload["body"] == "Dear Ada Lovelace,\nJoin Spring (Ada, spring is here)."
    assert (ada.channel, ada.state, ada.instance_id) == ("email", "pending", 1)
    act = get(crm, CampaignActivity, audience["activity"])
    assert (act.state, act.distributed_count, act.skipped_count, act.distributed_at) == ("Completed", 3, 2, crm.now)
    with crm.session() as ses:
        logged = ses.scalars(select(Activity).where(Activity.activity_type == "email")).all()
        assert sorted((a.regarding_type, a.regarding_id, a.state, a.status) for a in logged) == sorted(
            ("contact", audience[k], "Completed", "Sent") for k in ("ada", "bob", "old"))
        assert all(a.details["campaign_activity_id"] == audience["activity"] for a in logged)


def test_retried_distribution_never_queues_a_second_email(crm, audience) -> None:  # noqa: ANN001
    first = crm.call(distribute_activity, task_id="wave1", campaign_activity_id=audience["activity"])
    keys = [r.idempotency_key for r in outbox(crm)]
    # the engine retries the same task (same idempotency key): the stored result, nothing sent
    assert crm.call(distribute_activity, task_id="wave1", campaign_activity_id=audience["activity"]) == first
    # a later task distributing the same activity again: reported, nothing sent
    again = crm.call(distribute_activity, task_id="wave1-again", campaign_activity_id=audience["activity"])
    assert (again["already_distributed"], again["sent"], again["skipped"]) == (True, 3, 2)
    assert [r.idempotency_key for r in outbox(crm)] == keys and len(keys) == 3
    with crm.session() as ses:
        assert ses.scalar(select(func.count()).select_from(Activity).where(Activity.activity_type == "email")) == 3


def test_distribution_needs_a_launched_campaign_and_an_open_activity(crm, wf_instance) -> None:  # noqa: ANN001
    cid = crm.call(create_campaign, name="C", budget="1")["campaign_id"]
    act = crm.call(create_campaign_activity, campaign_id=cid, channel="email", subject="Hi")
    with pytest.raises(IllegalTransition, match="campaign CMP-00001 is Proposed; only a Launched campaign"):
        crm.call(distribute_activity, campaign_activity_id=act["campaign_activity_id"])
    crm.call(set_campaign_state, campaign_id=cid, state="Canceled")
    with pytest.raises(IllegalTransition, match="campaign activity #1 is Canceled"):
        crm.call(distribute_activity, campaign_activity_id=act["campaign_activity_id"])
    assert outbox(crm) == []


def test_zero_members_is_an_empty_distribution(crm, wf_instance) -> None:  # noqa: ANN001
    empty = crm.call(create_list, name="Nobody", member_type="contact", dynamic=True, criteria={"region": "Mars"})
    add_contact(crm, "Earthling", region="EU")
    campaign = launched(crm, list_ids=[empty["list_id"]])
    act = crm.call(create_campaign_activity, campaign_id=campaign["campaign_id"], channel="email", subject="Hi")
    result = crm.call(distribute_activity, campaign_activity_id=act["campaign_activity_id"])
    assert (result["members"], result["sent"], result["skipped"]) == (0, 0, 0)
    assert get(crm, CampaignActivity, act["campaign_activity_id"]).state == "Completed"
    no_lists = launched(crm, name="No lists")
    act = crm.call(create_campaign_activity, campaign_id=no_lists["campaign_id"], channel="email", subject="Hi")
    assert crm.call(distribute_activity, campaign_activity_id=act["campaign_activity_id"])["sent"] == 0
    assert outbox(crm) == []


def test_overlapping_lists_and_shared_addresses_get_one_email(crm, wf_instance) -> None:  # noqa: ANN001
    ada = add_contact(crm, "Lovelace", first="Ada")
    lead = crm.call(capture_lead, email="LOVELACE@example.com", first_name="Ada")["lead_id"]
    contacts = crm.call(create_list, name="C", member_type="contact", member_ids=[ada])
    contacts2 = crm.call(create_list, name="C2", member_type="contact", member_ids=[ada])
    leads = crm.call(create_list, name="L", member_type="lead", member_ids=[lead])
    campaign = launched(crm, list_ids=[contacts["list_id"], contacts2["list_id"], leads["list_id"]])
    act = crm.call(create_campaign_activity, campaign_id=campaign["campaign_id"], channel="email", subject="Hi")
    result = crm.call(distribute_activity, campaign_activity_id=act["campaign_activity_id"])
    assert (result["members"], result["sent"], result["skipped_duplicate"]) == (2, 1, 1)
    assert [r.payload["to"] for r in outbox(crm)] == ["lovelace@example.com"]


def test_inactive_members_are_skipped(crm, wf_instance) -> None:  # noqa: ANN001
    live, gone = add_contact(crm, "Live"), add_contact(crm, "Gone")
    static = crm.call(create_list, name="S", member_type="contact", member_ids=[live, gone])
    with crm.session() as ses:
        lc.CONTACT.move(ses.get(Contact, gone), "Inactive", None, crm.now)
    campaign = launched(crm, list_ids=[static["list_id"]])
    act = crm.call(create_campaign_activity, campaign_id=campaign["campaign_id"], channel="email", subject="Hi")
    result = crm.call(distribute_activity, campaign_activity_id=act["campaign_activity_id"])
    assert (result["sent"], result["skipped_inactive"]) == (1, 1)


def test_phone_activity_creates_open_calls_and_sends_nothing(crm, wf_instance) -> None:  # noqa: ANN001
    a, b = add_contact(crm, "A"), add_contact(crm, "B", email=None)
    static = crm.call(create_list, name="S", member_type="contact", member_ids=[a, b])
    campaign = launched(crm, list_ids=[static["list_id"]])
    act = crm.call(create_campaign_activity, campaign_id=campaign["campaign_id"], channel="phone",
                   subject="Call {{ member.name }}")
    assert crm.call(distribute_activity, campaign_activity_id=act["campaign_activity_id"])["sent"] == 2
    assert outbox(crm) == []
    with crm.session() as ses:
        calls = ses.scalars(select(Activity).order_by(Activity.id)).all()
        assert [(c.activity_type, c.state, c.subject) for c in calls] == [
            ("phone_call", "Open", "Call A"), ("phone_call", "Open", "Call B")]


def test_quick_campaign_is_one_activity_over_one_list_launched_and_distributed(crm, wf_instance) -> None:  # noqa: ANN001
    a, b = add_contact(crm, "A", first="Al"), add_contact(crm, "B", unsubscribed=True)
    static = crm.call(create_list, name="S", member_type="contact", member_ids=[a, b])
    result = crm.call(quick_campaign, list_id=static["list_id"], channel="email", subject="Sale, {{ member.name }}!",
                      cost="40")
    assert (result["sent"], result["skipped_unsubscribed"], result["state"]) == (1, 1, "Launched")
    campaign = get(crm, Campaign, result["campaign_id"])
    assert (campaign.quick, campaign.name, campaign.number) == (True, "Quick campaign: Sale, {{ member.name }}!",
                                                                "CMP-00001")
    [row] = outbox(crm)
    assert (row.payload["to"], row.payload["subject"]) == ("a@example.com", "Sale, Al A!")
    assert "Hello Al," in row.payload["body"] and "campaign Quick campaign" in row.payload["body"]
    with crm.session() as ses:
        assert ses.scalar(select(func.count()).select_from(CampaignActivity)) == 1


# -- responses and leads --------------------------------------------------------------
def test_response_is_matched_logged_and_converted_to_a_lead_keeping_the_campaign(crm, audience) -> None:  # noqa: ANN001
    with pytest.raises(IllegalTransition, match="only a Launched or Completed campaign can be responded to"):
        crm.call(record_response, campaign_id=crm.call(create_campaign, name="P", budget="1")["campaign_id"],
                 email="x@example.com")
    resp = crm.call(record_response, campaign_id=audience["campaign"], email="Lovelace@Example.com",
                    response_text="Yes please\ncall me", first_name="Ada", last_name="Lovelace",
                    company_name="Analytical Ltd", campaign_activity_id=audience["activity"])
    assert (resp["customer_type"], resp["customer_id"], resp["state"]) == ("contact", audience["ada"], "Open")
    log = get(crm, Activity, resp["activity_id"])
    assert (log.activity_type, log.subject, log.description, log.state, log.regarding_id) == (
        "campaign_response", "Yes please", "Yes please\ncall me", "Completed", audience["ada"])

    lead = crm.call(convert_response_to_lead, response_id=resp["response_id"])
    assert (lead["source_campaign_id"], lead["status"], lead["duplicate"]) == (audience["campaign"], "Converted", False)
    record = get(crm, Lead, lead["lead_id"])
    assert (record.email_normalized, record.company_name, record.lead_source, record.source_campaign_id) == (
        "lovelace@example.com", "Analytical Ltd", "Campaign", audience["campaign"])
    assert get(crm, CampaignResponse, resp["response_id"]).converted_lead_id == lead["lead_id"]
    again = crm.call(convert_response_to_lead, response_id=resp["response_id"])
    assert (again["lead_id"], again["already_converted"]) == (lead["lead_id"], True)

    # a second response from the same person feeds the same open lead (sales dedupe)
    second = crm.call(record_response, campaign_id=audience["campaign"], email="lovelace@example.com")
    dup = crm.call(convert_response_to_lead, response_id=second["response_id"])
    assert (dup["lead_id"], dup["duplicate"]) == (lead["lead_id"], True)

    # qualifying the lead carries the campaign to the opportunity
    opp = crm.call(qualify_lead, lead_id=lead["lead_id"])
    assert opp["source_campaign_id"] == audience["campaign"]


def test_existing_open_lead_gets_the_campaign_only_if_it_had_none(crm, audience) -> None:  # noqa: ANN001
    crm.call(capture_lead, email="new@example.com")
    resp = crm.call(record_response, campaign_id=audience["campaign"], email="new@example.com")
    assert resp["customer_type"] == "lead"
    assert crm.call(convert_response_to_lead, response_id=resp["response_id"])["source_campaign_id"] == (
        audience["campaign"])


def test_do_not_send_unsubscribes_and_later_waves_skip_the_address(crm, audience) -> None:  # noqa: ANN001
    crm.call(distribute_activity, campaign_activity_id=audience["activity"])
    stop = crm.call(record_response, campaign_id=audience["campaign"], email="brown@example.com",
                    response_code="Do Not Send Marketing Materials")
    assert stop["unsubscribed"] == 1
    assert get(crm, Contact, audience["bob"]).unsubscribed is True
    with pytest.raises(DomainError, match="asked not to be contacted"):
        crm.call(convert_response_to_lead, response_id=stop["response_id"])
    # a lead with an address that asked to stop is suppressed too
    lead = crm.call(capture_lead, email="stop@example.com")["lead_id"]
    crm.call(record_response, campaign_id=audience["campaign"], email="stop@example.com",
             response_code="Do Not Send Marketing Materials")
    leads = crm.call(create_list, name="Leads", member_type="lead", member_ids=[lead])
    crm.call(add_campaign_list, campaign_id=audience["campaign"], list_id=leads["list_id"])
    wave2 = crm.call(create_campaign_activity, campaign_id=audience["campaign"], channel="email",
                     subject="Wave 2", wave=2)
    result = crm.call(distribute_activity, campaign_activity_id=wave2["campaign_activity_id"])
    assert (result["sent"], result["skipped_unsubscribed"]) == (2, 3)
    wave2_to = sorted(r.payload["to"] for r in outbox(crm) if r.payload["campaign_activity_id"] == wave2[
        "campaign_activity_id"])
    assert wave2_to == ["lovelace@example.com", "old@example.com"]


def test_response_input_and_closing(crm, audience) -> None:  # noqa: ANN001
    with pytest.raises(DomainError, match="response code must be one of"):
        crm.call(record_response, campaign_id=audience["campaign"], email="a@example.com", response_code="Maybe")
    with pytest.raises(DomainError, match="is not an email address"):
        crm.call(record_response, campaign_id=audience["campaign"], email="nope")
    other = launched(crm, name="Other")
    with pytest.raises(DomainError, match="belongs to another campaign"):
        crm.call(record_response, campaign_id=other["campaign_id"], email="a@example.com",
                 campaign_activity_id=audience["activity"])
    phone = crm.call(record_response, campaign_id=audience["campaign"], email=None, channel="phone",
                     response_text="Called back, not now", response_code="Not Interested")
    assert phone["customer_type"] is None
    with pytest.raises(DomainError, match="has no email address; a lead needs one"):
        crm.call(convert_response_to_lead, response_id=phone["response_id"])
    closed = crm.call(close_response, response_id=phone["response_id"])
    assert (closed["state"], closed["status"]) == ("Closed", "Closed")
    with pytest.raises(IllegalTransition, match="campaign response #.* is Closed"):
        crm.call(convert_response_to_lead, response_id=phone["response_id"])


# -- ROI ------------------------------------------------------------------------------
def won_from_campaign(crm, campaign_id: int, email: str, revenue: str, won: bool = True) -> None:  # noqa: ANN001
    resp = crm.call(record_response, campaign_id=campaign_id, email=email)
    lead = crm.call(convert_response_to_lead, response_id=resp["response_id"])
    opp = crm.call(qualify_lead, lead_id=lead["lead_id"])
    crm.call(close_opportunity, opportunity_id=opp["opportunity_id"], won=won, actual_revenue=revenue)


def test_roi_is_won_revenue_from_the_campaigns_leads_against_its_cost(crm) -> None:  # noqa: ANN001
    campaign = launched(crm, budget="5000", other_cost="400")
    cid = campaign["campaign_id"]
    assert crm.call(compute_roi, campaign_id=cid)["revenue"] == "0.00"
    crm.call(create_campaign_activity, campaign_id=cid, channel="email", subject="w1", cost="350.10")
    crm.call(create_campaign_activity, campaign_id=cid, channel="letter", subject="w2", cost="249.90")
    won_from_campaign(crm, cid, "a@example.com", "1500.00")
    won_from_campaign(crm, cid, "b@example.com", "1000.00")
    won_from_campaign(crm, cid, "c@example.com", "777", won=False)  # lost: no revenue
    other = launched(crm, name="Other")
    won_from_campaign(crm, other["campaign_id"], "d@example.com", "99999")  # another campaign's
    roi = crm.call(compute_roi, campaign_id=cid)
    assert roi == {"campaign_id": cid, "cost": "1000.00", "budget": "5000.00", "revenue": "2500.00",
                   "roi": "1.5000", "roi_percent": "150.00", "won_opportunities": 2, "responses": 3, "leads": 3}


def test_roi_is_exact_decimal_negative_when_losing_and_undefined_without_cost(crm) -> None:  # noqa: ANN001
    cid = launched(crm)["campaign_id"]
    assert crm.call(compute_roi, campaign_id=cid)["roi"] is None  # no cost yet
    crm.call(create_campaign_activity, campaign_id=cid, channel="email", subject="w1", cost="300")
    won_from_campaign(crm, cid, "a@example.com", "400")
    roi = crm.call(compute_roi, campaign_id=cid)
    assert (roi["roi"], roi["roi_percent"]) == ("0.3333", "33.33")  # 100/300, rounded, not 0.33333334
    crm.call(create_campaign_activity, campaign_id=cid, channel="email", subject="w2", cost="0.10")
    roi = crm.call(compute_roi, campaign_id=cid)
    assert (roi["cost"], roi["roi"]) == ("300.10", "0.3329")
    loser = launched(crm, name="Loser")["campaign_id"]
    crm.call(create_campaign_activity, campaign_id=loser, channel="email", subject="w1", cost="0.03")
    assert crm.call(compute_roi, campaign_id=loser)["roi"] == "-1.0000"


def test_canceled_activities_cost_nothing(crm) -> None:  # noqa: ANN001
    cid = crm.call(create_campaign, name="C", budget="1", other_cost="10")["campaign_id"]
    crm.call(create_campaign_activity, campaign_id=cid, channel="email", subject="w1", cost="90")
    crm.call(set_campaign_state, campaign_id=cid, state="Canceled")
    assert crm.call(compute_roi, campaign_id=cid)["cost"] == "10.00"
    with crm.session() as ses:
        assert ses.scalar(select(func.count()).select_from(MarketingListMember)) == 0

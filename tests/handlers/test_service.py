"""Service handlers against a real migrated database, called as the engine calls them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

import handlers
from engine.models import OutboxMessage
from engine.services import BpmnError, HandlerRegistry
from handlers import catalog
from handlers import lifecycle as lc
from handlers.errors import DomainError, IllegalTransition, RecordNotFound
from handlers.models import (
    Activity,
    Case,
    CaseArticle,
    CaseResolution,
    Contact,
    Contract,
    Entitlement,
    KnowledgeArticle,
    SlaKpiInstance,
)
from handlers.service import cases, entitlements, knowledge, sla

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # the `crm` fixture's clock


# -- helpers ---------------------------------------------------------------------------
@pytest.fixture
def customer(crm) -> dict[str, int]:  # noqa: ANN001
    """A contact (ada@example.com) working for an account."""
    with crm.session() as ses:
        account = catalog.add_account(ses, crm.now, "Analytical Ltd")
        contact = catalog.add_contact(ses, crm.now, "Lovelace", "Ada", email="ada@example.com", account_id=account.id)
        return {"account": account.id, "contact": contact.id}


def add_entitlement(
    crm,  # noqa: ANN001
    customer: dict[str, int],
    *,
    allocation: str = "cases",
    decrease_on: str = "creation",
    terms: str = "5",
    start: date = date(2026, 1, 1),
    end: date = date(2026, 12, 31),
    contract_state: str | None = None,
    on_contact: bool = False,
) -> int:
    with crm.session() as ses:
        contract_id = None
        if contract_state is not None:
            contract = Contract(
                number="CON-1", title="Support", account_id=customer["account"], start_date=start, end_date=end
            )
            lc.CONTRACT.start(contract, crm.now, contract_state)
            ses.add(contract)
            ses.flush()
            contract_id = contract.id
        ent = Entitlement(
            name=f"{terms} {allocation}",
            contract_id=contract_id,
            account_id=None if on_contact else customer["account"],
            contact_id=customer["contact"] if on_contact else None,
            allocation_type=allocation,
            decrease_on=decrease_on,
            total_terms=Decimal(terms),
            remaining_terms=Decimal(terms),
            start_date=start,
            end_date=end,
            sla_name="Gold",
        )
        lc.ENTITLEMENT.start(ent, crm.now, "Active")
        ses.add(ent)
        ses.flush()
        return ent.id


def remaining(crm, entitlement_id: int) -> Decimal:  # noqa: ANN001
    with crm.session() as ses:
        return ses.get(Entitlement, entitlement_id).remaining_terms


def new_case(crm, **kw: Any) -> dict[str, Any]:  # noqa: ANN001
    params = {"title": "Cannot reset my password", "origin": "Phone", "customer_email": "ada@example.com"}
    params.update(kw)
    return crm.call(cases.open_case, **params)


def sla_case(crm, fraction: float | None = None) -> dict[str, Any]:  # noqa: ANN001
    """A case opened at START, triaged 4h first response / 24h resolve, SLA started
    (with the default warning fraction unless one is given)."""
    case = new_case(crm)
    crm.call(
        sla.triage, case_id=case["case_id"], priority="High", queue="Tier 1", first_response_hours=4, resolve_hours=24
    )
    extra = {} if fraction is None else {"warning_fraction": fraction}
    crm.call(sla.start_sla, case_id=case["case_id"], **extra)
    return case


def kpi(crm, case_id: int, name: str) -> SlaKpiInstance:  # noqa: ANN001
    with crm.session() as ses:
        row = ses.scalars(
            select(SlaKpiInstance).where(SlaKpiInstance.case_id == case_id, SlaKpiInstance.kpi == name)
        ).one()
        ses.expunge(row)
        return row


def get(crm, model, record_id) -> Any:  # noqa: ANN001
    with crm.session() as ses:
        row = ses.get(model, record_id)
        ses.expunge(row)
        return row


def count(crm, model, *where: Any) -> int:  # noqa: ANN001
    with crm.session() as ses:
        return ses.scalar(select(func.count()).select_from(model).where(*where))


def at(crm, hours: float) -> datetime:  # noqa: ANN001
    """The test start time (the case's creation) plus `hours`."""
    return START + timedelta(hours=hours)


# -- opening ---------------------------------------------------------------------------
def test_open_case_by_phone_links_customer_and_logs_the_call(crm, customer) -> None:  # noqa: ANN001
    with crm.session() as ses:
        product = catalog.add_product(ses, crm.now, "P-1", "Widget")
        product_id = product.id
    case = new_case(crm, description="It says the token expired", product="P-1", case_type="Problem")
    assert (case["number"], case["state"], case["status"]) == ("CAS-00001", "Active", "In Progress")
    assert (case["contact_id"], case["account_id"], case["new_contact"]) == (
        customer["contact"],
        customer["account"],
        False,
    )
    assert case["product_id"] == product_id
    call = get(crm, Activity, case["activity_id"])
    assert (call.activity_type, call.direction, call.state, call.status) == (
        "phone_call",
        "incoming",
        "Completed",
        "Received",
    )
    assert (call.regarding_type, call.regarding_id) == ("case", case["case_id"])
    stored = get(crm, Case, case["case_id"])
    assert (stored.origin, stored.description, stored.case_type, stored.created_at) == (
        "Phone",
        "It says the token expired",
        "Problem",
        crm.now,
    )


def test_open_case_origin_picks_the_activity_and_unknown_email_becomes_contact(crm, customer) -> None:  # noqa: ANN001
    email = new_case(crm, origin="Email", customer_email="New.Person@Example.com")
    assert email["activity_type"] == "email" and email["new_contact"] is True
    contact = get(crm, Contact, email["contact_id"])
    assert (contact.email_normalized, contact.last_name) == ("new.person@example.com", "New.Person")
    again = new_case(crm, origin="Web", customer_email="new.person@example.com", title="Second")
    assert again["contact_id"] == email["contact_id"] and again["new_contact"] is False
    assert again["activity_type"] == "task" and again["number"] == "CAS-00002"
    by_account = new_case(crm, customer_email=None, account_id=customer["account"])
    assert (by_account["account_id"], by_account["contact_id"]) == (customer["account"], None)


def test_open_case_refuses_bad_input(crm, customer) -> None:  # noqa: ANN001
    with pytest.raises(DomainError, match="case origin must be one of Phone, Email, Web"):
        new_case(crm, origin="Fax")
    with pytest.raises(DomainError, match="needs a customer"):
        new_case(crm, customer_email=None)
    with pytest.raises(DomainError, match="is not an email address"):
        new_case(crm, customer_email="nobody")
    with pytest.raises(RecordNotFound, match="contact 99 does not exist"):
        new_case(crm, customer_email=None, contact_id=99)
    with pytest.raises(DomainError, match="product P-9 does not exist"):
        new_case(crm, product="P-9")
    with pytest.raises(DomainError, match="needs a title"):
        new_case(crm, title="  ")
    assert count(crm, Case) == 0


def test_open_case_retried_call_returns_the_same_case(crm, customer) -> None:  # noqa: ANN001
    first = new_case(crm, task_id="open-1")
    assert new_case(crm, task_id="open-1") == first
    assert count(crm, Case) == 1
    assert count(crm, Activity) == 1
    with pytest.raises(DomainError, match="already called for 1:open-1 with other parameters"):
        new_case(crm, task_id="open-1", title="Something else")


# -- entitlements ----------------------------------------------------------------------
def test_entitlement_decreased_on_creation_once(crm, customer) -> None:  # noqa: ANN001
    ent = add_entitlement(crm, customer, terms="2")
    case = new_case(crm)
    result = crm.call(entitlements.check_entitlement, case_id=case["case_id"])
    assert (result["entitlement_id"], result["charged"], result["remaining_terms"]) == (ent, True, "1.000")
    assert get(crm, Case, case["case_id"]).entitlement_id == ent
    assert get(crm, Case, case["case_id"]).sla_name == "Gold"
    # a retried call and a second check (a loop back) both leave the terms alone
    again = crm.call(entitlements.check_entitlement, case_id=case["case_id"])
    assert again["already_linked"] is True and again["charged"] is False
    assert remaining(crm, ent) == Decimal("1")
    crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="Reset")
    assert remaining(crm, ent) == Decimal("1")  # not charged a second time at resolution


def test_entitlement_decreased_on_resolution_once_even_when_reopened(crm, customer) -> None:  # noqa: ANN001
    ent = add_entitlement(crm, customer, decrease_on="resolution", terms="3")
    case = new_case(crm)
    assert crm.call(entitlements.check_entitlement, case_id=case["case_id"])["charged"] is False
    assert remaining(crm, ent) == Decimal("3")
    resolved = crm.call(
        cases.resolve_case, case_id=case["case_id"], resolution_type="Information Provided", summary="Sent the guide"
    )
    assert resolved["entitlement"]["charged"] == "1"
    assert remaining(crm, ent) == Decimal("2")
    crm.call(cases.reopen_case, case_id=case["case_id"])
    crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="Fixed")
    assert remaining(crm, ent) == Decimal("2")


def test_hours_entitlement_charged_time_spent_at_resolution(crm, customer) -> None:  # noqa: ANN001
    ent = add_entitlement(crm, customer, allocation="hours", decrease_on="creation", terms="2")
    case = new_case(crm)
    assert crm.call(entitlements.check_entitlement, case_id=case["case_id"])["charged"] is False
    result = crm.call(
        cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="x",
        time_spent_minutes=90,
    )
    assert remaining(crm, ent) == Decimal("0.5")
    assert result["entitlement"]["uncovered"] == "0.000"
    other = new_case(crm, title="Again")
    crm.call(entitlements.check_entitlement, case_id=other["case_id"])
    over = crm.call(
        cases.resolve_case, case_id=other["case_id"], resolution_type="Problem Solved", summary="x",
        time_spent_minutes=60,
    )
    assert remaining(crm, ent) == Decimal("0")
    assert over["entitlement"]["uncovered"] == "0.500"


def test_no_entitlement_raises_bpmn_error(crm, customer) -> None:  # noqa: ANN001
    case = new_case(crm)
    with pytest.raises(BpmnError) as err:
        crm.call(entitlements.check_entitlement, case_id=case["case_id"])
    assert err.value.code == "no_entitlement"
    assert get(crm, Case, case["case_id"]).entitlement_id is None


@pytest.mark.parametrize(
    "kw",
    [
        {"end": date(2025, 12, 31), "start": date(2025, 1, 1)},  # expired by date
        {"start": date(2026, 2, 1)},  # not started yet
        {"contract_state": "On Hold"},  # contract not active
    ],
)
def test_entitlement_out_of_force_counts_as_none(crm, customer, kw) -> None:  # noqa: ANN001
    add_entitlement(crm, customer, **kw)
    case = new_case(crm)
    with pytest.raises(BpmnError) as err:
        crm.call(entitlements.check_entitlement, case_id=case["case_id"])
    assert err.value.code == "no_entitlement"


def test_exhausted_entitlement_raises_bpmn_error(crm, customer) -> None:  # noqa: ANN001
    ent = add_entitlement(crm, customer, terms="1", contract_state="Active")
    first = new_case(crm)
    crm.call(entitlements.check_entitlement, case_id=first["case_id"])
    assert remaining(crm, ent) == Decimal("0")
    second = new_case(crm, title="Another")
    with pytest.raises(BpmnError) as err:
        crm.call(entitlements.check_entitlement, case_id=second["case_id"])
    assert err.value.code == "entitlement_exhausted"
    assert "CAS-00002" in err.value.message
    assert remaining(crm, ent) == Decimal("0")


def test_contacts_own_entitlement_is_used_before_the_accounts(crm, customer) -> None:  # noqa: ANN001
    account_ent = add_entitlement(crm, customer, terms="5")
    contact_ent = add_entitlement(crm, customer, terms="5", on_contact=True)
    case = new_case(crm)
    assert crm.call(entitlements.check_entitlement, case_id=case["case_id"])["entitlement_id"] == contact_ent
    assert remaining(crm, account_ent) == Decimal("5")


# -- triage and SLA --------------------------------------------------------------------
def test_triage_records_decision_and_targets(crm, customer) -> None:  # noqa: ANN001
    case = new_case(crm)
    crm.advance(minutes=30)  # targets count from the case's creation, not from triage
    result = crm.call(
        sla.triage,
        case_id=case["case_id"],
        priority="High",
        queue="Tier 2",
        first_response_hours="1.5",
        resolve_hours=8,
    )
    assert (result["priority"], result["queue"]) == ("High", "Tier 2")
    assert result["first_response_by"] == at(crm, 1.5).isoformat()
    assert result["resolve_by"] == at(crm, 8).isoformat()
    with pytest.raises(DomainError, match="priority must be one of High, Normal, Low"):
        crm.call(
            sla.triage, case_id=case["case_id"], priority="Urgent", queue="x", first_response_hours=1, resolve_hours=2
        )
    with pytest.raises(DomainError, match="first_response_hours must be more than 0"):
        crm.call(
            sla.triage, case_id=case["case_id"], priority="Low", queue="x", first_response_hours=0, resolve_hours=2
        )


def test_start_sla_sets_warning_and_failure_times(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm)  # default warning at 75 % of the target
    first, resolve = kpi(crm, case["case_id"], "first_response"), kpi(crm, case["case_id"], "resolve")
    assert (first.state, first.status) == ("Active", "In Progress")
    assert (first.warning_at, first.failure_at) == (at(crm, 3), at(crm, 4))
    assert (resolve.warning_at, resolve.failure_at) == (at(crm, 18), at(crm, 24))
    # starting again keeps the KPIs
    again = crm.call(sla.start_sla, case_id=case["case_id"])
    assert again["started"] is False and count(crm, SlaKpiInstance) == 2


def test_warning_fraction_is_a_parameter(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm, fraction=0.5)
    assert kpi(crm, case["case_id"], "first_response").warning_at == at(crm, 2)
    assert kpi(crm, case["case_id"], "resolve").warning_at == at(crm, 12)
    other = new_case(crm)
    with pytest.raises(DomainError, match="no SLA targets; triage it"):
        crm.call(sla.start_sla, case_id=other["case_id"])
    crm.call(sla.triage, case_id=other["case_id"], priority="Low", queue="q", first_response_hours=1, resolve_hours=2)
    with pytest.raises(DomainError, match="warning_fraction must be between 0 and 1"):
        crm.call(sla.start_sla, case_id=other["case_id"], warning_fraction=1.0)


def test_check_sla_warns_then_breaches(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm)
    crm.advance(hours=2, minutes=59)
    status = crm.call(sla.check_sla, case_id=case["case_id"])
    assert (status["first_response"], status["warned"], status["breached"]) == ("In Progress", False, False)
    crm.advance(minutes=1)  # exactly the warning time
    status = crm.call(sla.check_sla, case_id=case["case_id"])
    assert (status["first_response"], status["resolve"]) == ("Nearing Noncompliance", "In Progress")
    assert (status["sla_status"], status["warned"], status["breached"]) == ("Nearing Noncompliance", True, False)
    assert kpi(crm, case["case_id"], "first_response").warned_at == at(crm, 3)
    crm.advance(hours=1)  # the failure time
    status = crm.call(sla.check_sla, case_id=case["case_id"])
    assert (status["first_response"], status["sla_status"], status["breached"]) == (
        "Noncompliant",
        "Noncompliant",
        True,
    )
    first = kpi(crm, case["case_id"], "first_response")
    assert (first.state, first.failed_at) == ("Closed", at(crm, 4))
    # a late first response does not undo the breach
    late = crm.call(sla.record_first_response, case_id=case["case_id"])
    assert late["kpis"]["first_response"]["status"] == "Noncompliant"


def test_first_response_in_time_succeeds_late_is_noncompliant(crm, customer) -> None:  # noqa: ANN001
    ok, late = sla_case(crm), sla_case(crm)
    crm.now = at(crm, 3.5)  # warned, but not failed
    result = crm.call(sla.record_first_response, case_id=ok["case_id"])
    assert result["kpis"]["first_response"]["status"] == "Succeeded" and result["recorded"] is True
    assert kpi(crm, ok["case_id"], "first_response").succeeded_at == at(crm, 3.5)
    crm.now = at(crm, 4) + timedelta(seconds=1)  # past the failure time, no check_sla ran in between
    second = crm.call(sla.record_first_response, case_id=ok["case_id"])
    assert second["recorded"] is False and second["first_responded_at"] == at(crm, 3.5).isoformat()
    assert second["kpis"]["first_response"]["status"] == "Succeeded"
    result = crm.call(sla.record_first_response, case_id=late["case_id"])
    assert result["kpis"]["first_response"]["status"] == "Noncompliant"
    assert result["kpis"]["resolve"]["status"] == "In Progress"
    assert kpi(crm, late["case_id"], "first_response").failed_at == at(crm, 4) + timedelta(seconds=1)


def test_pause_for_two_hours_pushes_both_times_by_two_hours(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm)  # first response: warning 3h, failure 4h; resolve: 18h / 24h
    crm.now = at(crm, 2.5)
    paused = crm.call(sla.pause_sla, case_id=case["case_id"])
    assert (paused["state"], paused["status"], paused["sla_status"]) == ("Active", "On Hold", "Paused")
    assert {k["status"] for k in paused["kpis"].values()} == {"Paused"}
    crm.now = at(crm, 4.25)  # the old failure time has passed while paused: nothing changes
    assert crm.call(sla.check_sla, case_id=case["case_id"])["first_response"] == "Paused"
    crm.now = at(crm, 4.5)  # resume after exactly 2h on hold
    resumed = crm.call(sla.resume_sla, case_id=case["case_id"])
    assert (resumed["status"], resumed["paused_seconds"]) == ("In Progress", 7200)
    first, resolve = kpi(crm, case["case_id"], "first_response"), kpi(crm, case["case_id"], "resolve")
    assert (first.status, first.warning_at, first.failure_at) == ("In Progress", at(crm, 5), at(crm, 6))
    assert (resolve.status, resolve.warning_at, resolve.failure_at) == ("In Progress", at(crm, 20), at(crm, 26))
    assert first.paused_seconds == 7200 and first.paused_at is None
    stored = get(crm, Case, case["case_id"])
    assert (stored.first_response_by, stored.resolve_by, stored.on_hold_since) == (at(crm, 6), at(crm, 26), None)
    crm.now = at(crm, 5.5)
    assert crm.call(sla.check_sla, case_id=case["case_id"])["first_response"] == "Nearing Noncompliance"
    crm.now = at(crm, 6)
    assert crm.call(sla.check_sla, case_id=case["case_id"])["first_response"] == "Noncompliant"


def test_resolving_while_on_hold_counts_the_hold(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm)
    crm.call(sla.record_first_response, case_id=case["case_id"])
    crm.now = at(crm, 20)
    crm.call(sla.pause_sla, case_id=case["case_id"])
    crm.now = at(crm, 26)  # past the resolve-by time, but 6h of it on hold
    result = crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="x")
    assert result["kpis"]["resolve"]["status"] == "Succeeded"
    assert get(crm, Case, case["case_id"]).on_hold_since is None


def test_without_a_calendar_holds_and_reopens_count_elapsed_seconds(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm)  # no calendar: 4h / 24h on the wall clock
    assert {k["calendar"] for k in crm.call(sla.check_sla, case_id=case["case_id"])["kpis"].values()} == {None}
    crm.now = at(crm, 1)
    crm.call(sla.record_first_response, case_id=case["case_id"])
    crm.now = at(crm, 8)  # Monday 17:00: the hold runs through the night
    crm.call(sla.pause_sla, case_id=case["case_id"])
    crm.now = at(crm, 24)  # Tuesday 09:00
    crm.call(sla.resume_sla, case_id=case["case_id"])
    resolve = kpi(crm, case["case_id"], "resolve")
    assert (resolve.calendar, resolve.paused_seconds, resolve.failure_at) == (None, 16 * 3600, at(crm, 40))
    crm.now = at(crm, 30)
    crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="x")
    crm.now = at(crm, 33)
    crm.call(cases.reopen_case, case_id=case["case_id"])
    resolve = kpi(crm, case["case_id"], "resolve")
    assert (resolve.paused_seconds, resolve.warning_at, resolve.failure_at) == (19 * 3600, at(crm, 37), at(crm, 43))


def test_pause_and_resume_refuse_wrong_states(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm)
    with pytest.raises(DomainError, match=r"is Active \(In Progress\); only a case On Hold can be resumed"):
        crm.call(sla.resume_sla, case_id=case["case_id"])
    crm.call(sla.pause_sla, case_id=case["case_id"])
    with pytest.raises(IllegalTransition, match=r"case CAS-00001 is already Active \(On Hold\)"):
        crm.call(sla.pause_sla, case_id=case["case_id"])
    crm.call(sla.resume_sla, case_id=case["case_id"])
    crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="x")
    for op in (
        sla.pause_sla,
        sla.resume_sla,
        sla.record_first_response,
        knowledge.suggest_articles,
        sla.start_sla,
        entitlements.check_entitlement,
    ):
        with pytest.raises(IllegalTransition, match="case CAS-00001 is Resolved; only an Active case can be"):
            crm.call(op, case_id=case["case_id"])
    with pytest.raises(IllegalTransition, match="case CAS-00001 is Resolved; only an Active case can be triaged"):
        crm.call(
            sla.triage, case_id=case["case_id"], priority="Low", queue="q", first_response_hours=1, resolve_hours=2
        )


def test_retriage_moves_running_kpis(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm)  # 4h / 24h, warning at 75 %
    crm.now = at(crm, 1)
    result = crm.call(
        sla.triage,
        case_id=case["case_id"],
        priority="High",
        queue="Escalations",
        first_response_hours=2,
        resolve_hours=8,
    )
    first = kpi(crm, case["case_id"], "first_response")
    assert (first.warning_at, first.failure_at) == (at(crm, 1.5), at(crm, 2))
    assert result["resolve_by"] == at(crm, 8).isoformat()


# -- knowledge -------------------------------------------------------------------------
def add_article(
    crm,
    number: str,
    title: str,
    content: str,
    state: str = "Published",  # noqa: ANN001
    keywords: str | None = None,
) -> int:
    with crm.session() as ses:
        article = KnowledgeArticle(number=number, title=title, content=content, keywords=keywords)
        if state == "Published":
            lc.ARTICLE.start(article, crm.now, "Published")
            article.published_at = crm.now
        else:
            lc.ARTICLE.start(article, crm.now)
        ses.add(article)
        ses.flush()
        return article.id


def test_suggest_articles_ranks_matching_published_first(crm, customer) -> None:  # noqa: ANN001
    draft = add_article(
        crm,
        "KA-1",
        "Reset your password",
        "Password reset token expired: request a new reset link",
        state="Draft",
        keywords="password reset token",
    )
    printer = add_article(crm, "KA-2", "Printer setup", "Install the printer driver. Mentions password once.")
    reset = add_article(
        crm,
        "KA-3",
        "Password reset",
        "When the reset token expired, request a new password link",
        keywords="password token",
    )
    add_article(crm, "KA-4", "Invoices explained", "How invoices are numbered")
    case = new_case(crm, title="Password reset token expired", description="The reset link says token expired")
    result = crm.call(knowledge.suggest_articles, case_id=case["case_id"])
    assert result["article_ids"][0] == reset
    assert draft not in result["article_ids"]
    assert result["article_ids"] == [reset, printer]
    assert result["articles"][0] == {"article_id": reset, "number": "KA-3", "title": "Password reset", "rank": 1}
    with crm.session() as ses:
        links = ses.scalars(select(CaseArticle).order_by(CaseArticle.rank)).all()
        assert [(link.case_id, link.article_id, link.rank) for link in links] == [
            (case["case_id"], reset, 1),
            (case["case_id"], printer, 2),
        ]
    # suggesting again (new call) re-ranks without duplicating links; limit is honoured
    assert crm.call(knowledge.suggest_articles, case_id=case["case_id"], limit=1)["article_ids"] == [reset]
    assert count(crm, CaseArticle) == 2


def test_suggest_articles_with_hostile_text_and_no_match(crm, customer) -> None:  # noqa: ANN001
    add_article(crm, "KA-1", "Password reset", "reset")
    case = new_case(crm, title='"unbalanced AND (NEAR quote* OR -', description="NOT zzz")
    assert crm.call(knowledge.suggest_articles, case_id=case["case_id"])["articles"] == []
    with pytest.raises(DomainError, match="limit must be a whole number"):
        crm.call(knowledge.suggest_articles, case_id=case["case_id"], limit=0)


def test_search_without_fts_ranks_by_matching_terms(crm) -> None:  # noqa: ANN001
    """The fallback used on databases without the FTS5 table (PostgreSQL for now)."""
    printer = add_article(crm, "KA-1", "Printer setup", "mentions password once")
    reset = add_article(crm, "KA-2", "Password reset", "reset the password with the token")
    add_article(crm, "KA-3", "Password reset draft", "password reset token", state="Draft")
    add_article(crm, "KA-4", "Invoices", "numbers")
    with crm.session() as ses:
        assert knowledge._search_like(ses, ["password", "reset", "token"], 5) == [reset, printer]
        assert knowledge._search_like(ses, ["password", "reset"], 1) == [reset]


def test_open_case_finds_account_by_email(crm) -> None:  # noqa: ANN001
    with crm.session() as ses:
        account = catalog.add_account(ses, crm.now, "Acme")
        account.email = "Help@Acme.example"
        account_id = account.id
        catalog.add_account(ses, crm.now, "Other").email = "helpxacme@example.com"
    case = new_case(crm, customer_email="help@acme.example")
    assert (case["account_id"], case["contact_id"], case["new_contact"]) == (account_id, None, False)


# -- resolve, cancel, reopen, close ----------------------------------------------------
def test_resolve_case_records_resolution_and_closes_kpis(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm)
    crm.now = at(crm, 2)
    result = crm.call(
        cases.resolve_case,
        case_id=case["case_id"],
        resolution_type="Problem Solved",
        summary="Sent a new reset link",
        time_spent_minutes=20,
    )
    assert (result["state"], result["status"]) == ("Resolved", "Problem Solved")
    # the resolution answered the customer too
    assert result["kpis"]["first_response"]["status"] == "Succeeded"
    assert result["kpis"]["resolve"]["status"] == "Succeeded"
    resolution = get(crm, CaseResolution, result["resolution_id"])
    assert (resolution.subject, resolution.resolution_type, resolution.time_spent_minutes, resolution.resolved_at) == (
        "Sent a new reset link",
        "Problem Solved",
        20,
        at(crm, 2),
    )
    assert get(crm, Case, case["case_id"]).resolved_at == at(crm, 2)
    with pytest.raises(IllegalTransition, match="case CAS-00001 is Resolved; only an Active case can be resolved"):
        crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="again")
    with pytest.raises(DomainError, match="resolution type must be one of Problem Solved, Information Provided"):
        crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Fixed", summary="x")


def test_late_resolution_is_noncompliant(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm)
    crm.call(sla.record_first_response, case_id=case["case_id"])
    crm.now = at(crm, 25)
    result = crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Information Provided", summary="x")
    assert result["kpis"]["resolve"]["status"] == "Noncompliant"
    assert result["kpis"]["first_response"]["status"] == "Succeeded"


def test_resolve_case_retried_call_acts_once(crm, customer) -> None:  # noqa: ANN001
    case = new_case(crm)
    first = crm.call(
        cases.resolve_case, task_id="r", case_id=case["case_id"], resolution_type="Problem Solved", summary="x"
    )
    assert (
        crm.call(cases.resolve_case, task_id="r", case_id=case["case_id"], resolution_type="Problem Solved",
                 summary="x")
        == first
    )
    assert count(crm, CaseResolution) == 1


def test_cancel_and_merge(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm)
    target = new_case(crm, title="The real one")
    with pytest.raises(DomainError, match="needs merged_into"):
        crm.call(cases.cancel_case, case_id=case["case_id"], reason="Merged")
    with pytest.raises(DomainError, match="cannot be merged into itself"):
        crm.call(cases.cancel_case, case_id=case["case_id"], reason="Merged", merged_into=case["case_id"])
    with pytest.raises(DomainError, match="cancel reason must be one of Canceled, Merged"):
        crm.call(cases.cancel_case, case_id=case["case_id"], reason="Duplicate")
    merged = crm.call(cases.cancel_case, case_id=case["case_id"], reason="Merged", merged_into=target["case_id"])
    assert (merged["state"], merged["status"], merged["merged_into"]) == ("Canceled", "Merged", target["case_id"])
    assert {k["status"] for k in merged["kpis"].values()} == {"Canceled"}
    with pytest.raises(IllegalTransition, match="case CAS-00001 is Canceled; only an Active case can be canceled"):
        crm.call(cases.cancel_case, case_id=case["case_id"])
    plain = crm.call(cases.cancel_case, case_id=target["case_id"])
    assert (plain["state"], plain["status"]) == ("Canceled", "Canceled")
    other = new_case(crm, title="third")
    with pytest.raises(IllegalTransition, match="case CAS-00002 is Canceled; only an Active case can be merged into"):
        crm.call(cases.cancel_case, case_id=other["case_id"], reason="Merged", merged_into=target["case_id"])
    with pytest.raises(IllegalTransition, match="case CAS-00001 is Canceled; only a Resolved case can be reopened"):
        crm.call(cases.reopen_case, case_id=case["case_id"])


def test_cancel_resolved_case_is_illegal(crm, customer) -> None:  # noqa: ANN001
    case = new_case(crm)
    crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="x")
    with pytest.raises(IllegalTransition, match="case CAS-00001 is Resolved; only an Active case can be canceled"):
        crm.call(cases.cancel_case, case_id=case["case_id"])


def test_reopen_keeps_resolution_and_puts_resolve_kpi_back_on_the_clock(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm)
    crm.now = at(crm, 2)
    crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="x")
    crm.now = at(crm, 10)  # the customer replies 8h later
    reopened = crm.call(cases.reopen_case, case_id=case["case_id"])
    assert (reopened["state"], reopened["status"], reopened["reopened_count"]) == ("Active", "In Progress", 1)
    assert count(crm, CaseResolution, CaseResolution.case_id == case["case_id"]) == 1
    assert reopened["kpis"]["first_response"]["status"] == "Succeeded"  # answered already
    resolve = kpi(crm, case["case_id"], "resolve")
    assert (resolve.state, resolve.status, resolve.succeeded_at) == ("Active", "In Progress", None)
    assert (resolve.warning_at, resolve.failure_at) == (at(crm, 26), at(crm, 32))  # pushed by the 8h resolved
    assert get(crm, Case, case["case_id"]).resolved_at is None
    with pytest.raises(IllegalTransition, match="case CAS-00001 is Active; only a Resolved case can be reopened"):
        crm.call(cases.reopen_case, case_id=case["case_id"])
    crm.now = at(crm, 33)
    assert crm.call(sla.check_sla, case_id=case["case_id"])["resolve"] == "Noncompliant"


def test_reopen_keeps_a_breach(crm, customer) -> None:  # noqa: ANN001
    case = sla_case(crm)
    crm.now = at(crm, 30)
    crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="late")
    reopened = crm.call(cases.reopen_case, case_id=case["case_id"])
    assert reopened["kpis"]["resolve"]["status"] == "Noncompliant"
    assert reopened["kpis"]["first_response"]["status"] == "Noncompliant"


def test_close_resolved_case_after_seven_days(crm, customer) -> None:  # noqa: ANN001
    case = new_case(crm)
    with crm.session() as ses:
        ses.add(
            Activity(
                activity_type="task",
                subject="Follow up",
                regarding_type="case",
                regarding_id=case["case_id"],
                details={},
                state="Open",
                status="Open",
                created_at=crm.now,
                state_changed_at=crm.now,
            )
        )
    crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="x")
    crm.advance(days=6)
    early = crm.call(cases.close_resolved_case, case_id=case["case_id"])
    assert (early["closed"], early["reopened"]) == (False, False)
    assert early["close_due_at"] == at(crm, 24 * 7).isoformat()
    crm.advance(days=1)
    closed = crm.call(cases.close_resolved_case, case_id=case["case_id"])
    assert (closed["closed"], closed["reopened"], closed["state"]) == (True, False, "Resolved")
    stored = get(crm, Case, case["case_id"])
    assert stored.closed_at == crm.now
    assert count(crm, Activity, Activity.state == "Open") == 0  # open follow-ups canceled
    again = crm.call(cases.close_resolved_case, case_id=case["case_id"])
    assert again["closed"] is True and again["closed_at"] == closed["closed_at"]
    with pytest.raises(DomainError, match="was closed on .*; a reply to a closed case opens a new case"):
        crm.call(cases.reopen_case, case_id=case["case_id"])


def test_close_resolved_case_is_a_noop_when_reopened_or_resolved_again(crm, customer) -> None:  # noqa: ANN001
    case = new_case(crm)
    crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="x")
    crm.advance(days=2)
    crm.call(cases.reopen_case, case_id=case["case_id"])
    crm.advance(days=5)
    result = crm.call(cases.close_resolved_case, case_id=case["case_id"])
    assert (result["closed"], result["reopened"]) == (False, True)
    assert get(crm, Case, case["case_id"]).closed_at is None
    # resolved again on day 7: the first timer's close (due day 7) must not close it
    crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="y")
    result = crm.call(cases.close_resolved_case, case_id=case["case_id"])
    assert (result["closed"], result["reopened"]) == (False, False)
    canceled = new_case(crm, title="c")
    crm.call(cases.cancel_case, case_id=canceled["case_id"])
    assert crm.call(cases.close_resolved_case, case_id=canceled["case_id"])["closed"] is False


# -- survey ----------------------------------------------------------------------------
def test_survey_queues_exactly_one_email_and_logs_it(crm, customer, wf_instance) -> None:  # noqa: ANN001
    case = new_case(crm)
    with pytest.raises(IllegalTransition, match="case CAS-00001 is Active; only a Resolved case can be surveyed"):
        crm.call(cases.send_satisfaction_survey, case_id=case["case_id"])
    crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="x")
    sent = crm.call(cases.send_satisfaction_survey, task_id="survey", case_id=case["case_id"])
    assert crm.call(cases.send_satisfaction_survey, task_id="survey", case_id=case["case_id"]) == sent  # retried
    with crm.session() as ses:
        rows = ses.scalars(select(OutboxMessage)).all()
        assert len(rows) == 1
        row = rows[0]
        assert (row.channel, row.state, row.instance_id, row.idempotency_key) == (
            "email",
            "pending",
            wf_instance,
            sent["outbox_key"],
        )
        assert row.payload["to"] == "ada@example.com"
        assert row.payload["subject"] == "How did we do? Your case CAS-00001"
        assert "CAS-00001" in row.payload["body"] and "Ada Lovelace" in row.payload["body"]
    email = get(crm, Activity, sent["activity_id"])
    assert (email.activity_type, email.direction, email.state, email.status) == (
        "email",
        "outgoing",
        "Completed",
        "Sent",
    )
    assert (email.regarding_type, email.regarding_id) == ("case", case["case_id"])


def test_survey_needs_an_email_address(crm, wf_instance) -> None:  # noqa: ANN001
    with crm.session() as ses:
        account = catalog.add_account(ses, crm.now, "No Mail Inc")
        account_id = account.id
    case = crm.call(cases.open_case, title="x", origin="Phone", account_id=account_id)
    crm.call(cases.resolve_case, case_id=case["case_id"], resolution_type="Problem Solved", summary="x")
    with pytest.raises(DomainError, match="has no customer email"):
        crm.call(cases.send_satisfaction_survey, case_id=case["case_id"])
    assert count(crm, OutboxMessage) == 0


# -- through the engine ----------------------------------------------------------------
NO_ENTITLEMENT_BPMN = """\
<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:error id="err_none" name="No entitlement" errorCode="no_entitlement" />
  <bpmn:process id="svc_smoke" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="open"><bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="service/open_case" resultVariable="case">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="title" type="str" value="title" />
            <spiffworkflow:parameter id="origin" type="str" value="'Email'" />
            <spiffworkflow:parameter id="customer_email" type="str" value="email" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:serviceTask id="ent"><bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="service/check_entitlement" resultVariable="ent">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="case_id" type="int" value="case['case_id']" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:boundaryEvent id="none" attachedToRef="ent"><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:errorEventDefinition errorRef="err_none" /></bpmn:boundaryEvent>
    <bpmn:serviceTask id="resolve"><bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="service/resolve_case" resultVariable="resolved">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="case_id" type="int" value="case['case_id']" />
            <spiffworkflow:parameter id="resolution_type" type="str" value="'Information Provided'" />
            <spiffworkflow:parameter id="summary" type="str" value="'Paid support offered'" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator></bpmn:extensionElements>
      <bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:serviceTask id="survey"><bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="service/send_satisfaction_survey" resultVariable="survey">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="case_id" type="int" value="case['case_id']" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator></bpmn:extensionElements>
      <bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:endEvent id="end2"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="open" />
    <bpmn:sequenceFlow id="f2" sourceRef="open" targetRef="ent" />
    <bpmn:sequenceFlow id="f3" sourceRef="ent" targetRef="end" />
    <bpmn:sequenceFlow id="f4" sourceRef="none" targetRef="resolve" />
    <bpmn:sequenceFlow id="f5" sourceRef="resolve" targetRef="survey" />
    <bpmn:sequenceFlow id="f6" sourceRef="survey" targetRef="end2" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_no_entitlement_routes_to_the_error_boundary_through_the_engine(tmp_path) -> None:  # noqa: ANN001
    """BpmnError('no_entitlement') is caught by the diagram; the survey lands in the engine outbox."""
    from engine import Engine, ManualClock

    registry = HandlerRegistry()
    handlers.register(registry)
    (tmp_path / "case.bpmn").write_text(NO_ENTITLEMENT_BPMN)
    eng = Engine(
        f"sqlite:///{tmp_path / 'e.db'}", registry=registry, clock=ManualClock(START), migrations=[handlers.MIGRATIONS]
    )
    try:
        eng.deploy([tmp_path / "case.bpmn"], force=True)  # a bare diagram (no layout, no names) on purpose
        inst = eng.start("svc_smoke", {"title": "Printer broken", "email": "bob@example.com"})
        assert (inst.status, inst.incidents) == ("completed", [])
        assert inst.data["resolved"]["status"] == "Information Provided"
        assert "error_thrown" in [h.event for h in eng.history(inst.id)]
        with eng.db.read() as ses:
            rows = ses.scalars(select(OutboxMessage)).all()
            assert [(r.channel, r.payload["to"], r.instance_id) for r in rows] == [
                ("email", "bob@example.com", inst.id)
            ]
    finally:
        eng.close()


# -- registration ----------------------------------------------------------------------
def test_every_service_operation_is_registered() -> None:
    registry = HandlerRegistry()
    handlers.register(registry)
    expected = {
        "open_case",
        "check_entitlement",
        "triage",
        "start_sla",
        "pause_sla",
        "resume_sla",
        "record_first_response",
        "check_sla",
        "suggest_articles",
        "resolve_case",
        "cancel_case",
        "reopen_case",
        "close_resolved_case",
        "send_satisfaction_survey",
    }
    assert {f"service/{name}" for name in expected} <= set(registry.names())

"""Sales handlers against a real migrated database, called as the engine calls them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.services import BpmnError
from handlers import catalog
from handlers import lifecycle as lc
from handlers.errors import DomainError, IllegalTransition, RecordNotFound
from handlers.models import (
    Account,
    Contact,
    Invoice,
    Lead,
    Opportunity,
    OpportunityClose,
    Payment,
    Quote,
    SalesOrder,
)
from handlers.models.marketing import Campaign
from handlers.sales.leads import capture_lead, disqualify_lead, mark_lead_contacted, qualify_lead, record_lead_score
from handlers.sales.opportunities import close_opportunity, set_opportunity_hold, update_forecast
from handlers.sales.orders import (
    cancel_invoice,
    cancel_order,
    check_invoice_overdue,
    convert_quote_to_order,
    create_invoice,
    fulfil_order,
    overdue_invoices,
    record_payment,
    send_payment_reminder,
    submit_order,
)
from handlers.sales.quotes import activate_quote, build_quote, close_quote, revise_quote, win_quote


@pytest.fixture
def cat(crm) -> dict[str, int]:  # noqa: ANN001
    """A price list with two products (19.99 and 100.00) and a campaign."""
    with crm.session() as ses:
        pl = catalog.add_price_list(ses, crm.now, "Standard")
        widget = catalog.add_product(ses, crm.now, "P-1", "Widget")
        service = catalog.add_product(ses, crm.now, "P-2", "Setup service")
        catalog.set_price(ses, pl, widget, "19.99")
        catalog.set_price(ses, pl, service, "100.00")
        campaign = Campaign(number="CMP-00001", name="Spring")
        lc.CAMPAIGN.start(campaign, crm.now)
        ses.add(campaign)
        ses.flush()
        return {"price_list": pl.id, "widget": widget.id, "service": service.id, "campaign": campaign.id}


def count(crm, model) -> int:  # noqa: ANN001
    with crm.session() as ses:
        return ses.scalar(select(func.count()).select_from(model))


def get(crm, model, record_id) -> Any:  # noqa: ANN001
    with crm.session() as ses:
        return ses.get(model, record_id)


def new_opportunity(crm, cat, email: str = "ada@example.com") -> dict[str, Any]:  # noqa: ANN001
    lead = crm.call(
        capture_lead,
        email=email,
        last_name="Lovelace",
        company_name="Analytical Ltd",
        source_campaign_id=cat["campaign"],
    )
    return crm.call(qualify_lead, lead_id=lead["lead_id"], price_list_id=cat["price_list"])


def active_quote(crm, cat, **kw: Any) -> dict[str, Any]:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    quote = crm.call(
        build_quote,
        opportunity_id=opp["opportunity_id"],
        lines=kw.pop("lines", [{"product_id": cat["widget"], "quantity": 3}]),
        **kw,
    )
    return crm.call(activate_quote, quote_id=quote["quote_id"])


def fulfilled_order(crm, cat) -> dict[str, Any]:  # noqa: ANN001
    quote = active_quote(crm, cat, discount_percent="10", tax_rate="20")
    crm.call(win_quote, quote_id=quote["quote_id"])
    order = crm.call(convert_quote_to_order, quote_id=quote["quote_id"])
    return crm.call(fulfil_order, order_id=order["order_id"])


# -- leads ------------------------------------------------------------------------------
def test_capture_lead_creates_an_open_new_lead(crm, cat) -> None:  # noqa: ANN001
    result = crm.call(capture_lead, email="Ada@Example.com", last_name="Lovelace", source_campaign_id=cat["campaign"])
    lead = get(crm, Lead, result["lead_id"])
    assert (lead.state, lead.status, lead.email_normalized) == ("Open", "New", "ada@example.com")
    assert lead.source_campaign_id == cat["campaign"]
    assert result["duplicate"] is False


def test_capture_lead_dedupes_by_email_case_insensitively(crm) -> None:  # noqa: ANN001
    first = crm.call(capture_lead, email="ada@example.com", last_name="Lovelace")
    again = crm.call(capture_lead, email="  ADA@example.COM ", last_name="Other", phone="555")
    assert again["lead_id"] == first["lead_id"] and again["duplicate"] is True
    assert count(crm, Lead) == 1
    lead = get(crm, Lead, first["lead_id"])
    assert lead.last_name == "Lovelace"  # kept
    assert lead.phone == "555"  # filled in


def test_capture_after_disqualification_is_a_new_lead(crm) -> None:  # noqa: ANN001
    first = crm.call(capture_lead, email="ada@example.com")
    crm.call(disqualify_lead, lead_id=first["lead_id"], reason="No Longer Interested")
    again = crm.call(capture_lead, email="ada@example.com")
    assert again["lead_id"] != first["lead_id"] and count(crm, Lead) == 2


@pytest.mark.parametrize("email", ["", "no-at-sign", "a@b", "two words@example.com", None, 42])
def test_capture_lead_rejects_bad_email(crm, email) -> None:  # noqa: ANN001
    with pytest.raises(DomainError, match="email"):
        crm.call(capture_lead, email=email)
    assert count(crm, Lead) == 0


def test_capture_lead_unknown_campaign(crm) -> None:  # noqa: ANN001
    with pytest.raises(RecordNotFound, match="campaign 99 does not exist"):
        crm.call(capture_lead, email="a@example.com", source_campaign_id=99)


def test_capture_lead_is_idempotent_for_a_retried_call(crm) -> None:  # noqa: ANN001
    first = crm.call(capture_lead, task_id="same", email="a@example.com", last_name="A")
    crm.call(disqualify_lead, lead_id=first["lead_id"], reason="Lost")  # would make a retry create anew
    again = crm.call(capture_lead, task_id="same", email="a@example.com", last_name="A")
    assert again == first
    assert count(crm, Lead) == 1


def test_retry_with_other_parameters_is_refused(crm) -> None:  # noqa: ANN001
    crm.call(capture_lead, task_id="same", email="a@example.com")
    with pytest.raises(DomainError, match="other parameters"):
        crm.call(capture_lead, task_id="same", email="b@example.com")


def test_record_score_and_contacted(crm) -> None:  # noqa: ANN001
    lead = crm.call(capture_lead, email="a@example.com")
    assert crm.call(record_lead_score, lead_id=lead["lead_id"], score=72, rating="Hot")["score"] == 72
    assert crm.call(mark_lead_contacted, lead_id=lead["lead_id"])["status"] == "Contacted"
    with pytest.raises(DomainError, match="0 to 100"):
        crm.call(record_lead_score, lead_id=lead["lead_id"], score=101)
    with pytest.raises(IllegalTransition, match="already Open"):
        crm.call(mark_lead_contacted, lead_id=lead["lead_id"])


def test_qualify_creates_account_contact_and_opportunity_keeping_campaign(crm, cat) -> None:  # noqa: ANN001
    result = new_opportunity(crm, cat)
    lead = get(crm, Lead, result["lead_id"])
    account = get(crm, Account, result["account_id"])
    contact = get(crm, Contact, result["contact_id"])
    opp = get(crm, Opportunity, result["opportunity_id"])
    assert (lead.state, lead.status, lead.qualified_opportunity_id) == ("Qualified", "Qualified", opp.id)
    assert account.name == "Analytical Ltd" and contact.account_id == account.id
    assert (opp.state, opp.status) == ("Open", "In Progress")
    assert opp.source_campaign_id == cat["campaign"] == result["source_campaign_id"]
    assert (opp.account_id, opp.contact_id, opp.originating_lead_id) == (account.id, contact.id, lead.id)


def test_qualify_without_company_creates_contact_only_and_reuses_existing_contact(crm) -> None:  # noqa: ANN001
    with crm.session() as ses:
        existing = catalog.add_contact(ses, crm.now, "Lovelace", email="ADA@example.com").id
    lead = crm.call(capture_lead, email="ada@example.com", last_name="Lovelace")
    result = crm.call(qualify_lead, lead_id=lead["lead_id"])
    assert result["account_id"] is None and result["contact_id"] == existing
    assert count(crm, Contact) == 1


def test_qualify_must_create_a_customer(crm) -> None:  # noqa: ANN001
    lead = crm.call(capture_lead, email="a@example.com")
    with pytest.raises(DomainError, match="account or a contact"):
        crm.call(qualify_lead, lead_id=lead["lead_id"], create_contact=False)
    assert get(crm, Lead, lead["lead_id"]).state == "Open"


@pytest.mark.parametrize("first", ["qualify", "disqualify"])
def test_closed_lead_raises_bpmn_error(crm, first) -> None:  # noqa: ANN001
    lead = crm.call(capture_lead, email="a@example.com", last_name="A")
    if first == "qualify":
        crm.call(qualify_lead, lead_id=lead["lead_id"])
    else:
        crm.call(disqualify_lead, lead_id=lead["lead_id"], reason="Cannot Contact")
    for op, kw in ((qualify_lead, {}), (disqualify_lead, {"reason": "Lost"}), (mark_lead_contacted, {})):
        with pytest.raises(BpmnError) as err:
            crm.call(op, lead_id=lead["lead_id"], **kw)
        assert err.value.code == "lead_closed" and "only an Open lead" in err.value.message


def test_disqualify_records_reason_and_rejects_unknown_reasons(crm) -> None:  # noqa: ANN001
    lead = crm.call(capture_lead, email="a@example.com")
    with pytest.raises(DomainError, match="Lost, Cannot Contact, No Longer Interested, Canceled"):
        crm.call(disqualify_lead, lead_id=lead["lead_id"], reason="Bored")
    result = crm.call(disqualify_lead, lead_id=lead["lead_id"], reason="Cannot Contact")
    assert (result["state"], result["status"]) == ("Disqualified", "Cannot Contact")


def test_unknown_lead(crm) -> None:  # noqa: ANN001
    with pytest.raises(RecordNotFound, match="lead 7 does not exist"):
        crm.call(qualify_lead, lead_id=7)
    with pytest.raises(DomainError, match="integer"):
        crm.call(qualify_lead, lead_id="seven")


# -- opportunities ---------------------------------------------------------------------
def test_close_opportunity_won_records_close_activity_with_won_quote_total(crm, cat) -> None:  # noqa: ANN001
    quote = active_quote(crm, cat)
    crm.call(win_quote, quote_id=quote["quote_id"])
    opp_id = get(crm, Quote, quote["quote_id"]).opportunity_id
    result = crm.call(close_opportunity, opportunity_id=opp_id, won=True)
    assert (result["state"], result["status"], result["actual_revenue"]) == ("Won", "Won", "59.97")
    with crm.session() as ses:
        close = ses.scalars(select(OpportunityClose)).one()
        assert (close.outcome, close.status, close.actual_revenue) == ("Won", "Won", Decimal("59.97"))
        assert ses.get(Opportunity, opp_id).actual_close_date == date(2026, 1, 5)


def test_close_opportunity_lost_out_sold_closes_open_quotes(crm, cat) -> None:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    draft = crm.call(build_quote, opportunity_id=opp["opportunity_id"], lines=[{"product_id": cat["widget"]}])
    other = crm.call(build_quote, opportunity_id=opp["opportunity_id"], lines=[{"product_id": cat["widget"]}])
    crm.call(activate_quote, quote_id=other["quote_id"])
    with crm.session() as ses:
        rival = catalog.add_competitor(ses, crm.now, "Babbage & Co").id
    result = crm.call(
        close_opportunity,
        opportunity_id=opp["opportunity_id"],
        won=False,
        status_reason="Out-Sold",
        competitor_id=rival,
    )
    assert (result["state"], result["status"], result["actual_revenue"]) == ("Lost", "Out-Sold", "0.00")
    assert (get(crm, Quote, draft["quote_id"]).status, get(crm, Quote, other["quote_id"]).status) == (
        "Canceled",
        "Lost",
    )
    with pytest.raises(IllegalTransition, match="is Lost; only an Open opportunity can be closed"):
        crm.call(close_opportunity, opportunity_id=opp["opportunity_id"], won=True)


def test_close_opportunity_rejects_unknown_lost_reason(crm, cat) -> None:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    with pytest.raises(DomainError, match="Canceled, Out-Sold"):
        crm.call(close_opportunity, opportunity_id=opp["opportunity_id"], won=False, status_reason="Bored")
    assert count(crm, OpportunityClose) == 0


def test_opportunity_hold_and_resume(crm, cat) -> None:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    assert crm.call(set_opportunity_hold, opportunity_id=opp["opportunity_id"], on_hold=True)["status"] == "On Hold"
    assert crm.call(set_opportunity_hold, opportunity_id=opp["opportunity_id"], on_hold=False)["status"] == (
        "In Progress"
    )


# -- quotes and money ------------------------------------------------------------------
def test_quote_totals_three_at_19_99_with_10_percent_discount_and_20_percent_tax(crm, cat) -> None:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    quote = crm.call(
        build_quote,
        opportunity_id=opp["opportunity_id"],
        lines=[{"product_id": cat["widget"], "quantity": 3}],
        discount_percent="10",
        tax_rate="20",
    )
    # 3 × 19.99 = 59.97; 10 % = 5.997 → 6.00; net 53.97; 20 % tax = 10.794 → 10.79; total 64.76
    assert (quote["subtotal"], quote["discount_amount"], quote["net_amount"]) == ("59.97", "6.00", "53.97")
    assert (quote["tax_amount"], quote["total_amount"]) == ("10.79", "64.76")
    assert (quote["state"], quote["status"], quote["number"], quote["revision"]) == (
        "Draft",
        "In Progress",
        "Q-00001",
        0,
    )
    with crm.session() as ses:
        stored = ses.get(Quote, quote["quote_id"])
        assert stored.total_amount == Decimal("64.76") and isinstance(stored.total_amount, Decimal)
        assert [line.net_amount for line in stored.lines] == [Decimal("53.97")]


def test_quote_rounds_half_up_per_line(crm, cat) -> None:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    # 1 × 19.99 at 2.5 % = 0.49975 → 0.50; net 19.49; 10 % tax = 1.949 → 1.95
    # 0.5 × 100.00 at its own 15 % = 7.50 → net 42.50; tax 4.25
    quote = crm.call(
        build_quote,
        opportunity_id=opp["opportunity_id"],
        discount_percent="2.5",
        tax_rate="10",
        lines=[{"product_id": cat["widget"]}, {"product_number": "P-2", "quantity": "0.5", "discount_percent": 15}],
    )
    assert quote["discount_amount"] == "8.00"
    assert quote["net_amount"] == "61.99"
    assert quote["tax_amount"] == "6.20"
    assert quote["total_amount"] == "68.19"
    assert quote["max_discount_percent"] == "15"


def test_quote_accepts_float_quantities_exactly(crm, cat) -> None:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    quote = crm.call(
        build_quote,
        opportunity_id=opp["opportunity_id"],
        lines=[{"product_id": cat["service"], "quantity": 0.1}],
    )
    assert quote["subtotal"] == "10.00"


@pytest.mark.parametrize(
    ("lines", "kw", "message"),
    [
        ([], {}, "at least one line"),
        ([{"product_id": 999}], {}, "product 999 does not exist"),
        ([{"product_number": "NOPE"}], {}, "product NOPE does not exist"),
        ([{"quantity": 1}], {}, "product_id or product_number"),
        ([{"product_id": "P"}], {}, "integer"),
        (["x"], {}, "must be an object"),
        ([{"product_number": "P-1", "quantity": 0}], {}, "quantity must be at least"),
        ([{"product_number": "P-1", "quantity": "abc"}], {}, "quantity must be a number"),
        ([{"product_number": "P-1", "quantity": "NaN"}], {}, "finite"),
        ([{"product_number": "P-1"}], {"discount_percent": "101"}, "at most 100"),
        ([{"product_number": "P-1"}], {"tax_rate": "-1"}, "at least 0"),
    ],
)
def test_build_quote_rejects_bad_lines(crm, cat, lines, kw, message) -> None:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    with pytest.raises(DomainError, match=message):
        crm.call(build_quote, opportunity_id=opp["opportunity_id"], lines=lines, **kw)
    assert count(crm, Quote) == 0


def test_build_quote_needs_a_priced_active_product_and_open_opportunity(crm, cat) -> None:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    with crm.session() as ses:
        catalog.add_product(ses, crm.now, "P-3", "Unpriced")
    with pytest.raises(DomainError, match="product P-3 has no price on price list 'Standard'"):
        crm.call(build_quote, opportunity_id=opp["opportunity_id"], lines=[{"product_number": "P-3"}])
    with crm.session() as ses:
        from handlers.models import Product

        lc.PRODUCT.move(ses.get(Product, cat["widget"]), "Retired", None, crm.now)
    with pytest.raises(IllegalTransition, match="product P-1 is Retired; only an Active product can be quoted"):
        crm.call(build_quote, opportunity_id=opp["opportunity_id"], lines=[{"product_number": "P-1"}])
    crm.call(close_opportunity, opportunity_id=opp["opportunity_id"], won=False)
    with pytest.raises(IllegalTransition, match="only an Open opportunity can be quoted"):
        crm.call(build_quote, opportunity_id=opp["opportunity_id"], lines=[{"product_number": "P-2"}])


def test_build_quote_without_price_list(crm) -> None:  # noqa: ANN001
    lead = crm.call(capture_lead, email="a@example.com", last_name="A")
    opp = crm.call(qualify_lead, lead_id=lead["lead_id"])
    with pytest.raises(DomainError, match="has no price list"):
        crm.call(build_quote, opportunity_id=opp["opportunity_id"], lines=[{"product_number": "P-1"}])


def test_build_quote_is_idempotent_and_numbers_are_sequential(crm, cat) -> None:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    kw = {"opportunity_id": opp["opportunity_id"], "lines": [{"product_id": cat["widget"], "quantity": "2"}]}
    first = crm.call(build_quote, task_id="q", **kw)
    assert crm.call(build_quote, task_id="q", **kw) == first
    second = crm.call(build_quote, **kw)
    assert (first["number"], second["number"]) == ("Q-00001", "Q-00002")
    assert count(crm, Quote) == 2


def test_revise_closes_as_revised_and_opens_next_draft_revision(crm, cat) -> None:  # noqa: ANN001
    quote = active_quote(crm, cat, discount_percent="10", tax_rate="20")
    rev1 = crm.call(revise_quote, quote_id=quote["quote_id"])
    old = get(crm, Quote, quote["quote_id"])
    assert (old.state, old.status) == ("Closed", "Revised")
    assert (rev1["number"], rev1["revision"], rev1["state"]) == (quote["number"], 1, "Draft")
    assert rev1["total_amount"] == quote["total_amount"] == "64.76" and rev1["previous_quote_id"] == old.id
    crm.call(activate_quote, quote_id=rev1["quote_id"])
    rev2 = crm.call(revise_quote, quote_id=rev1["quote_id"], discount_percent="0")
    assert (rev2["revision"], rev2["discount_amount"], rev2["total_amount"]) == (2, "0.00", "71.96")
    with pytest.raises(IllegalTransition, match="is Closed; only an Active quote can be revised"):
        crm.call(revise_quote, quote_id=quote["quote_id"])
    with pytest.raises(IllegalTransition, match="is Draft; only an Active quote can be revised"):
        crm.call(revise_quote, quote_id=rev2["quote_id"])


def test_revise_with_new_lines(crm, cat) -> None:  # noqa: ANN001
    quote = active_quote(crm, cat)
    rev = crm.call(revise_quote, quote_id=quote["quote_id"], lines=[{"product_id": cat["service"], "quantity": 2}])
    assert (rev["line_count"], rev["total_amount"]) == (1, "200.00")


def test_win_quote_requires_active(crm, cat) -> None:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    draft = crm.call(build_quote, opportunity_id=opp["opportunity_id"], lines=[{"product_id": cat["widget"]}])
    with pytest.raises(IllegalTransition, match=r"quote Q-00001 is Draft; only an Active quote can be won"):
        crm.call(win_quote, quote_id=draft["quote_id"])
    crm.call(activate_quote, quote_id=draft["quote_id"])
    assert crm.call(win_quote, quote_id=draft["quote_id"])["state"] == "Won"
    with pytest.raises(IllegalTransition, match="is Won; only an Active quote can be won"):
        crm.call(win_quote, quote_id=draft["quote_id"])
    with pytest.raises(IllegalTransition, match="is Won; only a Draft quote can be activated"):
        crm.call(activate_quote, quote_id=draft["quote_id"])


def test_activate_expired_quote_is_a_bpmn_error(crm, cat) -> None:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    draft = crm.call(
        build_quote, opportunity_id=opp["opportunity_id"], lines=[{"product_id": cat["widget"]}], valid_days=5
    )
    crm.advance(days=6)
    with pytest.raises(BpmnError) as err:
        crm.call(activate_quote, quote_id=draft["quote_id"])
    assert err.value.code == "quote_expired"


def test_close_quote(crm, cat) -> None:  # noqa: ANN001
    opp = new_opportunity(crm, cat)
    draft = crm.call(build_quote, opportunity_id=opp["opportunity_id"], lines=[{"product_id": cat["widget"]}])
    with pytest.raises(DomainError, match="cannot be Lost, only Canceled"):
        crm.call(close_quote, quote_id=draft["quote_id"], reason="Lost")
    assert crm.call(close_quote, quote_id=draft["quote_id"], reason="Canceled")["status"] == "Canceled"
    with pytest.raises(IllegalTransition, match="is Closed"):
        crm.call(close_quote, quote_id=draft["quote_id"], reason="Canceled")


# -- orders, invoices, payments ---------------------------------------------------------
def test_convert_won_quote_to_order_copies_lines_and_totals(crm, cat) -> None:  # noqa: ANN001
    quote = active_quote(crm, cat, discount_percent="10", tax_rate="20")
    with pytest.raises(IllegalTransition, match="is Active; only a Won quote can be converted to an order"):
        crm.call(convert_quote_to_order, quote_id=quote["quote_id"])
    crm.call(win_quote, quote_id=quote["quote_id"])
    order = crm.call(convert_quote_to_order, quote_id=quote["quote_id"])
    assert (order["number"], order["state"], order["status"], order["total_amount"]) == (
        "ORD-00001",
        "Active",
        "New",
        "64.76",
    )
    with crm.session() as ses:
        stored = ses.get(SalesOrder, order["order_id"])
        assert [(ln.quantity, ln.unit_price, ln.total_amount) for ln in stored.lines] == [
            (Decimal("3"), Decimal("19.99"), Decimal("64.76"))
        ]
    with pytest.raises(DomainError, match="already converted to order ORD-00001"):
        crm.call(convert_quote_to_order, quote_id=quote["quote_id"])


def test_order_lifecycle(crm, cat) -> None:  # noqa: ANN001
    quote = active_quote(crm, cat)
    crm.call(win_quote, quote_id=quote["quote_id"])
    order = crm.call(convert_quote_to_order, quote_id=quote["quote_id"])
    oid = order["order_id"]
    with pytest.raises(IllegalTransition, match="is Active; only a Fulfilled order can be invoiced"):
        crm.call(create_invoice, order_id=oid)
    assert crm.call(submit_order, order_id=oid)["state"] == "Submitted"
    partial = crm.call(fulfil_order, order_id=oid, partial=True)
    assert (partial["state"], partial["status"]) == ("Fulfilled", "Partial")
    assert crm.call(fulfil_order, order_id=oid)["status"] == "Complete"
    with pytest.raises(IllegalTransition, match="only an Active or Submitted order can be fulfilled"):
        crm.call(fulfil_order, order_id=oid)
    with pytest.raises(IllegalTransition, match="is Fulfilled; only an Active or Submitted order can be canceled"):
        crm.call(cancel_order, order_id=oid)


def test_cancel_order(crm, cat) -> None:  # noqa: ANN001
    quote = active_quote(crm, cat)
    crm.call(win_quote, quote_id=quote["quote_id"])
    order = crm.call(convert_quote_to_order, quote_id=quote["quote_id"])
    assert crm.call(cancel_order, order_id=order["order_id"], reason="No Money")["status"] == "No Money"
    with pytest.raises(IllegalTransition, match="is Canceled"):
        crm.call(submit_order, order_id=order["order_id"])


def test_create_invoice_from_fulfilled_order(crm, cat) -> None:  # noqa: ANN001
    order = fulfilled_order(crm, cat)
    invoice = crm.call(create_invoice, order_id=order["order_id"], payment_terms_days=14)
    assert (invoice["number"], invoice["state"], invoice["status"]) == ("INV-00001", "Active", "New")
    assert (invoice["total_amount"], invoice["balance"], invoice["due_date"]) == ("64.76", "64.76", "2026-01-19")
    assert get(crm, SalesOrder, order["order_id"]).state == "Invoiced"
    with pytest.raises(IllegalTransition, match="is Invoiced"):
        crm.call(create_invoice, order_id=order["order_id"])
    with pytest.raises(DomainError, match="payment_terms_days"):
        crm.call(create_invoice, order_id=order["order_id"], payment_terms_days=-1)


def test_partial_then_complete_payment(crm, cat) -> None:  # noqa: ANN001
    invoice = crm.call(create_invoice, order_id=fulfilled_order(crm, cat)["order_id"])
    iid = invoice["invoice_id"]
    first = crm.call(record_payment, invoice_id=iid, amount="20.00", method="card")
    assert (first["state"], first["status"], first["balance"], first["paid_in_full"]) == (
        "Paid",
        "Partial",
        "44.76",
        False,
    )
    with pytest.raises(DomainError, match="exceeds the balance 44.76"):
        crm.call(record_payment, invoice_id=iid, amount="44.77")
    second = crm.call(record_payment, invoice_id=iid, amount="44.76")
    assert (second["status"], second["balance"], second["amount_paid"], second["paid_in_full"]) == (
        "Complete",
        "0.00",
        "64.76",
        True,
    )
    with pytest.raises(DomainError, match=r"is Paid \(Complete\)"):
        crm.call(record_payment, invoice_id=iid, amount="1")
    assert count(crm, Payment) == 2
    assert get(crm, Invoice, iid).paid_at == crm.now


@pytest.mark.parametrize("amount", ["0", "-5", "abc", None, True])
def test_record_payment_rejects_bad_amounts(crm, cat, amount) -> None:  # noqa: ANN001
    invoice = crm.call(create_invoice, order_id=fulfilled_order(crm, cat)["order_id"])
    with pytest.raises(DomainError, match="payment amount"):
        crm.call(record_payment, invoice_id=invoice["invoice_id"], amount=amount)
    assert count(crm, Payment) == 0


def test_record_payment_is_idempotent(crm, cat) -> None:  # noqa: ANN001
    invoice = crm.call(create_invoice, order_id=fulfilled_order(crm, cat)["order_id"])
    first = crm.call(record_payment, task_id="pay", invoice_id=invoice["invoice_id"], amount="10")
    assert crm.call(record_payment, task_id="pay", invoice_id=invoice["invoice_id"], amount="10") == first
    assert count(crm, Payment) == 1
    assert get(crm, Invoice, invoice["invoice_id"]).amount_paid == Decimal("10.00")


def test_cancel_invoice(crm, cat) -> None:  # noqa: ANN001
    invoice = crm.call(create_invoice, order_id=fulfilled_order(crm, cat)["order_id"])
    assert crm.call(cancel_invoice, invoice_id=invoice["invoice_id"])["state"] == "Canceled"
    with pytest.raises(DomainError, match="is Canceled"):
        crm.call(record_payment, invoice_id=invoice["invoice_id"], amount="1")


def test_overdue_detection(crm, cat) -> None:  # noqa: ANN001
    invoice = crm.call(create_invoice, order_id=fulfilled_order(crm, cat)["order_id"], payment_terms_days=10)
    iid = invoice["invoice_id"]
    crm.advance(days=10)  # due today: not yet overdue
    assert crm.call(check_invoice_overdue, invoice_id=iid)["overdue"] is False
    crm.advance(days=3)
    crm.call(record_payment, invoice_id=iid, amount="4.76")  # partly paid is still overdue
    check = crm.call(check_invoice_overdue, invoice_id=iid)
    assert (check["overdue"], check["days_overdue"], check["balance"]) == (True, 3, "60.00")
    with crm.session() as ses:
        assert [i.id for i in overdue_invoices(ses, crm.now.date())] == [iid]
    crm.call(record_payment, invoice_id=iid, amount="60")
    assert crm.call(check_invoice_overdue, invoice_id=iid)["overdue"] is False
    with crm.session() as ses:
        assert overdue_invoices(ses, crm.now.date()) == []


def test_rounding_is_half_up_not_bankers(crm, cat) -> None:  # noqa: ANN001
    with crm.session() as ses:
        from handlers.models import PriceList

        cheap = catalog.add_product(ses, crm.now, "P-4", "Washer")
        catalog.set_price(ses, ses.get(PriceList, cat["price_list"]), cheap, "1.25")
    opp = new_opportunity(crm, cat)
    # 1.25 × 10 % = 0.125 → 0.13 half-up (0.12 with banker's rounding); net 1.12; 5 % tax 0.056 → 0.06
    quote = crm.call(
        build_quote,
        opportunity_id=opp["opportunity_id"],
        lines=[{"product_number": "P-4"}],
        discount_percent="10",
        tax_rate="5",
    )
    assert (quote["discount_amount"], quote["net_amount"], quote["tax_amount"], quote["total_amount"]) == (
        "0.13",
        "1.12",
        "0.06",
        "1.18",
    )


def test_payment_reminder_emails_the_contact_counts_and_logs_it(crm, cat, wf_instance) -> None:  # noqa: ANN001
    from engine.models import OutboxMessage
    from handlers.models import Activity

    invoice = crm.call(create_invoice, order_id=fulfilled_order(crm, cat)["order_id"], payment_terms_days=10)
    iid = invoice["invoice_id"]
    crm.advance(days=10)
    with pytest.raises(DomainError, match="is not overdue"):
        crm.call(send_payment_reminder, invoice_id=iid)
    crm.advance(days=4)
    first = crm.call(send_payment_reminder, task_id="remind-1", invoice_id=iid)
    assert (first["reminders_sent"], first["days_overdue"], first["to"]) == (1, 4, "ada@example.com")
    assert crm.call(send_payment_reminder, task_id="remind-1", invoice_id=iid) == first, "a retry sends nothing new"
    crm.advance(days=7)
    second = crm.call(send_payment_reminder, task_id="remind-2", invoice_id=iid)
    assert second["reminders_sent"] == 2 and second["days_overdue"] == 11
    stored = get(crm, Invoice, iid)
    assert (stored.reminders_sent, stored.last_reminder_at) == (2, crm.now)
    with crm.session() as ses:
        mails = list(ses.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        assert [m.payload["subject"] for m in mails] == [f"Payment reminder: invoice {invoice['number']}"] * 2
        assert "60.00 is still open" not in mails[0].payload["body"] and "still open" in mails[0].payload["body"]
        logged = list(ses.scalars(select(Activity).where(Activity.subject.like("Payment reminder%"))))
        assert [(a.regarding_type, a.state) for a in logged] == [("opportunity", "Completed")] * 2
    crm.call(record_payment, invoice_id=iid, amount=stored.total_amount)
    with pytest.raises(DomainError, match="is not overdue"):
        crm.call(send_payment_reminder, invoice_id=iid)


def test_forecast_probability_on_qualify_and_update(crm, cat) -> None:  # noqa: ANN001
    lead = crm.call(capture_lead, email="grace@example.com", last_name="Hopper", company_name="Navy")
    opp = crm.call(qualify_lead, lead_id=lead["lead_id"], estimated_value="12000",
                   estimated_close_date="2026-03-31", probability=30)
    stored = get(crm, Opportunity, opp["opportunity_id"])
    assert (stored.probability, stored.estimated_value, stored.estimated_close_date) == (
        30, Decimal("12000.00"), date(2026, 3, 31))
    updated = crm.call(update_forecast, opportunity_id=opp["opportunity_id"], probability="60",
                       estimated_close_date="2026-02-27")
    assert updated == {"opportunity_id": opp["opportunity_id"], "probability": 60, "estimated_value": "12000.00",
                       "estimated_close_date": "2026-02-27"}
    for bad in (101, -1, 12.5, "most likely", True):
        with pytest.raises(DomainError, match="whole percentage from 0 to 100"):
            crm.call(update_forecast, opportunity_id=opp["opportunity_id"], probability=bad)
    assert get(crm, Opportunity, opp["opportunity_id"]).probability == 60
    crm.call(close_opportunity, opportunity_id=opp["opportunity_id"], won=False, status_reason="Canceled")
    with pytest.raises(DomainError, match="re-forecast"):
        crm.call(update_forecast, opportunity_id=opp["opportunity_id"], probability=10)

"""The task page as a new agent meets it (issue 13): lookups instead of typed ids, rows added and
removed, a failing next step said out loud, the record beside the task, times in the user's zone,
HTML error pages, the favicon and offline API docs."""

from __future__ import annotations

import re

import pytest
from test_pages import follow, post, text_of

from handlers import catalog
from worklists.forms import FormInvalid


def qualified(crm, key: str = "Q-1", user: str = "ann", company: str = "Northwind") -> tuple[int, str]:
    """A lead qualified by `user`; returns the instance and its open 'Work opportunity' task, picked by `user`."""
    iid = crm.start_lead(key, company)
    tid = crm.task_of(iid)
    crm.worklist.pick(tid, user)
    crm.worklist.complete(tid, user, {"decision": "qualify", "price_list_id": crm.price_list_id})
    work = crm.task_of(iid, "work_opportunity")
    crm.worklist.pick(work, user)
    return iid, work


def quote(lines: list[tuple[str, str]], **extra: str) -> dict[str, str]:
    data = {"outcome": "quote", **extra}
    for i, (product, quantity) in enumerate(lines):
        data[f"quote_lines.{i}.product_number"] = product
        data[f"quote_lines.{i}.quantity"] = quantity
    return data


# -- lookups (bug 7) ---------------------------------------------------------------------------

def test_products_and_price_lists_are_choices_from_the_records(crm, crm_login):
    iid = crm.start_lead("Q-1")
    qualify = crm.task_of(iid)
    crm.worklist.pick(qualify, "ann")
    ann = crm_login("ann")
    html = ann.get(f"/tasks/{qualify}").text
    assert re.search(r'<select id="f-price_list_id" name="price_list_id"', html), "a select, not a number box"
    assert f'<option value="{crm.price_list_id}"' in html and "Standard (EUR)" in html
    _, work = qualified(crm, "Q-2", company="Contoso")
    html = ann.get(f"/tasks/{work}").text
    assert re.search(r'<select id="f-quote_lines-0-product_number" name="quote_lines.0.product_number"', html)
    assert "CRM-PRO — Licence" in html and "CRM-ONB — Onboarding" in html


def test_a_mistyped_product_is_a_field_error_not_an_incident(crm, crm_login):
    iid, work = qualified(crm)
    ann = crm_login("ann")
    r = post(ann, f"/tasks/{work}/complete", quote([("CRM-PRP", "2")]), page=f"/tasks/{work}")
    assert r.status_code == 422
    assert "Quote lines row 1: Product is not a known product: &#39;CRM-PRP&#39;" in r.text
    assert crm.engine.get_task(work).state == "open", "nothing completed"
    assert crm.engine.get_instance(iid).incidents == []
    assert 'value="CRM-PRP" selected>CRM-PRP (not in the list)' in r.text, "what was typed stays visible"


def test_the_api_checks_lookups_too(crm):
    _, work = qualified(crm)

    with pytest.raises(FormInvalid, match="quote_lines.0.product_number: is not a known product"):
        crm.worklist.complete(work, "ann", {"outcome": "quote", "quote_lines": [{"product_number": "NOPE",
                                                                                  "quantity": 1}]})


def test_when_the_next_step_still_fails_the_agent_is_told_and_the_instance_page_shows_it(crm, crm_login, clock):
    with crm.engine.db.write() as session:  # a product nobody priced on the Standard list
        catalog.add_product(session, clock.now(), "CRM-SUP", "Support")
    iid, work = qualified(crm)
    ann = crm_login("ann")
    r = post(ann, f"/tasks/{work}/complete", quote([("CRM-SUP", "1")]), page=f"/tasks/{work}")
    assert r.status_code == 303 and r.headers["location"] == f"/instances/{iid}", "to where it went wrong"
    page = text_of(ann.get(r.headers["location"]).text)
    assert "Completed “Work opportunity” (Q-1), but the next step did not run: “Build quote” failed" in page
    assert "has no price on price list" in page
    assert "1 step failed: this process is stuck" in page
    html = ann.get(f"/instances/{iid}").text
    assert html.index("incident-banner") < html.index("Diagram"), "the incident comes first"


# -- rows (bug 6) ------------------------------------------------------------------------------

def test_rows_are_added_and_removed_without_script(crm, crm_login):
    _, work = qualified(crm)
    ann = crm_login("ann")
    typed = quote([("CRM-PRO", "10"), ("CRM-ONB", "1")])
    r = post(ann, f"/tasks/{work}/complete", {**typed, "_rows": "add:quote_lines"}, page=f"/tasks/{work}")
    assert r.status_code == 200 and crm.engine.get_task(work).state == "open", "adding a row completes nothing"
    assert len(re.findall(r'<fieldset class="row-line"', r.text)) == 3
    assert 'name="quote_lines.2.product_number"' in r.text
    assert re.search(r'<option value="CRM-ONB" selected>', r.text), "what was chosen stays"
    r = post(ann, f"/tasks/{work}/complete", {**typed, "_rows": "remove:quote_lines.0"}, page=f"/tasks/{work}")
    assert len(re.findall(r'<fieldset class="row-line"', r.text)) == 2, "the row left and a blank one"
    assert '<option value="CRM-ONB" selected>' in r.text and 'name="quote_lines.0.quantity" type="number" value="1"' \
        in r.text, "row 2 moved up to row 1"
    assert '<option value="CRM-PRO" selected>' not in r.text, "row 1 is gone"


def test_three_lines_make_a_quote_with_three_lines(crm, crm_login, clock):
    from handlers.models import PriceList

    with crm.engine.db.write() as session:
        pl = session.get(PriceList, crm.price_list_id)
        catalog.set_price(session, pl, catalog.add_product(session, clock.now(), "CRM-SUP", "Support"), "1200.00")
    iid, work = qualified(crm)
    ann = crm_login("ann")
    r = post(ann, f"/tasks/{work}/complete", quote([("CRM-PRO", "10"), ("CRM-ONB", "1"), ("CRM-SUP", "2")]),
             page=f"/tasks/{work}")
    assert r.status_code == 303 and r.headers["location"] == "/", text_of(r.text)[:500]
    data = crm.engine.get_instance(iid).data
    assert data["quote"]["line_count"] == 3


# -- the record beside the task ----------------------------------------------------------------

def test_the_task_page_shows_the_records_readably_and_the_variables_behind_a_disclosure(crm, crm_login):
    iid, work = qualified(crm)
    ann = crm_login("ann")
    follow(ann, post(ann, f"/tasks/{work}/complete", quote([("CRM-PRO", "40"), ("CRM-ONB", "1")],
                                                           discount_percent="15", tax_rate="19"),
                     page=f"/tasks/{work}"))
    approve = crm.task_of(iid, "approve_discount")
    mia = crm_login("mia")
    html = mia.get(f"/tasks/{approve}").text
    page = text_of(html)
    assert re.search(r"Lead \S+ .*Company Northwind", page)
    assert "Opportunity CRM rollout" in page and "Owner ann" in page
    assert re.search(r"Quote Q-\d+", page)
    for slug in ("leads", "opportunities", "quotes"):  # each card's title opens the record in the workspace
        assert re.search(rf'<h3 id="rec-\d+"><a href="/records/{slug}/\d+">', html), slug
    assert "CRM-PRO" in page and "Licence" in page and "Onboarding" in page
    assert "480.00 EUR" in page, "money is formatted with its currency"
    assert re.search(r"Total [\d,]+\.\d\d EUR", page)
    assert "Subtotal 22,400.00 EUR" in page, "40 × 480 + 3,200, thousands grouped"
    assert "Total 22,657.60 EUR" in page and "Tax (19 %) 3,617.60 EUR" in page
    assert re.search(r'<details class="technical">\s*<summary>Technical details', html)
    record = html[html.index('<section class="record"'):html.index('<details class="technical">')]
    assert '"lead_id"' not in record and "{" not in text_of(record), "no raw JSON in the record panel"
    for word in ("True", "False", "None"):
        assert not re.search(rf"\b{word}\b", page), f"{word!r} shown to people"


def test_a_case_shows_its_sla_entitlement_and_customer(crm, crm_login):
    from crmflow.records import crm_record_reader
    from engine.services import ServiceContext
    from handlers.service.cases import open_case
    from handlers.service.sla import start_sla, triage

    with crm.engine.db.write() as session:
        ctx = ServiceContext(session=session, instance_id=0, process_id="t", business_key=None, element_id="e",
                             task_id="t1", now=crm.engine.now())
        case_id = open_case(ctx, title="VPN down", origin="Phone", customer_email="kim@example.com")["case_id"]
        ctx.task_id = "t2"
        triage(ctx, case_id=case_id, priority="High", queue="Support", first_response_hours=1,
                       resolve_hours=8)
        ctx.task_id = "t3"
        start_sla(ctx, case_id=case_id)
    [case] = crm_record_reader(crm.engine)({"case": {"case_id": case_id}})
    fields = {f.label: f.value for f in case.fields}
    assert case.link == f"/records/cases/{case_id}"
    assert case.title.startswith("Case ") and fields["Title"] == "VPN down" and fields["Priority"] == "High"
    assert fields["Email"] == "kim@example.com", "the customer"
    [sla] = case.tables
    assert sla.caption == "SLA" and len(sla.rows) == 2, sla.rows
    assert [row[1] for row in sla.rows] == ["In Progress", "In Progress"]


# -- times, errors, icons, docs (bug 9) ---------------------------------------------------------

def test_times_show_in_the_users_zone_with_utc_on_hover(crm, crm_login):
    iid = crm.start_lead("Q-1")
    qualify = crm.task_of(iid)
    due = crm.engine.get_task(qualify).due_at
    ann = crm_login("ann")
    assert f'title="{due:%Y-%m-%d %H:%M} UTC">{due:%Y-%m-%d %H:%M} UTC<' in ann.get(f"/tasks/{qualify}").text
    r = post(ann, "/settings", {"time_zone": "Asia/Tokyo"}, page="/settings")
    assert r.status_code == 303 and crm.accounts.get_user("ann").time_zone == "Asia/Tokyo"
    local = due.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    html = ann.get(f"/tasks/{qualify}").text
    assert f'title="{due:%Y-%m-%d %H:%M} UTC">{local:%Y-%m-%d %H:%M} JST<' in html
    bad = post(ann, "/settings", {"time_zone": "Mars/Olympus"}, page="/settings")
    assert bad.status_code == 422 and "is not an IANA time zone" in bad.text


def test_browsers_get_html_error_pages_and_the_api_problem_documents(crm, crm_login):
    ann = crm_login("ann")
    r = ann.get("/no/such/page", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "There is no page at /no/such/page" in r.text and "/static/pages.css" in r.text
    r = ann.get("/no/such/page", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = ann.get("/api/v1/nothing", headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_favicon_and_offline_api_docs(crm, crm_login):
    ann = crm_login("ann")
    icon = ann.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    docs = ann.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "cdn." not in docs.text and "https://" not in docs.text, "nothing loaded from the internet"
    for asset in re.findall(r'(?:src|href)="(/api/v1/docs/assets/[^"]+)"', docs.text):
        assert ann.get(asset).status_code == 200, asset
    assert ann.get("/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 200

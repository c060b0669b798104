"""The web pages through the app's test client: login, every view, the task page and its
operations, the instance page, and every refusal shown as a message on the page (never a 500)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from starlette.datastructures import FormData
from web_support import PASSWORD, csrf_of

from crmflow.web.pages.base import countdown
from crmflow.web.pages.fields import build_fields, parse_submission
from worklists.forms import Forms
from worklists.service import SlaInfo, Worklist


def text_of(html: str) -> str:
    """The page's visible text, whitespace folded (to assert on what an agent reads)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def post(client, url: str, data: dict | None = None, page: str = "/"):
    """POST a page form with the session's CSRF token (read from `page`)."""
    token = csrf_of(client.get(page).text)
    return client.post(url, data={"csrf": token, **(data or {})})


def follow(client, response):
    assert response.status_code == 303, response.text
    return client.get(response.headers["location"])


# -- login ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/available", "/queues/sales", "/closed", "/tasks/nope", "/instances/1"])
def test_logged_out_goes_to_login_and_comes_back(anon, path):
    r = anon.get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")
    assert anon.get(r.headers["location"]).status_code == 200


def test_login_wrong_password_says_so_and_right_one_returns_to_next(anon, accounts):
    page = anon.get("/login?next=/available")
    token = csrf_of(page.text)
    assert 'label for="username"' in page.text and 'label for="password"' in page.text
    wrong = anon.post("/login", data={"username": "ann", "password": "nope", "csrf": token, "next": "/available"})
    assert wrong.status_code == 401
    assert "Wrong user name or password" in wrong.text
    assert 'value="ann"' in wrong.text, "the user name stays filled in"
    unknown = anon.post("/login", data={"username": "zed", "password": PASSWORD, "csrf": token})
    assert unknown.status_code == 401
    ok = anon.post("/login", data={"username": "ann", "password": PASSWORD, "csrf": token, "next": "/available"})
    assert ok.status_code == 303 and ok.headers["location"] == "/available"
    assert "Welcome, ann" in anon.get("/available").text


def test_login_never_redirects_off_site(anon, accounts):
    token = csrf_of(anon.get("/login").text)
    r = anon.post("/login", data={"username": "ann", "password": PASSWORD, "csrf": token,
                                  "next": "//evil.example/x"})
    assert r.headers["location"] == "/"


def test_login_without_csrf_token_is_refused(anon, accounts):
    anon.get("/login")
    r = anon.post("/login", data={"username": "ann", "password": PASSWORD})
    assert r.status_code == 400 and "session expired" in r.text


def test_logout_ends_the_session(login):
    ann = login("ann")
    assert ann.get("/").status_code == 200
    r = post(ann, "/logout")
    assert r.headers["location"] == "/login"
    assert "You are logged out" in ann.get("/login").text
    assert ann.get("/").status_code == 303


def test_deactivated_user_is_sent_back_to_login(login, accounts):
    ann = login("ann")
    accounts.set_active("ann", False)
    assert ann.get("/").headers["location"].startswith("/login")


# -- list views ----------------------------------------------------------------------------

def test_available_lists_the_task_with_counts_per_queue(login, start_deal):
    tid = start_deal("D-7")
    html = login("ann").get("/available").text
    assert f'href="/tasks/{tid}"' in html
    page = text_of(html)
    assert "Available to me" in page and "D-7" in page and "Showing 1–1 of 1" in page
    assert re.search(r'href="/queues/sales"[^>]*>\s*sales\s*<span class="count"[^>]*>1<span class="sub">/1', html)


def test_my_work_and_closed_by_me_follow_the_task(login, start_deal, worklist):
    tid = start_deal("D-1")
    ann = login("ann")
    assert "Nothing picked" in ann.get("/").text
    worklist.pick(tid, "ann")
    assert f'/tasks/{tid}' in ann.get("/").text
    worklist.complete(tid, "ann", {"decision": "approve"})
    assert f'/tasks/{tid}' not in ann.get("/").text
    closed = ann.get("/closed").text
    assert f'/tasks/{tid}' in closed and "Closed by me" in closed


def test_queue_page_is_for_its_groups_only(login, start_deal):
    tid = start_deal()
    assert f"/tasks/{tid}" in login("mia").get("/queues/sales").text, "supervisors see the queue"
    r = login("sam").get("/queues/sales")
    assert r.status_code == 403
    assert "sam is not in a group that works queue 'sales'" in text_of(r.text)


def test_filters_sorting_and_pagination(login, start_deal, clock):
    for i in range(12):
        start_deal(f"D-{i:02d}", prio=i % 4)
        clock.advance(timedelta(minutes=1))
    ann = login("ann")
    only = ann.get("/available?key=D-03").text
    assert "D-03" in only and "D-04" not in only and "Showing 1–1 of 1" in text_of(only)
    by_prio = text_of(ann.get("/available?sort=priority").text)
    assert by_prio.index("D-01") < by_prio.index("D-02") < by_prio.index("D-03"), "1 (High) first"
    assert "sorted by priority (most urgent first)" in by_prio
    first = ann.get("/available?limit=10&sort=age").text
    assert "Showing 1–10 of 12" in text_of(first)
    next_link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = text_of(ann.get(next_link).text)
    assert "Showing 11–12 of 12" in second and "D-10" in second and "D-00" not in second
    assert "D-05" in text_of(ann.get("/available?q=05").text)
    high = text_of(ann.get("/available?priority=high").text)
    assert "D-01" in high and "D-02" not in high and "D-03" not in high, "High: priority 1 or less"
    assert "No tasks match these filters" in text_of(ann.get("/available?key=nope").text)


def test_bad_filter_values_are_messages_not_errors(login, start_deal):
    start_deal()
    r = login("ann").get("/available?due=tomorrow&priority=urgent&sla=late&cursor=garbage&sort=nonsense")
    assert r.status_code == 200
    page = text_of(r.text)
    assert "must be a date like 2026-01-31" in page and "“Priority” must be High or Normal or higher" in page
    assert "showing the first page" in page


def test_due_filter_takes_the_whole_day(login, start_deal):
    start_deal("SOON", due="PT1H")
    start_deal("LATER", due="P5D")
    page = text_of(login("ann").get("/available?due=2026-01-05").text)
    assert "SOON" in page and "LATER" not in page


def test_sla_column_from_due_date_goes_amber_then_red(login, start_deal, clock):
    start_deal(due="P1D")
    ann = login("ann")
    assert re.search(r'class="sla sla-ok"[^>]*>1 d left<', ann.get("/available").text)
    clock.advance(timedelta(hours=21))
    assert re.search(r'class="sla sla-nearing"[^>]*>Nearing: 3 h 00 min left<', ann.get("/available").text)
    clock.advance(timedelta(hours=5, minutes=30))
    assert re.search(r'class="sla sla-breached"[^>]*>Overdue by 2 h 30 min<', ann.get("/available").text)


class FakeSla:
    def __init__(self, table):
        self.table = table

    def sla_for(self, session, business_keys):
        return {k: v for k, v in self.table.items() if k in business_keys}


def test_sla_column_from_the_case_sla(web_engine, accounts, start_deal):
    now = web_engine.now()
    sla = FakeSla({"K-1": SlaInfo("breached", now - timedelta(hours=1, minutes=5)),
                   "K-2": SlaInfo("nearing", now + timedelta(minutes=40)),
                   "K-3": SlaInfo("ok", now + timedelta(days=2))})
    wl = Worklist(web_engine, sla=sla, accounts=accounts)
    shown = {key: countdown(wl.get(start_deal(key, due="PT1M"))) for key in ("K-1", "K-2", "K-3")}
    assert (shown["K-1"].state, shown["K-1"].text) == ("breached", "Breached 1 h 05 min ago")
    assert (shown["K-2"].state, shown["K-2"].text) == ("nearing", "Nearing: 40 min left")
    assert (shown["K-3"].state, shown["K-3"].text) == ("ok", "2 d left"), "the case SLA wins over the due date"
    assert {c.source for c in shown.values()} == {"sla"}


def test_sidebar_links_only_queues_the_user_may_open(login, start_deal):
    start_deal()
    html = login("ann").get("/").text
    assert 'href="/queues/sales"' in html
    assert 'href="/queues/unassigned"' not in html and "queue-plain" in html
    assert login("ann").get("/queues/unassigned").status_code == 403
    root = login("root")
    assert 'href="/queues/unassigned"' in root.get("/").text, "admins work every queue"
    assert root.get("/queues/unassigned").status_code == 200


def test_bulk_pick_reports_each_refusal(login, start_deal, worklist):
    a, b, c = start_deal("B-1"), start_deal("B-2"), start_deal("B-3")
    worklist.pick(c, "bob")
    ann = login("ann")
    r = post(ann, "/bulk", {"action": "pick", "task_id": [a, b, c], "back": "/available"}, page="/available")
    assert r.headers["location"] == "/available"
    page = text_of(ann.get("/available").text)
    assert "Picked 2 tasks." in page
    assert "already picked by bob" in page
    assert {a, b} <= {i.id for i in worklist.my_work("ann").items}


def test_bulk_release_and_route(login, start_deal, worklist):
    a, b = start_deal("R-1"), start_deal("R-2")
    worklist.pick(a, "ann")
    worklist.pick(b, "ann")
    ann = login("ann")
    follow(ann, post(ann, "/bulk", {"action": "release", "task_id": [a], "back": "/"}))
    assert worklist.get(a).assignee is None
    r = follow(ann, post(ann, "/bulk", {"action": "route", "task_id": [b], "route_queue": "billing", "back": "/"}))
    assert "Routed 1 task." in text_of(r.text)
    assert worklist.get(b).queue == "billing"


def test_bulk_without_selection_or_token_changes_nothing(login, start_deal, worklist):
    tid = start_deal()
    ann = login("ann")
    assert "Select at least one task" in text_of(follow(ann, post(ann, "/bulk", {"action": "pick"})).text)
    r = ann.post("/bulk", data={"action": "pick", "task_id": tid, "csrf": "forged"})
    assert "session expired" in text_of(follow(ann, r).text)
    assert worklist.get(tid).assignee is None


# -- the task page -------------------------------------------------------------------------

def test_task_page_shows_header_form_diagram_record_and_history(login, start_deal):
    tid = start_deal("D-9", prio=2, customer="Globex")
    html = login("ann").get(f"/tasks/{tid}").text
    page = text_of(html)
    for expected in ("Qualify", "D-9", "deal", "sales", "nobody (not picked)", "2026-01-07 09:00 UTC",
                     "Call Globex about pricing", "Discount for Globex", "Record D-9", "customer", "Globex",
                     "Started", "Task created"):
        assert expected in page, expected
    assert '<span class="req" aria-hidden="true">*</span>' in html, "required fields are marked"
    assert re.search(r'name="discount_percent" type="number" value="5"', html), "defaults prefill the form"
    assert 'name="contact.email" type="email"' in html
    assert re.search(r'<g[^>]*data-element-id="qualify"[^>]*state-active|<g[^>]*state-active[^>]*data-element-id='
                     r'"qualify"', html), "the diagram marks the open task active"
    assert '>Pick</button>' in html and "Pick this task to complete it" in page
    assert re.search(r'<fieldset disabled', html), "the form is read-only until picked"


def test_pick_then_complete_with_invalid_then_valid_data(login, start_deal, worklist, web_engine):
    tid = start_deal("D-2")
    ann = login("ann")
    r = follow(ann, post(ann, f"/tasks/{tid}/pick"))
    assert "You picked “Qualify”" in text_of(r.text) and ">ann<" in r.text

    bad = post(ann, f"/tasks/{tid}/complete", {"decision": "", "discount_percent": "99", "note": "keep me"},
               page=f"/tasks/{tid}")
    assert bad.status_code == 422
    assert re.search(r'id="f-decision-err">Decision is required<', bad.text)
    assert re.search(r'id="f-discount_percent-err">Discount for ACME \(%\) must be ≤ 50<', bad.text)
    assert 'value="99"' in bad.text and 'value="keep me"' in bad.text, "entered values are kept"
    assert 'aria-invalid="true"' in bad.text and "Please correct 2 fields" in text_of(bad.text)
    assert worklist.get(tid).state == "open"

    wrong_type = post(ann, f"/tasks/{tid}/complete", {"decision": "approve", "discount_percent": "lots"},
                      page=f"/tasks/{tid}")
    assert wrong_type.status_code == 422 and "must be a number" in text_of(wrong_type.text)
    assert 'value="lots"' in wrong_type.text

    good = post(ann, f"/tasks/{tid}/complete", {"decision": "approve", "discount_percent": "7",
                                                 "contact.email": "a@b.example"}, page=f"/tasks/{tid}")
    assert good.status_code == 303 and good.headers["location"] == "/"
    assert "Completed “Qualify” (D-2)." in text_of(ann.get("/").text)
    task = worklist.get(tid)
    assert (task.state, task.completed_by) == ("completed", "ann")
    data = web_engine.get_instance(task.instance_id).data
    assert data["discount_percent"] == 7 and data["contact"] == {"email": "a@b.example", "phone": "n/a"}


def test_refusals_are_messages_on_the_task_page(login, start_deal, worklist):
    tid = start_deal()
    sam, bob, ann = login("sam"), login("bob"), login("ann")
    seen = sam.get(f"/tasks/{tid}")
    assert seen.status_code == 403 and "sam may not see task" in text_of(seen.text)
    assert "Pick" not in seen.text.split("<main", 1)[1].split("</main>")[0].replace("Picked", "")

    worklist.pick(tid, "ann")
    twice = post(bob, f"/tasks/{tid}/pick")
    assert twice.status_code == 409 and "already picked by ann" in text_of(twice.text)
    not_yours = post(bob, f"/tasks/{tid}/complete", {"decision": "approve"})
    assert not_yours.status_code == 403 and "is picked by ann; only they can complete it" in text_of(not_yours.text)
    release = post(bob, f"/tasks/{tid}/release")
    assert release.status_code == 403 and "only they or a supervisor" in text_of(release.text)
    wrong_group = post(sam, f"/tasks/{tid}/pick")
    assert wrong_group.status_code == 403

    worklist.complete(tid, "ann", {"decision": "reject"})
    done = post(ann, f"/tasks/{tid}/complete", {"decision": "approve"})
    assert done.status_code == 409 and "already completed by ann" in text_of(done.text)


def test_unknown_task_and_instance_and_action(login):
    ann = login("ann")
    r = ann.get("/tasks/no-such-task")
    assert r.status_code == 404 and "does not exist" in text_of(r.text)
    assert ann.get("/instances/999").status_code == 404
    assert ann.get("/instances/abc").status_code == 404
    assert post(ann, "/tasks/no-such-task/explode").status_code == 404


def test_release_route_and_comment_from_the_task_page(login, start_deal, worklist):
    tid = start_deal("C-1")
    ann = login("ann")
    post(ann, f"/tasks/{tid}/pick")
    r = follow(ann, post(ann, f"/tasks/{tid}/release"))
    assert "Released “Qualify” back to queue sales." in text_of(r.text)
    assert worklist.get(tid).assignee is None
    r = follow(ann, post(ann, f"/tasks/{tid}/comment", {"text": "Called, no answer"}))
    page = text_of(r.text)
    assert "Comment added." in page and "Called, no answer" in page
    empty = post(ann, f"/tasks/{tid}/comment", {"text": "  "})
    assert empty.status_code == 422 and "a comment needs some text" in text_of(empty.text)
    unknown = post(ann, f"/tasks/{tid}/route", {"route_queue": "nowhere"})
    assert unknown.status_code == 422 and "unknown queue 'nowhere'" in text_of(unknown.text)
    moved = post(ann, f"/tasks/{tid}/route", {"route_queue": "billing"})
    assert moved.headers["location"] == "/", "a task routed out of sight leaves for My work"
    assert "Routed “Qualify” to queue billing." in text_of(ann.get("/").text)


def test_expired_csrf_changes_nothing(login, start_deal, worklist):
    tid = start_deal()
    ann = login("ann")
    r = ann.post(f"/tasks/{tid}/pick", data={"csrf": "stale"})
    assert r.status_code == 400 and "session expired" in text_of(r.text)
    assert worklist.get(tid).assignee is None


# -- the instance page -----------------------------------------------------------------------

def test_instance_page_after_completion_marks_the_next_step(login, start_deal, worklist):
    tid = start_deal("I-1")
    worklist.pick(tid, "ann")
    worklist.complete(tid, "ann", {"decision": "approve"})
    iid = worklist.get(tid).instance_id
    html = login("ann").get(f"/instances/{iid}").text
    page = text_of(html)
    assert "deal #" in page and "waiting" in page and "I-1" in page
    assert re.search(r'data-element-id="qualify"[^>]*class="[^"]*state-done|class="[^"]*state-done[^"]*"'
                     r'[^>]*data-element-id="qualify"', html)
    marked = {m.group(1) for m in re.finditer(r'<g[^>]*data-element-id="(\w+)"[^>]*state-active', html)}
    marked |= {m.group(1) for m in re.finditer(r'<g[^>]*state-active[^>]*data-element-id="(\w+)"', html)}
    assert "invoice" in marked
    assert "Invoice" in page and "queue billing" in page and "No pending timers" in page


def test_instance_page_lists_timers_with_due_times(crm, crm_login):
    iid = crm.start_lead("T-1")
    tid = crm.task_of(iid)
    crm.worklist.pick(tid, "ann")
    crm.worklist.complete(tid, "ann", {"decision": "qualify", "price_list_id": crm.price_list_id})
    page = text_of(crm_login("bob").get(f"/instances/{iid}").text)
    assert "Every 3 days cycle 2026-01-08 09:00 UTC in 3 d" in page
    assert "Work opportunity — queue sales, not picked" in page


# -- forms: arrays of objects, nested objects, types -------------------------------------------

def test_rows_of_an_array_field_round_trip():
    schema = Forms("processes").schema("forms/work_opportunity.json")
    fields = build_fields(schema, {"quote_lines": [{"product_number": "CRM-PRO", "quantity": 10}]})
    lines = next(f for f in fields if f.name == "quote_lines")
    assert len(lines.rows) == 2, "the existing line plus one blank one (Add a row gives more)"
    assert lines.rows[0][0].value == "CRM-PRO" and lines.rows[0][0].name == "quote_lines.0.product_number"
    raw = FormData([("outcome", "quote"), ("quote_lines.0.product_number", "CRM-PRO"),
                    ("quote_lines.0.quantity", "10"), ("quote_lines.0.discount_percent", ""),
                    ("quote_lines.1.product_number", ""), ("quote_lines.1.quantity", ""),
                    ("quote_lines.2.product_number", "CRM-ONB"), ("quote_lines.2.quantity", "1.5"),
                    ("discount_percent", "5"), ("tax_rate", ""), ("quote_valid_days", "30"),
                    ("lost_reason", ""), ("lost_description", "")])
    data = parse_submission(build_fields(schema, {}, None, None, raw), raw, schema)
    assert data == {"outcome": "quote", "discount_percent": 5, "quote_valid_days": 30, "lost_description": None,
                    "probability": None, "competitor_id": None,
                    "quote_lines": [{"product_number": "CRM-PRO", "quantity": 10},
                                    {"product_number": "CRM-ONB", "quantity": 1.5}]}
    again = build_fields(schema, {}, None, {"quote_lines.2.quantity": "must be > 0"}, raw)
    lines = next(f for f in again if f.name == "quote_lines")
    assert len(lines.rows) == 4, "submitted rows come back, plus one blank"
    assert lines.rows[2][1].error == "must be > 0" and lines.rows[2][1].value == "1.5"


def test_array_row_errors_show_next_to_the_cell(crm, crm_login):
    iid = crm.start_lead("Q-1")
    tid = crm.task_of(iid)
    crm.worklist.pick(tid, "ann")
    crm.worklist.complete(tid, "ann", {"decision": "qualify", "price_list_id": crm.price_list_id})
    work = crm.task_of(iid, "work_opportunity")
    ann = crm_login("ann")
    post(ann, f"/tasks/{work}/pick")
    r = post(ann, f"/tasks/{work}/complete", {"outcome": "quote", "quote_lines.0.product_number": "CRM-PRO",
                                              "quote_lines.0.quantity": "0"}, page=f"/tasks/{work}")
    assert r.status_code == 422
    assert re.search(r'id="f-quote_lines-0-quantity-err">Quantity must be &gt; 0<', r.text)
    assert "Quote lines row 1: Quantity must be &gt; 0" in r.text
    ok = post(ann, f"/tasks/{work}/complete", {"outcome": "quote", "quote_lines.0.product_number": "CRM-PRO",
                                               "quote_lines.0.quantity": "2", "discount_percent": "5"},
              page=f"/tasks/{work}")
    assert ok.status_code == 303, text_of(ok.text)[:2000]


def test_pick_from_the_list_opens_the_task(login, start_deal, worklist):
    tid = start_deal("P-1")
    ann = login("ann")
    html = ann.get("/available").text
    assert f'formaction="/tasks/{tid}/pick"' in html and 'aria-label="Pick Qualify P-1"' in html
    r = post(ann, f"/tasks/{tid}/pick", page="/available")
    assert r.headers["location"] == f"/tasks/{tid}"
    assert worklist.get(tid).assignee == "ann"
    assert f'formaction="/tasks/{tid}/pick"' not in ann.get("/queues/sales").text, "picked: no Pick button"

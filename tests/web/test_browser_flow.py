"""What a new user hit in the browser (issue 13), walked end to end in headless Chromium against a
real `crmflow serve --demo` started from an empty temporary directory with its database elsewhere:
ann qualifies a lead and finds the next step in a queue she can open; bob, the sales supervisor,
sees it and reassigns it from dan to ann; ann builds a three-line quote with the form's Add row
button; the priority and SLA filters agree with what the list shows; at 390 px the pages do not
overflow and the tasks are on the first screen. Screenshots at desktop and phone width go to the
test's folder, or with CRMFLOW_SCREENSHOTS=1 to docs/screenshots/."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import ROOT, chromium, open_page, require_browser, serve, shots_folder
from browser_support import log_in as fill_login
from serve_support import crmflow_serve

STARTUP_SECONDS = 300  # a generous bound for a loaded 2-core machine; the server is polled, not waited for
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1360, "height": 900}
RANK = {"High": 0, "Normal": 1, "Low": 2, "—": 3}

sync_api, _ = require_browser()
httpx = pytest.importorskip("httpx")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return shots_folder(tmp_path)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`crmflow serve --demo --no-history` run from an empty folder, its database in another one;
    yields (base URL, what it printed so far)."""
    cwd, data = tmp_path / "somewhere-else", tmp_path / "data"
    cwd.mkdir()
    data.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("CRMFLOW_LANES", "CRMFLOW_PROCESSES", "CRMFLOW_FORMS", "CRMFLOW_DB", "CRMFLOW_TEST_DB")}
    env["PYTHONPATH"] = str(ROOT)
    db = os.environ.get("CRMFLOW_TEST_DB") or f"sqlite:///{data / 'crm.db'}"
    if os.environ.get("CRMFLOW_TEST_DB"):
        from sqlalchemy import create_engine, text
        eng = create_engine(db)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        eng.dispose()
    with crmflow_serve(["--demo", "--no-history", "--poll", "0.5", "--db", db], cwd=cwd, env=env,
                       startup_seconds=STARTUP_SECONDS) as running:
        assert not list(cwd.iterdir()), "nothing is written to the directory serve was started from"
        yield running.base, running.output


@pytest.fixture
def browser(served: tuple[str, str]) -> Iterator[object]:
    with chromium() as launched:
        yield launched


def log_in(browser, base: str, user: str, viewport: dict[str, int] = DESKTOP):
    context = browser.new_context(viewport=viewport, base_url=base)
    page = context.new_page()
    page.set_default_timeout(20_000)
    fill_login(page, user)
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("My work")
    return page


def row_of(page, key: str, task: str):
    return page.locator("table.tasks tbody tr").filter(has=page.get_by_role("cell", name=key, exact=True)).filter(
        has=page.get_by_role("link", name=task))


WIDE = """(limit) => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > limit + 1 && !e.closest('.table-wrap, .diagram-scroll, .chart-wrap'))
  .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + e.className)"""


def no_sideways_scroll(page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    limit = page.viewport_size["width"]
    assert width <= limit, f"{what}: the page is {width} px wide at {limit} px: {page.evaluate(WIDE, limit)}"


def test_a_new_user_works_the_demo_in_the_browser(served, browser, shots: Path, tmp_path: Path) -> None:
    base, output = served
    more = tmp_path / "more-shots"  # looked at while developing; the README uses those in `shots`
    more.mkdir()
    expect = sync_api.expect
    token = re.search(r"^\s+dan\s+Authorization: Bearer (\S+)$", output, re.M).group(1)

    # ann qualifies a lead; the next step is in a queue she can open (bug 1)
    ann = log_in(browser, base, "ann")
    ann.goto("/available")
    row_of(ann, "WORK-L2I-1", "Qualify lead").get_by_role("link", name="Qualify lead").click()
    ann.get_by_role("button", name="Pick").click()
    expect(ann.locator(".flash-ok")).to_contain_text("You picked")
    ann.get_by_label("Decision").select_option("qualify")
    ann.get_by_label("Price list").select_option(label="Standard EUR 2026 (EUR)")  # a choice from the records (bug 7)
    ann.screenshot(path=str(more / "flow-qualify.png"), full_page=True)
    ann.get_by_role("button", name="Complete").click()
    expect(ann.locator(".flash-ok")).to_contain_text("Completed “Qualify lead” (WORK-L2I-1)")
    queues = ann.get_by_role("navigation", name="Queues")
    expect(queues.get_by_role("link", name=re.compile(r"^sales 1"))).to_be_visible()
    queues.get_by_role("link", name=re.compile(r"^sales ")).click()
    expect(ann.get_by_role("heading", level=1)).to_have_text("Queue sales")
    expect(row_of(ann, "WORK-L2I-1", "Work opportunity")).to_have_count(1)

    # dan picks it (through the API); bob supervises sales: he sees it and gives it to ann (bugs 4, 5)
    [item] = httpx.get(f"{base}/api/v1/tasks", params={"view": "available", "key": "WORK-L2I-1"},
                       headers={"Authorization": f"Bearer {token}"}).json()["items"]
    work_id, instance_path = item["id"], f"/instances/{item['instance_id']}"
    assert httpx.post(f"{base}/api/v1/tasks/{work_id}/pick",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200
    ann.goto(f"/tasks/{work_id}")
    expect(ann.locator("#assignee")).to_have_text("dan")
    expect(ann.get_by_role("button", name="Route")).to_have_count(0)  # ann cannot take dan's task
    bob = log_in(browser, base, "bob")
    bob.get_by_role("navigation", name="Queues").get_by_role("link", name=re.compile(r"^sales ")).click()
    expect(row_of(bob, "WORK-L2I-1", "Work opportunity")).to_contain_text("dan")
    row_of(bob, "WORK-L2I-1", "Work opportunity").get_by_role("link", name="Work opportunity").click()
    bob.get_by_label("or person").fill("ann")
    bob.get_by_role("button", name="Route").click()
    expect(bob.locator(".flash-ok")).to_contain_text("Routed “Work opportunity” to queue sales, assigned to ann")
    expect(bob.locator("table.history")).to_contain_text("assignee: dan → ann")

    # ann builds a quote with three lines from the form (bug 6)
    ann.goto("/")
    row_of(ann, "WORK-L2I-1", "Work opportunity").get_by_role("link", name="Work opportunity").click()
    ann.get_by_label("Outcome").select_option("quote")
    for _ in range(3):
        ann.get_by_role("button", name="Add a row").click()
    expect(ann.locator("fieldset.row-line")).to_have_count(4)
    ann.get_by_role("button", name="Remove row 4").click()
    expect(ann.locator("fieldset.row-line")).to_have_count(3)
    for i, (product, quantity) in enumerate((("CRM-PRO", "25"), ("CRM-ONB", "1"), ("CRM-SUP", "1"))):
        ann.locator(f"#f-quote_lines-{i}-product_number").select_option(product)
        ann.locator(f"#f-quote_lines-{i}-quantity").fill(quantity)
    ann.get_by_role("button", name="Complete").click()
    expect(ann.locator(".flash-ok")).to_contain_text("Completed “Work opportunity” (WORK-L2I-1)")
    ann.goto(instance_path)
    quote_lines = ann.locator("table.record-table").filter(has_text="Quote lines")
    expect(quote_lines.locator("tbody tr")).to_have_count(3)
    expect(quote_lines).to_contain_text("Total")
    expect(ann.locator(".record-card.record-quote")).to_contain_text("EUR")
    ann.screenshot(path=str(shots / "record.png"), full_page=True)

    # priority and SLA filters agree with what the list shows (bugs 2, 3)
    ann.goto("/available?sort=priority")
    words = [t.strip() for t in ann.locator("table.tasks tbody td.prio").all_inner_texts()]
    assert words and [RANK[w] for w in words] == sorted(RANK[w] for w in words), words
    for value, allowed in (("high", {"High"}), ("normal", {"High", "Normal"})):
        ann.goto(f"/available?priority={value}")
        shown = {t.strip() for t in ann.locator("table.tasks tbody td.prio").all_inner_texts()}
        assert shown <= allowed, (value, shown)
    ann.goto("/available")
    everything = ann.locator("table.tasks tbody .sla:not(.sla-none)").count()
    seen = 0
    for status in ("ok", "nearing", "breached"):
        ann.goto(f"/available?sla={status}")
        cells = ann.locator("table.tasks tbody .sla")
        classes = [cells.nth(i).get_attribute("class") for i in range(cells.count())]
        assert all(f"sla-{status}" in c for c in classes), (status, classes)
        seen += len(classes)
    assert seen == everything > 0, "every task with an SLA or due date is under exactly one status"

    # desktop and phone pictures; at 390 px nothing overflows and tasks come first (bug 8)
    ann.goto("/available")
    ann.screenshot(path=str(more / "flow-available.png"), full_page=True)
    phone = log_in(browser, base, "ann", PHONE)
    for path, name in (("/", "phone-my-work"), ("/available", "phone-available"), (f"/tasks/{work_id}", None),
                       (instance_path, None), ("/queues/sales", None), ("/settings", None)):
        phone.goto(path)
        no_sideways_scroll(phone, path)
        if name:
            phone.screenshot(path=str((shots if name == "phone-available" else more) / f"{name}.png"))
    phone.goto("/available")
    first = phone.locator("table.tasks tbody tr").first.bounding_box()
    assert first is not None and first["y"] + first["height"] <= PHONE["height"], "a task on the first screen"
    expect(phone.get_by_role("link", name="Qualify lead").first).to_be_in_viewport()
    phone.goto(f"/tasks/{work_id}")
    phone.screenshot(path=str(more / "phone-task.png"), full_page=True)
    phone.goto(instance_path)
    phone.screenshot(path=str(more / "phone-instance.png"), full_page=True)
    boss = log_in(browser, base, "bob", PHONE)
    for area in ("/dashboards", "/dashboards/sales", "/dashboards/service", "/dashboards/marketing"):
        boss.goto(area)
        no_sideways_scroll(boss, area)

    # small things (bug 9): an HTML 404 page, a favicon, offline API docs
    ann.goto("/no/such/page")
    expect(ann.get_by_role("heading", level=1)).to_have_text("Not found")
    assert httpx.get(f"{base}/favicon.ico").status_code == 200
    ann.goto("/api/v1/docs")
    expect(ann.locator(".swagger-ui").first).to_be_visible()
    expect(ann.get_by_text("crmflow", exact=False).first).to_be_visible()


def test_dashboards_with_figures_fit_a_phone(db_url: str, clock, tmp_path: Path, shots: Path) -> None:
    """Charts and report tables filled by `crmflow demo` stay inside 390 px (they overflowed to 698 px)."""
    sys.path.insert(0, str(ROOT / "tests" / "dashboards"))
    try:
        from dashboards_support import MANAGER, PASSWORD, demo_app
    finally:
        sys.path.pop(0)
    made = demo_app(db_url, clock)
    try:
        with serve(made.app) as url, open_page(url, width=PHONE["width"], height=PHONE["height"]) as page:
            page.goto("/login")
            page.get_by_label("User name").fill(MANAGER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            for area in ("sales", "marketing", "service", "process"):
                page.goto(f"/dashboards/{area}")
                assert page.locator("svg.chart").count() > 0, f"{area}: the demo's figures make charts"
                no_sideways_scroll(page, f"/dashboards/{area}")
            page.goto("/dashboards/sales")
            page.screenshot(path=str(shots / "phone-dashboard.png"), full_page=True)
    finally:
        made.engine.close()

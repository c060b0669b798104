"""Browser tests in headless Chromium (Debian's `chromium`, driven by Playwright): an agent logs in,
picks a task, submits an invalid form and sees the message, submits a valid one and sees the diagram
advance. Skipped, with the reason, only when Chromium or Playwright is missing (.ci/browsers.sh installs
Chromium). Screenshots go to the test's temporary folder; with CRMFLOW_SCREENSHOTS=1 they go to
docs/screenshots/ (for the README), or to the folder it names."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from browser_support import open_page, require_browser, serve, shots_folder
from web_support import Crm, build_app

PASSWORD = "correct horse 1"

sync_api, uvicorn = require_browser()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return shots_folder(tmp_path)


@pytest.fixture
def server(crm: Crm) -> Iterator[str]:
    """The whole app under uvicorn in a thread, on a free port; the socket listens before the
    thread starts, so the first request simply waits in the backlog (no polling, no sleeping)."""
    with serve(build_app(crm.engine, crm.worklist)) as url:
        yield url


@pytest.fixture
def page(server: str) -> Iterator[object]:
    with open_page(server, width=1360, height=900, timeout_ms=15_000) as pg:
        yield pg


def busy_morning(crm: Crm, clock) -> int:
    """Leads arriving through the day (hot ones are due in 4 h), three picked by ann; returns
    the instance whose 'Qualify lead' the test works in the browser (not picked yet)."""
    first = crm.start_lead("L-100", "Contoso", budget=80_000)  # hot: due 13:00
    clock.advance(timedelta(hours=2))
    second = crm.start_lead("L-101", "Fabrikam", budget=90_000)  # hot: due 15:00
    third = crm.start_lead("L-102", "Adatum", budget=20_000)  # warm: due tomorrow 11:00
    crm.start_lead("L-103", "Litware", budget=5_000)  # cold: due in 3 days
    clock.advance(timedelta(hours=3))  # 14:00: L-100 overdue, L-101 nearing
    for iid in (first, second, third):
        crm.worklist.pick(crm.task_of(iid), "ann")
    return crm.start_lead("L-1", "Northwind", budget=60_000)


def test_agent_clears_a_task_in_the_browser(crm: Crm, clock, page, shots: Path) -> None:
    iid = busy_morning(crm, clock)
    expect = sync_api.expect

    page.goto("/")
    assert "/login" in page.url, "logged out: the pages send you to the login"
    page.get_by_label("User name").fill("ann")
    page.get_by_label("Password").fill("not her password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
    page.get_by_label("Password").fill(PASSWORD)
    page.screenshot(path=str(shots / "login.png"))
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("My work")
    rows = page.locator("table.tasks tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator(".sla-breached")).to_contain_text("Overdue by 1 h 00 min")
    expect(page.locator(".sla-nearing")).to_contain_text("1 h 00 min left")
    page.screenshot(path=str(shots / "my-work.png"), full_page=True)

    page.get_by_role("navigation", name="Views").get_by_role("link", name="Available").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Available to me")
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="L-1", exact=True))
    row.get_by_role("link", name="Qualify lead").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Qualify lead")
    expect(page.locator(".instructions")).to_contain_text("Northwind")

    page.get_by_role("button", name="Pick").click()
    expect(page.locator(".flash-ok")).to_contain_text("You picked")
    expect(page.locator("#assignee")).to_have_text("ann")

    page.get_by_label("Decision").select_option("disqualify")
    page.get_by_role("button", name="Complete").click()
    error = page.locator("#f-disqualify_reason-err")
    expect(error).to_have_text("Reason for disqualifying is required")
    expect(page.get_by_label("Decision")).to_have_value("disqualify")  # what was entered stays
    expect(page.get_by_label("Reason for disqualifying")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=str(shots / "task.png"), full_page=True)

    page.get_by_label("Decision").select_option("qualify")
    page.get_by_label("Price list").select_option(str(crm.price_list_id))
    page.get_by_role("button", name="Complete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My work")
    expect(page.locator(".flash-ok")).to_contain_text("Completed “Qualify lead” (L-1)")

    page.goto(f"/instances/{iid}")
    done = page.locator('svg g[data-element-id="qualify_task"]')
    active = page.locator('svg g[data-element-id="work_opportunity"]')
    assert "state-done" in (done.get_attribute("class") or "")
    assert "state-active" in (active.get_attribute("class") or ""), "the diagram marks the next step active"
    expect(page.locator("table.timers")).to_contain_text("Every 3 days")
    page.screenshot(path=str(shots / "instance.png"), full_page=True)

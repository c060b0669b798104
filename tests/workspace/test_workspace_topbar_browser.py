"""The top bar stays one row at 1280 and 1024 px wide with every view a user has (Workbench and
Console included), and the record Details panel shows times as the rest of the pages do (the user's
zone, UTC on hover) instead of raw ISO text. Headless Chromium; screenshots go to the test's folder
(CRMFLOW_SCREENSHOTS=folder keeps them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import chromium, require_browser, serve, shots_folder
from browser_support import log_in as fill_login
from sqlalchemy import select
from workspace_world import WorkspaceWorld

sync_api, _ = require_browser()

ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture(scope="module")
def server(world: WorkspaceWorld) -> Iterator[str]:
    with serve(world.app) as url:
        yield url


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return shots_folder(tmp_path)


@pytest.fixture
def browser(server: str) -> Iterator[object]:
    with chromium() as launched:
        yield launched


def log_in(browser: object, server: str, user: str, width: int) -> object:
    context = browser.new_context(viewport={"width": width, "height": 800}, base_url=server)
    page = context.new_page()
    page.set_default_timeout(20_000)
    fill_login(page, user)
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("My work")
    return page


@pytest.mark.parametrize("width", [1280, 1024])
def test_top_bar_is_one_row(browser: object, server: str, shots: Path, width: int) -> None:
    page = log_in(browser, server, "admin", width)
    page.goto("/records")
    page.screenshot(path=str(shots / f"topbar-{width}.png"))
    boxes = page.eval_on_selector_all(
        "header.top > *", "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return [e.className || e.tagName, r.top, r.bottom, r.right]; })")
    tops = [top for _name, top, _bottom, _right in boxes]
    assert max(tops) - min(tops) < 16, f"the top bar wraps at {width} px: {boxes}"
    assert all(right <= width for *_rest, right in boxes), f"the top bar overflows at {width} px: {boxes}"
    header = page.eval_on_selector("header.top", "e => e.getBoundingClientRect().height")
    assert header < 64, f"the top bar is {header} px high at {width} px"
    nav = page.get_by_role("navigation", name="Views")
    for name in ("My work", "Available", "My activities", "Records", "Dashboards", "Workbench", "Console"):
        sync_api.expect(nav.get_by_role("link", name=name)).to_be_visible()
    # the user's own pages are in the user's menu
    page.locator("details.user-menu > summary").click()
    sync_api.expect(page.get_by_role("link", name="Closed by me", exact=True)).to_be_visible()
    sync_api.expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.screenshot(path=str(shots / f"topbar-{width}-menu.png"))
    page.keyboard.press("Escape")
    sync_api.expect(page.get_by_role("button", name="Log out")).to_be_hidden()
    page.locator("details.user-menu > summary").click()
    page.get_by_role("link", name="Closed by me", exact=True).click()
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Closed by me")


def test_record_details_show_times_in_the_users_zone(world: WorkspaceWorld, browser: object, server: str,
                                                     shots: Path) -> None:
    from handlers.models import Case

    with world.engine.db.read() as session:
        case_id = session.scalars(select(Case.id).order_by(Case.id)).first()
    page = log_in(browser, server, "sue", 1280)
    page.goto(f"/records/cases/{case_id}")
    details = page.locator(".panel", has=page.get_by_role("heading", name="Details", exact=True))
    page.screenshot(path=str(shots / "record-details.png"), full_page=True)
    text = details.locator("dl.facts").inner_text()
    assert not ISO_TIME.search(text), f"raw ISO times in the Details panel: {text}"
    created = details.locator("dt", has_text=re.compile("^created at$")).locator("xpath=../dd/time")
    sync_api.expect(created).to_have_attribute("title", re.compile(r"UTC"))

"""In headless Chromium, as the demo users work: a sales agent finds no dashboards and is refused a
customer case with the missing permission named; an analyst sees a case without its data; a
mistyped password five times locks the name with a message saying until when. Screenshots go to
the test's temporary folder (CRMFLOW_SCREENSHOTS=folder keeps them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from authz_world import World
from browser_support import log_in, open_page, require_browser, serve, shots_folder

from worklists.lockout import USER_LIMIT

sync_api, uvicorn = require_browser()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return shots_folder(tmp_path)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    with serve(world.app) as url:
        yield url


@pytest.fixture
def page(server: str) -> Iterator[object]:
    with open_page(server, width=1280, height=800, timeout_ms=15_000) as pg:
        yield pg


def test_a_sales_agent_finds_no_dashboards_and_no_customer_cases(world: World, page: object, shots: Path) -> None:
    expect = sync_api.expect
    log_in(page, "ann")
    expect(page.get_by_role("heading", level=1)).to_have_text("My work")
    page.get_by_role("link", name="Dashboards").click()
    expect(page.locator("main")).to_contain_text("No dashboards for you")
    assert page.locator('a[href="/dashboards/sales"]').count() == 0
    page.screenshot(path=str(shots / "ann-dashboards.png"), full_page=True)
    response = page.goto(f"/instances/{world.case_instance}")
    assert response is not None and response.status == 403
    expect(page.locator("main")).to_contain_text("missing permission 'read' on 'instances:case_resolution'")
    expect(page.locator("main")).not_to_contain_text("4111")
    page.screenshot(path=str(shots / "ann-case-refused.png"), full_page=True)


def test_an_analyst_sees_a_case_without_the_customers_data(world: World, page: object, shots: Path) -> None:
    expect = sync_api.expect
    log_in(page, "ada")
    page.goto(f"/instances/{world.case_instance}")
    expect(page.get_by_role("heading", name="Records")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Hidden: the records and the data in the history need")
    expect(page.locator("main")).not_to_contain_text("4111")
    assert page.locator("svg").count() >= 1, "the diagram is shown"
    page.screenshot(path=str(shots / "ada-case-without-data.png"), full_page=True)


def test_mistyped_passwords_lock_the_name_with_a_clear_message(page: object, shots: Path) -> None:
    expect = sync_api.expect
    for _ in range(USER_LIMIT):
        log_in(page, "uma", "not the password")
        expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
    log_in(page, "uma")
    expect(page.get_by_role("alert")).to_contain_text("Too many failed logins for this user name: try again after")
    page.screenshot(path=str(shots / "locked.png"), full_page=True)

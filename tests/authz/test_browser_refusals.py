"""In headless Chromium, as the demo users work: a sales agent finds no dashboards and is refused a
customer case with the missing permission named; an analyst sees a case without its data; a
mistyped password five times locks the name with a message saying until when. Screenshots go to
the test's temporary folder (CRMFLOW_SCREENSHOTS=folder keeps them)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from authz_world import World

from crmflow import demo_seed
from worklists.lockout import USER_LIMIT

CHROMIUM = os.environ.get("CRMFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
    pytest.skip(f"Chromium not found at {CHROMIUM} (run .ci/browsers.sh, or set CRMFLOW_CHROMIUM)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
uvicorn = pytest.importorskip("uvicorn")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CRMFLOW_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(world.app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.fixture
def page(server: str) -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server)
        pg = context.new_page()
        pg.set_default_timeout(15_000)
        yield pg
        context.close()
        browser.close()


def log_in(page: object, user: str, password: str = demo_seed.DEMO_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


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

"""Issue 18's done-when, in headless Chromium: sue searches "Northwind", opens the account, sees its
open case with the SLA time left and the lead-to-invoice instance at "Work opportunity", logs a call
on the contact (on the timeline and in her My activities), starts a new case from the web form and
finds it in the service queue; an admin adds a product with a price and it is in the quote form's
product lookup. Screenshots go to the test's folder (CRMFLOW_SCREENSHOTS=folder keeps them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import log_in as fill_login
from browser_support import open_page, require_browser, serve, shots_folder
from workspace_world import WorkspaceWorld

sync_api, uvicorn = require_browser()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return shots_folder(tmp_path)


@pytest.fixture(scope="module")
def server(world: WorkspaceWorld) -> Iterator[str]:
    with serve(world.app) as url:
        yield url


@pytest.fixture
def page(server: str) -> Iterator[object]:
    with open_page(server, width=1280, height=900, timeout_ms=20_000) as pg:
        yield pg


def log_in(page: object, user: str) -> None:
    fill_login(page, user)
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("My work")


def test_sue_finds_northwind_logs_a_call_and_opens_a_case(world: WorkspaceWorld, page: object, shots: Path) -> None:
    expect = sync_api.expect
    log_in(page, "sue")
    page.get_by_role("searchbox", name="Search customers, records and business keys").fill("Northwind")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Search")
    page.screenshot(path=str(shots / "sue-search.png"), full_page=True)
    page.get_by_role("link", name="Northwind Traders").click()

    main = page.locator("main")
    expect(page.get_by_role("heading", level=1)).to_have_text("Account Northwind Traders")
    cases = page.locator(".panel", has=page.get_by_role("heading", name="Cases"))
    expect(cases).to_contain_text("Reports export times out")
    expect(cases).to_contain_text(re.compile(r"SLA first response: In Progress, (\d+ h )?\d+ min left"))
    running = page.locator(".panel", has=page.get_by_role("heading", name="Processes running"))
    expect(running).to_contain_text("lead to invoice WORK-L2I-1")
    expect(running.get_by_role("link", name="Work opportunity")).to_be_visible()
    page.screenshot(path=str(shots / "sue-northwind-360.png"), full_page=True)

    main.get_by_role("link", name="Maria Lopez").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Contact Maria Lopez")
    page.get_by_text("Log a call, email or appointment").click()
    page.get_by_label("Type").select_option("phone_call")
    page.get_by_label("Subject").fill("Called Maria about the export")
    page.get_by_label("Due (your time)").fill("2026-03-03T10:00")
    page.get_by_role("button", name="Log activity").click()
    expect(page.locator(".flash")).to_contain_text("Logged “Called Maria about the export”")
    expect(page.get_by_role("list", name="Timeline")).to_contain_text("Called Maria about the export")
    page.screenshot(path=str(shots / "sue-contact-timeline.png"), full_page=True)

    page.get_by_role("link", name="My activities").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My activities")
    expect(main).to_contain_text("Called Maria about the export")
    page.screenshot(path=str(shots / "sue-my-activities.png"), full_page=True)

    page.get_by_role("link", name="Records", exact=True).click()
    page.get_by_role("link", name="New case").click()
    page.get_by_label("Title").fill("Cannot log in since Monday")
    page.get_by_label("Origin").select_option("Web")
    page.get_by_label("Customer's email").fill("maria.lopez@northwind.example")
    page.screenshot(path=str(shots / "sue-new-case-form.png"), full_page=True)
    page.get_by_role("button", name="Start").click()
    expect(page.locator(".flash")).to_contain_text("Started new case: case_resolution instance")
    instance_url = page.url
    assert re.search(r"/instances/\d+$", instance_url), instance_url
    page.screenshot(path=str(shots / "sue-new-case-started.png"), full_page=True)

    new_id = int(instance_url.rsplit("/", 1)[1])
    queue = next(t.queue for t in world.engine.list_tasks(instance_id=new_id))
    page.goto(f"/queues/{queue}")
    key = world.engine.get_instance(new_id, with_history=False).business_key
    assert key and key.startswith("WEB-CASE-"), key
    expect(main.locator("tr", has_text=key)).to_contain_text("Work case")
    page.screenshot(path=str(shots / "sue-service-queue.png"), full_page=True)


def test_an_admin_adds_a_product_with_a_price_and_the_quote_form_offers_it(
        world: WorkspaceWorld, page: object, shots: Path) -> None:
    expect = sync_api.expect
    log_in(page, "admin")
    page.goto("/records/products")
    page.get_by_role("link", name="New product").click()
    page.get_by_label("Number").fill("CRM-AI")
    page.get_by_label("Name").fill("AI assistant, per user and year")
    page.get_by_label("Price", exact=True).fill("99.50")
    page.screenshot(path=str(shots / "admin-new-product.png"), full_page=True)
    page.get_by_role("button", name="Create product").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("AI assistant")
    expect(page.locator(".panel", has=page.get_by_role("heading", name="Prices"))).to_contain_text("99.50 EUR")
    page.screenshot(path=str(shots / "admin-product.png"), full_page=True)

    task = next(t for t in world.engine.list_tasks(instance_id=world.lead_instance)
                if t.element_id == "work_opportunity")
    page.goto(f"/tasks/{task.id}")
    expect(page.locator('option[value="CRM-AI"]').first).to_have_count(1)
    page.screenshot(path=str(shots / "admin-quote-form.png"), full_page=True)

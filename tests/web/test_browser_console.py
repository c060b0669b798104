"""The operator console in headless Chromium (issue 16's done-when): an admin finds the lead stuck on
a mistyped product through the incidents page, edits the quote lines variable, retries, and the
instance goes on; another lead is suspended (its due follow-up timer does not fire) and resumed (it
fires); one is cancelled (its task leaves every worklist); one is moved back to "Qualify lead" with
the dry run shown first. Screenshots go to the test's temporary folder (CRMFLOW_SCREENSHOTS=folder
keeps them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from browser_support import open_page, require_browser, serve, shots_folder
from web_support import PASSWORD, Crm, build_app

from worklists.service import TaskFilter

sync_api, uvicorn = require_browser()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return shots_folder(tmp_path)


@pytest.fixture
def server(crm: Crm) -> Iterator[str]:
    crm.accounts.add_user("admin", ["admin"], password=PASSWORD, token_label=None)
    with serve(build_app(crm.engine, crm.worklist)) as url:
        yield url


@pytest.fixture
def page(server: str) -> Iterator[object]:
    with open_page(server, width=1360, height=900, timeout_ms=15_000) as pg:
        yield pg


def at_work_opportunity(crm: Crm, key: str, company: str) -> tuple[int, str]:
    """A lead ann qualified; its 'Work opportunity' task, picked by ann."""
    iid = crm.start_lead(key, company)
    qualify = crm.task_of(iid)
    crm.worklist.pick(qualify, "ann")
    crm.worklist.complete(qualify, "ann", {"decision": "qualify", "price_list_id": crm.price_list_id})
    work = crm.task_of(iid, "work_opportunity")
    crm.worklist.pick(work, "ann")
    return iid, work


def stuck_on_a_mistyped_product(crm: Crm) -> int:
    """The quote lines name CRM-PRP (meant: CRM-PRO); sent past the form (as an integration would)."""
    iid, work = at_work_opportunity(crm, "L-1", "Northwind")
    lines = [{"product_number": "CRM-PRP", "quantity": 2}]
    inst = crm.engine.complete_task(work, user="ann", data={"outcome": "quote", "quote_lines": lines})
    assert inst.status == "incident", inst
    return iid


def every_worklist_of_ann(crm: Crm) -> set[str]:
    ids = set()
    for page in (crm.worklist.my_work("ann", TaskFilter()), crm.worklist.available("ann", TaskFilter()),
                 crm.worklist.queue("sales", TaskFilter(), user="ann")):
        ids |= {i.id for i in page.items}
    return ids


def test_an_admin_repairs_suspends_cancels_and_moves_instances(crm: Crm, clock, page, shots: Path) -> None:
    expect = sync_api.expect
    stuck = stuck_on_a_mistyped_product(crm)
    waiting, _ = at_work_opportunity(crm, "L-2", "Contoso")
    doomed = crm.start_lead("L-3", "Fabrikam")
    doomed_task = crm.task_of(doomed)
    crm.worklist.pick(doomed_task, "ann")
    again, _ = at_work_opportunity(crm, "L-4", "Adatum")

    page.goto("/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # -- the mistyped product: incidents → instance → edit the quote lines → retry
    page.get_by_role("link", name="Console").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Incidents")
    group = page.locator("section.incident-group")
    expect(group).to_have_count(1)
    expect(group.get_by_role("heading")).to_contain_text("lead_to_invoice · Build quote")
    expect(group).to_contain_text("product CRM-PRP does not exist")
    page.screenshot(path=str(shots / "console-incidents.png"), full_page=True)
    group.get_by_role("link", name=f"instance {stuck}").click()
    expect(page.locator("#instance-status")).to_have_text("incident")
    page.get_by_text("Edit variables").click()
    box = page.get_by_label("Variables (JSON; remove a name to delete it)")
    assert '"CRM-PRP"' in box.input_value()
    box.fill(box.input_value().replace('"CRM-PRP"', '"CRM-PRO"'))
    page.locator("details.operate-part").first.get_by_label("Reason").fill("mistyped product number")
    page.screenshot(path=str(shots / "console-edit-variables.png"), full_page=True)
    page.get_by_role("button", name="Save variables").click()
    expect(page.locator(".flash-ok")).to_contain_text("Variables saved")
    page.get_by_role("button", name="Retry “Build quote”").click()
    expect(page.locator(".flash-ok")).to_contain_text("Retried")
    expect(page.locator("#instance-status")).not_to_have_text("incident")
    page.screenshot(path=str(shots / "console-retried.png"), full_page=True)
    repaired = crm.engine.get_instance(stuck)
    assert repaired.incidents == [] and repaired.data["quote"]["line_count"] == 1
    edited = [h for h in repaired.history if h.event == "variables_edited"][0]
    assert edited.user == "admin" and edited.data_delta["reason"] == "mistyped product number"
    assert edited.data_delta["old"]["quote_lines"][0]["product_number"] == "CRM-PRP"

    # -- suspended: the follow-up timer falls due and does not fire; after resuming it does
    page.goto(f"/instances/{waiting}")
    page.locator("form[action$='/suspend']").get_by_label("Reason").fill("customer on holiday")
    page.get_by_role("button", name="Suspend").click()
    expect(page.locator("#instance-status")).to_have_text("suspended")
    clock.advance(timedelta(days=4))
    assert all(f.instance_id != waiting for f in crm.engine.tick().timers_fired)
    page.goto("/console/timers")
    overdue = page.locator("tr.overdue", has_text=f"instance {waiting}")
    expect(overdue.filter(has_text="Every 3 days")).to_have_count(1)
    held = page.locator("tr.suspended", has_text=f"instance {waiting}").filter(has_text="Every 3 days")
    expect(held.locator(".status-suspended")).to_have_text("suspended")
    page.screenshot(path=str(shots / "console-timers.png"), full_page=True)
    held.get_by_role("button", name="Fire now").click()
    expect(page.locator("main")).to_contain_text(f"instance {waiting} is suspended; firing timer")
    page.screenshot(path=str(shots / "console-timer-suspended.png"), full_page=True)
    page.goto(f"/instances/{waiting}")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#instance-status")).to_have_text("waiting")
    assert "followup_timer" in [f.element_id for f in crm.engine.tick().timers_fired if f.instance_id == waiting]

    # -- cancelled: its task leaves every worklist
    assert doomed_task in every_worklist_of_ann(crm)
    page.goto(f"/instances/{doomed}")
    page.get_by_label("Reason for cancelling").fill("duplicate lead")
    page.get_by_role("button", name="Cancel instance").click()
    expect(page.locator("#instance-status")).to_have_text("cancelled")
    assert doomed_task not in every_worklist_of_ann(crm)
    assert crm.engine.get_task(doomed_task).state == "cancelled"

    # -- moved back to "Qualify lead", the dry run first
    page.goto(f"/instances/{again}")
    page.get_by_text("Move a token").click()
    page.get_by_label("Start at").select_option("qualify_task")
    page.get_by_role("button", name="Preview (dry run)").click()
    dry = page.get_by_role("status", name="Dry run")
    expect(dry).to_contain_text("Would move (back to a step that ran)")
    expect(dry).to_contain_text("Active now: ")
    expect(dry).to_contain_text("Work opportunity (work_opportunity)")
    expect(dry).to_contain_text("Active after: Qualify lead (qualify_task)")
    page.screenshot(path=str(shots / "console-dry-run.png"), full_page=True)
    assert [t.element_id for t in crm.engine.get_instance(again).open_tasks] == ["work_opportunity"], "dry run"
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator(".flash-ok")).to_contain_text("Moved")
    assert [t.element_id for t in crm.engine.get_instance(again).open_tasks] == ["qualify_task"]
    page.screenshot(path=str(shots / "console-moved.png"), full_page=True)

    # -- the processes page: where the instances are, as a heatmap on the diagram
    page.get_by_role("link", name="Console").click()
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Processes").click()
    page.get_by_role("link", name="lead_to_invoice").click()
    expect(page.locator("rect.heat[data-element-id='qualify_task']")).to_have_count(1)
    page.screenshot(path=str(shots / "console-heatmap.png"), full_page=True)

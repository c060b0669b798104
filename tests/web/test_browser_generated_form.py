"""In the browser: a Camunda Modeler diagram's generated form (camunda:formData) is the task's form;
the agent sees its fields, an out-of-range value is refused by the field, a valid one completes
(issue 22 item 8). Fixtures (server, page, screenshots) are test_browser's."""

from __future__ import annotations

from pathlib import Path

from test_browser import PASSWORD, page, server, shots, sync_api  # noqa: F401 - fixtures
from web_support import Crm

OFFER = Path(__file__).parents[1] / "diagrams" / "camunda" / "offer_review.bpmn"


def test_agent_fills_a_generated_form(crm: Crm, page, shots: Path) -> None:  # noqa: F811
    crm.engine.deploy([OFFER])
    iid = crm.engine.start("Process_offer_review", {"owner": "ann", "followUp": None}).id
    [task] = crm.engine.list_tasks(instance_id=iid)
    expect = sync_api.expect

    page.goto("/login")
    page.get_by_label("User name").fill("ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/tasks/{task.id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Review offer")
    expect(page.get_by_label("Amount")).to_have_value("100")
    expect(page.get_by_label("Channel")).to_be_visible()
    page.get_by_label("Amount").fill("0")
    page.get_by_role("button", name="Complete").click()
    expect(page.locator("#f-amount-err")).to_have_text("Amount must be ≥ 1")
    page.screenshot(path=str(shots / "generated-form.png"), full_page=True)

    page.get_by_label("Amount").fill("250")
    page.get_by_label("Channel").select_option(label="Phone")  # the value's name from the modeler
    page.get_by_role("button", name="Complete").click()
    expect(page.locator(".flash-ok")).to_contain_text("Completed “Review offer”")
    assert crm.engine.get_instance(iid).data["channel"] == "phone"

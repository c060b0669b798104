"""Issue 17's done-when, in headless Chromium: ada (analyst) opens lead_to_invoice in the workbench,
adds a user task with a form and a timer boundary (and a service task), sees a live error for an
unregistered operation and fixes it by choosing one in the properties panel, runs the scenarios
(all pass), deploys version N+1, and a new instance runs on it; the saved draft re-opens in the
modeler and passes `crmflow validate` from the CLI unchanged. Screenshots go to the test's
temporary folder (CRMFLOW_SCREENSHOTS=folder keeps them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import log_in, open_page, require_browser, serve, shots_folder
from workbench_world import PROCESSES, WorkbenchWorld

sync_api, _ = require_browser()

#: drawn with the modeler's own API (dragging from the palette is bpmn-js's business, not ours):
#: a non-interrupting 90-day timer on "Qualify lead" leads to a new user task, which has a
#: 2-day timer boundary of its own, then a service task with an operation nobody registered.
DRAW = """() => {
  const m = window.workbench.modeler;
  const reg = m.get('elementRegistry'), modeling = m.get('modeling'), factory = m.get('elementFactory');
  const pool = reg.get('lead_to_invoice_pool'), host = reg.get('qualify_task');
  const shape = (type, extra) => factory.createShape(Object.assign({type: type}, extra || {}));
  const stale = modeling.createShape(shape('bpmn:BoundaryEvent', {eventDefinitionType: 'bpmn:TimerEventDefinition'}),
                                     {x: 1310, y: 190}, host, {attach: true});
  modeling.updateProperties(stale, {id: 'lead_gone_stale', name: 'Lead stale for 90 days', cancelActivity: false});
  const review = modeling.createShape(shape('bpmn:UserTask'), {x: 1440, y: 100}, pool);
  modeling.updateProperties(review, {id: 'review_stale_lead', name: 'Review stale lead'});
  const late = modeling.createShape(shape('bpmn:BoundaryEvent', {eventDefinitionType: 'bpmn:TimerEventDefinition'}),
                                    {x: 1460, y: 140}, review, {attach: true});
  modeling.updateProperties(late, {id: 'review_overdue', name: 'Review overdue'});
  const note = modeling.createShape(shape('bpmn:ServiceTask'), {x: 1590, y: 100}, pool);
  modeling.updateProperties(note, {id: 'note_stale_lead', name: 'Mark lead contacted'});
  const done = modeling.createShape(shape('bpmn:EndEvent'), {x: 1700, y: 100}, pool);
  modeling.updateProperties(done, {id: 'stale_reviewed', name: 'Stale lead reviewed'});
  const dropped = modeling.createShape(shape('bpmn:EndEvent'), {x: 1540, y: 172}, pool);
  modeling.updateProperties(dropped, {id: 'review_dropped', name: 'Review dropped'});
  modeling.connect(stale, review); modeling.connect(review, note); modeling.connect(note, done);
  modeling.connect(late, dropped);
  const moddle = m.get('moddle');
  const op = moddle.create('spiffworkflow:ServiceTaskOperator', {id: 'sales/no_such_operation'});
  const ext = moddle.create('bpmn:ExtensionElements', {values: [op]});
  modeling.updateProperties(note, {extensionElements: ext});
}"""


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return shots_folder(tmp_path)


#: a strict policy a deployment may send: the workbench must work without inline or eval'd script
CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'"


def with_csp(app: object) -> object:
    """The app behind a Content-Security-Policy header (a violation shows as a console error)."""
    async def wrapped(scope: dict, receive: object, send: object) -> None:
        async def send_with_csp(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"content-security-policy", CSP.encode()))
            await send(message)
        await app(scope, receive, send_with_csp)  # type: ignore[operator]
    return wrapped


@pytest.fixture(scope="module")
def server(bench: WorkbenchWorld) -> Iterator[str]:
    with serve(with_csp(bench.app)) as url:
        yield url


@pytest.fixture
def page(server: str) -> Iterator[object]:
    with open_page(server, width=1600, height=1000, timeout_ms=20_000, accept_downloads=True) as pg:
        errors: list[str] = []
        pg.on("pageerror", lambda err: errors.append(str(err)))
        pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        pg.js_errors = errors  # type: ignore[attr-defined]
        yield pg


def select_element(page: object, element_id: str) -> None:
    page.evaluate("id => { const m = window.workbench.modeler; m.get('selection').select("
                  "m.get('elementRegistry').get(id)); }", element_id)


def look_at_the_change(page: object) -> None:
    """Zoom the canvas to the new elements (the whole diagram is too wide to read) for the screenshots."""
    page.evaluate("() => { const c = window.workbench.modeler.get('canvas'); c.zoom(1.0); "
                  "c.viewbox(Object.assign(c.viewbox(), {x: 1000, y: 20})); }")


def settle(page: object) -> None:
    """Wait for the debounced live check to have answered for the current diagram."""
    before = page.evaluate("window.workbench.checks")
    page.wait_for_function(f"() => window.workbench.checks > {before}")


def test_an_analyst_edits_tests_and_deploys_lead_to_invoice(bench: WorkbenchWorld, page: object, shots: Path,
                                                            tmp_path: Path) -> None:
    expect = sync_api.expect
    before = max(v.version for v in bench.engine.list_definitions("lead_to_invoice"))
    log_in(page, "ada")
    page.get_by_role("link", name="Workbench").click()
    page.get_by_role("link", name="lead_to_invoice").click()
    page.wait_for_function("() => window.workbench && window.workbench.ready")
    status = page.locator("#wb-status")
    expect(status).to_contain_text("No errors")
    page.screenshot(path=str(shots / "1-opened.png"))
    original = (PROCESSES / "lead_to_invoice.bpmn").read_text(encoding="utf-8")
    resaved = page.evaluate("async () => (await window.workbench.modeler.saveXML({format: true})).xml")
    for tag in ("serviceTaskOperator", "parameter ", "property ", "preScript", "instructionsForEndUser",
                "messageVariable", "calledDecisionId", "bpmndi:BPMNShape", "bpmndi:BPMNEdge", "di:waypoint"):
        assert resaved.count("<" + (tag if ":" in tag else "spiffworkflow:" + tag)) == \
            original.count("<" + (tag if ":" in tag else "spiffworkflow:" + tag)), f"{tag} kept on save"
    select_element(page, "lane_sales")
    expect(page.locator("#wb-props")).to_contain_text("Queue sales: worked by sales; supervised by sales_managers")

    page.evaluate(DRAW)
    settle(page)
    expect(status).to_contain_text("error(s)")
    problems = page.locator("#wb-problems")
    expect(problems).to_contain_text("operation 'sales/no_such_operation' is not registered")
    overlay = page.locator(".djs-overlay .wb-overlay-error").filter(has_text="sales/no_such_operation")
    expect(overlay).to_be_visible()
    assert page.locator('[data-element-id="note_stale_lead"].wb-has-error').count() == 1
    expect(page.get_by_role("button", name="Deploy", exact=True)).to_be_disabled()
    look_at_the_change(page)
    page.screenshot(path=str(shots / "2-live-error.png"))

    # the user task: a form and candidate groups; its timer and the stale timer: expressions
    select_element(page, "review_stale_lead")
    props = page.locator("#wb-props")
    props.get_by_label("Form").select_option("forms/qualify_lead.json")
    props.get_by_label("Candidate groups").fill('"sales"')
    props.get_by_label("Candidate groups").press("Tab")
    props.get_by_label("Due").fill('"P1D"')
    props.get_by_label("Due").press("Tab")
    expect(props.get_by_role("link", name="Preview the form as the agent sees it")).to_be_visible()
    page.screenshot(path=str(shots / "3-user-task-panel.png"))
    select_element(page, "review_overdue")
    page.locator("#wb-props").get_by_label("Timer expression").fill('"P2D"')
    page.locator("#wb-props").get_by_label("Timer expression").press("Tab")
    select_element(page, "lead_gone_stale")
    page.locator("#wb-props").get_by_label("Timer expression").fill('"P90D"')
    page.locator("#wb-props").get_by_label("Timer expression").press("Tab")

    # the fix: choose a registered operation; its parameters come from the handler's signature
    select_element(page, "note_stale_lead")
    operation = page.locator("#wb-props").get_by_label("Operation")
    expect(operation.locator("option:checked")).to_have_text("sales/no_such_operation (not registered)")
    operation.select_option("sales/mark_lead_contacted")
    lead_id = page.locator("#wb-props").get_by_label("parameter lead_id")
    lead_id.fill('lead["lead_id"]')
    lead_id.press("Tab")
    settle(page)
    expect(status).to_contain_text("No errors", timeout=20_000)
    assert page.locator(".wb-has-error").count() == 0
    page.screenshot(path=str(shots / "4-fixed.png"))

    page.get_by_role("button", name="Run scenarios").click()
    expect(status).to_contain_text("passed, 0 failed", timeout=120_000)
    expect(page.locator("#wb-scenarios")).to_contain_text("won and paid in full")
    assert page.locator(".wb-scenario.wb-failed").count() == 0
    page.screenshot(path=str(shots / "5-scenarios.png"), full_page=True)

    inquiry = {"email": "old@acme.example", "company_name": "Acme", "topic": "CRM", "lead_source": "Web"}
    running = bench.engine.start("lead_to_invoice", {"inquiry": inquiry}, business_key="WB-0", user="web").id
    page.get_by_role("button", name="Preview deploy").click()
    expect(page.locator("#wb-preview-result")).to_contain_text("review_stale_lead")
    page.get_by_role("button", name="Deploy", exact=True).click()
    result = page.locator("#wb-deploy-result")
    expect(result).to_contain_text(f"Deployed lead_to_invoice version {before + 1} (by ada")
    expect(result).to_contain_text("Added: lead_gone_stale, note_stale_lead, review_dropped, review_overdue")
    expect(result).to_contain_text(f"instance {running}: can move to version {before + 1}")
    page.screenshot(path=str(shots / "6-deployed.png"), full_page=True)

    inquiry = {"email": "new@acme.example", "company_name": "Acme", "topic": "CRM", "lead_source": "Web"}
    started = bench.engine.start("lead_to_invoice", {"inquiry": inquiry}, business_key="WB-1", user="web")
    assert started.version == before + 1, "a new instance runs on the version deployed from the workbench"
    assert {t.element_id for t in started.open_tasks} == {"qualify_task"}

    # save a draft, download it, re-open it in the modeler: unchanged, valid
    page.get_by_role("button", name="Save draft").click()
    link = page.locator("#wb-download")
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "saved"
    shutil.copytree(PROCESSES, saved, ignore=shutil.ignore_patterns("scenarios"))
    info.value.save_as(saved / "lead_to_invoice.bpmn")
    xml = (saved / "lead_to_invoice.bpmn").read_text(encoding="utf-8")
    assert "<bpmndi:BPMNShape" in xml and 'bpmnElement="review_stale_lead"' in xml, "BPMN-DI is kept"
    assert 'spiffworkflow:serviceTaskOperator id="sales/mark_lead_contacted"' in xml
    assert '<spiffworkflow:parameter id="email" type="str" value="inquiry[&#34;email&#34;]"' in xml \
        or 'id="email"' in xml, "the other service tasks' parameters are kept"
    assert 'name="formJsonSchemaFilename" value="forms/qualify_lead.json"' in xml
    assert xml.count("<spiffworkflow:instructionsForEndUser>") == 3
    draft_id = page.evaluate("window.workbench.draft.id")
    page.goto("/workbench/processes/lead_to_invoice")
    page.wait_for_function("() => window.workbench && window.workbench.ready")
    page.locator("#wb-source").select_option(f"draft={draft_id}")
    page.get_by_role("button", name="Open").click()
    page.wait_for_function(f"() => window.workbench.opened === 'draft {draft_id} by ada'")
    expect(status).to_contain_text("No errors")
    assert page.evaluate("!!window.workbench.modeler.get('elementRegistry').get('review_overdue')")
    page.screenshot(path=str(shots / "7-reopened.png"))
    cli = subprocess.run([sys.executable, "-m", "crmflow", "validate", str(saved)], capture_output=True, text=True,
                         env={**os.environ, "CRMFLOW_DB": f"sqlite:///{tmp_path / 'none.db'}"}, timeout=120)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert not [e for e in page.js_errors if "favicon" not in e], page.js_errors


def test_an_analyst_edits_a_decision_table_and_previews_a_form(page: object, shots: Path) -> None:
    expect = sync_api.expect
    log_in(page, "ada")
    page.goto("/workbench")
    page.get_by_role("link", name="discount_approval.dmn").click()
    expect(page.locator("#dmn-status")).to_contain_text("Opened discount_approval.dmn")
    expect(page.locator("#dmn-canvas .tjs-table")).to_be_visible()
    page.screenshot(path=str(shots / "8-decision-table.png"), full_page=True)
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#dmn-status")).to_contain_text("Saved draft #")
    expect(page.locator("#dmn-download")).to_be_visible()
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator("#dmn-status")).to_contain_text("Deployed discount_approval.dmn")
    expect(page.locator("#dmn-result")).to_contain_text("lead_to_invoice:")
    page.screenshot(path=str(shots / "8b-decision-deployed.png"), full_page=True)
    page.goto("/workbench/processes/lead_to_invoice/form-preview?form=forms/qualify_lead.json")
    expect(page.get_by_role("heading", level=1)).to_have_text("Form preview · forms/qualify_lead.json")
    expect(page.get_by_label("Decision")).to_be_visible()
    page.screenshot(path=str(shots / "9-form-preview.png"), full_page=True)
    # dmn-js's production bundle itself logs Inferno's "minified development build" notice
    assert not [e for e in page.js_errors if "favicon" not in e and "Inferno" not in e], page.js_errors


def test_an_analyst_clicks_through_a_dry_run_of_the_draft(bench: WorkbenchWorld, page: object, shots: Path) -> None:
    """The dry run: the diagram on the canvas runs on a throwaway database; the canvas marks the open
    task, then the waiting timer, then the message catch; completing, firing and sending are clicks."""
    from dry_run_diagram import XML

    expect = sync_api.expect
    instances_before = len(bench.engine.list_instances())
    log_in(page, "ada")
    page.goto("/workbench/processes/lead_to_invoice")
    page.wait_for_function("() => window.workbench && window.workbench.ready")
    page.evaluate("xml => window.workbench.modeler.importXML(xml)", XML)
    page.evaluate("() => window.workbench.modeler.get('canvas').zoom(1.4)")
    page.evaluate("() => { const c = window.workbench.modeler.get('canvas'); "
                  "c.viewbox(Object.assign(c.viewbox(), {x: -20, y: 40})); }")
    status = page.locator("#wb-status")
    page.get_by_role("button", name="Start dry run").click()
    expect(status).to_contain_text("Dry run started: waiting")
    expect(page.locator('[data-element-id="review"].wb-run-active')).to_have_count(1)
    expect(page.locator('[data-element-id="start"].wb-run-done')).to_have_count(1)
    expect(page.locator("#wb-dry-clock")).to_contain_text("clock 2026-01-05 09:00")
    page.get_by_label("Data to complete it with (JSON)").fill('{"verdict": "fine"}')
    page.screenshot(path=str(shots / "10-dry-run-task.png"), full_page=True)

    page.get_by_role("button", name="Complete Review").click()
    expect(page.locator('[data-element-id="wait_day"].wb-run-waiting')).to_have_count(1)
    expect(page.locator('[data-element-id="review"].wb-run-done')).to_have_count(1)
    expect(page.locator("#wb-dry-waiting")).to_contain_text("timer wait_day due 2026-01-06 09:00")
    expect(page.locator("#wb-dry-vars")).to_contain_text('"verdict": "fine"')
    page.screenshot(path=str(shots / "11-dry-run-timer.png"), full_page=True)

    page.get_by_role("button", name="Fire next timer").click()
    expect(page.locator('[data-element-id="wait_go"].wb-run-waiting')).to_have_count(1)
    expect(page.locator("#wb-dry-clock")).to_contain_text("clock 2026-01-06 09:00")
    expect(page.get_by_role("button", name="Fire next timer")).to_be_disabled()
    page.get_by_label("Data of message dry_go (JSON)").fill('{"went": true}')
    page.get_by_role("button", name="Send dry_go").click()
    expect(page.locator("#wb-dry-clock")).to_contain_text("completed")
    expect(page.locator('[data-element-id="end"].wb-run-done')).to_have_count(1)
    expect(page.locator("#wb-dry-history")).to_contain_text("completed Done")
    page.screenshot(path=str(shots / "12-dry-run-completed.png"), full_page=True)

    page.get_by_role("button", name="End dry run").click()
    expect(status).to_contain_text("Dry run ended")
    assert page.locator(".wb-run-done").count() == 0
    assert len(bench.engine.list_instances()) == instances_before, "nothing ran on the real database"
    assert not [e for e in page.js_errors if "favicon" not in e], page.js_errors

"""The workbench's server side, without a browser: who may use it, live checks with validate's
rules and element ids, drafts with author and download, scenarios against a draft (a failing step
marked, later steps not run), deploy refused while there are errors, deploy recording who deployed,
the migration dry run of running instances, decision tables and the form preview."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from workbench_world import PROCESSES, WorkbenchWorld

BASE = "/workbench/processes/lead_to_invoice"
ORIGINAL = (PROCESSES / "lead_to_invoice.bpmn").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def ada(bench: WorkbenchWorld) -> TestClient:
    return bench.login("ada")


def csrf(client: TestClient) -> str:
    found = re.search(r'data-csrf="([^"]+)"', client.get(BASE).text)
    assert found
    return found.group(1)


def post(client: TestClient, path: str, xml: str) -> tuple[int, dict]:
    r = client.post(BASE + path, data={"csrf": csrf(client), "xml": xml})
    return r.status_code, r.json()


def test_an_agent_is_refused_and_sees_no_process_to_edit(bench: WorkbenchWorld) -> None:
    ann = bench.login("ann")
    r = ann.get(BASE)
    assert r.status_code == 403
    assert "missing permission &#x27;deploy&#x27; on &#x27;process:lead_to_invoice&#x27;" in r.text
    assert ann.get("/workbench/decisions/discount_approval").status_code == 403
    index = ann.get("/workbench")
    assert index.status_code == 200 and "Nothing for you here" in index.text
    r = ann.post(BASE + "/deploy", data={"csrf": "x", "xml": ORIGINAL})
    assert r.status_code == 403


def test_the_analyst_opens_the_file_a_version_and_the_catalog(ada: TestClient) -> None:
    assert 'href="/workbench/processes/lead_to_invoice"' in ada.get("/workbench").text
    page = ada.get(BASE)
    assert page.status_code == 200 and "bpmn-modeler.production.min.js" in page.text
    assert "<script>" not in page.text, "no inline script: the page works under script-src 'self'"
    assert ada.get(BASE + "/source").text == ORIGINAL
    assert "lead_to_invoice" in ada.get(BASE + "/source?version=1").text
    catalog = ada.get(BASE + "/catalog").json()
    assert {"name": "lead_id", "type": "int", "required": True} in catalog["operations"]["sales/mark_lead_contacted"]
    assert "forms/qualify_lead.json" in catalog["forms"] and "quote_accepted" in catalog["messages"]
    assert catalog["lanes"]["sales"] == {"queue": "sales", "groups": ["sales"], "supervisors": ["sales_managers"]}


def test_the_live_check_marks_an_unregistered_operation_with_a_hint(ada: TestClient) -> None:
    status, clean = post(ada, "/check", ORIGINAL)
    assert status == 200 and clean["errors"] == 0
    status, bad = post(ada, "/check", ORIGINAL.replace('id="sales/capture_lead"', 'id="sales/capture_leads"'))
    found = [d for d in bad["diagnostics"] if d["rule"] == "crmflow/unknown-handler"]
    assert found and found[0]["element_id"] == "capture_lead" and "sales/capture_lead" in found[0]["hint"]


def test_a_page_without_its_token_is_refused(ada: TestClient) -> None:
    r = ada.post(BASE + "/check", data={"csrf": "forged", "xml": ORIGINAL})
    assert r.status_code == 400 and "reload the workbench" in r.json()["detail"]


def test_a_draft_is_saved_with_its_author_and_downloads_unchanged(ada: TestClient) -> None:
    status, draft = post(ada, "/drafts", ORIGINAL)
    assert status == 200 and draft["author"] == "ada" and draft["deployed_version"] is None
    r = ada.get(draft["download"])
    assert r.text == ORIGINAL
    assert r.headers["content-disposition"] == 'attachment; filename="lead_to_invoice.bpmn"'
    assert ada.get(BASE + f"/source?draft={draft['id']}").text == ORIGINAL
    assert ada.get(BASE + "/drafts/999999/file").status_code == 404


def test_scenarios_run_against_the_draft_and_mark_the_failing_step(ada: TestClient) -> None:
    wrong_group = ORIGINAL.replace("""<spiffworkflow:property name="candidateGroups" value='"sales"' />
          <spiffworkflow:property name="queue" value='territory_assignment["queue"]' />""",
                                   """<spiffworkflow:property name="candidateGroups" value='"billing"' />
          <spiffworkflow:property name="queue" value='territory_assignment["queue"]' />""")
    assert wrong_group != ORIGINAL
    status, report = post(ada, "/scenarios", wrong_group)
    assert status == 200 and report["failed"] > 0
    failed = next(s for s in report["scenarios"] if s["name"] == "won and paid in full")
    states = [step["state"] for step in failed["steps"]]
    assert states[0] == "passed" and states[1] == "failed" and set(states[2:]) == {"not run"}
    assert "billing" in failed["failure"]["found"]


def test_deploy_is_refused_with_errors_and_records_who_deployed(bench: WorkbenchWorld, ada: TestClient) -> None:
    before = max(v.version for v in bench.engine.list_definitions("lead_to_invoice"))
    running = bench.engine.start("lead_to_invoice", {"inquiry": {"email": "a@b.example", "company_name": "B"}},
                                 business_key="WB-API-1", user="web").id
    status, refused = post(ada, "/deploy", ORIGINAL.replace('id="sales/capture_lead"', 'id="sales/nope"'))
    assert status == 409 and "validate error" in refused["detail"]
    assert max(v.version for v in bench.engine.list_definitions("lead_to_invoice")) == before
    renamed = ORIGINAL.replace('name="Qualify lead"', 'name="Qualify the lead"')
    status, preview = post(ada, "/preview", renamed)
    assert status == 200 and preview["changes"]["changed"] == {"qualify_task": ["bpmn_name"]}
    status, done = post(ada, "/deploy", renamed)
    assert status == 200 and done["version"] == before + 1 and done["deployed_by"] == "ada"
    assert {"instance_id": running, "allowed": True} .items() <= next(
        p for p in done["migration_dry_run"] if p["instance_id"] == running).items()
    assert bench.engine.get_instance(running, with_history=False).version == before, "a dry run moves nothing"
    status, again = post(ada, "/deploy", renamed)
    assert status == 200 and again["changed"] is False and again["version"] == before + 1
    index = ada.get("/workbench").text
    assert f"deployed as version {before + 1} by ada" in index


def test_decision_tables_and_the_form_preview(ada: TestClient) -> None:
    page = ada.get("/workbench/decisions/discount_approval")
    assert page.status_code == 200 and "dmn-modeler.production.min.js" in page.text
    assert "<definitions" in ada.get("/workbench/decisions/discount_approval/source").text
    assert ada.get("/workbench/decisions/nothing_here").status_code == 404
    token = csrf(ada)
    xml = (PROCESSES / "discount_approval.dmn").read_text(encoding="utf-8")
    saved = ada.post("/workbench/decisions/discount_approval/drafts", data={"csrf": token, "xml": xml}).json()
    assert saved["author"] == "ada" and saved["kind"] == "dmn"
    preview = ada.get(BASE + "/form-preview?form=forms/qualify_lead.json")
    assert preview.status_code == 200 and "Decision" in preview.text
    assert ada.get(BASE + "/form-preview?form=../permissions.yml").status_code == 404


def test_a_draft_deploys_only_the_process_of_its_page(bench: WorkbenchWorld, ada: TestClient) -> None:
    other = (PROCESSES / "case_resolution.bpmn").read_text(encoding="utf-8")
    versions = len(bench.engine.list_definitions("case_resolution"))
    status, refused = post(ada, "/deploy", other.replace('name="Case resolution"', 'name="Cases"'))
    assert status in (404, 409), refused  # a second case_resolution among the files, or no lead_to_invoice
    assert len(bench.engine.list_definitions("case_resolution")) == versions


def test_a_diagram_with_a_call_activity_deploys_with_the_process_it_calls(bench: WorkbenchWorld,
                                                                          ada: TestClient) -> None:
    handover = (PROCESSES / "campaign_handover.bpmn").read_text(encoding="utf-8")
    assert "callActivity" in handover
    token = csrf(ada)
    before = max(v.version for v in bench.engine.list_definitions("campaign_handover"))
    l2i = [v.version for v in bench.engine.list_definitions("lead_to_invoice")]
    changed = handover.replace('name="Lead to invoice" calledElement', 'name="Sell: lead to invoice" calledElement')
    assert changed != handover
    r = ada.post("/workbench/processes/campaign_handover/deploy", data={"csrf": token, "xml": changed})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == before + 1
    assert [v.version for v in bench.engine.list_definitions("lead_to_invoice")] == l2i, "the callee stays as deployed"

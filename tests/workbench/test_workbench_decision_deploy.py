"""Deploying a decision table from its workbench page: refused while validate finds errors (like a
diagram); otherwise stored with who deployed it, and each deployed process calling the table gets a
new version holding the new rules, so its new instances decide with them."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from workbench_world import PROCESSES, WorkbenchWorld

BASE = "/workbench/decisions/discount_approval"
ORIGINAL = (PROCESSES / "discount_approval.dmn").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def ada(bench: WorkbenchWorld) -> TestClient:
    return bench.login("ada")


def deploy(client: TestClient, xml: str) -> tuple[int, dict]:
    found = re.search(r'name="csrf" value="([^"]+)"|data-csrf="([^"]+)"', client.get(BASE).text)
    assert found
    r = client.post(BASE + "/deploy", data={"csrf": found.group(1) or found.group(2), "xml": xml})
    return r.status_code, r.json()


def test_a_table_with_errors_is_refused_and_nothing_changes(bench: WorkbenchWorld, ada: TestClient) -> None:
    before = max(v.version for v in bench.engine.list_definitions("lead_to_invoice"))
    broken = ORIGINAL.replace("</decisionTable>", "")
    status, body = deploy(ada, broken)
    assert status == 409, body
    assert "discount_approval.dmn has" in body["detail"] and "validate error" in body["detail"]
    assert max(v.version for v in bench.engine.list_definitions("lead_to_invoice")) == before


def test_a_changed_table_is_deployed_and_its_callers_use_it(bench: WorkbenchWorld, ada: TestClient) -> None:
    before = max(v.version for v in bench.engine.list_definitions("lead_to_invoice"))
    stricter = ORIGINAL.replace("? &gt; 10", "? &gt; 7").replace("? &lt;= 10", "? &lt;= 7")
    status, body = deploy(ada, stricter)
    assert status == 200, body
    assert body["deployed_by"] == "ada" and body["decisions"] == ["discount_approval"]
    assert {"process_id": "lead_to_invoice", "version": before + 1, "changed": True} in body["callers"]
    # the diagram itself is the one deployed before: only the table it holds changed
    assert bench.engine.diagram_source("lead_to_invoice", before + 1) == bench.engine.diagram_source("lead_to_invoice",
                                                                                                     before)
    drafts = ada.get(BASE).text
    assert f"#{body['draft_id']} by ada" in drafts

    status, again = deploy(ada, stricter)  # the same table again: no new versions
    assert status == 200 and all(not c["changed"] for c in again["callers"])


def test_an_agent_may_not_deploy_a_table(bench: WorkbenchWorld) -> None:
    ann = bench.login("ann")
    assert ann.post(BASE + "/deploy", data={"csrf": "x", "xml": ORIGINAL}).status_code == 403

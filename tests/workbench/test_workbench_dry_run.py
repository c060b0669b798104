"""The dry run from the modeler page, without a browser: a throwaway instance of the draft on its
own in-memory database and clock; the analyst completes a task, fires a timer, sends a message and
sees the marks, data and history; runs are private to their owner, capped and expire; a run may
start like a YAML scenario (its seed and start data, the real handlers writing CRM records)."""

from __future__ import annotations

import re

import pytest
from dry_run_diagram import XML
from fastapi.testclient import TestClient
from workbench_world import PROCESSES, WorkbenchWorld

from crmflow.workbench import dryrun

BASE = "/workbench/processes/lead_to_invoice"
ORIGINAL = (PROCESSES / "lead_to_invoice.bpmn").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def ada(bench: WorkbenchWorld) -> TestClient:
    return bench.login("ada")


def csrf(client: TestClient) -> str:
    found = re.search(r'data-csrf="([^"]+)"', client.get(BASE).text)
    assert found
    return found.group(1)


def start(client: TestClient, xml: str = XML, **fields: str) -> tuple[int, dict]:
    r = client.post(BASE + "/dry-runs", data={"csrf": csrf(client), "xml": xml, **fields})
    return r.status_code, r.json()


def act(client: TestClient, run_id: str, action: str, **fields: str) -> tuple[int, dict]:
    r = client.post(f"{BASE}/dry-runs/{run_id}/{action}", data={"csrf": csrf(client), **fields})
    return r.status_code, r.json()


def test_the_analyst_clicks_through_a_task_a_timer_and_a_message(bench: WorkbenchWorld, ada: TestClient) -> None:
    deployed_before = bench.engine.list_definitions("lead_to_invoice")
    instances_before = len(bench.engine.list_instances())
    status, run = start(ada)
    assert status == 200, run
    assert run["status"] == "waiting" and run["marks"] == {"start": "done", "review": "active"}
    (task,) = run["open_tasks"]
    assert task["element_id"] == "review"

    status, run = act(ada, run["id"], "complete", task_id=task["id"], data='{"verdict": "fine"}')
    assert status == 200, run
    assert run["data"]["verdict"] == "fine" and run["open_tasks"] == []
    assert run["marks"]["review"] == "done" and run["marks"]["wait_day"] == "waiting"
    assert [t["element_id"] for t in run["timers"]] == ["wait_day"]
    clock = run["now"]

    status, run = act(ada, run["id"], "advance", by="hour")  # not yet due
    assert status == 200 and run["marks"]["wait_day"] == "waiting" and run["now"] > clock
    status, run = act(ada, run["id"], "advance", by="next")
    assert status == 200, run
    assert run["marks"]["wait_day"] == "done" and run["waiting_for"] == [{"element_id": "wait_go", "message": "dry_go"}]
    assert run["now"].startswith("2026-01-06T09:00")  # the timer's own due time: one day after the start

    status, refused = act(ada, run["id"], "message", name="dry_stop")
    assert status == 409 and "dry_go" in refused["detail"], refused
    status, run = act(ada, run["id"], "message", name="dry_go", data='{"went": true}')
    assert status == 200, run
    assert run["status"] == "completed" and run["marks"]["end"] == "done" and run["data"]["went"] is True
    assert [h["element_id"] for h in run["history"] if h["event"] == "completed"][-3:] == ["wait_day", "wait_go", "end"]

    # nothing of it reached the real database
    assert bench.engine.list_definitions("lead_to_invoice") == deployed_before
    assert len(bench.engine.list_instances()) == instances_before
    status, ended = act(ada, run["id"], "end")
    assert status == 200 and ended["ended"]
    status, gone = act(ada, run["id"], "view")
    assert status == 404 and "start a new one" in gone["detail"]


def test_mistakes_get_a_clear_answer(ada: TestClient) -> None:
    status, run = start(ada)
    assert status == 200
    rid, task_id = run["id"], run["open_tasks"][0]["id"]
    status, bad = act(ada, rid, "complete", task_id=task_id, data="{not json")
    assert status == 422 and "not valid JSON" in bad["detail"]
    status, bad = act(ada, rid, "complete", task_id="nope", data="{}")
    assert status == 404 and "open: review" in bad["detail"]
    status, bad = act(ada, rid, "advance", by="3 days")
    assert status == 422 and "ISO 8601 duration" in bad["detail"]
    status, bad = act(ada, rid, "advance", by="next")
    assert status == 409 and "no timer is pending" in bad["detail"]
    status, bad = act(ada, rid, "dance")
    assert status == 422 and "unknown dry-run action" in bad["detail"]
    r = ada.post(f"{BASE}/dry-runs/{rid}/advance", data={"csrf": "stale", "by": "day"})
    assert r.status_code == 400 and "session expired" in r.json()["detail"]
    status, bad = start(ada, XML.replace('id="lead_to_invoice"', 'id="other_process"')
                        .replace('bpmnElement="lead_to_invoice"', 'bpmnElement="other_process"'))
    assert status == 404 and "defines no executable process 'lead_to_invoice'" in bad["detail"]
    status, bad = start(ada, scenario="no such scenario")
    assert status == 404 and "won and paid in full" in bad["detail"]
    act(ada, rid, "end")


def test_a_run_is_its_owners_and_the_store_is_capped_and_expires(bench: WorkbenchWorld) -> None:
    ticks = [0.0]
    store = dryrun.DryRuns(max_runs=1, idle_seconds=60, now=lambda: ticks[0])
    first = store.start(bench.engine, PROCESSES, "lead_to_invoice", "lead_to_invoice.bpmn", XML.encode(), "ada")
    with pytest.raises(dryrun.Conflict, match="1 dry runs are open"):
        store.start(bench.engine, PROCESSES, "lead_to_invoice", "lead_to_invoice.bpmn", XML.encode(), "ada")
    with pytest.raises(dryrun.NotFound):
        store.get(first["id"], "lead_to_invoice", "ann")  # someone else's
    ticks[0] = 61.0  # idle for longer than allowed: closed, and room for a new one
    second = store.start(bench.engine, PROCESSES, "lead_to_invoice", "lead_to_invoice.bpmn", XML.encode(), "ada")
    assert len(store) == 1
    with pytest.raises(dryrun.NotFound, match="expired"):
        store.get(first["id"], "lead_to_invoice", "ada")
    store.get(second["id"], "lead_to_invoice", "ada")
    store.close_all()
    assert len(store) == 0


def test_a_run_like_a_scenario_uses_its_seed_and_the_real_handlers(ada: TestClient) -> None:
    status, run = start(ada, ORIGINAL, scenario="won and paid in full")
    assert status == 200, run
    assert run["scenario"] == "won and paid in full" and run["business_key"] == "L2I-1"
    assert run["marks"]["capture_lead"] == "done" and run["marks"]["qualify_task"] == "active"
    assert run["data"]["lead"]["lead_id"], "the real sales/capture_lead wrote a Lead on the throwaway database"
    (task,) = run["open_tasks"]
    assert task["form"] == "forms/qualify_lead.json" and task["queue"] == "Inside Sales"
    act(ada, run["id"], "end")


def test_an_agent_may_not_start_a_dry_run(bench: WorkbenchWorld) -> None:
    ann = bench.login("ann")
    r = ann.post(BASE + "/dry-runs", data={"csrf": "x", "xml": XML})
    assert r.status_code == 403

"""Definition, instance, message and incident routes, health and metrics, and their refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import Auth
from bpmn_builder import Process, service
from fastapi.testclient import TestClient
from test_api_tasks import assert_problem

from engine import Engine, HandlerRegistry

WAIT_MESSAGE = '<bpmn:messageEventDefinition messageRef="m_paid"/>'


@pytest.fixture
def waiter(api_engine: Engine, tmp_path: Path) -> str:
    """'waiter': start → catch message 'paid' → end."""
    p = Process("waiter", "Wait for payment", root_elements='<bpmn:message id="m_paid" name="paid"/>')
    p.node("start", "startEvent").node("wait", "intermediateCatchEvent", "Paid?", WAIT_MESSAGE)
    p.node("end", "endEvent").chain("start", "wait", "end")
    api_engine.deploy([p.write(tmp_path)])
    return "waiter"


@pytest.fixture
def flaky(api_engine: Engine, registry: HandlerRegistry, tmp_path: Path) -> dict[str, bool]:
    """'flaky': a service task that fails until `state['fixed']`."""
    state = {"fixed": False}

    def call(ctx) -> str:
        if not state["fixed"]:
            raise RuntimeError("CRM is down")
        return "ok"

    registry.register("test/call", call)
    p = Process("flaky", "Flaky")
    p.node("start", "startEvent").node("call", "serviceTask", "Call CRM", service("test/call", "result"))
    p.node("end", "endEvent").chain("start", "call", "end")
    api_engine.deploy([p.write(tmp_path)])
    return state


# -- definitions -----------------------------------------------------------------------------
def test_processes_versions_and_diagram(client: TestClient, auth: Auth, deal: str, api_engine: Engine,
                                        tmp_path: Path) -> None:
    body = client.get("/api/v1/processes", headers=auth("ann")).json()
    assert [(p["process_id"], p["latest_version"], p["versions"]) for p in body] == [("deal", 1, 1)]
    versions = client.get("/api/v1/processes/deal/versions", headers=auth("ann")).json()
    assert [v["version"] for v in versions] == [1]
    resp = client.get("/api/v1/processes/deal/diagram.svg", headers=auth("ann"))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("image/svg+xml")
    assert resp.text.lstrip().startswith("<svg") and "Qualify" in resp.text
    assert client.get("/api/v1/processes/deal/diagram.svg?version=1", headers=auth("ann")).status_code == 200


def test_definition_refusals(client: TestClient, auth: Auth, deal: str) -> None:
    assert_problem(client.get("/api/v1/processes/nope/versions", headers=auth("ann")), 404, "not-found", "'nope'")
    assert_problem(client.get("/api/v1/processes/nope/diagram.svg", headers=auth("ann")), 404, "not-found", "nope")
    assert_problem(client.get("/api/v1/processes/deal/diagram.svg?version=9", headers=auth("ann")), 404,
                   "not-found", "version 9")
    assert_problem(client.get("/api/v1/processes/deal/diagram.svg?version=0", headers=auth("ann")), 422,
                   "invalid-input", "version")


# -- instances -------------------------------------------------------------------------------
def test_start_get_list_history_and_marked_diagram(client: TestClient, auth: Auth, deal: str) -> None:
    resp = client.post("/api/v1/instances", headers=auth("ann"), json={
        "process_id": "deal", "business_key": "D-9", "data": {"prio": 2, "due": "P1D", "customer": "Hooli",
                                                               "topic": "renewal"}})
    assert resp.status_code == 201, resp.text
    inst = resp.json()
    assert resp.headers["location"] == f"/api/v1/instances/{inst['id']}"
    assert (inst["status"], inst["business_key"]) == ("waiting", "D-9")
    assert [t["element_id"] for t in inst["open_tasks"]] == ["qualify"]

    detail = client.get(f"/api/v1/instances/{inst['id']}", headers=auth("bob")).json()
    assert detail["data"]["customer"] == "Hooli"
    listed = client.get("/api/v1/instances?process=deal&key=D-9&status=waiting", headers=auth("ann")).json()
    assert [i["id"] for i in listed] == [inst["id"]]
    assert client.get("/api/v1/instances?key=other", headers=auth("ann")).json() == []
    history = client.get(f"/api/v1/instances/{inst['id']}/history", headers=auth("ann")).json()
    assert history[0]["event"] == "instance_started" and history[0]["user"] == "ann"
    assert any(h["event"] == "task_created" and h["element_id"] == "qualify" for h in history)

    svg = client.get(f"/api/v1/instances/{inst['id']}/diagram.svg", headers=auth("ann"))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert f"instance {inst['id']} (waiting)" in svg.text
    plain = client.get("/api/v1/processes/deal/diagram.svg", headers=auth("ann")).text
    assert svg.text != plain  # marked: start done, qualify active


def test_instance_refusals(client: TestClient, auth: Auth, deal: str) -> None:
    body = assert_problem(client.post("/api/v1/instances", json={"process_id": "ghost"}, headers=auth("ann")),
                          404, "not-found", "'ghost' is not deployed", "deal")
    assert body["instance"] == "/api/v1/instances"
    body = assert_problem(client.post("/api/v1/instances", json={"data": {}}, headers=auth("ann")), 422,
                          "invalid-input")
    assert body["errors"] == [{"field": "process_id", "message": "Field required"}]
    body = assert_problem(client.post("/api/v1/instances", json={"process_id": "deal", "business_key": "a\x00b"},
                                      headers=auth("ann")), 422, "invalid-input")
    assert body["errors"][0] == {"field": "business_key", "message": "must not contain NUL characters"}
    for path in ("/api/v1/instances/999", "/api/v1/instances/999/history", "/api/v1/instances/999/diagram.svg"):
        assert_problem(client.get(path, headers=auth("ann")), 404, "not-found", "instance 999")
    assert_problem(client.get("/api/v1/instances/abc", headers=auth("ann")), 422, "invalid-input", "instance_id")
    assert_problem(client.get(f"/api/v1/instances/{2**70}", headers=auth("ann")), 422, "invalid-input")
    assert_problem(client.get("/api/v1/instances?status=sleeping", headers=auth("ann")), 422, "invalid-input",
                   "status")


# -- messages --------------------------------------------------------------------------------
def test_message_reaches_the_waiting_instance(client: TestClient, auth: Auth, waiter: str,
                                              api_engine: Engine) -> None:
    inst = api_engine.start(waiter, business_key="INV-1")
    resp = client.post("/api/v1/messages", json={"name": "paid", "key": "INV-1", "data": {"amount": 10}},
                       headers=auth("ann"))
    assert resp.status_code == 200, resp.text
    assert (resp.json()["id"], resp.json()["status"]) == (inst.id, "completed")
    assert api_engine.get_instance(inst.id).data["amount"] == 10


def test_message_refusals(client: TestClient, auth: Auth, waiter: str, api_engine: Engine) -> None:
    body = assert_problem(client.post("/api/v1/messages", json={"name": "paid", "key": "INV-0"},
                                      headers=auth("ann")), 404, "no-subscriber", "'paid'", "INV-0")
    assert body["title"] == "No subscriber"
    api_engine.start(waiter, business_key="A")
    api_engine.start(waiter, business_key="B")
    assert_problem(client.post("/api/v1/messages", json={"name": "paid"}, headers=auth("ann")), 409, "conflict",
                   "2 instances wait for message 'paid'")
    body = assert_problem(client.post("/api/v1/messages", json={"name": ""}, headers=auth("ann")), 422,
                          "invalid-input")
    assert body["errors"][0]["field"] == "name"


def test_signal_broadcast(client: TestClient, auth: Auth, api_engine: Engine, tmp_path: Path) -> None:
    """POST /api/v1/signals reaches every waiting instance (issue 15); it needs send on message:NAME."""
    p = Process("sig_waiter", "Wait for a signal", root_elements='<bpmn:signal id="s_go" name="go"/>')
    p.node("start", "startEvent").node("wait", "intermediateCatchEvent", "Go?",
                                       '<bpmn:signalEventDefinition signalRef="s_go"/>')
    p.node("end", "endEvent").chain("start", "wait", "end")
    api_engine.deploy([p.write(tmp_path)])
    first, second = api_engine.start("sig_waiter"), api_engine.start("sig_waiter")
    resp = client.post("/api/v1/signals", json={"name": "go", "data": {"n": 1}}, headers=auth("ann"))
    assert resp.status_code == 200, resp.text
    assert sorted(resp.json()["delivered"]) == [first.id, second.id] and resp.json()["started"] == []
    assert api_engine.get_instance(first.id).data["n"] == 1
    assert client.post("/api/v1/signals", json={"name": "go"}, headers=auth("ann")).json()["delivered"] == []
    assert_problem(client.post("/api/v1/signals", json={"name": ""}, headers=auth("ann")), 422, "invalid-input")


# -- incidents -------------------------------------------------------------------------------
def test_incidents_listed_and_retried_by_admins(client: TestClient, auth: Auth, flaky: dict[str, bool],
                                                api_engine: Engine) -> None:
    inst = api_engine.start("flaky")
    incidents = client.get("/api/v1/incidents", headers=auth("ann")).json()
    assert [(i["instance_id"], i["element_id"]) for i in incidents] == [(inst.id, "call")]
    incident = incidents[0]["id"]
    assert "CRM is down" in incidents[0]["message"]
    assert client.get(f"/api/v1/incidents?instance={inst.id}&state=all", headers=auth("ann")).json()
    assert client.get("/api/v1/incidents?state=resolved", headers=auth("ann")).json() == []

    assert_problem(client.post(f"/api/v1/incidents/{incident}/retry", headers=auth("ann")), 403, "forbidden",
                   "ann may not retry incident", "admin")
    flaky["fixed"] = True
    resp = client.post(f"/api/v1/incidents/{incident}/retry", headers=auth("root"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "completed"
    assert_problem(client.post(f"/api/v1/incidents/{incident}/retry", headers=auth("root")), 409, "conflict",
                   "already resolved")
    assert_problem(client.post("/api/v1/incidents/4242/retry", headers=auth("root")), 404, "not-found",
                   "incident 4242")


# -- health and metrics ----------------------------------------------------------------------
def test_health_and_metrics_need_no_token(client: TestClient) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json()["status"] == "ok"
    assert resp.json()["database"]  # which store answered (a URL without its password, or "sqlite")
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    assert "crmflow_" in resp.text


def test_health_says_unavailable_when_the_database_is_gone(client: TestClient, api_engine: Engine,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(api_engine, "next_due_at", broken)
    assert_problem(client.get("/healthz"), 503, "unavailable", "database unreachable")


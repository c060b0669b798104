"""The operator console in the API (issue 16): each operation for an admin, and its refusal for an
agent (403 naming the missing permission `operate`); a suspended instance refuses completion."""

from __future__ import annotations

import pytest
from bpmn_builder import Process, script

OPS = "/api/v1/instances/{}/{}"


def refused(r, what: str = "operate") -> None:
    assert r.status_code == 403, r.text
    assert r.json()["missing_permission"].startswith(what), r.json()


@pytest.fixture
def failing(api_engine, tmp_path):
    """'calc': a script dividing by `divisor` (0 makes an incident), then a Sales task."""
    p = Process("calc", "Calc")
    p.node("start", "startEvent").node("divide", "scriptTask", "Divide", script("total = 100 / divisor"))
    p.node("check", "userTask", "Check").node("end", "endEvent").chain("start", "divide", "check", "end")
    api_engine.deploy([p.write(tmp_path)])

    def start(key: str) -> int:
        return api_engine.start("calc", {"divisor": 0}, business_key=key).id

    return start


def test_cancel_with_a_reason_and_the_refusal_for_an_agent(client, auth, api_engine, start_deal):
    task = start_deal("D-1")
    iid = api_engine.get_task(task).instance_id
    refused(client.post(OPS.format(iid, "cancel"), json={"reason": "dup"}, headers=auth("ann")))
    r = client.post(OPS.format(iid, "cancel"), json={"reason": " "}, headers=auth("root"))
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = client.post(OPS.format(iid, "cancel"), json={"reason": "duplicate deal"}, headers=auth("root"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert api_engine.get_task(task).state == "cancelled"
    mine = client.get("/api/v1/tasks", params={"view": "queue", "queue": "sales"}, headers=auth("ann")).json()
    assert task not in {i["id"] for i in mine["items"]}, "the task left the queue"
    history = client.get(f"/api/v1/instances/{iid}/history", headers=auth("root")).json()
    cancelled = [h for h in history if h["event"] == "instance_cancelled"][0]
    assert cancelled["user"] == "root" and cancelled["data_delta"]["reason"] == "duplicate deal"
    assert client.post(OPS.format(iid, "cancel"), json={"reason": "x"}, headers=auth("root")).status_code == 409


def test_suspend_refuses_completion_until_resumed(client, auth, api_engine, start_deal):
    task = start_deal("D-2")
    iid = api_engine.get_task(task).instance_id
    refused(client.post(OPS.format(iid, "suspend"), json={}, headers=auth("ann")))
    r = client.post(OPS.format(iid, "suspend"), json={"reason": "on hold"}, headers=auth("root"))
    assert r.json()["status"] == "suspended"
    listed = client.get("/api/v1/instances", params={"status": "suspended"}, headers=auth("root")).json()
    assert [i["id"] for i in listed] == [iid]
    client.post(f"/api/v1/tasks/{task}/pick", headers=auth("ann"))
    r = client.post(f"/api/v1/tasks/{task}/complete", json={"data": {"decision": "approve"}}, headers=auth("ann"))
    assert r.status_code == 409 and "is suspended" in r.json()["detail"] and "resume it first" in r.json()["detail"]
    refused(client.post(OPS.format(iid, "resume"), json={}, headers=auth("ann")))
    assert client.post(OPS.format(iid, "resume"), json={}, headers=auth("root")).json()["status"] == "waiting"
    r = client.post(f"/api/v1/tasks/{task}/complete", json={"data": {"decision": "approve"}}, headers=auth("ann"))
    assert r.status_code == 200, r.text


def test_edit_variables_then_retry_the_incident_group(client, auth, api_engine, failing):
    first, second = failing("C-1"), failing("C-2")
    groups = client.get("/api/v1/incidents/groups", headers=auth("root")).json()
    assert [(g["process_id"], g["element_id"], g["count"]) for g in groups] == [("calc", "divide", 2)]
    assert "division by zero" in groups[0]["message"]
    body = {"set": {"divisor": 4}, "reason": "typo"}
    refused(client.post(OPS.format(first, "variables"), json=body, headers=auth("ann")))
    r = client.post(OPS.format(first, "variables"), content='{"set": {"divisor": Infinity}}',
                    headers={**auth("root"), "Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    r = client.post(OPS.format(first, "variables"), json=body, headers=auth("root"))
    assert r.status_code == 200 and r.json()["data"]["divisor"] == 4
    edited = [h for h in api_engine.history(first) if h.event == "variables_edited"][0]
    assert edited.data_delta["old"] == {"divisor": 0} and edited.user == "root"
    group = {"process_id": "calc", "element_id": "divide"}
    refused(client.post("/api/v1/incidents/retry-group", json=group, headers=auth("ann")))
    r = client.post("/api/v1/incidents/retry-group", json=group, headers=auth("root")).json()
    assert len(r["retried"]) == 1 and len(r["still_failing"]) == 1, "only the repaired one goes on"
    assert api_engine.get_instance(first).open_tasks[0].element_id == "check"
    assert api_engine.get_instance(second).status == "incident"


def test_modify_dry_run_then_move_back(client, auth, api_engine, start_deal):
    task = start_deal("D-3")
    iid = api_engine.get_task(task).instance_id
    api_engine.claim_task(task, "ann")
    api_engine.complete_task(task, user="ann", data={"decision": "approve"})
    body = {"start_at": "qualify", "dry_run": True}
    refused(client.post(OPS.format(iid, "modify"), json=body, headers=auth("ann")))
    plan = client.post(OPS.format(iid, "modify"), json=body, headers=auth("root")).json()
    assert plan["allowed"] and plan["dry_run"] and plan["how"] == "back"
    assert [t.element_id for t in api_engine.get_instance(iid).open_tasks] == ["invoice"], "dry run: no change"
    done = client.post(OPS.format(iid, "modify"), json={**body, "dry_run": False}, headers=auth("root")).json()
    assert done["allowed"] and not done["dry_run"]
    assert [t.element_id for t in api_engine.get_instance(iid).open_tasks] == ["qualify"]
    nope = client.post(OPS.format(iid, "modify"), json={"start_at": "nowhere"}, headers=auth("root")).json()
    assert not nope["allowed"] and "no element 'nowhere'" in nope["reasons"][0]


def test_timers_list_and_fire_now(client, auth, api_engine, start_deal):
    task = start_deal("D-4", due="P2D")
    iid = api_engine.get_task(task).instance_id
    timers = client.get("/api/v1/timers", headers=auth("root")).json()
    mine = [t for t in timers if t["instance_id"] == iid]
    assert mine, timers
    refused(client.post(f"/api/v1/timers/{mine[0]['id']}/fire", headers=auth("ann")))
    r = client.post(f"/api/v1/timers/{mine[0]['id']}/fire", headers=auth("root"))
    assert r.status_code == 200, r.text
    assert client.post(f"/api/v1/timers/{mine[0]['id']}/fire", headers=auth("root")).status_code == 409
    assert client.post("/api/v1/timers/999999/fire", headers=auth("root")).status_code == 404


def test_instance_search_filters_pages_and_counts_per_status(client, auth, api_engine, start_deal):
    ids = [api_engine.get_task(start_deal(f"S-{n}", customer="Northwind" if n < 2 else "ACME")).instance_id
           for n in range(3)]
    client.post(OPS.format(ids[0], "suspend"), json={"reason": "hold"}, headers=auth("root"))
    client.post(OPS.format(ids[2], "cancel"), json={"reason": "dup"}, headers=auth("root"))
    url = "/api/v1/instances/search"
    r = client.get(url, params={"status": "suspended"}, headers=auth("root"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["id"] for i in body["items"]] == [ids[0]] and body["total"] == 1 and body["more"] is False
    assert body["counts"] == {"suspended": 1, "waiting": 1, "cancelled": 1}
    found = client.get(url, params={"variable": "customer=Northwind", "sort": "oldest"}, headers=auth("root")).json()
    assert [i["id"] for i in found["items"]] == ids[:2]
    assert [i["id"] for i in client.get(url, params={"key": "S-2", "status": "cancelled"},
                                        headers=auth("root")).json()["items"]] == [ids[2]]
    assert client.get(url, params={"element": "qualify", "started_from": "2000-01-01"},
                      headers=auth("root")).json()["total"] == 2
    bad = client.get(url, params={"variable": "customer"}, headers=auth("root"))
    assert bad.status_code == 422 and "NAME=VALUE" in bad.json()["detail"]
    bad = client.get(url, params={"ended_to": "soon"}, headers=auth("root"))
    assert bad.status_code == 422 and "ended_to" in bad.json()["detail"]
    assert client.get(url, params={"status": "suspended"}, headers=auth("ann")).status_code == 200


def test_a_message_to_a_suspended_instance_is_a_409_naming_it(client, auth, api_engine, tmp_path):
    p = Process("pinged", "Pinged")
    p.root_elements = '<bpmn:message id="msg_ping" name="ping"/>'
    p.node("start", "startEvent").node("catch", "intermediateCatchEvent", "Ping",
                                       '<bpmn:messageEventDefinition messageRef="msg_ping"/>')
    p.node("end", "endEvent").chain("start", "catch", "end")
    api_engine.deploy([p.write(tmp_path)])
    iid = api_engine.start("pinged", business_key="P-1").id
    client.post(OPS.format(iid, "suspend"), json={"reason": "hold"}, headers=auth("root"))
    r = client.post("/api/v1/messages", json={"name": "ping", "key": "P-1"}, headers=auth("root"))
    assert r.status_code == 409, r.text
    assert f"instance {iid} is suspended; message 'ping' is refused" in r.json()["detail"]
    assert "resume it first" in r.json()["detail"]
    assert api_engine.get_instance(iid).status == "suspended"
    client.post(OPS.format(iid, "resume"), json={}, headers=auth("root"))
    r = client.post("/api/v1/messages", json={"name": "ping", "key": "P-1"}, headers=auth("root"))
    assert r.status_code == 200 and r.json()["status"] == "completed"

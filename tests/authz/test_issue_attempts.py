"""The attempts of issue 21, with the demo users' own tokens and logins: each is refused with a 403
naming the missing permission, and what the users' work needs still works."""

from __future__ import annotations

from typing import Any

import httpx
from authz_world import PICKER, World, csrf_of

from worklists.permissions.audit import AuditLog

PROBLEM = "application/problem+json"


def refused(r: httpx.Response, permission: str) -> dict[str, Any]:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["type"].endswith("/forbidden")
    assert body["missing_permission"] == permission, body
    assert permission.replace(" on ", "' on '") in body["detail"], body["detail"]
    return body


def test_ann_cannot_read_case_or_campaign_instances_nor_their_history(world: World) -> None:
    api = world.client()
    for inst, pid in ((world.case_instance, "case_resolution"), (world.campaign_instance, "campaign_execution")):
        for path in (f"/api/v1/instances/{inst}", f"/api/v1/instances/{inst}/history",
                     f"/api/v1/instances/{inst}/diagram.svg"):
            refused(api.get(path, headers=world.api("ann")), f"read on instances:{pid}")
    page = world.browser("ann").get(f"/instances/{world.case_instance}")
    assert page.status_code == 403
    assert "missing permission &#39;read&#39; on &#39;instances:case_resolution" in page.text
    assert "4111" not in page.text, "the customer's data stays out of the refusal"
    assert world.client().get(f"/api/v1/instances/{world.case_instance}", headers=world.api("sue")).json()[
        "data"]["card"] == "4111 1111", "a service agent reads the case"


def test_ann_lists_only_what_she_may_read_or_is_involved_in(world: World) -> None:
    lead = world.engine.start("lead_to_invoice", {"customer": "Acme"}, business_key="ANN-LEAD")
    started = world.engine.start("case_resolution", {"customer": "Fabrikam"}, business_key="ANN-CASE", user="ann")
    other = world.engine.start("case_resolution", {"customer": "Contoso"}, business_key="OTHER-CASE")
    listed = world.client().get("/api/v1/instances?limit=500", headers=world.api("ann")).json()
    ids = {i["id"] for i in listed}
    assert lead.id in ids and started.id in ids, "her area's instances and the case she started"
    assert other.id not in ids and world.case_instance not in ids and world.campaign_instance not in ids
    assert {i["process_id"] for i in listed} == {"lead_to_invoice", "case_resolution"}
    assert world.client().get(f"/api/v1/instances/{started.id}", headers=world.api("ann")).status_code == 200
    assert len(listed) < len(world.engine.list_instances(limit=500))


def test_a_task_given_to_someone_makes_its_instance_readable_to_them(world: World) -> None:
    case = world.engine.start("case_resolution", {"customer": "Litware"}, business_key="HANDED")
    url = f"/api/v1/instances/{case.id}"
    refused(world.client().get(url, headers=world.api("ann")), "read on instances:case_resolution")
    world.engine.route_task(case.open_tasks[0].id, by="admin", assignee="ann")  # e.g. a lane owner
    assert world.client().get(url, headers=world.api("ann")).json()["data"]["customer"] == "Litware"


def test_ann_cannot_read_reports_csvs_or_the_sales_dashboard(world: World) -> None:
    api = world.client()
    assert api.get("/api/v1/reports", headers=world.api("ann")).json() == []
    for name, area in (("pipeline", "sales"), ("cases-open", "service"), ("campaigns", "marketing"),
                       ("instances", "process")):
        refused(api.get(f"/api/v1/reports/{name}", headers=world.api("ann")), f"read on reports:{area}")
        refused(api.get(f"/api/v1/reports/{name}.csv", headers=world.api("ann")), f"read on reports:{area}")
    ann = world.browser("ann")
    assert ann.get("/dashboards/sales").status_code == 403
    assert ann.get("/dashboards/sales/pipeline.csv").status_code == 403
    index = ann.get("/dashboards")
    assert index.status_code == 200 and 'href="/dashboards/sales"' not in index.text and "No dashboards" in index.text
    bob = world.browser("bob")
    assert bob.get("/dashboards/sales").status_code == 200, "the sales manager reads the sales dashboard"
    assert bob.get("/dashboards/service").status_code == 403


def test_ann_cannot_start_case_resolution_or_campaign_execution(world: World) -> None:
    api = world.client()
    for pid in ("case_resolution", "campaign_execution"):
        body = refused(api.post("/api/v1/instances", json={"process_id": pid}, headers=world.api("ann")),
                       f"start on process:{pid}")
        assert f"ann may not start process {pid}" in body["detail"]
    started = api.post("/api/v1/instances", json={"process_id": "lead_to_invoice", "data": {"customer": "X"}},
                       headers=world.api("ann"))
    assert started.status_code == 201, started.text


def test_ann_cannot_route_a_task_dan_picked_to_herself(world: World) -> None:
    task = world.picked_sales_task()
    body = refused(world.client().post(f"/api/v1/tasks/{task}/route", json={"to": "ann"}, headers=world.api("ann")),
                   "supervise on queue:sales")
    assert f"it is picked by {PICKER}" in body["detail"]
    ann = world.browser("ann")
    csrf = csrf_of(ann.get(f"/tasks/{task}").text)
    page = ann.post(f"/tasks/{task}/route", data={"route_to": "ann", "csrf": csrf})
    assert page.status_code == 403 and f"picked by {PICKER}" in page.text
    assert world.engine.get_task(task).assignee == PICKER


def test_bob_a_supervisor_outside_sales_cannot_route_a_sales_task_to_himself(world: World) -> None:
    for task in (world.picked_sales_task(), world.sales_task()):
        body = refused(world.client().post(f"/api/v1/tasks/{task}/route", json={"to": "bob"},
                                           headers=world.api("bob")), "work on queue:sales")
        assert "bob cannot work task" in body["detail"]
        assert world.engine.get_task(task).assignee in (PICKER, None)
    task = world.picked_sales_task()
    moved = world.client().post(f"/api/v1/tasks/{task}/route", json={"to": "eve"}, headers=world.api("bob"))
    assert moved.status_code == 200 and moved.json()["assignee"] == "eve", "a supervisor hands it to a rep"


def test_a_refused_admin_function_is_audited(world: World) -> None:
    refused(world.client().post(f"/api/v1/incidents/{world.incident_id}/retry", headers=world.api("ann")),
            "operate on instances:quick_campaign")
    entries = AuditLog(world.engine).entries(actor="ann", outcome="refused")
    assert entries and entries[0].target == "instances:quick_campaign"
    assert entries[0].detail == {"attempt": f"retry incident {world.incident_id}", "verb": "operate",
                                 "permission": "operate on instances:quick_campaign"}
    before = len(AuditLog(world.engine).entries(outcome="refused", limit=1000))
    refused(world.client().get(f"/api/v1/instances/{world.case_instance}", headers=world.api("ann")),
            "read on instances:case_resolution")
    assert len(AuditLog(world.engine).entries(outcome="refused", limit=1000)) == before, "reads are not admin"

"""Every route of the app, for every demo role, against the shipped permission file.

The app's routes are read from the app itself (the OpenAPI document's and the pages'). Each must
declare exactly one permission (a `Guard` dependency) and have a probe below: the request to make
and, unless its declaration says it all, whether the permission file allows it. A new route
without a declaration or without a probe fails `test_every_route_declares_a_permission_and_has_a_probe`.

Expectations come from the permission file and the lane map through `world.oracle` (no database);
the responses come from the app. A route declared `need(verb, template)` is expected from its own
declaration: the template filled with the probe's parameters, asked of the file. Lists declared
`login` answer everyone and are checked for what they show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from authz_world import PICKER, World
from fastapi.routing import iter_route_contexts

from handlers import records_service as rs
from handlers import reports
from worklists.permissions import OPERATE, READ, START, SUPERVISE
from worklists.permissions.routes import RoutePermission, declared_permissions, route_permission

#: routes the framework adds (documentation, static files): public, outside the permission model
FRAMEWORK = {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/init.js", "/docs/oauth2-redirect", "/static"}

Params = Callable[[World], dict[str, Any]]
Body = Callable[[World, str], dict[str, Any]]


@dataclass
class Probe:
    """One request on a route. `expect(world, user)`: allowed by the file (None: derived from the
    declaration); `allowed(world, user, response, params)`: what the app did (None: not a 403);
    `check(world, user, response)`: what a filtered list shows."""

    params: Params = lambda w: {}
    json: Body | None = None
    form: Body | None = None
    expect: Callable[[World, str], bool] | None = None
    allowed: Callable[[World, str, httpx.Response, dict[str, Any]], bool] | None = None
    check: Callable[[World, str, httpx.Response], None] | None = None
    own_client: bool = False  # a client of its own (logging out must not end the role's other probes)


# -- expectations and checks ----------------------------------------------------------------------

def sales_work(w: World, user: str) -> bool:
    return w.may_work(user, "sales", ["sales"])


def sales_supervise(w: World, user: str) -> bool:
    return w.file_allows(user, SUPERVISE, "queue:sales")


def sees_sales_task(w: World, user: str) -> bool:
    return w.file_allows(user, READ, "queue:sales")


def route_to_self(w: World, user: str) -> bool:
    """Routing dan's task to oneself: a supervisor of the queue who may also work it."""
    return sales_supervise(w, user) and sales_work(w, user)


def bulk_ok(w: World, user: str, r: httpx.Response, params: dict[str, Any]) -> bool:
    assert r.status_code == 200, r.text
    return bool(r.json()["results"][0]["ok"])


def picked_by(w: World, user: str, r: httpx.Response, params: dict[str, Any]) -> bool:
    assert r.status_code in (303, 403), r.text
    return w.engine.get_task(params["_task"]).assignee == user


def readable_processes(w: World, user: str, kind: str = "instances") -> set[str]:
    pids = {v.process_id for v in w.engine.list_definitions()}
    return {p for p in pids if w.file_allows(user, READ, f"{kind}:{p}")}


def only_readable_instances(w: World, user: str, r: httpx.Response) -> None:
    shown = {i["process_id"] for i in r.json()}
    readable = readable_processes(w, user)
    assert shown <= readable, f"{user} sees instances of {sorted(shown - readable)}"
    if readable & {"case_resolution", "campaign_execution"}:
        assert shown & readable, f"{user} may read {sorted(readable)} but the list is empty"


def only_readable_search(w: World, user: str, r: httpx.Response) -> None:
    shown = {i["process_id"] for i in r.json()["items"]}
    readable = readable_processes(w, user)
    assert shown <= readable, f"{user} finds instances of {sorted(shown - readable)}"
    assert sum(r.json()["counts"].values()) >= len(shown)


def only_readable_processes(w: World, user: str, r: httpx.Response) -> None:
    shown = {p["process_id"] for p in r.json()}
    assert shown == readable_processes(w, user, "process"), user


def only_readable_incidents(w: World, user: str, r: httpx.Response) -> None:
    shown = {i["id"] for i in r.json()}
    expected = {w.incident_id} if w.file_allows(user, READ, "instances:quick_campaign") else set()
    assert shown == expected, user


def only_readable_timers(w: World, user: str, r: httpx.Response) -> None:
    processes = {t.instance_id: w.engine.get_instance(t.instance_id, with_history=False).process_id
                 for t in w.engine.list_timers()}
    shown = {processes[t["instance_id"]] for t in r.json()}
    assert shown <= readable_processes(w, user), user


def only_readable_incident_groups(w: World, user: str, r: httpx.Response) -> None:
    shown = {i for g in r.json() for i in g["incident_ids"]}
    expected = {w.incident_id} if w.file_allows(user, READ, "instances:quick_campaign") else set()
    assert shown == expected, user


def page_lists_only_readable_incidents(w: World, user: str, r: httpx.Response) -> None:
    shown = f"#{w.incident_id}<" in r.text
    assert shown == w.file_allows(user, READ, "instances:quick_campaign"), user


def only_readable_reports(w: World, user: str, r: httpx.Response) -> None:
    shown = {rep["area"] for rep in r.json()}
    areas = {rep.area for rep in reports.REPORTS.values()}
    assert shown == {a for a in areas if w.file_allows(user, READ, f"reports:{a}")}, user


def L2I(w: World) -> dict[str, Any]:
    return {"process_id": "lead_to_invoice"}


def only_deployable_processes(w: World, user: str, r: httpx.Response) -> None:
    for pid in ("lead_to_invoice", "case_resolution"):
        linked = f'href="/workbench/processes/{pid}"' in r.text
        assert linked == w.file_allows(user, "deploy", f"process:{pid}"), (user, pid)


def only_readable_dashboards(w: World, user: str, r: httpx.Response) -> None:
    for area in ("sales", "marketing", "service", "process"):
        linked = f'href="/dashboards/{area}"' in r.text
        assert linked == w.file_allows(user, READ, f"reports:{area}"), f"{user}: dashboard {area}"


def available_only_workable(w: World, user: str, r: httpx.Response) -> None:
    for item in r.json()["items"]:
        assert w.may_work(user, item["queue"], item["candidate_groups"]), (user, item["queue"])


def analysts_see_no_data(w: World, user: str, r: httpx.Response) -> None:
    if r.status_code == 200:
        reads_data = w.file_allows(user, "read-data", "instances:case_resolution")
        assert bool(r.json()["data"]) == reads_data, f"{user}: variables shown={bool(r.json()['data'])}"


# -- the probes ---------------------------------------------------------------------------------------

def fresh(w: World) -> dict[str, Any]:
    task = w.sales_task()
    return {"task_id": task, "_task": task}


def dans(w: World) -> dict[str, Any]:
    task = w.picked_sales_task()
    return {"task_id": task, "_task": task}


PAGE_ACTIONS = {  # /tasks/{task_id}/{action}: every action is probed
    "pick": Probe(params=lambda w: {**fresh(w), "action": "pick"}, form=lambda w, u: {}, expect=sales_work,
                  allowed=picked_by),
    "route": Probe(params=lambda w: {**dans(w), "action": "route"}, form=lambda w, u: {"route_to": u},
                   expect=route_to_self),
    "release": Probe(params=lambda w: {**dans(w), "action": "release"}, form=lambda w, u: {},
                     expect=sales_supervise),
    "comment": Probe(params=lambda w: {**dans(w), "action": "comment"}, form=lambda w, u: {"text": "hello"},
                     expect=sees_sales_task),
    "complete": Probe(params=lambda w: {**dans(w), "action": "complete"}, form=lambda w, u: {},
                      expect=lambda w, u: u == PICKER),
}

_made = iter(range(1, 10**9))


def made(w: World, kind: str) -> int:
    """A fresh record to act on: an account, a contact or an open activity."""
    from handlers import activities, catalog

    n = next(_made)
    with w.engine.db.write() as session:
        now = w.engine.now()
        if kind == "account":
            return catalog.add_account(session, now, f"Probe account {n}").id
        if kind == "contact":
            return catalog.add_contact(session, now, f"Probe {n}").id
        if kind in ("marketing_list", "price_list"):
            from handlers import records_service as rs

            values = {"name": f"Probe list {n}", "member_type": "account"} if kind == "marketing_list" else \
                {"name": f"Probe prices {n}", "currency": "EUR"}
            return rs.create_record(session, rs.ENTITIES[kind], values, now).id
        return activities.log_by_hand(session, now, "admin", "phone_call", f"Probe call {n}", None, None).id


def account(w: World) -> dict[str, Any]:
    return {"entity": "accounts", "record_id": made(w, "account")}


def logs_on_contacts(w: World, user: str) -> bool:
    return w.file_allows(user, "edit", "records:activity") and w.file_allows(user, READ, "records:contact")


def new_product(w: World, user: str) -> dict[str, Any]:
    return {"number": f"P-{user}-{next(_made)}", "name": "Probe product"}


CALL = {"activity_type": "phone_call", "subject": "Probe call"}
PROBES: dict[tuple[str, str], list[Probe]] = {
    # -- the API: tasks
    ("GET", "/api/v1/tasks"): [Probe(params=lambda w: {"view": "available"}, check=available_only_workable)],
    ("GET", "/api/v1/queues"): [Probe()],
    ("POST", "/api/v1/tasks/bulk/pick"): [
        Probe(json=lambda w, u: {"task_ids": [w.sales_task()]}, expect=sales_work, allowed=bulk_ok)],
    ("POST", "/api/v1/tasks/bulk/release"): [
        Probe(json=lambda w, u: {"task_ids": [w.picked_sales_task()]}, expect=sales_supervise, allowed=bulk_ok)],
    ("POST", "/api/v1/tasks/bulk/route"): [
        Probe(json=lambda w, u: {"task_ids": [w.picked_sales_task()], "queue": "billing"}, expect=sales_supervise,
              allowed=bulk_ok)],
    ("GET", "/api/v1/tasks/{task_id}"): [Probe(params=dans, expect=sees_sales_task)],
    ("POST", "/api/v1/tasks/{task_id}/pick"): [Probe(params=fresh, expect=sales_work)],
    ("POST", "/api/v1/tasks/{task_id}/release"): [Probe(params=dans, expect=sales_supervise)],
    ("POST", "/api/v1/tasks/{task_id}/route"): [
        Probe(params=dans, json=lambda w, u: {"to": u}, expect=route_to_self),
        Probe(params=dans, json=lambda w, u: {"queue": "billing"}, expect=sales_supervise)],
    ("POST", "/api/v1/tasks/{task_id}/complete"): [
        Probe(params=dans, json=lambda w, u: {"data": {}}, expect=lambda w, u: u == PICKER)],
    ("POST", "/api/v1/tasks/{task_id}/comments"): [
        Probe(params=dans, json=lambda w, u: {"text": "hello"}, expect=sees_sales_task)],
    # -- processes and instances
    ("GET", "/api/v1/processes"): [Probe(check=only_readable_processes)],
    ("GET", "/api/v1/processes/{process_id}/versions"): [Probe(params=lambda w: {"process_id": "case_resolution"})],
    ("GET", "/api/v1/processes/{process_id}/diagram.svg"): [
        Probe(params=lambda w: {"process_id": "campaign_execution"})],
    ("POST", "/api/v1/instances"): [
        Probe(json=lambda w, u: {"process_id": "case_resolution"},
              expect=lambda w, u: w.file_allows(u, START, "process:case_resolution")),
        Probe(json=lambda w, u: {"process_id": "campaign_execution"},
              expect=lambda w, u: w.file_allows(u, START, "process:campaign_execution"))],
    ("GET", "/api/v1/instances"): [Probe(params=lambda w: {"limit": 500}, check=only_readable_instances)],
    ("GET", "/api/v1/instances/search"): [Probe(check=only_readable_search)],
    ("GET", "/api/v1/instances/{instance_id}"): [
        Probe(params=lambda w: {"instance_id": w.case_instance}, check=analysts_see_no_data),
        Probe(params=lambda w: {"instance_id": w.campaign_instance})],
    ("GET", "/api/v1/instances/{instance_id}/history"): [Probe(params=lambda w: {"instance_id": w.case_instance})],
    ("GET", "/api/v1/instances/{instance_id}/diagram.svg"): [
        Probe(params=lambda w: {"instance_id": w.campaign_instance})],
    ("POST", "/api/v1/messages"): [
        Probe(json=lambda w, u: {"name": "case_reply", "key": "CASE-NONE"},
              expect=lambda w, u: w.file_allows(u, "send", "message:case_reply"))],
    ("POST", "/api/v1/signals"): [
        Probe(json=lambda w, u: {"name": "case_reply"},
              expect=lambda w, u: w.file_allows(u, "send", "message:case_reply"))],
    ("GET", "/api/v1/incidents"): [Probe(check=only_readable_incidents)],
    ("POST", "/api/v1/incidents/{incident_id}/retry"): [Probe(params=lambda w: {"incident_id": w.incident_id})],
    # -- the operator console (issue 16): operate on instances:PROCESS
    ("POST", "/api/v1/instances/{instance_id}/cancel"): [
        Probe(params=lambda w: {"instance_id": w.fresh_case()}, json=lambda w, u: {"reason": "probe"})],
    ("POST", "/api/v1/instances/{instance_id}/suspend"): [
        Probe(params=lambda w: {"instance_id": w.fresh_case()}, json=lambda w, u: {})],
    ("POST", "/api/v1/instances/{instance_id}/resume"): [
        Probe(params=lambda w: {"instance_id": w.suspended_case()}, json=lambda w, u: {})],
    ("POST", "/api/v1/instances/{instance_id}/variables"): [
        Probe(params=lambda w: {"instance_id": w.fresh_case()}, json=lambda w, u: {"set": {"note": u}})],
    ("POST", "/api/v1/instances/{instance_id}/modify"): [
        Probe(params=lambda w: {"instance_id": w.fresh_case()},
              json=lambda w, u: {"cancel_at": "work", "start_at": "work", "dry_run": True})],
    ("GET", "/api/v1/timers"): [Probe(check=only_readable_timers)],
    ("POST", "/api/v1/timers/{timer_id}/fire"): [Probe(params=lambda w: {"timer_id": w.case_timer()})],
    ("GET", "/api/v1/incidents/groups"): [Probe(check=only_readable_incident_groups)],
    ("POST", "/api/v1/incidents/retry-group"): [
        Probe(json=lambda w, u: {"process_id": "quick_campaign", "element_id": "send"},
              expect=lambda w, u: w.file_allows(u, OPERATE, "instances:quick_campaign"))],
    ("GET", "/api/v1/problems/{kind}"): [Probe(params=lambda w: {"kind": "forbidden"})],
    ("GET", "/healthz"): [Probe()],
    ("GET", "/metrics"): [Probe()],
    # -- reports
    ("GET", "/api/v1/reports"): [Probe(check=only_readable_reports)],
    ("GET", "/api/v1/reports/{name}.csv"): [Probe(params=lambda w: {"name": "pipeline"})],
    ("GET", "/api/v1/reports/{name}"): [Probe(params=lambda w: {"name": "cases-open"}),
                                        Probe(params=lambda w: {"name": "instances"})],
    # -- the CRM workspace (records:ENTITY)
    ("GET", "/api/v1/records/{entity}"): [Probe(params=lambda w, e=e: {"entity": e}) for e in ("accounts", "cases",
                                                                                          "products", "invoices")],
    ("POST", "/api/v1/records/{entity}"): [Probe(params=lambda w: {"entity": "products"}, json=new_product),
                                           Probe(params=lambda w: {"entity": "accounts"},
                                                 json=lambda w, u: {"name": f"Probe {u}"})],
    ("GET", "/api/v1/records/{entity}/{record_id}"): [Probe(params=account)],
    ("PATCH", "/api/v1/records/{entity}/{record_id}"): [Probe(params=account, json=lambda w, u: {"phone": "1"})],
    ("POST", "/api/v1/records/{entity}/{record_id}/state"): [
        Probe(params=account, json=lambda w, u: {"state": "Inactive"})],
    ("GET", "/api/v1/customers/{entity}/{record_id}"): [Probe(params=account)],
    ("GET", "/api/v1/activities/mine"): [Probe()],
    ("POST", "/api/v1/records/{entity}/{record_id}/activities"): [
        Probe(params=lambda w: {"entity": "contacts", "record_id": made(w, "contact")}, json=lambda w, u: CALL,
              expect=logs_on_contacts)],
    ("GET", "/api/v1/search"): [Probe(params=lambda w: {"q": "Probe"})],
    ("GET", "/records"): [Probe()],
    ("GET", "/records/{entity}"): [Probe(params=lambda w: {"entity": "accounts"}),
                                   Probe(params=lambda w: {"entity": "knowledge-articles"})],
    ("GET", "/records/{entity}/new"): [Probe(params=lambda w: {"entity": "products"})],
    ("POST", "/records/{entity}"): [Probe(params=lambda w: {"entity": "products"}, form=new_product)],
    ("GET", "/records/{entity}/{record_id}"): [Probe(params=account)],
    ("POST", "/records/{entity}/{record_id}"): [Probe(params=account, form=lambda w, u: {"phone": "1"})],
    ("POST", "/records/{entity}/{record_id}/state"): [
        Probe(params=account, form=lambda w, u: {"move": "Inactive|Inactive"})],
    ("POST", "/records/{entity}/{record_id}/parts"): [
        Probe(params=lambda w: {"entity": "price-lists", "record_id": made(w, "price_list")},
              form=lambda w, u: {"product_id": "1", "amount": "10.00"})],
    ("POST", "/records/{entity}/{record_id}/criteria"): [
        Probe(params=lambda w: {"entity": "marketing-lists", "record_id": made(w, "marketing_list")},
              form=lambda w, u: {"region": "EU-West"})],
    ("POST", "/records/{entity}/{record_id}/activities"): [
        Probe(params=lambda w: {"entity": "contacts", "record_id": made(w, "contact")}, form=lambda w, u: CALL,
              expect=logs_on_contacts)],
    ("GET", "/activities"): [Probe()],
    ("POST", "/activities/{activity_id}/{action}"): [
        Probe(params=lambda w: {"activity_id": made(w, "activity"), "action": "complete"}, form=lambda w, u: {})],
    ("GET", "/search"): [Probe(params=lambda w: {"q": "Probe"})],
    ("GET", "/start/{process_id}"): [Probe(params=lambda w: {"process_id": "case_resolution"})],
    ("POST", "/start/{process_id}"): [Probe(params=lambda w: {"process_id": "campaign_execution"},
                                            form=lambda w, u: {})],
    # -- pages
    ("GET", "/login"): [Probe()],
    ("GET", "/favicon.ico"): [Probe()],
    ("POST", "/login"): [Probe(form=lambda w, u: {"username": "nobody", "password": "wrong password"},
                               allowed=lambda w, u, r, p: r.status_code in (401, 429) and "Wrong" in r.text
                               or "Too many" in r.text)],
    ("POST", "/logout"): [Probe(form=lambda w, u: {}, own_client=True)],
    ("GET", "/"): [Probe()],
    ("GET", "/available"): [Probe()],
    ("GET", "/closed"): [Probe()],
    ("GET", "/settings"): [Probe()],
    ("POST", "/settings"): [Probe(form=lambda w, u: {"time_zone": "UTC"})],
    ("GET", "/queues/{name}"): [Probe(params=lambda w: {"name": "sales"}, expect=sees_sales_task),
                                Probe(params=lambda w: {"name": "service"},
                                      expect=lambda w, u: w.file_allows(u, READ, "queue:service"))],
    ("POST", "/bulk"): [Probe(params=lambda w: {"_task": w.sales_task()},
                              form=lambda w, u: {"action": "pick", "back": "/"}, expect=sales_work,
                              allowed=picked_by)],
    ("GET", "/tasks/{task_id}"): [Probe(params=dans, expect=sees_sales_task)],
    ("POST", "/tasks/{task_id}/{action}"): list(PAGE_ACTIONS.values()),
    ("GET", "/instances/{instance_id}"): [
        Probe(params=lambda w: {"instance_id": w.case_instance},
              expect=lambda w, u: w.file_allows(u, READ, "instances:case_resolution"))],
    ("GET", "/dashboards"): [Probe(check=only_readable_dashboards)],
    # -- the console's pages (issue 16)
    ("GET", "/console/incidents"): [Probe(check=page_lists_only_readable_incidents)],
    ("GET", "/console/instances"): [Probe(params=lambda w: {"process": "case_resolution"})],
    ("GET", "/console/timers"): [Probe()],
    ("GET", "/console/processes"): [Probe()],
    ("GET", "/console/processes/{process_id}"): [Probe(params=lambda w: {"process_id": "case_resolution"})],
    ("POST", "/console/processes/{process_id}/migrate"): [
        Probe(params=lambda w: {"process_id": "case_resolution"}, form=lambda w, u: {"dry_run": "1"})],
    ("POST", "/console/incidents/retry-group"): [
        Probe(form=lambda w, u: {"process_id": "quick_campaign", "element_id": "send"},
              expect=lambda w, u: w.file_allows(u, OPERATE, "instances:quick_campaign"))],
    ("POST", "/console/timers/{timer_id}/fire"): [
        Probe(params=lambda w: {"timer_id": w.case_timer()}, form=lambda w, u: {},
              expect=lambda w, u: w.file_allows(u, OPERATE, "instances:case_resolution"))],
    ("POST", "/instances/{instance_id}/{action}"): [
        Probe(params=lambda w: {"instance_id": w.fresh_case(), "action": "cancel"}, form=lambda w, u: {"reason": "x"}),
        Probe(params=lambda w: {"instance_id": w.fresh_case(), "action": "suspend"}, form=lambda w, u: {}),
        Probe(params=lambda w: {"instance_id": w.suspended_case(), "action": "resume"}, form=lambda w, u: {}),
        Probe(params=lambda w: {"instance_id": w.fresh_case(), "action": "variables"},
              form=lambda w, u: {"variables": '{"customer": "Changed"}'}),
        Probe(params=lambda w: {"instance_id": w.fresh_case(), "action": "modify"},
              form=lambda w, u: {"start_at": "work", "dry_run": "1"}),
        Probe(params=lambda w: {"instance_id": w.incident_instance(), "action": "retry"},
              form=lambda w, u: {"incident_id": str(w.incident_id)})],
    ("GET", "/dashboards/{area}/{name}.csv"): [Probe(params=lambda w: {"area": "sales", "name": "pipeline"})],
    ("GET", "/dashboards/{area}"): [Probe(params=lambda w: {"area": "sales"}),
                                    Probe(params=lambda w: {"area": "process"})],
    # -- the analyst workbench (crmflow.web.pages.workbench): deploy on the process; POSTs without a diagram
    # are refused with 422 after the permission check, so nothing is saved or deployed here
    ("GET", "/workbench"): [Probe(check=only_deployable_processes)],
    ("GET", "/workbench/processes/{process_id}"): [Probe(params=L2I)],
    ("GET", "/workbench/processes/{process_id}/source"): [Probe(params=L2I)],
    ("GET", "/workbench/processes/{process_id}/catalog"): [Probe(params=L2I)],
    ("POST", "/workbench/processes/{process_id}/check"): [Probe(params=L2I, form=lambda w, u: {})],
    ("POST", "/workbench/processes/{process_id}/drafts"): [Probe(params=L2I, form=lambda w, u: {})],
    ("GET", "/workbench/processes/{process_id}/drafts/{draft_id}/file"): [
        Probe(params=lambda w: {"process_id": "case_resolution", "draft_id": "999999"})],
    ("POST", "/workbench/processes/{process_id}/scenarios"): [Probe(params=L2I, form=lambda w, u: {})],
    ("POST", "/workbench/processes/{process_id}/preview"): [Probe(params=L2I, form=lambda w, u: {})],
    ("POST", "/workbench/processes/{process_id}/deploy"): [Probe(params=L2I, form=lambda w, u: {})],
    # dry runs: starting one without a diagram is refused with 422; an unknown run is 404 (not 403)
    ("POST", "/workbench/processes/{process_id}/dry-runs"): [Probe(params=L2I, form=lambda w, u: {})],
    ("GET", "/workbench/processes/{process_id}/dry-runs/{run_id}"): [
        Probe(params=lambda w: {**L2I(w), "run_id": "no-such-run"})],
    ("POST", "/workbench/processes/{process_id}/dry-runs/{run_id}/{action}"): [
        Probe(params=lambda w: {**L2I(w), "run_id": "no-such-run", "action": "advance"}, form=lambda w, u: {})],
    ("GET", "/workbench/processes/{process_id}/form-preview"): [
        Probe(params=lambda w: {**L2I(w), "form": "forms/qualify_lead.json"})],
    ("GET", "/workbench/decisions/{table}"): [Probe(params=lambda w: {"table": "discount_approval"})],
    ("GET", "/workbench/decisions/{table}/source"): [Probe(params=lambda w: {"table": "discount_approval"})],
    ("POST", "/workbench/decisions/{table}/drafts"): [
        Probe(params=lambda w: {"table": "discount_approval"}, form=lambda w, u: {})],
    ("POST", "/workbench/decisions/{table}/deploy"): [
        Probe(params=lambda w: {"table": "discount_approval"}, form=lambda w, u: {})],
}


# -- running a probe ------------------------------------------------------------------------------------

def app_routes(world: World) -> list[tuple[str, str, Any]]:
    found = []
    for route in iter_route_contexts(world.app.routes):
        if route.path in FRAMEWORK:
            continue
        for method in sorted(route.methods or []):
            if method != "HEAD":
                found.append((method, route.path, route))
    return found


def expected(world: World, user: str, declared: RoutePermission, probe: Probe, params: dict[str, Any]) -> bool:
    if probe.expect is not None:
        return probe.expect(world, user)
    if declared.kind in ("public", "login"):
        return True
    assert declared.kind == "need", f"an 'inside' route needs a probe with expect=: {declared}"
    return world.file_allows(user, str(declared.verb), resolve(world, str(declared.resource), params))


def resolve(world: World, template: str, params: dict[str, Any]) -> str:
    """The declared resource for these parameters, worked out here (not by the app's resolvers)."""
    incidents = {i.id: i.instance_id for i in world.engine.list_incidents("all")}
    timers = {t.id: t.instance_id for t in world.engine.list_timers(state="all")}
    values = {
        "instance_id": lambda v: world.engine.get_instance(int(v), with_history=False).process_id,
        "incident_id": lambda v: world.engine.get_instance(incidents[int(v)], with_history=False).process_id,
        "timer_id": lambda v: world.engine.get_instance(timers[int(v)], with_history=False).process_id,
        "name": lambda v: reports.REPORTS[v].area,
        "entity": lambda v: rs.BY_SLUG[v].name,
    }
    out = template
    for key, value in params.items():
        out = out.replace("{" + key + "}", str(values.get(key, lambda v: v)(value)))
    return out


def send(world: World, clients: dict[str | None, Any], user: str | None, method: str, path: str,
         probe: Probe) -> tuple[httpx.Response, dict[str, Any]]:
    params = probe.params(world)
    url = path.format(**{k: v for k, v in params.items() if not k.startswith("_")})
    query = {k: v for k, v in params.items() if "{" + k + "}" not in path and not k.startswith("_")}
    if path.startswith(("/api/", "/healthz", "/metrics")):
        client = clients.setdefault("api", world.client())
        body = probe.json(world, user or "") if probe.json else None
        r = client.request(method, url, params=query, json=body, headers=world.api(user))
    else:
        if probe.own_client:
            client = world.browser(user)
        else:
            if user not in clients:
                clients[user] = world.browser(user)
            client = clients[user]
        form = None
        if method == "POST":
            csrf = client.cookies and _csrf(world, client)
            form = {**(probe.form(world, user or "") if probe.form else {}), "csrf": csrf or ""}
            if "_task" in params and path == "/bulk":
                form["task_id"] = params["_task"]
        r = client.request(method, url, params=query, data=form)
    return r, params


def _csrf(world: World, client: Any) -> str:
    from authz_world import csrf_of

    return csrf_of(client.get("/login").text)


def outcome(world: World, user: str | None, r: httpx.Response, probe: Probe, params: dict[str, Any]) -> str:
    assert r.status_code < 500, r.text
    api = str(r.request.url.path).startswith("/api/")
    if (r.status_code == 401 and api) or (r.status_code == 303 and r.headers["location"].startswith("/login?")):
        return "login"
    if probe.allowed is not None:
        return "allowed" if probe.allowed(world, user or "", r, params) else "refused"
    return "refused" if r.status_code == 403 else "allowed"


# -- the tests -------------------------------------------------------------------------------------------

def test_every_route_declares_a_permission_and_has_a_probe(world: World) -> None:
    routes = app_routes(world)
    undeclared = [f"{m} {p}: {len(declared_permissions(r))} declarations" for m, p, r in routes
                  if route_permission(r) is None]
    assert not undeclared, "each route needs exactly one Guard declaration (worklists.permissions.routes): " + \
        "; ".join(undeclared)
    missing = [f"{m} {p}" for m, p, _ in routes if (m, p) not in PROBES]
    assert not missing, f"add a probe to tests/authz/test_route_table.py for: {', '.join(missing)}"
    stale = set(PROBES) - {(m, p) for m, p, _ in routes}
    assert not stale, f"probes for routes that no longer exist: {sorted(stale)}"
    schema_paths = set(world.app.openapi()["paths"])
    assert schema_paths <= {p for _, p, _ in routes}, "every route of the OpenAPI document is in the table"


def test_a_route_without_a_declaration_is_caught(world: World) -> None:
    from fastapi import APIRouter, FastAPI

    app = FastAPI()
    router = APIRouter()
    router.add_api_route("/undeclared", lambda: {"ok": True}, methods=["GET"])
    app.include_router(router)
    route = next(r for r in iter_route_contexts(app.routes) if r.path == "/undeclared")
    assert route_permission(route) is None


def test_anonymous_callers_reach_only_public_routes(world: World) -> None:
    clients: dict[str | None, Any] = {}
    wrong = []
    for method, path, route in app_routes(world):
        declared = route_permission(route)
        assert declared is not None
        for probe in PROBES[(method, path)]:
            r, params = send(world, clients, None, method, path, probe)
            got = outcome(world, None, r, probe, params)
            want = "allowed" if declared.kind == "public" else "login"
            if got != want:
                wrong.append(f"{method} {path}: {got} (want {want}; status {r.status_code})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", ["ann", "bob", "mia", "max", "sue", "sam", "carl", "ada", "olga", "admin"])
def test_every_route_for_every_demo_role_follows_the_permission_file(world: World, role: str) -> None:
    assert role in world.roles, f"{role} is not a demo role any more ({world.roles})"
    clients: dict[str | None, Any] = {}
    wrong = []
    for method, path, route in app_routes(world):
        declared = route_permission(route)
        assert declared is not None
        for probe in PROBES[(method, path)]:
            r, params = send(world, clients, role, method, path, probe)
            want = "allowed" if expected(world, role, declared, probe, params) else "refused"
            got = outcome(world, role, r, probe, params)
            if got != want:
                wrong.append(f"{method} {path} {params}: {got} (the file says {want}; status {r.status_code})")
            elif got == "refused" and path.startswith("/api/") and r.status_code == 403:
                body = r.json()
                if not (probe.allowed or "missing_permission" in body or "picked by" in body["detail"]):
                    wrong.append(f"{method} {path}: a 403 without the missing permission: {body['detail']}")
            if got == "allowed" and probe.check is not None:
                probe.check(world, role, r)
    assert not wrong, "\n".join(wrong)


def test_the_table_covers_every_demo_role(world: World) -> None:
    tested = {"ann", "bob", "mia", "max", "sue", "sam", "carl", "ada", "olga", "admin"}
    assert set(world.roles) == tested, "a demo role was added or removed: list it in the parametrize above"

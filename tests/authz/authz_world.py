"""A small world for the permission tests: the demo's users, lane map and shipped permission file,
and the demo's process ids deployed as tiny diagrams (a lane each, so tasks land in the demo
queues), plus an incident. The `oracle` answers from the permission file and the lane map alone
(no database), so the tests compare what the app does with what the file says."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bpmn_builder import Process, service
from fastapi import FastAPI
from fastapi.testclient import TestClient
from worklist_support import lane_process

from crmflow import demo_seed
from crmflow.settings import all_migrations
from crmflow.web.app import WebSettings, create_app
from engine import Engine, HandlerRegistry, ManualClock
from worklists.permissions import WORK, Authorizer, Policy, Principals
from worklists.permissions.lanes import lane_rules
from worklists.routing import LaneMap, make_router
from worklists.service import Worklist

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
PERMISSIONS = PROCESSES / "permissions.yml"
LANES = PROCESSES / "lanes.json"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "authz-tests-secret"
PICKER = "dan"  # a sales rep who picks the tasks the others try to take


@dataclass
class World:
    engine: Engine
    worklist: Worklist
    app: FastAPI
    clock: ManualClock
    oracle: Authorizer
    groups: dict[str, list[str]]  # demo user → groups
    tokens: dict[str, str]
    case_instance: int
    campaign_instance: int
    incident_id: int
    clients: list[TestClient] = field(default_factory=list)

    # -- who ----------------------------------------------------------------------------------
    @property
    def roles(self) -> list[str]:
        """One demo user per distinct set of groups (ann for sales, bob for sales managers, ...)."""
        seen: dict[tuple[str, ...], str] = {}
        for user, groups in self.groups.items():
            if user != PICKER:
                seen.setdefault(tuple(sorted(groups)), user)
        return list(seen.values())

    def principals(self, user: str) -> Principals:
        return self.oracle.principals(Principals(user, frozenset(self.groups[user])))

    def file_allows(self, user: str, verb: str, resource: str) -> bool:
        return self.oracle.allows(self.principals(user), verb, resource)

    def may_work(self, user: str, queue: str, candidates: list[str]) -> bool:
        """The documented task rule: a file grant covers the queue; else the task's candidates."""
        who = self.principals(user)
        grants = self.oracle.grants(who, WORK, f"queue:{queue}")
        if any(not r.narrowable for r in grants):
            return True
        return bool(set(candidates) & who.as_candidates) if candidates else bool(grants)

    # -- fresh things to act on ---------------------------------------------------------------
    def sales_task(self) -> str:
        """An unpicked task in queue sales (lane Sales, candidates [sales])."""
        inst = self.engine.start("lead_to_invoice", {"customer": "Acme"}, business_key=f"L-{_next()}")
        return inst.open_tasks[0].id

    def picked_sales_task(self) -> str:
        """A sales task dan has picked."""
        task = self.sales_task()
        self.worklist.pick(task, PICKER)
        return task

    def fresh_case(self) -> int:
        """A case instance of its own, for an operator's action to change."""
        return self.engine.start("case_resolution", {"customer": "Fresh"}, business_key=f"CASE-{_next()}").id

    def suspended_case(self) -> int:
        iid = self.fresh_case()
        self.engine.suspend_instance(iid, user="admin")
        return iid

    def incident_instance(self) -> int:
        return next(i.instance_id for i in self.engine.list_incidents("all") if i.id == self.incident_id)

    def case_timer(self) -> int:
        """A pending timer (the case task's due date) of a fresh case instance."""
        iid = self.engine.start("case_resolution", {"customer": "Due", "due": "P1D"}, business_key=f"CASE-{_next()}").id
        return next(t.id for t in self.engine.list_timers() if t.instance_id == iid)

    # -- clients --------------------------------------------------------------------------------
    def api(self, user: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}

    def client(self) -> TestClient:
        c = TestClient(self.app, follow_redirects=False)
        self.clients.append(c)
        return c

    def browser(self, user: str | None) -> TestClient:
        """A client logged in to the pages as `user` (password "demo"); anonymous for None."""
        c = self.client()
        if user is not None:
            token = csrf_of(c.get("/login").text)
            r = c.post("/login", data={"username": user, "password": demo_seed.DEMO_PASSWORD, "csrf": token,
                                       "next": "/"})
            assert r.status_code == 303, r.text
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.engine.close()


_counter = iter(range(1, 10**9))


def _next() -> int:
    return next(_counter)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def database(tmp: Path) -> str:
    url = os.environ.get("CRMFLOW_TEST_DB")
    if not url:
        return f"sqlite:///{tmp / 'authz.db'}"
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()
    return url


def deploy_processes(engine: Engine, registry: HandlerRegistry, tmp: Path) -> None:
    """The demo's process ids as one-task diagrams in the demo's lanes, and quick_campaign with a
    service task that always fails (an incident)."""
    for pid, lane in (("lead_to_invoice", "Sales"), ("case_resolution", "Service Agent"),
                      ("campaign_execution", "Marketing")):
        path = tmp / f"{pid}.bpmn"
        attrs = {"dueDate": "due"} if pid == "case_resolution" else {}  # a case given `due` has a timer
        path.write_text(lane_process(pid, [("work", lane, attrs)], "Work on {{ customer }}"))
        engine.deploy([path])

    def down(ctx: object) -> str:
        raise RuntimeError("the mail service is down")

    registry.register("test/down", down)
    p = Process("quick_campaign", "Quick campaign")
    p.node("start", "startEvent").node("send", "serviceTask", "Send", service("test/down", "sent"))
    p.node("end", "endEvent").chain("start", "send", "end")
    engine.deploy([p.write(tmp)])


def build_world(tmp: Path, *, permissions: Path = PERMISSIONS) -> World:
    clock = ManualClock(START)
    registry = HandlerRegistry()
    lane_map = LaneMap.load(LANES)
    engine = Engine(database(tmp), registry=registry, clock=clock, migrations=all_migrations(),
                    task_router=make_router(lane_map))
    worklist = Worklist(engine, lane_map, permissions=permissions)
    logins = demo_seed.seed_users(engine, worklist)
    deploy_processes(engine, registry, tmp)
    case = engine.start("case_resolution", {"customer": "Northwind", "card": "4111 1111"}, business_key="CASE-1")
    campaign = engine.start("campaign_execution", {"customer": "Spring"}, business_key="CMP-1")
    engine.start("quick_campaign", {}, business_key="QC-1")
    incident = engine.list_incidents("open")[0].id
    app = create_app(engine, worklist, settings=WebSettings(secret_key=SECRET))
    oracle = Authorizer(Policy.load(permissions), lane_rules(lane_map))
    groups = {login.user: login.groups for login in logins}
    return World(engine, worklist, app, clock, oracle, groups, {login.user: login.token for login in logins},
                 case.id, campaign.id, incident)


Check = Callable[[World, str], None]

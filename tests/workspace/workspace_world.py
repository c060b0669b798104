"""The CRM workspace's world: the shipped processes, lanes, forms and permission file on a fresh
database, the demo's users and reference data, and Northwind as sue finds it — a lead qualified
by ann (its lead-to-invoice instance waits at "Work opportunity") and an open case under SLA."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from crmflow import demo, demo_case, demo_seed
from crmflow.settings import build_engine, build_worklist, lane_map
from crmflow.web.app import WebSettings, create_app
from engine import Engine, ManualClock
from worklists.service import Worklist

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday: the support calendar is open
NORTHWIND_EMAIL = "maria.lopez@northwind.example"


@dataclass
class WorkspaceWorld:
    engine: Engine
    worklist: Worklist
    app: FastAPI
    clock: ManualClock
    tokens: dict[str, str]
    lead_instance: int
    case_instance: int
    price_list_id: int
    clients: list[TestClient] = field(default_factory=list)

    def api(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def client(self) -> TestClient:
        c = TestClient(self.app, follow_redirects=False)
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.engine.close()


def database(tmp: Path) -> str:
    url = os.environ.get("CRMFLOW_TEST_DB")
    if not url:
        return f"sqlite:///{tmp / 'workspace.db'}"
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()
    return url


def entitle(engine: Engine, account_name: str) -> None:
    """Gold support for the account (an entitlement puts its cases under SLA)."""
    from sqlalchemy import select

    from handlers import lifecycle as lc
    from handlers.models import Account, Entitlement

    now = engine.now()
    with engine.db.write() as session:
        account = session.scalars(select(Account).where(Account.name == account_name)).one()
        entitlement = Entitlement(name=f"{account_name} Gold support", account_id=account.id, allocation_type="cases",
                                  decrease_on="creation", total_terms=Decimal(10), remaining_terms=Decimal(10),
                                  start_date=date(2026, 1, 1), end_date=date(2027, 1, 1), sla_name="Gold")
        lc.ENTITLEMENT.start(entitlement, now, "Active")
        session.add(entitlement)


def build_world(tmp: Path) -> WorkspaceWorld:
    clock = ManualClock(START)
    lanes = lane_map(PROCESSES)
    engine = build_engine(database(tmp), clock, lanes=lanes)
    worklist = build_worklist(engine, PROCESSES, lanes)
    logins = demo_seed.seed_users(engine, worklist)
    engine.deploy([PROCESSES])
    seeded = demo.seed(engine, clock.now())
    demo_case.seed(engine, clock.now())
    key, inquiry = demo_seed.LEADS[0]  # Maria Lopez of Northwind Traders
    lead = engine.start("lead_to_invoice", {"inquiry": inquiry}, business_key=key, user="web")
    qualify = next(t for t in engine.list_tasks(instance_id=lead.id) if t.element_id == "qualify_task")
    worklist.pick(qualify.id, "ann")
    worklist.complete(qualify.id, "ann", {"decision": "qualify", "price_list_id": seeded.price_list_id})
    entitle(engine, "Northwind Traders")
    request = {"title": "Reports export times out", "origin": "Phone", "customer_email": NORTHWIND_EMAIL,
               "case_type": "Problem", "description": "The monthly export stops after a minute."}
    case = engine.start("case_resolution", {"request": request}, business_key="NW-CASE-1", user="sue")
    app = create_app(engine, worklist, settings=WebSettings(secret_key="workspace-tests",
                                                            session_hours=24, session_idle_minutes=600))
    return WorkspaceWorld(engine, worklist, app, clock, {x.user: x.token for x in logins}, lead.id, case.id,
                          seeded.price_list_id)

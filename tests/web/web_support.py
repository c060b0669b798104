"""Helpers for the page tests: the whole app (API + pages) on a throwaway engine with the lane router, users
with passwords (as in the worklist tests: ann and bob sell, mia supervises sales, root is admin),
the worklist tests' 'deal' process (Sales 'qualify' with the discount form → Billing 'invoice'),
and the lead-to-invoice CRM set-up. Kept out of conftest.py so test modules can import them."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from engine import Engine
from worklists.auth import Accounts
from worklists.forms import Forms
from worklists.routing import LaneMap, make_router
from worklists.service import Worklist

WORKLIST_TESTS = Path(__file__).resolve().parent.parent / "worklists"
if str(WORKLIST_TESTS) not in sys.path:
    sys.path.insert(0, str(WORKLIST_TESTS))


PASSWORD = "correct horse 1"
SECRET = "test-secret-key-for-pages"
Login = Callable[[str], TestClient]


def build_app(engine: Engine, worklist: Worklist) -> FastAPI:
    """The project's app, pages included."""
    from crmflow.web.app import WebSettings, create_app

    # these tests move the clock by days: logins must outlive them (tests/authz tests expiry)
    settings = WebSettings(secret_key=SECRET, session_hours=24 * 365, session_idle_minutes=60 * 24 * 365)
    return create_app(engine, worklist, with_pages=True, settings=settings)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


# -- the real lead-to-invoice process, with the CRM handlers ---------------------------------

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
L2I_FILES = [PROCESSES / "lead_to_invoice.bpmn", PROCESSES / "lead_scoring.dmn", PROCESSES / "discount_approval.dmn",
             PROCESSES / "territories.dmn"]
CRM_USERS = {"ann": ["sales"], "bob": ["sales"], "mia": ["sales_managers"], "sam": ["service_agents"]}


class Crm:
    """lead_to_invoice deployed on an engine with the CRM handlers; products and a price list seeded."""

    def __init__(self, db_url: str, clock) -> None:
        from crmflow.settings import build_engine, record_access
        from handlers import catalog

        self.engine = build_engine(db_url, clock, task_router=make_router(LaneMap.load(PROCESSES / "lanes.json")))
        self.engine.deploy(L2I_FILES)
        with self.engine.db.write() as session:
            now = clock.now()
            price_list = catalog.add_price_list(session, now, "Standard")
            for number, name, price in (("CRM-PRO", "Licence", "480.00"), ("CRM-ONB", "Onboarding", "3200.00")):
                catalog.set_price(session, price_list, catalog.add_product(session, now, number, name), price)
            self.price_list_id = price_list.id
        self.accounts = Accounts(self.engine)
        for name, groups in CRM_USERS.items():
            self.accounts.add_user(name, groups, password=PASSWORD, token_label=None)
        # wired as crmflow.settings.build_worklist does: lookups and the record panel read the CRM records
        lookups, records = record_access(self.engine)
        self.worklist = Worklist(self.engine, LaneMap.load(PROCESSES / "lanes.json"),
                                 forms=Forms(PROCESSES, lookups=lookups), accounts=self.accounts, records=records)

    def start_lead(self, key: str = "L-1", company: str = "Northwind", budget: int = 60000) -> int:
        inquiry = {"email": f"buyer@{company.lower()}.example", "company_name": company, "topic": "CRM rollout",
                   "lead_source": "Web", "budget": budget}
        return self.engine.start("lead_to_invoice", {"inquiry": inquiry}, business_key=key, user="web").id

    def task_of(self, instance_id: int, element_id: str = "qualify_task") -> str:
        tasks = [t for t in self.engine.list_tasks(instance_id=instance_id) if t.element_id == element_id]
        assert len(tasks) == 1, [t.element_id for t in self.engine.list_tasks(instance_id=instance_id)]
        return tasks[0].id

    def close(self) -> None:
        self.engine.close()

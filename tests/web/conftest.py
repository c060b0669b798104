"""Page fixtures: the whole app (API + pages) on a throwaway engine with the lane router, users
with passwords (as in the worklist tests: ann and bob sell, mia supervises sales, root is admin),
the worklist tests' 'deal' process (Sales 'qualify' with the discount form → Billing 'invoice'),
a logged-in TestClient per user, and lead-to-invoice with the CRM handlers (`crm`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web_support import PASSWORD, Crm, Login, build_app, csrf_of
from worklist_support import FORMS, LANES_FILE, PERMISSIONS, USERS, lane_process

import worklists
from engine import Engine
from worklists.auth import Accounts
from worklists.forms import Forms
from worklists.routing import LaneMap, make_router
from worklists.service import Worklist


@pytest.fixture
def web_engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine(migrations=[worklists.MIGRATIONS], task_router=make_router(LaneMap.load(LANES_FILE)))


@pytest.fixture
def accounts(web_engine: Engine) -> Accounts:
    acc = Accounts(web_engine)
    for name, groups in USERS.items():
        acc.add_user(name, groups, password=PASSWORD, token_label=None)
    return acc


@pytest.fixture
def worklist(web_engine: Engine, accounts: Accounts) -> Worklist:
    return Worklist(web_engine, LaneMap.load(LANES_FILE), forms=Forms(FORMS), accounts=accounts,
                    permissions=PERMISSIONS)


@pytest.fixture
def app(web_engine: Engine, worklist: Worklist) -> FastAPI:
    return build_app(web_engine, worklist)


@pytest.fixture
def anon(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def login(app: FastAPI) -> Iterator[Login]:
    """login(name) → a client with that user's session cookie."""
    clients: list[TestClient] = []

    def _login(name: str) -> TestClient:
        c = TestClient(app, follow_redirects=False)
        clients.append(c)
        token = csrf_of(c.get("/login").text)
        r = c.post("/login", data={"username": name, "password": PASSWORD, "csrf": token, "next": "/"})
        assert r.status_code == 303, r.text
        return c

    yield _login
    for c in clients:
        c.close()


@pytest.fixture
def deal(web_engine: Engine, tmp_path: Path) -> str:
    path = tmp_path / "deal.bpmn"
    path.write_text(
        lane_process(
            "deal",
            [("qualify", "Sales", {"formJsonSchemaFilename": "discount.json", "priority": "prio", "dueDate": "due"}),
             ("invoice", "Billing", {})],
            instructions="Call {{ customer }} about {{ topic }}",
        )
    )
    web_engine.deploy([path], force=True)  # its form lives in the forms folder, not beside the diagram
    return "deal"


@pytest.fixture
def start_deal(web_engine: Engine, deal: str) -> Callable[..., str]:
    """Start a deal; returns its open 'qualify' task id."""

    def _start(key: str = "D-1", prio: int = 3, due: str = "P2D", customer: str = "ACME") -> str:
        inst = web_engine.start(deal, {"prio": prio, "due": due, "customer": customer, "topic": "pricing"},
                                business_key=key)
        return inst.open_tasks[0].id

    return _start


@pytest.fixture
def crm(db_url: str, clock) -> Iterator[Crm]:
    c = Crm(db_url, clock)
    yield c
    c.close()


@pytest.fixture
def crm_login(crm: Crm) -> Iterator[Login]:
    app = build_app(crm.engine, crm.worklist)
    clients: list[TestClient] = []

    def _login(name: str) -> TestClient:
        c = TestClient(app, follow_redirects=False)
        clients.append(c)
        token = csrf_of(c.get("/login").text)
        assert c.post("/login", data={"username": name, "password": PASSWORD, "csrf": token}).status_code == 303
        return c

    yield _login
    for c in clients:
        c.close()

"""API fixtures: the app (without pages) on a throwaway engine with the lane router, seeded
users with API tokens, and the worklist tests' small 'deal' process (Sales → Billing)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import worklists
from engine import Engine
from worklists.auth import Accounts
from worklists.forms import Forms
from worklists.routing import LaneMap, make_router
from worklists.service import Worklist

WORKLIST_TESTS = Path(__file__).resolve().parent.parent / "worklists"
if str(WORKLIST_TESTS) not in sys.path:
    sys.path.insert(0, str(WORKLIST_TESTS))

from api_support import Auth  # noqa: E402
from worklist_support import FORMS, LANES_FILE, PERMISSIONS, USERS, lane_process  # noqa: E402

from crmflow.web.app import create_app  # noqa: E402


@pytest.fixture
def api_engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine(migrations=[worklists.MIGRATIONS], task_router=make_router(LaneMap.load(LANES_FILE)))


@pytest.fixture
def tokens(api_engine: Engine) -> dict[str, str]:
    """name → a bearer token; users as in the worklist tests (mia supervises sales, root is admin)."""
    accounts = Accounts(api_engine)
    found = {}
    for name, groups in USERS.items():
        _, issued = accounts.add_user(name, groups, token_label="api tests")
        assert issued is not None
        found[name] = issued.token
    return found


@pytest.fixture
def worklist(api_engine: Engine, tokens: dict[str, str]) -> Worklist:
    return Worklist(api_engine, LaneMap.load(LANES_FILE), forms=Forms(FORMS), accounts=Accounts(api_engine),
                    permissions=PERMISSIONS)


@pytest.fixture
def app(api_engine: Engine, worklist: Worklist):
    return create_app(api_engine, worklist, with_pages=False)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=True) as c:
        yield c


@pytest.fixture
def auth(tokens: dict[str, str]) -> Auth:
    return lambda name: {"Authorization": f"Bearer {tokens[name]}"}


@pytest.fixture
def deal(api_engine: Engine, tmp_path: Path) -> str:
    """'deal': Sales lane 'qualify' (discount form, priority and due date from data) → Billing 'invoice'."""
    path = tmp_path / "deal.bpmn"
    path.write_text(
        lane_process(
            "deal",
            [("qualify", "Sales", {"formJsonSchemaFilename": "discount.json", "priority": "prio", "dueDate": "due"}),
             ("invoice", "Billing", {})],
            instructions="Call {{ customer }} about {{ topic }}",
        )
    )
    api_engine.deploy([path], force=True)  # its form lives in the API's forms folder, not beside the diagram
    return "deal"


@pytest.fixture
def start_deal(api_engine: Engine, deal: str) -> Callable[..., str]:
    """Start a deal; returns its open 'qualify' task id."""

    def _start(key: str = "D-1", prio: int = 3, due: str = "P2D", customer: str = "ACME") -> str:
        inst = api_engine.start(deal, {"prio": prio, "due": due, "customer": customer, "topic": "pricing"},
                                business_key=key)
        return inst.open_tasks[0].id

    return _start

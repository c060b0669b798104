"""Worklist fixtures: an engine with the lane router and the worklists schema, seeded users."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from worklist_support import FORMS, LANES_FILE, PERMISSIONS, USERS, lane_process

import worklists
from engine import Engine
from worklists.auth import Accounts
from worklists.forms import Forms
from worklists.routing import LaneMap, make_router
from worklists.service import Worklist


@pytest.fixture
def lane_map() -> LaneMap:
    return LaneMap.load(LANES_FILE)


@pytest.fixture
def wl_engine(make_engine: Callable[..., Engine], lane_map: LaneMap) -> Engine:
    return make_engine(migrations=[worklists.MIGRATIONS], task_router=make_router(lane_map))


@pytest.fixture
def accounts(wl_engine: Engine) -> Accounts:
    acc = Accounts(wl_engine)
    for name, groups in USERS.items():
        acc.add_user(name, groups, token_label=None)
    return acc


@pytest.fixture
def wl(wl_engine: Engine, lane_map: LaneMap, accounts: Accounts) -> Worklist:
    return Worklist(wl_engine, lane_map, forms=Forms(FORMS), accounts=accounts, permissions=PERMISSIONS)


@pytest.fixture
def deploy(wl_engine: Engine, tmp_path: Path) -> Callable[..., None]:
    """Deploy a lane_process(...) diagram."""

    def _deploy(pid: str, tasks: list[tuple[str, str | None, dict[str, str]]], instructions: str = "") -> None:
        path = tmp_path / f"{pid}.bpmn"
        path.write_text(lane_process(pid, tasks, instructions))
        wl_engine.deploy([path], force=True)  # forms live in the forms folder, not beside the diagram

    return _deploy


@pytest.fixture
def deal(deploy: Callable[..., None]) -> str:
    """'deal': Sales lane 'qualify' (with the discount form) → Billing lane 'invoice'."""
    deploy(
        "deal",
        [
            ("qualify", "Sales", {"formJsonSchemaFilename": "discount.json", "priority": "prio",
                                  "dueDate": "due"}),
            ("invoice", "Billing", {}),
        ],
        instructions="Call {{ customer }} about {{ topic }}",
    )
    return "deal"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite file for the CLI tests, with the test lane map and forms and no acting user."""
    monkeypatch.setenv("CRMFLOW_LANES", str(LANES_FILE))
    monkeypatch.setenv("CRMFLOW_FORMS", str(FORMS))
    monkeypatch.delenv("CRMFLOW_USER", raising=False)
    return str(tmp_path / "cli.db")

"""An engine with the worklists' schema and the tree's lane map, the spiff-arena model tree deployed."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from arena_support import MODELS

import worklists
from crmflow.script_directory import WorklistDirectory
from engine import Engine
from engine.arena_helpers import use_directory
from worklists.auth import Accounts
from worklists.forms import Forms
from worklists.routing import LaneMap, make_router
from worklists.service import Worklist

USERS = {"ann": ["sales"], "bob": ["sales", "reviewers"], "carl": ["service"]}


@pytest.fixture
def directory() -> Iterator[WorklistDirectory]:
    found = WorklistDirectory()
    use_directory(found)
    yield found
    use_directory(None)


@pytest.fixture
def arena(make_engine: Callable[..., Engine], directory: WorklistDirectory) -> Engine:
    """The tree deployed with one call, on an engine with crmflow's lane routing and users."""
    eng = make_engine(migrations=[worklists.MIGRATIONS], task_router=make_router(LaneMap.load(MODELS / "lanes.json")))
    accounts = Accounts(eng)
    for name, groups in USERS.items():
        accounts.add_user(name, groups, token_label=None, email=f"{name}@example.com")
    eng.deploy([MODELS])
    return eng


@pytest.fixture
def worklist(arena: Engine) -> Worklist:
    return Worklist(arena, LaneMap.load(MODELS / "lanes.json"), forms=Forms(MODELS), accounts=Accounts(arena))

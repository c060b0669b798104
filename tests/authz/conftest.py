"""Fixtures for the permission tests: one small world with the demo's users, lanes and the shipped
permission file (see authz_world.py), shared by the modules of this folder."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

WORKLIST_TESTS = Path(__file__).resolve().parent.parent / "worklists"
if str(WORKLIST_TESTS) not in sys.path:
    sys.path.insert(0, str(WORKLIST_TESTS))

from authz_world import World, build_world  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    made = build_world(tmp_path_factory.mktemp("authz"))
    yield made
    made.close()

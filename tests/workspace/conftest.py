"""The workspace tests share one world per module (see workspace_world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from workspace_world import WorkspaceWorld, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkspaceWorld]:
    made = build_world(tmp_path_factory.mktemp("workspace"))
    yield made
    made.close()

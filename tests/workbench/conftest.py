"""Fixtures for the analyst workbench tests (see workbench_world.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from workbench_world import WorkbenchWorld, build_world


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkbenchWorld]:
    made = build_world(tmp_path_factory.mktemp("workbench"))
    yield made
    made.close()

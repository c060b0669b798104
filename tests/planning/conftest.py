"""Fixtures for the planning tests: a migrated CRM database called like the engine calls
handlers (one transaction per call), calendars used across the files, and an engine with
every CRM handler registered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from crm_support import Crm, crm_copy, migrated_template

import handlers
from engine import Engine, HandlerRegistry


@pytest.fixture(scope="session")
def planning_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("planning"))


@pytest.fixture
def crm(planning_template: Path, tmp_path: Path) -> Iterator[Crm]:
    with crm_copy(planning_template, tmp_path) as made:
        yield made


@pytest.fixture
def crm_engine(make_engine: Callable[..., Engine], registry: HandlerRegistry) -> Engine:
    """An engine with the CRM branch migrated and every CRM operation registered."""
    handlers.register(registry)
    return make_engine(migrations=[handlers.MIGRATIONS])

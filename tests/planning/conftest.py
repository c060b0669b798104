"""Fixtures for the planning tests: a migrated CRM database called like the engine calls
handlers (one transaction per call), calendars used across the files, and an engine with
every CRM handler registered."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

import handlers
from engine import Engine, HandlerRegistry
from engine.db import Database
from engine.services import ServiceContext

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # Monday 10:00 in Berlin


@pytest.fixture(scope="session")
def planning_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("planning") / "template.db"
    db = Database(f"sqlite:///{path}", migrations=[handlers.MIGRATIONS])
    db.upgrade()
    db.dispose()
    return path


class Crm:
    """Calls handlers like the engine: a fresh transaction and context for each call."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.now = NOW
        self._task_ids = itertools.count(1)

    def call(self, func: Callable[..., Any], **params: Any) -> Any:
        with self.db.write() as session:
            return func(self.context(session), **params)

    def context(self, session: Session) -> ServiceContext:
        return ServiceContext(session=session, instance_id=1, process_id="t", business_key=None, element_id="e",
                              task_id=f"t{next(self._task_ids)}", now=self.now)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.db.write() as session:
            yield session

    def advance(self, **kwargs: float) -> None:
        self.now = self.now + timedelta(**kwargs)


@pytest.fixture
def crm(planning_template: Path, tmp_path: Path) -> Iterator[Crm]:
    path = tmp_path / "crm.db"
    shutil.copy(planning_template, path)
    db = Database(f"sqlite:///{path}")
    yield Crm(db)
    db.dispose()


@pytest.fixture
def crm_engine(make_engine: Callable[..., Engine], registry: HandlerRegistry) -> Engine:
    """An engine with the CRM branch migrated and every CRM operation registered."""
    handlers.register(registry)
    return make_engine(migrations=[handlers.MIGRATIONS])

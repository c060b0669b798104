"""Calling CRM handlers as the engine does, without an engine: a migrated CRM database (built
once per session, copied per test) and one transaction and `ServiceContext` per call.

Shared by the handler and planning tests, which differ only in their fixtures' names."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

import handlers
from engine.db import Database
from engine.services import ServiceContext

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # Monday 10:00 in Berlin


def migrated_template(folder: Path) -> Path:
    """One database migrated through the engine and `crm` branches, to copy per test."""
    path = folder / "template.db"
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

    def call(self, func: Callable[..., Any], task_id: str | None = None, **params: Any) -> Any:
        with self.db.write() as session:
            return func(self.context(session, task_id), **params)

    def context(self, session: Session, task_id: str | None = None) -> ServiceContext:
        return ServiceContext(session=session, instance_id=1, process_id="t", business_key=None, element_id="e",
                              task_id=task_id or f"t{next(self._task_ids)}", now=self.now)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.db.write() as session:
            yield session

    def advance(self, **kwargs: float) -> None:
        self.now = self.now + timedelta(**kwargs)


@contextmanager
def crm_copy(template: Path, tmp_path: Path) -> Iterator[Crm]:
    """A `Crm` on this test's own copy of the template database."""
    path = tmp_path / "crm.db"
    shutil.copy(template, path)
    db = Database(f"sqlite:///{path}")
    try:
        yield Crm(db)
    finally:
        db.dispose()

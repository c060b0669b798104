"""Fixtures for handler tests: a migrated CRM database per test and a way to call
handlers as the engine does (one transaction per call, a real ServiceContext)."""

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
from engine.db import Database
from engine.services import ServiceContext

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def crm_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated through the engine and `crm` branches, copied per test."""
    path = tmp_path_factory.mktemp("crm") / "template.db"
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
        return ServiceContext(
            session=session,
            instance_id=1,
            process_id="t",
            business_key=None,
            element_id="e",
            task_id=task_id or f"t{next(self._task_ids)}",
            now=self.now,
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.db.write() as session:
            yield session

    def advance(self, **kwargs: float) -> None:
        self.now = self.now + timedelta(**kwargs)


@pytest.fixture
def crm(crm_template: Path, tmp_path: Path) -> Iterator[Crm]:
    path = tmp_path / "crm.db"
    shutil.copy(crm_template, path)
    db = Database(f"sqlite:///{path}")
    yield Crm(db)
    db.dispose()


@pytest.fixture
def wf_instance(crm: Crm) -> int:
    """The process instance the test contexts claim to run in (outbox rows point at it)."""
    from engine.models import DefinitionFile, Instance, ProcessVersion

    with crm.session() as ses:
        file = DefinitionFile(name="t.bpmn", kind="bpmn", content_hash="0" * 64, content=b"", deployed_at=crm.now)
        ses.add(file)
        ses.flush()
        version = ProcessVersion(process_id="t", name="t", version=1, content_hash="0" * 64, file_id=file.id,
                                 spec_json="{}", serializer_version="1", message_starts=[], deployed_at=crm.now)
        ses.add(version)
        ses.flush()
        ses.add(Instance(id=1, process_id="t", version_id=version.id, status="waiting", state="",
                         serializer_version="1", created_at=crm.now, updated_at=crm.now))
        return 1

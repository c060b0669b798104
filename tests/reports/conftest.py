"""A database with every table (engine, CRM records, worklists) made the way crmflow makes it,
and a way to seed it and read reports back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from reports_support import NOW
from sqlalchemy.orm import Session

from crmflow.settings import build_engine
from engine import Engine, ManualClock
from handlers import reports


class ReportDb:
    def __init__(self, eng: Engine, url: str) -> None:
        self.eng = eng
        self.url = url

    @contextmanager
    def seed(self) -> Iterator[Session]:
        with self.eng.db.write() as session:
            yield session

    def rows(self, name: str, now: datetime = NOW, **params: Any) -> list[dict[str, Any]]:
        with self.eng.db.read() as session:
            return reports.REPORTS[name].rows(session, now, params)


@pytest.fixture
def rdb(db_url: str) -> Iterator[ReportDb]:
    eng = build_engine(db_url, ManualClock(NOW), with_handlers=False)
    try:
        yield ReportDb(eng, db_url)
    finally:
        eng.close()

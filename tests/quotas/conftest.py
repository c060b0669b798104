"""Fixtures for the quota tests: a database migrated through every crmflow branch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from quota_support import NOW

from crmflow.settings import build_engine
from engine import Engine, ManualClock


@pytest.fixture
def qeng(db_url: str) -> Iterator[Engine]:
    """An engine (no handlers) on a fresh database with the CRM records' tables, clock at NOW."""
    eng = build_engine(db_url, ManualClock(NOW), with_handlers=False)
    try:
        yield eng
    finally:
        eng.close()

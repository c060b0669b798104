"""Shared fixtures: an engine on a throwaway database with a manual clock.

By default each test gets its own SQLite file. When `CRMFLOW_TEST_DB` names a PostgreSQL
database, the same tests run there instead (its schema is emptied before each test).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine import Engine, HandlerRegistry, ManualClock

DIAGRAMS = Path(__file__).parent / "diagrams"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = os.environ.get("CRMFLOW_TEST_DB")
    if url:
        _reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def registry() -> HandlerRegistry:
    return HandlerRegistry()


@pytest.fixture
def make_engine(db_url: str, clock: ManualClock, registry: HandlerRegistry) -> Iterator[Callable[..., Engine]]:
    """A factory: every call is a fresh Engine (fresh caches) on the same database,
    as a restarted process would be."""
    made: list[Engine] = []

    def factory(**kwargs) -> Engine:
        kwargs.setdefault("registry", registry)
        kwargs.setdefault("clock", clock)
        eng = Engine(db_url, **kwargs)
        made.append(eng)
        return eng

    yield factory
    for eng in made:
        eng.close()


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine()


def diagram(name: str) -> Path:
    path = DIAGRAMS / name
    assert path.exists(), f"missing test diagram {path}"
    return path

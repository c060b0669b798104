"""Dashboard fixtures: the demo's records behind the whole app, a logged-in manager, a token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dashboards_support import Demo, demo_app, log_in
from fastapi.testclient import TestClient

from engine import ManualClock


@pytest.fixture
def filled(db_url: str, clock: ManualClock) -> Iterator[Demo]:
    made = demo_app(db_url, clock)
    yield made
    made.engine.close()


@pytest.fixture
def manager(filled: Demo) -> Iterator[TestClient]:
    client = log_in(filled.app)
    yield client
    client.close()


@pytest.fixture
def anon(filled: Demo) -> Iterator[TestClient]:
    with TestClient(filled.app, follow_redirects=False) as client:
        yield client

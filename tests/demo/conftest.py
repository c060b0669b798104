"""One demo database for the whole folder: seeding runs 120 simulated days (seconds, not minutes).

Session-scoped so both test modules share it; pytest runs this folder's tests one after the
other, so on PostgreSQL (`CRMFLOW_TEST_DB`) no other test empties the schema in between."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from history_support import Seeded, database, seed_demo


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    made = seed_demo(database(tmp_path_factory.mktemp("demo-history")))
    yield made
    made.engine.close()

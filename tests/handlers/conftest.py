"""Fixtures for handler tests: a migrated CRM database per test and a way to call
handlers as the engine does (one transaction per call, a real ServiceContext)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from crm_support import Crm, crm_copy, migrated_template


@pytest.fixture(scope="session")
def crm_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("crm"))


@pytest.fixture
def crm(crm_template: Path, tmp_path: Path) -> Iterator[Crm]:
    with crm_copy(crm_template, tmp_path) as made:
        yield made


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

"""One processes folder and one lane map for every component, wherever crmflow is started from:
the engine's task router, the worklists, the forms, `serve` and `validate` agree (issue 13, bug 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmflow import settings
from crmflow.commands.validate import build_context
from handlers import catalog
from worklists.auth import Accounts

ROOT = Path(__file__).resolve().parents[2]
L2I = ["lead_to_invoice.bpmn", "lead_scoring.dmn", "discount_approval.dmn", "territories.dmn"]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory is an empty folder: no processes/, no crmflow.db."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for name in (settings.PROCESSES_ENV, settings.LANES_ENV, "CRMFLOW_FORMS"):
        monkeypatch.delenv(name, raising=False)
    return folder


def test_the_processes_folder_is_resolved_once_and_absolute(elsewhere: Path, monkeypatch, tmp_path: Path) -> None:
    assert settings.processes_folder() == ROOT / "processes", "the shipped folder when the cwd has none"
    (elsewhere / "processes").mkdir()
    assert settings.processes_folder() == elsewhere / "processes", "an analyst's project folder where we run"
    monkeypatch.setenv(settings.PROCESSES_ENV, "rel")
    assert settings.processes_folder() == elsewhere / "rel", "made absolute at once"
    assert settings.lanes_file() is None, "a folder without lanes.json has none"
    monkeypatch.setenv(settings.LANES_ENV, str(tmp_path / "lanes.json"))
    assert settings.lanes_file() == tmp_path / "lanes.json"


def test_tasks_started_from_another_directory_land_in_queues_the_worklists_list(
    elsewhere: Path, db_url: str, clock
) -> None:
    """Started from an empty folder with the database elsewhere, 'Qualify lead' and the step after it
    are in queues the worklists know and ann can open — not in a queue named after the lane."""
    eng = settings.build_engine(db_url, clock)  # a file in the test's folder (or PostgreSQL), not the cwd
    try:
        wl = settings.build_worklist(eng)
        assert wl.forms.root == ROOT / "processes"
        eng.deploy([ROOT / "processes" / name for name in L2I])
        with eng.db.write() as session:
            price_list = catalog.add_price_list(session, clock.now(), "Standard")
        Accounts(eng).add_user("ann", ["sales"], token_label=None)
        inquiry = {"email": "ada@example.com", "company_name": "Contoso", "topic": "CRM", "lead_source": "Web",
                   "budget": 60000, "region": "EU-Central"}
        inst = eng.start("lead_to_invoice", {"inquiry": inquiry}, business_key="L-1")
        [qualify] = inst.open_tasks
        assert qualify.queue in wl.known_queues(), qualify.queue
        wl.pick(qualify.id, "ann")
        wl.complete(qualify.id, "ann", {"decision": "qualify", "price_list_id": price_list.id})
        [work] = [t for t in eng.list_tasks(instance_id=inst.id) if t.element_id == "work_opportunity"]
        assert work.queue == "sales", "the Sales lane's queue, not 'Sales'"
        assert work.id in [i.id for i in wl.queue("sales", user="ann").items], "ann can open it"
        counts = {q.queue: q.open for q in wl.counts("ann").queues}
        assert counts["sales"] == 1
    finally:
        eng.close()


def test_validate_reads_the_lane_map_with_the_same_reader(elsewhere: Path, tmp_path: Path) -> None:
    """A list-form lanes.json with lane names in another case: the router and validate both accept it."""
    folder = tmp_path / "procs"
    folder.mkdir()
    (folder / "lanes.json").write_text(json.dumps([{"lane": "SALES", "queue": "sales", "candidateGroups": "sales"}]))
    lanes = settings.lane_map(folder)
    assert lanes.route_for("Sales").groups == ("sales",)
    context = build_context(_ctx(), [folder], None, None)
    assert context.lanes is not None and context.lanes["sales"].queue == "sales"
    assert not context.problems


def _ctx():
    import click
    import typer

    return typer.Context(click.Command("validate"))

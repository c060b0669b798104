"""The operator console's commands (issue 16) through typer's CliRunner: each operation as an
operator, and its refusal for an agent naming the missing permission."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import ok, refused, run
from worklist_support import lane_process


@pytest.fixture
def deal(db: str, tmp_path: Path):
    """olga operates, ann sells; the deal process; start() → (instance id, qualify task id)."""
    ok(db, "users", "add", "olga", "--groups", "operators")
    ok(db, "users", "add", "ann", "--groups", "sales")
    path = tmp_path / "deal.bpmn"
    path.write_text(lane_process("deal", [("qualify", "Sales", {}), ("invoice", "Billing", {})]))
    ok(db, "deploy", str(path))

    def start(key: str) -> tuple[int, str]:
        inst = json.loads(ok(db, "start", "deal", "--key", key, "--data", '{"customer": "ACME"}', "--json").stdout)
        return inst["id"], inst["open_tasks"][0]["id"]

    return start


def test_cancel_needs_operate_and_a_reason(db, deal):
    iid, task = deal("C-1")
    refused(db, "instance", "cancel", str(iid), "--reason", "dup", "--user", "ann", match="operate")
    refused(db, "instance", "cancel", str(iid), "--user", "olga", match="reason")
    out = json.loads(ok(db, "instance", "cancel", str(iid), "--reason", "duplicate", "--user", "olga",
                        "--json").stdout)
    assert out["status"] == "cancelled" and out["open_tasks"] == []
    refused(db, "instance", "cancel", str(iid), "--reason", "again", "--user", "olga", match="already cancelled")


def test_suspend_refuses_completion_until_resume(db, deal):
    iid, task = deal("C-2")
    ok(db, "pick", task, "--user", "ann")  # completing needs the task picked (one completion path)
    refused(db, "instance", "suspend", str(iid), "--user", "ann", match="operate")
    ok(db, "instance", "suspend", str(iid), "--reason", "on hold", "--user", "olga")
    refused(db, "complete", task, "--user", "ann", match="is suspended")
    refused(db, "instance", "resume", str(iid), "--user", "ann", match="operate")
    ok(db, "instance", "resume", str(iid), "--user", "olga")
    ok(db, "complete", task, "--user", "ann")


def test_vars_and_modify_with_a_dry_run(db, deal):
    iid, task = deal("C-3")
    refused(db, "instance", "vars", str(iid), "--set", '{"customer": "Contoso"}', "--user", "ann", match="operate")
    refused(db, "instance", "vars", str(iid), "--set", "{customer", "--user", "olga", match="not valid JSON")
    out = json.loads(ok(db, "instance", "vars", str(iid), "--set", '{"customer": "Contoso"}', "--reason", "typo",
                        "--user", "olga", "--json").stdout)
    assert out["data"]["customer"] == "Contoso"
    ok(db, "pick", task, "--user", "ann")
    ok(db, "complete", task, "--user", "ann")
    refused(db, "instance", "modify", str(iid), "--start-at", "qualify", "--user", "ann", match="operate")
    dry = ok(db, "instance", "modify", str(iid), "--start-at", "qualify", "--dry-run", "--user", "olga").stdout
    assert dry.startswith("would move") and "active after: Qualify (qualify)" in dry
    ok(db, "instance", "modify", str(iid), "--start-at", "qualify", "--user", "olga")
    shown = json.loads(ok(db, "show", str(iid), "--json").stdout)
    assert [t["element_id"] for t in shown["open_tasks"]] == ["qualify"]
    bad = run(db, "instance", "modify", str(iid), "--start-at", "nowhere", "--user", "olga")
    assert bad.exit_code == 1 and "refused: the process has no element 'nowhere'" in bad.stdout


def test_history_cleanup_dry_run_then_for_real(db, deal):
    iid, _ = deal("C-4")
    ok(db, "instance", "cancel", str(iid), "--reason", "old", "--user", "olga")
    kept = run(db, "history", "cleanup", "--dry-run")
    assert kept.exit_code == 0 and "would remove 0" in kept.stdout, "ended just now: kept"
    later = run(db, "history", "cleanup", "--dry-run", "--days", "1", "--now", "2099-01-01T00:00:00Z")
    assert "would remove 1 finished instance(s) (deal: 1)" in later.stdout
    ok(db, "history", "cleanup", "--days", "1", "--now", "2099-01-01T00:00:00Z")
    refused(db, "show", str(iid), match="does not exist")
    refused(db, "history", "cleanup", "--retention", "deal", match="PROCESS=DAYS")


def test_instance_search_uses_the_search_page_query(db, deal):
    first, _ = deal("F-1")
    second, _ = deal("F-2")
    ok(db, "instance", "suspend", str(first), "--user", "olga")
    found = json.loads(ok(db, "instance", "search", "--status", "suspended", "--user", "olga", "--json").stdout)
    assert [i["id"] for i in found["items"]] == [first]
    assert found["counts"] == {"suspended": 1, "waiting": 1} and found["total"] == 1
    text = ok(db, "instance", "search", "--var", "customer=ACME", "--element", "qualify", "--user", "olga").stdout
    assert str(second) in text and "suspended: 1" in text and "waiting: 1" in text
    refused(db, "instance", "search", "--status", "paused", "--user", "olga", match="status: 'paused'")
    refused(db, "instance", "search", "--user", "olga", "--started-from", "soon", match="started_from")

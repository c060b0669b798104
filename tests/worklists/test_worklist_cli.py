"""The worklist commands through typer's CliRunner, on a SQLite file like a user's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import ok, refused, run
from sqlalchemy import select
from worklist_support import lane_process

from crmflow.settings import build_engine
from worklists.models import ApiToken


@pytest.fixture
def seeded(db: str, tmp_path: Path) -> dict[str, str]:
    """Users ann, bob (sales), sam (service), the deal process and two started deals."""
    for name, groups in (("ann", "sales"), ("bob", "sales"), ("sam", "service_agents")):
        ok(db, "users", "add", name, "--groups", groups)
    path = tmp_path / "deal.bpmn"
    path.write_text(lane_process("deal", [("qualify", "Sales", {"formJsonSchemaFilename": "discount.json"}),
                                          ("invoice", "Billing", {})]))
    ok(db, "deploy", str(path), "--force")  # its form lives in the forms folder, not beside the diagram
    ids = {}
    for key in ("C-1", "C-2"):
        started = json.loads(ok(db, "start", "deal", "--key", key, "--data", '{"customer": "ACME"}',
                                "--json").stdout)
        ids[key] = started["open_tasks"][0]["id"]
    return ids


def test_users_add_prints_a_token_once_and_stores_only_its_hash(db):
    out = ok(db, "users", "add", "dora", "--groups", "sales,service_agents", "--password", "long enough").stdout
    token = out.split("keep it safe): ")[1].strip()
    assert token.startswith("cft_")
    listed = ok(db, "users", "list").stdout
    assert "dora" in listed and "sales, service_agents" in listed
    eng = build_engine(db, with_handlers=False)
    try:
        with eng.db.read() as session:
            stored = [str(v) for row in session.execute(select(ApiToken.__table__)) for v in row]
        from worklists.auth import Accounts

        assert Accounts(eng).authenticate_token(token).name == "dora"
    finally:
        eng.close()
    assert token not in " ".join(stored) and token.split("_", 2)[2] not in " ".join(stored)
    another = json.loads(ok(db, "token", "dora", "--label", "ci", "--json").stdout)
    assert another["token"].startswith("cft_") and another["token"] != token
    refused(db, "users", "add", "dora", match="already exists")


def test_worklist_views(db, seeded):
    avail = ok(db, "worklist", "--available", "--user", "ann").stdout
    assert "C-1" in avail and "C-2" in avail and "sales" in avail
    assert "(no tasks)" in ok(db, "worklist", "--available", "--user", "sam").stdout
    ok(db, "pick", seeded["C-1"][:8], "--user", "ann")
    mine = json.loads(ok(db, "worklist", "--mine", "--user", "ann", "--json").stdout)
    assert [i["business_key"] for i in mine["items"]] == ["C-1"]
    queue = ok(db, "worklist", "--queue", "sales", "--key", "C-2", "--total").stdout
    assert "C-2" in queue and "C-1" not in queue and "total: 1" in queue
    paged = ok(db, "worklist", "--queue", "sales", "--limit", "1", "--sort", "age").stdout
    assert "more: --cursor " in paged
    counts = ok(db, "queues", "--user", "ann").stdout
    assert "my work: 1" in counts and "sales" in counts
    refused(db, "worklist", "--available", match="needs --user")
    refused(db, "worklist", "--mine", "--available", "--user", "ann", match="choose one")
    refused(db, "worklist", "--queue", "sales", "--user", "sam", match="not in a group that works queue 'sales'")


def test_pick_release_route_comment_and_complete(db, seeded):
    task = seeded["C-1"]
    refused(db, "pick", task, "--user", "sam", match="sam may not pick")
    ok(db, "pick", task, "--user", "ann")
    refused(db, "pick", task, "--user", "bob", match="already picked by ann")
    refused(db, "release", task, "--user", "bob", match="picked by ann")
    ok(db, "release", task, "--user", "ann")
    ok(db, "route", task, "--user", "ann", "--to", "bob")
    ok(db, "comment", task, "call back tomorrow", "--user", "bob")
    refused(db, "work", "complete", task, "--user", "ann", match="picked by bob")
    err = refused(db, "work", "complete", task, "--user", "bob", "--data", '{"decision": "approve", '
                  '"discount_percent": 70}', match="discount_percent: must be ≤ 50")
    assert err.count("\n") == 1
    done = ok(db, "work", "complete", task, "--user", "bob", "--data", '{"decision": "approve"}').stdout
    assert "completed task" in done and "invoice" in done.lower()
    assert "C-1" in ok(db, "worklist", "--closed", "--user", "bob").stdout
    [item] = json.loads(ok(db, "worklist", "--closed", "--user", "bob", "--json").stdout)["items"]
    shown = ok(db, "show", str(item["instance_id"])).stdout
    assert "comment" in shown and "claimed" in shown and "routed" in shown


def test_bulk_pick_reports_each_task_and_fails_if_any_did(db, seeded):
    ok(db, "pick", seeded["C-2"], "--user", "bob")
    result = run(db, "pick", seeded["C-1"], seeded["C-2"], "--user", "ann")
    assert result.exit_code == 1
    assert "1 of 2 picked" in result.stdout and "already picked by bob" in result.stdout
    routed = ok(db, "route", seeded["C-1"], "--user", "ann", "--queue", "billing", "--json").stdout
    assert json.loads(routed)["queue"] == "billing"


def test_work_form_shows_fields_and_rendered_texts(db, seeded):
    out = ok(db, "work", "form", seeded["C-1"]).stdout
    assert "Discount for ACME" in out and "discount_percent" in out and "5" in out


def test_users_email_sets_and_clears_where_reminders_go(db):
    ok(db, "users", "add", "dora", "--groups", "sales", "--email", "dora@crm.example.test")
    assert "dora@crm.example.test" in ok(db, "users", "list").stdout
    refused(db, "users", "email", "dora", "dora at home", match="'dora at home' is not an address")
    assert json.loads(ok(db, "users", "email", "dora", "-", "--json").stdout)["email"] is None
    assert "reminders go to d@x.test" in ok(db, "users", "email", "dora", "d@x.test").stdout
    refused(db, "users", "email", "nobody", "n@x.test", match="nobody")

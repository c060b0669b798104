"""`crmflow users` administration, `crmflow permissions` and `crmflow audit`, through typer's
CliRunner on a SQLite file like an administrator's; every change lands in the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from authz_world import LANES, PERMISSIONS
from typer.testing import CliRunner, Result

from crmflow import cli
from crmflow.settings import build_engine, build_worklist
from worklists.lockout import USER_LIMIT, LoginThrottleStore


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CRMFLOW_LANES", str(LANES))
    monkeypatch.setenv("CRMFLOW_PERMISSIONS", str(PERMISSIONS))
    monkeypatch.delenv("CRMFLOW_USER", raising=False)
    path = str(tmp_path / "admin.db")
    for name, groups in (("ann", "sales"), ("bob", "sales_managers")):
        ok(path, "users", "add", name, "--groups", groups, "--by", "root")
    return path


def run(db: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli.app, ["--db", db, *args], input=stdin)


def ok(db: str, *args: str, stdin: str | None = None) -> Result:
    result = run(db, *args, stdin=stdin)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


def refused(db: str, *args: str, match: str) -> str:
    result = run(db, *args)
    assert result.exit_code == 1, (args, result.stdout, result.stderr)
    assert match in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def audit(db: str, *args: str) -> list[dict]:
    return json.loads(ok(db, "audit", "--json", *args).stdout)


# -- users -------------------------------------------------------------------------------------------

def test_groups_are_shown_set_added_and_removed_and_audited(db: str) -> None:
    assert "ann (active; groups: sales)" in ok(db, "users", "groups", "ann").stdout
    assert "groups: billing, sales" in ok(db, "users", "groups", "ann", "--add", "billing", "--by", "root").stdout
    assert "groups: billing)" in ok(db, "users", "groups", "ann", "--remove", "sales", "--by", "root").stdout
    assert "groups: -)" in ok(db, "users", "groups", "ann", "-", "--by", "root").stdout
    out = ok(db, "users", "groups", "ann", "sales,service_agents", "--by", "root").stdout
    assert "groups: sales, service_agents) (was: -)" in out
    refused(db, "users", "groups", "ann", "sales", "--add", "x", match="either the new GROUPS or --add/--remove")
    refused(db, "users", "groups", "ghost", match="user 'ghost' does not exist")
    changes = audit(db, "--action", "user.groups")
    assert [(e["actor"], e["target"], e["detail"]["after"]) for e in changes] == [
        ("root", "ann", ["sales", "service_agents"]), ("root", "ann", []), ("root", "ann", ["billing"]),
        ("root", "ann", ["billing", "sales"])]
    assert changes[-1]["detail"]["before"] == ["sales"]


def test_deactivate_and_reactivate_stop_and_restore_the_token(db: str) -> None:
    token = json.loads(ok(db, "token", "ann", "--json").stdout)["token"]
    eng = build_engine(db, with_handlers=False)
    try:
        accounts = build_worklist(eng).accounts
        assert accounts.authenticate_token(token) is not None
        assert "tokens and sessions stop working now" in ok(db, "users", "deactivate", "ann").stdout
        assert accounts.authenticate_token(token) is None
        ok(db, "users", "reactivate", "ann")
        assert accounts.authenticate_token(token) is not None
    finally:
        eng.close()
    actions = [(e["action"], e["actor"].startswith("cli:")) for e in audit(db, "--actor", audit(db)[0]["actor"])]
    assert actions[:3] == [("user.reactivate", True), ("user.deactivate", True), ("token.issue", True)]


def test_passwords_follow_the_rules_and_are_read_without_echo(db: str) -> None:
    refused(db, "users", "add", "dora", "--password", "short", match="at least 10 characters")
    refused(db, "users", "add", "dora", "--password", "password123", match="too easy to guess")
    result = run(db, "users", "password", "ann", "--stdin", stdin="ann-rocks-2026\n")
    assert result.exit_code == 1 and "must not contain the user name" in result.stderr
    assert "password of ann set" in ok(db, "users", "password", "ann", "--stdin", stdin="purple rain falls\n").stdout
    prompted = ok(db, "users", "password", "ann", stdin="green hills far\ngreen hills far\n")
    assert "green hills far" not in prompted.stdout, "the typed password is not echoed"
    eng = build_engine(db, with_handlers=False)
    try:
        assert build_worklist(eng).accounts.verify_password("ann", "green hills far") is not None
    finally:
        eng.close()
    assert [e["action"] for e in audit(db, "--action", "user.password")] == ["user.password"] * 2


def test_unlock_clears_a_lockout(db: str) -> None:
    eng = build_engine(db, with_handlers=False)
    try:
        throttle = LoginThrottleStore(eng)
        for _ in range(USER_LIMIT):
            throttle.failed("ann", "10.0.0.1")
        assert throttle.locked("ann", "10.0.0.2") is not None
        assert "ann: failed logins cleared" in ok(db, "users", "unlock", "ann", "--by", "root").stdout
        assert throttle.locked("ann", "10.0.0.2") is None
    finally:
        eng.close()
    assert "was not locked" in ok(db, "users", "unlock", "ann").stdout
    assert audit(db, "--action", "user.unlock")[-1]["detail"] == {"had_failures": True}


# -- permissions ----------------------------------------------------------------------------------------

def test_check_explains_an_allowed_and_a_refused_decision(db: str) -> None:
    out = ok(db, "permissions", "check", "bob", "supervise", "queue:Sales DACH").stdout
    assert out.startswith("allowed: bob may supervise on queue:Sales DACH")
    assert "permission 'sales-supervision' gives sales_managers" in out
    lane = ok(db, "permissions", "check", "ann", "work", "queue:Sales DACH").stdout
    assert "lane map" in lane and "lane 'Sales DACH' works queue 'Sales DACH'" in lane
    result = run(db, "permissions", "check", "ann", "read", "instances:case_resolution")
    assert result.exit_code == 1
    assert result.stdout.startswith("refused: ann lacks the permission read on instances:case_resolution")
    assert "ann's groups: everybody, sales" in result.stdout
    doc = json.loads(run(db, "permissions", "check", "ann", "start", "process:lead_to_invoice", "--json").stdout)
    assert doc["allowed"] and doc["rule"]["name"] == "sales-leads"
    refused(db, "permissions", "check", "ann", "reed", "process:x", match="unknown verb 'reed'")
    refused(db, "permissions", "check", "ghost", "read", "process:x", match="'ghost' is not an active user")


def test_list_shows_a_users_or_a_groups_rules(db: str) -> None:
    mine = json.loads(ok(db, "permissions", "list", "ann", "--json").stdout)
    names = {r["name"] for r in mine["rules"]}
    assert "sales-leads" in names and "sales-supervision" not in names
    assert any(n.startswith("lane 'Sales DACH'") for n in names)
    group = json.loads(ok(db, "permissions", "list", "sales_managers", "--json").stdout)
    assert group["for"] == "group sales_managers" and "sales-supervision" in {r["name"] for r in group["rules"]}
    refused(db, "permissions", "list", "nobody-at-all", match="neither a user")
    assert "PERMISSION" in ok(db, "permissions", "list").stdout


def test_validate_reports_every_problem_with_its_entry(db: str, tmp_path: Path) -> None:
    assert "valid — " in ok(db, "permissions", "validate").stdout
    bad = tmp_path / "bad.yml"
    bad.write_text("groups: {sales: x}\npermissions:\n  oops: {groups: [sale], allowed_permissions: [read], "
                   "resources: [process:x]}\n")
    message = refused(db, "permissions", "validate", str(bad), match=f"permission file {bad}: 1 problem(s)")
    assert "permission 'oops': group 'sale' is not declared" in message
    assert "start" in ok(db, "permissions", "verbs").stdout


def test_a_changed_permission_file_is_audited_once(db: str, tmp_path: Path) -> None:
    own = tmp_path / "own.yml"
    own.write_text(PERMISSIONS.read_text())
    eng = build_engine(db, with_handlers=False)
    try:
        build_worklist(eng, permissions=own)
        build_worklist(eng, permissions=own)
        own.write_text(PERMISSIONS.read_text() + "\n# a comment changes the content\n")
        build_worklist(eng, permissions=own)
    finally:
        eng.close()
    loaded = audit(db, "--action", "permissions.loaded")
    assert [e["target"] for e in loaded].count(str(own)) == 2, loaded
    assert loaded[0]["detail"]["sha256"] != loaded[1]["detail"]["sha256"]


def test_audit_filters(db: str) -> None:
    assert [e["action"] for e in audit(db, "--actor", "root")] == ["user.add", "user.add"]
    assert audit(db, "--refused") == []
    assert "(no audit entries)" in ok(db, "audit", "--actor", "nobody").stdout
    refused(db, "audit", "--since", "yesterday", match="not an ISO 8601 time")


def test_a_user_named_by_by_needs_administer_on_admin_users(db: str, tmp_path: Path) -> None:
    """`--by ann` (sales) may not change users; `--by carol` (admin) may; ann may set her own
    password; the refusal names the permission and is audited."""
    ok(db, "users", "add", "carol", "--groups", "admin", "--by", "root")
    for args in (["groups", "bob", "admin"], ["deactivate", "bob"], ["reactivate", "bob"], ["unlock", "bob"],
                 ["add", "eve"]):
        refused(db, "users", *args, "--by", "ann", match="missing permission 'administer' on 'admin:users'")
    refused(db, "token", "bob", "--by", "ann", match="missing permission 'administer' on 'admin:users'")
    assert "bob (active; groups: sales_managers)" in ok(db, "users", "groups", "bob").stdout
    ok(db, "users", "deactivate", "bob", "--by", "carol")
    ok(db, "users", "reactivate", "bob", "--by", "carol")
    ok(db, "users", "password", "ann", "--stdin", "--by", "ann", stdin="Lantern-Quiet-Meadow-42\n")
    assert any(e["actor"] == "ann" for e in audit(db, "--refused"))

"""`crmflow records list/show`: the workspace's records from a terminal by the same records service —
tables for people, `--json` like the other commands, full-text `--search` on the indexed entities, and
mistakes as one error line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result
from workspace_world import WorkspaceWorld

from crmflow import cli


def run(world: WorkspaceWorld, *args: str) -> Result:
    return CliRunner().invoke(cli.app, ["--db", str(world.engine.db.url), "records", *args])


def test_list_search_and_show(world: WorkspaceWorld) -> None:
    listed = run(world, "list", "accounts")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:2] == ["ID", "ACCOUNT"] and any("Northwind Traders" in line for line in lines)
    found = json.loads(run(world, "list", "contacts", "--search", "maria northwind", "--json").stdout)
    assert [c["label"] for c in found] == ["Maria Lopez"]
    assert found[0]["email"] == "maria.lopez@northwind.example"
    products = json.loads(run(world, "list", "product", "--json", "--limit", "1").stdout)
    assert len(products) == 1 and products[0]["number"]
    shown = json.loads(run(world, "show", "contacts", str(found[0]["id"]), "--json").stdout)
    assert shown == found[0]
    text = run(world, "show", "contacts", str(found[0]["id"])).stdout
    assert text.startswith("contact Maria Lopez") and "maria.lopez@northwind.example" in text
    assert run(world, "list", "leads", "--search", "zzzznothing").stdout.strip() == "(no leads)"


@pytest.mark.parametrize(("args", "message"), [
    (["list", "widgets"], "error: there are no records called 'widgets'; the record types are accounts"),
    (["show", "accounts", "99999"], "error: account 99999 does not exist"),
])
def test_mistakes_are_one_error_line(world: WorkspaceWorld, args: list[str], message: str) -> None:
    result = run(world, *args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert "Traceback" not in result.output

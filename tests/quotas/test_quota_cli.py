"""`crmflow quota set` / `crmflow quota list` end to end: tables, JSON, one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result

from crmflow import cli


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli.app, ["--db", url, "quota", *args])


def test_set_by_quarter_then_change_and_list(db_url: str) -> None:
    made = run(db_url, "set", "ann", "--period", "2026-Q1", "--target", "50000", "--team", "East")
    assert made.exit_code == 0, made.output
    assert made.stdout.strip() == "quota set: ann 2026-Q1 (2026-01-01 to 2026-03-31) target 50000.00, team East"
    changed = json.loads(run(db_url, "set", "ann", "--period", "2026-Q1", "--target", "55000.5", "--json").stdout)
    assert (changed["target"], changed["team"], changed["period_end"]) == ("55000.50", None, "2026-03-31")
    assert changed["updated_at"] is not None
    run(db_url, "set", "bob", "--from", "2026-01-15", "--to", "2026-02-14", "--target", "900", "--team", "West")

    listed = json.loads(run(db_url, "list", "--json").stdout)
    assert [(q["owner"], q["period"], q["target"]) for q in listed] == [
        ("ann", "2026-Q1", "55000.50"), ("bob", "2026-01-15..2026-02-14", "900.00")]
    text = run(db_url, "list").stdout.splitlines()
    assert text[0].split() == ["OWNER", "TEAM", "PERIOD", "FROM", "TO", "TARGET"]
    assert text[1].split()[:1] == ["ann"] and "55000.50" in text[1]
    assert [q["owner"] for q in json.loads(run(db_url, "list", "--team", "West", "--json").stdout)] == ["bob"]


def test_list_of_nothing(db_url: str) -> None:
    result = run(db_url, "list")
    assert result.exit_code == 0 and result.stdout.strip() == "(none)"


@pytest.mark.parametrize(("args", "message"), [
    (["set", "ann", "--target", "1"], "error: give --period (e.g. 2026-Q1, 2026-03, 2026) or both --from and --to"),
    (["set", "ann", "--period", "2026-Q1", "--from", "2026-01-01", "--target", "1"],
     "error: give --period or --from/--to, not both"),
    (["set", "ann", "--period", "2026-Q9", "--target", "1"], "error: --period: period '2026-Q9' must look like"),
    (["set", "ann", "--from", "2026-01-01", "--to", "March", "--target", "1"], "error: --to 'March' is not a date"),
    (["set", "ann", "--from", "2026-03-01", "--to", "2026-01-01", "--target", "1"],
     "error: quota period end 2026-01-01 must be after its start 2026-03-01"),
    (["set", "ann", "--period", "2026", "--target", "-5"], "error: quota target must be at least 0, not -5"),
    (["set", "ann", "--period", "2026", "--target", "ten"], "error: quota target must be a number, not 'ten'"),
])
def test_mistakes_are_one_error_line_and_exit_1(db_url: str, args: list[str], message: str) -> None:
    result = run(db_url, *args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert "Traceback" not in result.output


def test_overlap_is_refused_naming_the_existing_quota(db_url: str) -> None:
    assert run(db_url, "set", "ann", "--period", "2026-Q1", "--target", "10").exit_code == 0
    result = run(db_url, "set", "ann", "--period", "2026-03", "--target", "10")
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: ann already has a quota for 2026-Q1 (2026-01-01 to 2026-03-31)")

"""The crmflow CLI as the worklist tests drive it: typer's CliRunner on a SQLite file like a
user's (the `db` fixture in conftest.py), with one-line checks for success and refusal."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from crmflow import cli


def run(db: str, *args: str) -> Result:
    return CliRunner().invoke(cli.app, ["--db", db, *args])


def ok(db: str, *args: str) -> Result:
    result = run(db, *args)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


def refused(db: str, *args: str, match: str) -> str:
    """A refusal: exit 1 and one `error:` line naming `match`, never a traceback."""
    result = run(db, *args)
    assert result.exit_code == 1, (args, result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and match in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr

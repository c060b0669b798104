"""Hostile process data through the CLI (issue 23 items 3, 5, 6): the same limits as the API,
and one clear `error:` line — never a traceback, never the driver's "database is locked"."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_cli import REVIEW_BPMN, assert_one_error_line, ok, run

import engine.db


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/hostile.db"
    path = tmp_path / "review.bpmn"
    path.write_text(REVIEW_BPMN)
    ok(url, "deploy", str(path))
    return url


def test_invalid_unicode_is_refused_with_the_field_named(db: str) -> None:
    # bytes that are not UTF-8 reach Python's argv as lone surrogates
    assert_one_error_line(run(db, "start", "lead_review", "--data", '{"name": "Ana \udcff"}'),
                          contains="not valid Unicode")
    assert_one_error_line(run(db, "start", "lead_review", "--data", '{"name": "\\ud800"}'),
                          contains="--data.name: is not valid Unicode")
    assert_one_error_line(run(db, "start", "lead_review", "--key", "K\ud800"), contains="business_key")
    assert "lead_review" not in run(db, "instances").stdout  # nothing was stored


def test_deep_and_large_data_meet_the_same_limits_as_the_api(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert_one_error_line(run(db, "start", "lead_review", "--data", deep), contains="nested deeper than")
    assert_one_error_line(run(db, "start", "lead_review", "--data", '{"x": ' + "[" * 40 + "]" * 40 + "}"),
                          contains="nested deeper than 32 levels")
    monkeypatch.setenv("CRMFLOW_MAX_BODY_BYTES", "100")
    assert_one_error_line(run(db, "start", "lead_review", "--data", '{"x": "' + "y" * 200 + '"}'),
                          contains="the limit is 100 (CRMFLOW_MAX_BODY_BYTES)")


def test_a_locked_database_says_busy_retry(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.db, "BUSY_TIMEOUT_SECONDS", 0.2)
    holder = sqlite3.connect(db.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another unit of work holds the write lock
    try:
        line = assert_one_error_line(run(db, "start", "lead_review"), contains="busy")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "retry" in line and "OperationalError" not in line

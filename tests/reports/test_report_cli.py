"""`crmflow report` end to end, the registry's API document and CSV, and the empty database."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import report_seed as seed
from reports_support import NOW
from typer.testing import CliRunner, Result

from crmflow import cli
from crmflow.settings import build_engine
from handlers import reports
from handlers.reports import REPORTS

EXPECTED_NAMES = {
    "pipeline", "win-rate", "win-rate-by-owner", "quota-attainment", "cycle-time", "forecast",
    "quotes-outstanding", "orders-outstanding", "invoices-overdue",
    "campaigns", "funnel", "cases-open", "sla-compliance", "resolution-time", "entitlements", "reopen-rate",
    "backlog", "agent-throughput", "instances", "waits", "incidents",
}


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli.app, ["--db", url, "report", *args])


def test_registry_has_every_report_with_columns(rdb):
    assert set(REPORTS) == EXPECTED_NAMES
    for name, report in REPORTS.items():
        assert report.name == name and report.area in reports.AREAS and report.description
        assert len(set(report.keys)) == len(report.keys) > 0


def test_empty_database_gives_empty_tables(rdb):
    for name in REPORTS:
        assert rdb.rows(name) == [], name


def test_every_row_has_exactly_the_columns(rdb):
    with rdb.seed() as s:
        c = seed.case(s, NOW - timedelta(hours=3))
        seed.resolution(s, c, NOW - timedelta(hours=1))
        seed.opportunity(s, NOW, value="10.00", probability=10, close=date(2026, 6, 1))
    for name, report in REPORTS.items():
        for row in rdb.rows(name):
            assert list(row) == report.keys, name


def test_run_gives_a_json_ready_document(rdb):
    with rdb.seed() as s:
        seed.opportunity(s, NOW, value="100.00", probability=25)
        seed.opportunity(s, NOW, state="Lost", status="Canceled", value="7.00", changed=NOW - timedelta(hours=1))
    with rdb.eng.db.read() as session:
        doc = reports.run(session, "pipeline", NOW)
        windowed = reports.run(session, "win-rate", NOW, {"since": NOW - timedelta(days=1), "until": None})
        snapshot = r"report pipeline has no parameter since; it is a snapshot as of now \(it takes owner\)"
        with pytest.raises(reports.ReportError, match=snapshot):
            reports.run(session, "pipeline", NOW, {"since": NOW - timedelta(days=1)})
    assert doc["name"] == "pipeline" and doc["columns"][2] == {"key": "total_value", "title": "Value", "kind": "money"}
    assert doc["rows"] == [{"status": "In Progress", "opportunities": 1, "total_value": "100.00",
                            "weighted_value": "25.00", "without_probability": 0}]
    assert windowed["params"] == {"since": (NOW - timedelta(days=1)).isoformat()}
    assert windowed["rows"][0]["lost"] == 1 and windowed["now"] == NOW.isoformat()
    json.dumps([doc, windowed])  # no Decimal or datetime left


def test_unknown_report_is_one_error_line_with_the_names(rdb):
    result = run(rdb.url, "pipe-line")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no report named 'pipe-line'")
    assert all(name in lines[0] for name in REPORTS)
    with pytest.raises(reports.UnknownReport):
        reports.get("pipe-line")


def test_no_name_lists_the_reports(rdb):
    result = run(rdb.url)
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.stdout.strip().splitlines()[1:]]
    assert listed == list(REPORTS)
    as_json = json.loads(run(rdb.url, "--json").stdout)
    assert [r["name"] for r in as_json] == list(REPORTS)


def seed_invoices(rdb) -> list[tuple[str, str, date]]:
    """Overdue invoices with a comma and a quote in a name, to exercise CSV quoting."""
    items = [('Acme, "North"', "1200.00", "200.00", date(2026, 4, 1)), ("Plain", "99.99", "0", date(2026, 5, 1))]
    with rdb.seed() as s:
        for name, total, paid, due in items:
            inv = seed.invoice(s, NOW - timedelta(days=60), "Active", "New", total, paid, due)
            inv.name = name
    return [(name, str(Decimal(total) - Decimal(paid)), due) for name, total, paid, due in items]


def test_csv_parses_and_matches_the_rows(rdb):
    expected = seed_invoices(rdb)
    result = run(rdb.url, "invoices-overdue", "--csv", "--now", NOW.isoformat())
    assert result.exit_code == 0, result.output
    raw = result.stdout_bytes.decode()  # `.stdout` would turn CRLF into LF
    assert raw.count("\r\n") == 3  # RFC 4180 line ends: header and two records
    table = list(csv.reader(io.StringIO(raw, newline="")))
    assert table[0] == REPORTS["invoices-overdue"].keys
    body = [dict(zip(table[0], line, strict=True)) for line in table[1:]]
    assert [(r["name"], r["balance"], r["due_date"]) for r in body] == [
        (name, f"{Decimal(balance):.2f}", due.isoformat()) for name, balance, due in expected]
    assert [int(r["days_overdue"]) for r in body] == [(NOW.date() - due).days for _, _, due in expected]
    with rdb.eng.db.read() as session:
        assert reports.to_csv(REPORTS["invoices-overdue"], REPORTS["invoices-overdue"].rows(session, NOW, {})) \
            == raw


def test_json_and_table_output(rdb):
    seed_invoices(rdb)
    rows = json.loads(run(rdb.url, "invoices-overdue", "--json", "--now", NOW.isoformat()).stdout)
    assert [r["balance"] for r in rows] == ["1000.00", "99.99"]
    text = run(rdb.url, "invoices-overdue", "--now", NOW.isoformat()).stdout
    assert "DAYS OVERDUE" in text and "1000.00" in text
    assert run(rdb.url, "invoices-overdue", "--now", "2026-04-01T00:00:00Z").stdout.strip().endswith("(none)")


def test_window_and_param_options(rdb):
    with rdb.seed() as s:
        for day in (1, 20):
            seed.opportunity(s, NOW, state="Won", status="Won", actual="10.00",
                             changed=datetime(2026, 4, day, 12, tzinfo=NOW.tzinfo))
        seed.opportunity(s, NOW, value="50.00", probability=50, close=date(2026, 9, 1))
    rows = json.loads(run(rdb.url, "win-rate", "--json", "--since", "2026-04-10", "--until", "2026-05-01").stdout)
    assert rows[0]["won"] == 1
    quarters = json.loads(run(rdb.url, "forecast", "--json", "--now", NOW.isoformat(), "-p", "quarters=2").stdout)
    assert [r["period"] for r in quarters] == ["2026-Q2", "2026-Q3"]
    bad = run(rdb.url, "forecast", "-p", "quarters")
    assert bad.exit_code == 1 and bad.stderr.startswith("error: --param")
    late = run(rdb.url, "win-rate", "--since", "2026-05-01", "--until", "2026-04-01")
    assert late.exit_code == 1 and "must be after" in late.stderr


def test_demo_figures_match_the_engine_and_records(tmp_path):
    """The demo's own story, read back: the figures agree with the facade and the records."""
    from sqlalchemy import func, select

    from crmflow.demo import run as demo
    from engine.models import OutboxMessage

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    demo(url, echo=lambda *a, **k: None)
    camp = json.loads(run(url, "campaigns", "--json").stdout)
    with_engine = build_engine(url, with_handlers=False)
    try:
        with with_engine.db.read() as session:
            mails = session.scalar(select(func.count(OutboxMessage.id)).where(
                OutboxMessage.payload["campaign_id"].as_integer() == 1))
        done = with_engine.list_tasks(state="completed", process_id="case_resolution")
        tasks = json.loads(run(url, "instances", "--json").stdout)
    finally:
        with_engine.close()
    assert camp[0]["emails_queued"] == mails > 0 and camp[0]["won_opportunities"] == 1
    throughput = json.loads(run(url, "agent-throughput", "--json").stdout)
    per_agent = {r["agent"]: r["tasks_completed"] for r in throughput}
    expected = {}
    for task in done:
        expected[task.completed_by] = expected.get(task.completed_by, 0) + 1
    assert per_agent == expected
    assert {t["process_id"] for t in tasks} >= {"campaign_execution", "case_resolution"}

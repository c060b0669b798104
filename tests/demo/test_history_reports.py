"""The demo history fills every managers' report, and the headline figures are the records'.

Expected figures are computed here from the records with plain SQL, never with the report
code, so a report that drifts from its records (or a history that leaves a report empty) fails.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from history_support import NOW, Seeded
from sqlalchemy import Date, bindparam, text

from crmflow.demo_history import plans
from engine.clock import ensure_utc
from handlers import reports
from handlers.reports.sales import quarter_start

AREAS = ("sales", "marketing", "service", "process")
CENT = Decimal("0.01")


def rows(seeded: Seeded, name: str) -> list[dict]:
    with seeded.engine.db.read() as session:
        return reports.get(name).rows(session, NOW, {})


def sql(seeded: Seeded, query: str, **params: object) -> list[tuple]:
    statement = text(query)
    if "today" in params:
        statement = statement.bindparams(bindparam("today", type_=Date))
    with seeded.engine.db.read() as session:
        return [tuple(r) for r in session.execute(statement, params)]


def money(value: object) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def moment(value: Any) -> datetime:
    """A time column as SQLite hands it to plain SQL (a string) or PostgreSQL (a datetime), in UTC."""
    return ensure_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def day(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


@pytest.mark.parametrize("area", AREAS)
def test_every_dashboard_report_has_rows(seeded: Seeded, area: str) -> None:
    for report in reports.by_area(area):
        found = rows(seeded, report.name)
        if report.name == "orders-outstanding":
            # lead_to_invoice converts, fulfils and invoices an order in one step: none is ever left open
            assert found == []
            assert sql(seeded, "SELECT count(*) FROM crm_order WHERE state IN ('Active', 'Submitted', 'Fulfilled')") \
                == [(0,)]
            continue
        assert found, f"report {report.name} ({area}) has no rows after the demo history"


def test_history_ran_once_and_says_how_long_it_took(seeded: Seeded) -> None:
    """No timed assertion (machines are noisy): the summary reports the seconds it took."""
    assert seeded.report.skipped == [], seeded.report.skipped
    summary = seeded.report.history[0]
    assert re.search(r"in [\d.]+ s", summary), summary
    assert any("history: day 20 of 120" in line for line in seeded.output), "no progress lines"
    assert not [line for line in seeded.report.history if line.startswith("note:")], seeded.report.history


def test_pipeline_and_forecast_weigh_open_opportunities(seeded: Seeded) -> None:
    opportunities = sql(seeded, "SELECT estimated_value, probability, estimated_close_date, owner "
                                "FROM crm_opportunity WHERE state = 'Open'")
    assert len(opportunities) >= 10
    expected = sum((Decimal(str(v)) * p / 100 for v, p, _, _ in opportunities), Decimal(0)).quantize(CENT)
    assert expected > 0
    assert sum(money(r["weighted_value"]) for r in rows(seeded, "pipeline")) == expected
    forecast = rows(seeded, "forecast")
    assert sum(money(r["weighted_value"]) for r in forecast) == expected
    this_quarter = quarter_start(NOW.date()).isoformat()
    future = [r for r in forecast if r["start"] and r["start"] >= this_quarter and money(r["weighted_value"]) > 0]
    assert len(future) >= 2, forecast  # bars over this quarter and the next ones
    quarters = {quarter_start(day(d)) for _, _, d, _ in opportunities if d is not None}
    assert len(quarters) >= 2


def test_won_and_lost_are_counted_from_the_opportunities(seeded: Seeded) -> None:
    counts = dict(sql(seeded, "SELECT state, count(*) FROM crm_opportunity GROUP BY state"))
    revenue = sql(seeded, "SELECT sum(actual_value) FROM crm_opportunity WHERE state = 'Won'")[0][0]
    (row,) = rows(seeded, "win-rate")
    assert (row["won"], row["lost"]) == (counts["Won"], counts["Lost"])
    assert counts["Won"] >= 15 and counts["Lost"] >= 5
    assert money(row["won_revenue"]) == money(revenue)


def test_owners_are_the_reps_who_qualified(seeded: Seeded) -> None:
    owners = Counter(o for (o,) in sql(seeded, "SELECT owner FROM crm_opportunity"))
    assert set(plans.REPS) <= set(owners), owners
    quotas = sql(seeded, "SELECT owner, team, period_start FROM crm_sales_quota")
    assert Counter(o for o, _, _ in quotas) == dict.fromkeys(plans.REPS, 2)
    assert {t for _, t, _ in quotas} == {"sales"}


def test_campaign_responses_and_leads_per_campaign(seeded: Seeded) -> None:
    responses = dict(sql(seeded, "SELECT c.number, count(r.id) FROM crm_campaign c "
                                 "LEFT JOIN crm_campaign_response r ON r.campaign_id = c.id GROUP BY c.number"))
    leads = dict(sql(seeded, "SELECT c.number, count(l.id) FROM crm_campaign c "
                             "LEFT JOIN crm_lead l ON l.source_campaign_id = c.id GROUP BY c.number"))
    shown = {r["number"]: r for r in rows(seeded, "campaigns")}
    assert {n: r["responses"] for n, r in shown.items()} == responses
    assert {n: r["leads"] for n, r in shown.items()} == leads
    assert sum(responses.values()) >= 10 and sum(leads.values()) >= 5
    assert len([n for n, r in shown.items() if money(r["won_revenue"]) > 0]) >= 2
    funnel = {r["stage"]: r["count"] for r in rows(seeded, "funnel")}
    assert funnel["responses"] == sum(responses.values())


def test_sla_breaches_are_the_kpis_past_their_failure_time(seeded: Seeded) -> None:
    kpis = sql(seeded, "SELECT kpi, state, status, failure_at FROM crm_sla_kpi_instance")
    breached: Counter[str] = Counter()
    met: Counter[str] = Counter()
    for kpi, state, status, failure_at in kpis:
        failure = moment(failure_at)
        if state == "Closed":
            breached[kpi] += status == "Noncompliant"
            met[kpi] += status == "Succeeded"
        elif status != "Paused" and failure <= NOW:
            breached[kpi] += 1
    shown = {r["kpi"]: r for r in rows(seeded, "sla-compliance")}
    assert {k: r["breached"] for k, r in shown.items()} == {k: breached[k] for k in shown}
    assert {k: r["met"] for k, r in shown.items()} == {k: met[k] for k in shown}
    assert sum(breached.values()) >= 3 and sum(met.values()) >= 30


def test_open_cases_by_queue_and_priority(seeded: Seeded) -> None:
    expected = {(q, p): n for q, p, n in sql(seeded, "SELECT queue, priority, count(*) FROM crm_case "
                                                     "WHERE state = 'Active' GROUP BY queue, priority")}
    shown = {(r["queue"], r["priority"]): r["open"] for r in rows(seeded, "cases-open")}
    assert shown == expected
    assert len(shown) >= 2  # more than one queue or priority waiting
    (reopen,) = rows(seeded, "reopen-rate")
    assert reopen["reopened_cases"] == sql(seeded, "SELECT count(*) FROM crm_case WHERE reopened_count > 0")[0][0] >= 2


def test_overdue_invoices_are_the_unpaid_ones_past_due(seeded: Seeded) -> None:
    found = sql(seeded, "SELECT number FROM crm_invoice WHERE due_date < :today AND total_amount > amount_paid "
                        "AND (state = 'Active' OR (state = 'Paid' AND status = 'Partial'))",
                today=NOW.date())
    assert len(found) >= 2
    assert sorted(r["number"] for r in rows(seeded, "invoices-overdue")) == sorted(n for (n,) in found)
    paid_late = sql(seeded, "SELECT count(*) FROM crm_invoice WHERE state = 'Paid' AND status = 'Complete' "
                            "AND paid_at > due_date")
    assert paid_late[0][0] >= 1  # some paid only after the reminders


def test_work_is_left_open_at_different_stages(seeded: Seeded) -> None:
    waiting = {e for (e,) in sql(seeded, "SELECT t.element_id FROM wf_human_task t JOIN wf_instance i "
                                         "ON i.id = t.instance_id WHERE t.state = 'open' "
                                         "AND i.business_key LIKE 'HIST-%'")}
    waiting |= {m for (m,) in sql(seeded, "SELECT s.message_name FROM wf_message_subscription s JOIN wf_instance i "
                                          "ON i.id = s.instance_id WHERE i.business_key LIKE 'HIST-%' "
                                          "OR i.business_key LIKE 'LEAD-%'")}
    assert {"work_opportunity", "quote_accepted", "payment_received", "work_case"} <= waiting, waiting
    incidents = sql(seeded, "SELECT count(*) FROM wf_incident WHERE state = 'open'")[0][0]
    assert incidents == len(rows(seeded, "incidents")) == 1  # the overpayment billing has to sort out


def test_history_leaves_no_timer_overdue(seeded: Seeded) -> None:
    due = [moment(d) for (d,) in sql(seeded, "SELECT due_at FROM wf_timer WHERE state = 'pending'")]
    assert due and min(due) > NOW - timedelta(seconds=1)


def test_history_size(seeded: Seeded) -> None:
    keys = [k for (k,) in sql(seeded, "SELECT business_key FROM wf_instance") if k]
    leads = sum(1 for k in keys if k.startswith("HIST-L2I-")) + sum(1 for k in keys if k.startswith("LEAD-"))
    assert 40 <= leads <= 70
    assert 30 <= sum(1 for k in keys if k.startswith("HIST-CASE-")) <= 50
    assert sum(1 for k in keys if k.startswith(("HIST-CMP-", "HIST-QC-"))) >= 3
    agents = {u for (u,) in sql(seeded, "SELECT DISTINCT completed_by FROM wf_human_task "
                                        "WHERE element_id = 'work_case' AND state = 'completed'")}
    assert len(agents & set(plans.AGENTS)) >= 2, agents


def test_plans_are_deterministic() -> None:
    first = plans.lead_plans(random.Random(plans.SEED), NOW)
    again = plans.lead_plans(random.Random(plans.SEED), NOW)
    assert [(p.key, p.at, p.fate, p.inquiry) for p in first] == [(p.key, p.at, p.fate, p.inquiry) for p in again]
    assert all(p.at <= NOW for p in first) and min(p.at for p in first) >= NOW - timedelta(days=plans.DAYS)


def test_demo_users_include_more_reps_and_agents(seeded: Seeded) -> None:
    for name, groups in plans.EXTRA_USERS.items():
        assert set(groups) <= set(seeded.worklist.accounts.groups_of(name) or ()), name


def test_a_second_seed_adds_no_history(seeded: Seeded) -> None:
    from crmflow import demo, demo_seed

    tables = ("wf_instance", "crm_lead", "crm_opportunity", "crm_case", "crm_campaign", "wf_human_task",
              "crm_sales_quota", "crm_contact")
    before = {t: sql(seeded, f"SELECT count(*) FROM {t}")[0][0] for t in tables}  # noqa: S608 - fixed names
    again = demo_seed.seed(seeded.engine, seeded.worklist, demo.default_processes(), echo=lambda _: None)
    assert again.history == ["history already there (business keys HIST-...), nothing added"]
    assert again.started == []
    assert {t: sql(seeded, f"SELECT count(*) FROM {t}")[0][0] for t in tables} == before  # noqa: S608

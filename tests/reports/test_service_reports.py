"""Service reports against figures worked out here from hand-picked cases."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import report_seed as seed
from reports_support import NOW

H = timedelta(hours=1)
UTC = NOW.tzinfo


def two(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def test_open_cases_by_queue_and_priority(rdb):
    # queue, priority, age in hours, on hold, resolve_by relative to now (hours; None: none)
    active = [("support", "High", 10, False, -1), ("support", "Normal", 30, True, 5),
              ("support", "Normal", 5, False, 0), ("billing", "Low", 48, False, None),
              (None, "High", 1, False, None), ("support", "Low", 2, False, -3)]
    with rdb.seed() as s:
        for queue, priority, age, hold, due in active:
            seed.case(s, NOW - age * H, priority=priority, queue=queue, on_hold=NOW - H if hold else None,
                      resolve_by=None if due is None else NOW + due * H)
        seed.case(s, NOW - 100 * H, state="Resolved", status="Problem Solved", resolved=NOW - 50 * H)
        seed.case(s, NOW - 100 * H, state="Canceled", status="Canceled", changed=NOW - 90 * H)

    groups = defaultdict(list)
    for item in active:
        groups[(item[0], item[1])].append(item)
    rows = rdb.rows("cases-open")
    assert [(r["queue"], r["priority"]) for r in rows] == [
        (None, "High"), ("billing", "Low"), ("support", "High"), ("support", "Normal"), ("support", "Low")]
    for row in rows:
        items = groups[(row["queue"], row["priority"])]
        assert row["open"] == len(items)
        assert row["on_hold"] == sum(1 for i in items if i[3])
        assert row["past_resolve_by"] == sum(1 for i in items if i[4] is not None and i[4] <= 0)
        assert row["oldest_age_hours"] == two(Decimal(max(i[2] for i in items)))
    assert sum(r["open"] for r in rows) == len(active)


# kpi, state, status, failure time relative to now (hours)
KPIS = [
    ("first_response", "Closed", "Succeeded", -5), ("first_response", "Closed", "Succeeded", -4),
    ("first_response", "Closed", "Succeeded", -3), ("first_response", "Closed", "Noncompliant", -2),
    ("first_response", "Active", "In Progress", -1),  # past its failure time, not yet checked: a breach
    ("first_response", "Active", "Paused", -1),  # paused: the clock stands, still in progress
    ("first_response", "Closed", "Canceled", -1),  # measures nothing
    ("resolve", "Active", "Nearing Noncompliance", 2), ("resolve", "Closed", "Succeeded", -6),
    ("resolve", "Closed", "Noncompliant", -7), ("resolve", "Closed", "Noncompliant", -8),
]


def test_sla_compliance_per_kpi(rdb):
    with rdb.seed() as s:
        for i, (name, state, status, failure) in enumerate(KPIS):
            case = seed.case(s, NOW - 24 * H + i * H)
            seed.kpi(s, case, name, NOW - 24 * H + i * H, NOW + failure * H, state, status)

    def outcome(state, status, failure):
        if state == "Closed":
            return {"Succeeded": "met", "Noncompliant": "breached"}.get(status)
        return "breached" if status != "Paused" and failure <= 0 else "in_progress"

    rows = {r["kpi"]: r for r in rdb.rows("sla-compliance")}
    assert list(rows) == ["first_response", "resolve"]
    for name, row in rows.items():
        outcomes = [outcome(st, ss, f) for n, st, ss, f in KPIS if n == name if outcome(st, ss, f)]
        met, breached = outcomes.count("met"), outcomes.count("breached")
        assert row["measured"] == len(outcomes)
        assert (row["met"], row["breached"], row["in_progress"]) == (met, breached, outcomes.count("in_progress"))
        assert row["met_percent"] == two(Decimal(met * 100) / (met + breached))
    assert rows["first_response"]["met_percent"] == "60.00" and rows["resolve"]["met_percent"] == "33.33"
    assert rows["first_response"]["paused"] == 1
    # KPI i started at now − 24 h + i h: since now − 16 h keeps i ≥ 8, the last three (resolve) KPIs
    recent = rdb.rows("sla-compliance", since=(NOW - 16 * H).isoformat())
    assert [(r["kpi"], r["met"], r["breached"], r["in_progress"]) for r in recent] == [("resolve", 1, 2, 0)]
    assert rdb.rows("sla-compliance", since=(NOW - 13 * H).isoformat()) == []


def test_resolution_time_by_priority(rdb):
    resolved = [("High", timedelta(hours=4)), ("Normal", timedelta(hours=30)),
                ("Normal", timedelta(hours=10, minutes=30)), ("Low", timedelta(minutes=50))]
    with rdb.seed() as s:
        for priority, span in resolved:
            created = NOW - 200 * H
            seed.case(s, created, state="Resolved", status="Problem Solved", priority=priority, resolved=created + span)
        seed.case(s, NOW - 5 * H, priority="High")  # still open: not resolved

    rows = rdb.rows("resolution-time")
    assert [r["priority"] for r in rows] == ["High", "Normal", "Low", "All"]
    for row in rows:
        spans = [sp for p, sp in resolved if row["priority"] in (p, "All")]
        hours = [Decimal(int(sp.total_seconds())) / 3600 for sp in spans]
        assert row["resolved"] == len(spans)
        assert row["average_hours"] == two(sum(hours) / len(hours))
        assert row["max_hours"] == two(max(hours))
    assert rows[1]["average_hours"] == "20.25"  # (30 + 10.5) / 2


def test_entitlement_consumption(rdb):
    ents = [("Gold", "10", "7.5"), ("Silver", "5", "5"), ("Empty", "0", "0")]
    with rdb.seed() as s:
        acme = seed.account(s, "Acme", NOW)
        for name, total, remaining in ents:
            seed.entitlement(s, NOW, name, total, remaining, account_id=acme.id)
    rows = rdb.rows("entitlements")
    for row, (name, total, remaining) in zip(rows, ents, strict=True):
        used = Decimal(total) - Decimal(remaining)
        assert (row["name"], row["account"]) == (name, "Acme")
        assert Decimal(row["total"]) == Decimal(total) and Decimal(row["remaining"]) == Decimal(remaining)
        assert Decimal(row["used"]) == used
        assert row["used_percent"] == (two(used * 100 / Decimal(total)) if Decimal(total) else None)
    assert rows[0]["used"] == "2.500" and rows[0]["used_percent"] == "25.00"


def test_reopen_rate(rdb):
    # reopened count, resolution times (hours before now)
    cases = [(0, [50]), (2, [45, 40, 20]), (0, [30]), (1, [10])]
    with rdb.seed() as s:
        for reopened, times in cases:
            state = "Active" if reopened and len(times) == 1 else "Resolved"
            status = "In Progress" if state == "Active" else "Problem Solved"
            case = seed.case(s, NOW - 60 * H, state=state, status=status,
                             resolved=None if state == "Active" else NOW - times[-1] * H, reopened=reopened)
            for t in times:
                seed.resolution(s, case, NOW - t * H)
        seed.case(s, NOW - 60 * H, reopened=0)  # never resolved: not in the rate
    [row] = rdb.rows("reopen-rate")
    assert row["resolved_cases"] == len(cases)
    assert row["reopened_cases"] == sum(1 for r, _ in cases if r)
    assert row["reopens"] == sum(r for r, _ in cases)
    assert row["reopen_rate_percent"] == "50.00"
    # resolutions in the last 25 hours: the second and fourth cases, both reopened
    [recent] = rdb.rows("reopen-rate", since=(NOW - 25 * H).isoformat())
    assert (recent["resolved_cases"], recent["reopened_cases"], recent["reopen_rate_percent"]) == (2, 2, "100.00")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=UTC)


def test_backlog_per_day(rdb):
    with rdb.seed() as s:
        seed.case(s, at(9, 10))  # open throughout
        seed.case(s, at(10, 9))  # open throughout
        resolved = seed.case(s, at(10, 8), state="Resolved", status="Problem Solved", resolved=at(11, 9))
        seed.resolution(s, resolved, at(11, 9))
        seed.case(s, at(11, 12), state="Canceled", status="Canceled", changed=at(12, 18))
        seed.case(s, at(12, 23, 59))
        seed.case(s, at(13, 1))  # after the window
    rows = rdb.rows("backlog", since="2026-05-10T00:00:00Z", until="2026-05-13T00:00:00Z")
    assert rows == [
        {"day": "2026-05-10", "open": 3, "created": 2, "resolved": 0},
        {"day": "2026-05-11", "open": 3, "created": 1, "resolved": 1},
        {"day": "2026-05-12", "open": 3, "created": 1, "resolved": 0},
    ]
    default = rdb.rows("backlog")
    assert len(default) == 14 and default[-1]["day"] == NOW.date().isoformat()
    assert default[-1]["open"] == 4  # at noon on the 13th the 01:00 case is open too


def test_agent_throughput_from_case_tasks(rdb):
    with rdb.seed() as s:
        v = seed.version(s, "case_resolution", 1, NOW - 48 * H)
        other = seed.version(s, "lead_to_invoice", 1, NOW - 48 * H)
        x = seed.case(s, NOW - 30 * H)
        y = seed.case(s, NOW - 30 * H)
        z = seed.case(s, NOW - 30 * H)
        by_key = seed.instance(s, v, NOW - 30 * H, key=x.number)
        by_vars = seed.instance(s, v, NOW - 30 * H, key="DEMO-CASE-0001", variables={"case": {"case_id": y.id}})
        unrelated = seed.instance(s, other, NOW - 30 * H, key="LEAD-1")
        seed.human_task(s, by_key, "work_case", NOW - 29 * H, done=NOW - 20 * H, by="ann")
        seed.human_task(s, by_key, "supervise_case", NOW - 29 * H, done=NOW - 19 * H, by="sam")
        seed.resolution(s, x, NOW - 20 * H)  # ann's step resolved it (same moment)
        seed.human_task(s, by_key, "work_case", NOW - 15 * H, done=NOW - 10 * H - timedelta(seconds=1), by="bob")
        seed.resolution(s, x, NOW - 10 * H)  # resolved again after a reopen: bob
        seed.human_task(s, by_vars, "work_case", NOW - 29 * H, done=NOW - 25 * H, by="ann")
        seed.resolution(s, y, NOW - 25 * H)
        seed.resolution(s, z, NOW - 5 * H)  # resolved outside any process
        seed.human_task(s, unrelated, "qualify_lead", NOW - 29 * H, done=NOW - 28 * H, by="carl")
        seed.human_task(s, by_key, "work_case", NOW - 2 * H)  # still open
    rows = rdb.rows("agent-throughput")
    assert rows == [
        {"agent": "ann", "resolutions": 2, "cases": 2, "tasks_completed": 2},
        {"agent": "(no task)", "resolutions": 1, "cases": 1, "tasks_completed": 0},
        {"agent": "bob", "resolutions": 1, "cases": 1, "tasks_completed": 1},
        {"agent": "sam", "resolutions": 0, "cases": 0, "tasks_completed": 1},
    ]
    recent = rdb.rows("agent-throughput", since=(NOW - 12 * H).isoformat())
    assert [(r["agent"], r["resolutions"], r["tasks_completed"]) for r in recent] == [
        ("(no task)", 1, 0), ("bob", 1, 1)]

"""Quota attainment, win rate per owner and the `owner` parameter, against figures computed
here from the seed lists."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import report_seed as seed
from reports_support import NOW

from handlers.reports import ReportError

T0 = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
Q1 = (date(2026, 1, 1), date(2026, 3, 31))
Q2 = (date(2026, 4, 1), date(2026, 6, 30))
Q3 = (date(2026, 7, 1), date(2026, 9, 30))
MAY = (date(2026, 5, 1), date(2026, 5, 31))

# owner, team, (start, end), target
QUOTAS = [
    ("ann", "East", Q2, "10000.00"),
    ("bob", "East", Q2, "8000.00"),
    ("cat", "West", Q2, "5000.00"),
    ("dan", None, MAY, "0.00"),
    ("ann", "East", Q1, "9000.00"),
    ("eve", "West", Q3, "4000.00"),
]
# owner, state, estimated value, actual value, close day
CLOSED = [
    ("ann", "Won", "2500.00", "3000.00", date(2026, 4, 1)),  # first day of Q2
    ("ann", "Won", "1000.00", "1234.56", date(2026, 6, 30)),  # last day of Q2
    ("ann", "Won", "500.00", "500.00", date(2026, 7, 1)),  # the day after
    ("ann", "Won", "700.00", "700.00", date(2026, 3, 31)),  # Q1
    ("ann", "Lost", "900.00", "0", date(2026, 5, 2)),
    ("bob", "Won", "2000.00", "2000.00", date(2026, 5, 13)),
    ("bob", "Lost", "300.00", "0", date(2026, 5, 1)),
    ("bob", "Lost", "450.00", "0", date(2026, 2, 1)),
    ("cat", "Won", "5000.00", "6000.00", date(2026, 5, 2)),
    ("dan", "Won", "100.00", "100.00", date(2026, 5, 31)),
    ("zed", "Won", "999.00", "999.00", date(2026, 5, 5)),  # no quota
    (None, "Won", "400.00", "400.00", date(2026, 5, 5)),  # no owner
    (None, "Lost", "40.00", "0", date(2026, 5, 6)),
]
# owner, estimated value, probability (open opportunities)
OPEN = [("ann", "1000.00", 50), ("bob", "600.00", 10), (None, "50.00", 100), ("ann", "200.00", None)]


def cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def closed_at(day: date) -> datetime:
    return datetime.combine(day, time(15), tzinfo=UTC)


@pytest.fixture
def owned(rdb):
    with rdb.seed() as s:
        for owner, team, (start, end), target in QUOTAS:
            seed.quota(s, owner, start, end, target, T0, team=team)
        for owner, state, value, actual, day in CLOSED:
            seed.opportunity(s, T0, state=state, status=state if state == "Won" else "Canceled", value=value,
                             actual=actual, changed=closed_at(day), owner=owner)
        for owner, value, probability in OPEN:
            seed.opportunity(s, T0, value=value, probability=probability, close=date(2026, 6, 1), owner=owner)
    return rdb


def period_times(period: tuple[date, date]) -> tuple[datetime, datetime]:
    return (datetime.combine(period[0], time(), tzinfo=UTC),
            datetime.combine(period[1] + timedelta(days=1), time(), tzinfo=UTC))


def expected_attainment(chosen: list[tuple]) -> list[dict]:
    """The report's rows, worked out from QUOTAS and CLOSED."""
    def row(level, owner, team, period, target, won, count):  # noqa: ANN001, ANN202
        exact = {Q1: "2026-Q1", Q2: "2026-Q2", Q3: "2026-Q3", MAY: "2026-05"}[period]
        return {"level": level, "owner": owner, "team": team, "period": exact, "period_start": period[0].isoformat(),
                "period_end": period[1].isoformat(), "target": cents(target), "won": cents(won),
                "won_opportunities": count,
                "attainment_percent": cents(won * 100 / target) if target else None}

    users, teams = [], defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    for owner, team, period, target in chosen:
        wins = [Decimal(c[3]) for c in CLOSED if c[0] == owner and c[1] == "Won" and period[0] <= c[4] <= period[1]]
        users.append(row("user", owner, team, period, Decimal(target), sum(wins, Decimal(0)), len(wins)))
        if team:
            t = teams[(team, period)]
            t[0] += Decimal(target)
            t[1] += sum(wins, Decimal(0))
            t[2] += len(wins)
    rows = users + [row("team", None, team, period, *sums) for (team, period), sums in teams.items()]
    return sorted(rows, key=lambda r: (r["period_start"], r["period_end"], r["team"] is None, r["team"] or "",
                                       r["level"] == "team", r["owner"] or ""))


def test_attainment_defaults_to_the_periods_holding_today(owned):
    today = NOW.date()
    chosen = [q for q in QUOTAS if q[2][0] <= today <= q[2][1]]
    rows = owned.rows("quota-attainment")
    assert rows == expected_attainment(chosen)
    assert [(r["level"], r["owner"] or r["team"]) for r in rows] == [
        ("user", "ann"), ("user", "bob"), ("team", "East"), ("user", "cat"), ("team", "West"), ("user", "dan")]
    # hand checks: ann won 3000.00 + 1234.56 (both period ends count, 1 July does not) of 10000
    ann, _, east, cat, west, dan = rows
    assert (ann["won"], ann["won_opportunities"], ann["attainment_percent"]) == ("4234.56", 2, "42.35")
    assert (east["target"], east["won"], east["attainment_percent"]) == ("18000.00", "6234.56", "34.64")
    assert cat["attainment_percent"] == west["attainment_percent"] == "120.00"
    assert dan["won"] == "100.00" and dan["attainment_percent"] is None  # a zero target has no percentage


def test_attainment_in_a_window_takes_the_quotas_overlapping_it(owned):
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)

    def overlapping(a: datetime | None, b: datetime | None) -> list[tuple]:
        return [q for q in QUOTAS
                if (b is None or period_times(q[2])[0] < b) and (a is None or period_times(q[2])[1] > a)]

    rows = owned.rows("quota-attainment", since=since.isoformat(), until=until.isoformat())
    assert rows == expected_attainment(overlapping(since, until))
    assert [(r["owner"], r["period"], r["won"]) for r in rows] == [("ann", "2026-Q1", "700.00"),
                                                                   (None, "2026-Q1", "700.00")]
    late = datetime(2026, 6, 30, 12, tzinfo=UTC)
    rows = owned.rows("quota-attainment", since=late.isoformat())
    assert rows == expected_attainment(overlapping(late, None))
    assert {r["period"] for r in rows} == {"2026-Q2", "2026-Q3"}
    eve = next(r for r in rows if r["owner"] == "eve")
    assert eve["won"] == "0.00" and eve["attainment_percent"] == "0.00"


def test_attainment_of_one_team(owned):
    rows = owned.rows("quota-attainment", team="West")
    today = NOW.date()
    assert rows == expected_attainment([q for q in QUOTAS if q[1] == "West" and q[2][0] <= today <= q[2][1]])
    assert [r["level"] for r in rows] == ["user", "team"]


def test_attainment_without_quotas_is_empty_and_bad_window_refused(rdb, owned):
    assert owned.rows("quota-attainment", until="2025-12-31") == []
    with pytest.raises(ReportError, match="must be after"):
        owned.rows("quota-attainment", since="2026-05-01", until="2026-04-01")


def rate_rows(closed: list[tuple]) -> list[dict]:
    groups = defaultdict(list)
    for c in closed:
        groups[c[0]].append(c)
    rows = []
    for owner in sorted(groups, key=lambda o: (o is None, o or "")):
        won = [c for c in groups[owner] if c[1] == "Won"]
        lost = [c for c in groups[owner] if c[1] == "Lost"]
        rows.append({"owner": owner, "won": len(won), "lost": len(lost),
                     "win_rate_percent": cents(Decimal(len(won) * 100) / (len(won) + len(lost))),
                     "won_revenue": cents(sum((Decimal(c[3]) for c in won), Decimal(0))),
                     "lost_value": cents(sum((Decimal(c[2]) for c in lost), Decimal(0)))})
    return rows


def test_win_rate_per_owner(owned):
    rows = owned.rows("win-rate-by-owner")
    assert rows == rate_rows(CLOSED)
    assert [r["owner"] for r in rows] == ["ann", "bob", "cat", "dan", "zed", None]
    assert rows[0]["win_rate_percent"] == "80.00" and rows[1]["win_rate_percent"] == "33.33"  # 4 of 5, 1 of 3
    since = datetime(2026, 5, 1, tzinfo=UTC)
    in_may = [c for c in CLOSED if closed_at(c[4]) >= since and closed_at(c[4]) < datetime(2026, 6, 1, tzinfo=UTC)]
    assert owned.rows("win-rate-by-owner", since="2026-05-01", until="2026-06-01") == rate_rows(in_may)
    # the owners' figures add up to the overall win rate
    [total] = owned.rows("win-rate")
    assert total["won"] == sum(r["won"] for r in rows) and total["lost"] == sum(r["lost"] for r in rows)


def test_owner_parameter_narrows_pipeline_win_rate_and_forecast(owned):
    [mine] = owned.rows("win-rate", owner="bob")
    assert {k: mine[k] for k in ("won", "lost", "won_revenue")} == {"won": 1, "lost": 2, "won_revenue": "2000.00"}
    [pipe] = owned.rows("pipeline", owner="ann")
    ann_open = [o for o in OPEN if o[0] == "ann"]
    assert pipe["opportunities"] == len(ann_open) == 2
    assert pipe["weighted_value"] == cents(sum(Decimal(v) * (p or 0) / 100 for _, v, p in ann_open))
    assert owned.rows("pipeline", owner="nobody") == []
    q2 = next(r for r in owned.rows("forecast", owner="bob") if r["period"] == "2026-Q2")
    assert (q2["opportunities"], q2["weighted_value"]) == (1, "60.00")

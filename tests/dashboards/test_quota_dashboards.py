"""Quota attainment, win rate per owner and the backlog trend on the dashboards and the API,
on the demo's records plus quotas set here: charts draw the reports' figures, and those
figures agree with what is worked out here from the records."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from dashboards_support import Demo, section, svg_blocks
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from handlers import quotas, reports
from handlers.models import Case, Opportunity
from handlers.models.sales import SalesQuota

TEAM = "Field sales"
NOBODY = "quota-without-wins"


def figures(filled: Demo, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with filled.engine.db.read() as session:
        return reports.run(session, name, filled.engine.now(), params)["rows"]


def cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@pytest.fixture
def with_quotas(filled: Demo) -> dict[str, Any]:
    """A quota, from the story's first win to a week past now, for every owner who won something, and
    one for somebody who won nothing; all in one team (instead of any quotas the demo set)."""
    now = filled.engine.now()
    with filled.engine.db.write() as session:
        session.execute(delete(SalesQuota))
        won = list(session.scalars(select(Opportunity).where(Opportunity.state == "Won")))
        owners = sorted({o.owner for o in won if o.owner})
        start = min((o.actual_close_date for o in won if o.actual_close_date), default=now.date())
        end = now.date() + timedelta(days=7)
        for i, owner in enumerate([*owners, NOBODY]):
            quotas.set_quota(session, owner, start, end, 1000 * (i + 1), now, team=TEAM)
        expected = {}
        for i, owner in enumerate([*owners, NOBODY]):
            revenue = sum((o.actual_value or Decimal(0) for o in won
                           if o.owner == owner and o.actual_close_date and start <= o.actual_close_date <= end),
                          Decimal(0))
            expected[owner] = (Decimal(1000 * (i + 1)), revenue)
    return expected


def bar_values(svg: str) -> list[str]:
    return re.findall(r'class="bar[^"]*"[^>]*data-value="([^"]*)"', svg)


def test_quota_attainment_chart_and_figures(filled: Demo, manager: TestClient, with_quotas) -> None:  # noqa: ANN001
    rows = figures(filled, "quota-attainment")
    users = {r["owner"]: r for r in rows if r["level"] == "user"}
    assert set(users) == set(with_quotas)
    for owner, (target, won) in with_quotas.items():
        assert (users[owner]["target"], users[owner]["won"]) == (cents(target), cents(won))
        assert users[owner]["attainment_percent"] == cents(won * 100 / target)
    [team] = [r for r in rows if r["level"] == "team"]
    assert team["team"] == TEAM
    assert team["won"] == cents(sum((w for _, w in with_quotas.values()), Decimal(0)))
    assert team["target"] == cents(sum((t for t, _ in with_quotas.values()), Decimal(0)))
    assert users[NOBODY]["attainment_percent"] == "0.00"

    part = section(manager.get("/dashboards/sales").text, "quota-attainment")
    svg = svg_blocks(part)[0]
    assert bar_values(svg) == [r["attainment_percent"] or "" for r in rows]
    assert f"{TEAM} (team)" in svg and f"{NOBODY}: 0.00 %" in svg


def test_quota_attainment_without_quotas_in_the_window_says_no_data(manager: TestClient) -> None:
    part = section(manager.get("/dashboards/sales?since=2000-01-01&until=2000-02-01").text, "quota-attainment")
    assert "No data" in svg_blocks(part)[0] and "No rows." in part


def test_win_rate_per_owner_chart(filled: Demo, manager: TestClient) -> None:
    rows = figures(filled, "win-rate-by-owner")
    with filled.engine.db.read() as session:
        closed = list(session.scalars(select(Opportunity).where(Opportunity.state.in_(("Won", "Lost")))))
    assert [r["owner"] for r in rows] == sorted({o.owner for o in closed}, key=lambda o: (o is None, o or ""))
    for row in rows:
        mine = [o for o in closed if o.owner == row["owner"]]
        assert row["won"] == sum(1 for o in mine if o.state == "Won") and row["lost"] == len(mine) - row["won"]
    svg = svg_blocks(section(manager.get("/dashboards/sales").text, "win-rate-by-owner"))[0]
    assert bar_values(svg) == [r["win_rate_percent"] or "" for r in rows]


def test_backlog_trend_line_shows_the_daily_figures(filled: Demo, manager: TestClient) -> None:
    rows = figures(filled, "backlog")
    assert len(rows) == 14
    with filled.engine.db.read() as session:
        active = len(session.scalars(select(Case).where(Case.state == "Active")).all())
    assert rows[-1]["open"] == active  # at the end of today's part-day (now), every Active case is open
    svg = svg_blocks(section(manager.get("/dashboards/service").text, "backlog"))[0]
    assert 'class="chart chart-line"' in svg
    for name, key in (("Open", "open"), ("Created", "created"), ("Resolved", "resolved")):
        series = re.search(rf'<g class="series" data-series="{name}">.*?</g>', svg, flags=re.S)
        assert series, name
        assert re.findall(r'<circle[^>]*data-value="([^"]*)"', series.group(0)) == [str(r[key]) for r in rows]
        assert re.findall(r'<circle[^>]*data-label="([^"]*)"', series.group(0)) == [r["day"] for r in rows]


def test_quota_attainment_over_the_api_and_as_csv(filled: Demo, anon: TestClient, with_quotas) -> None:  # noqa: ANN001
    headers = {"Authorization": f"Bearer {filled.token}"}
    doc = anon.get("/api/v1/reports/quota-attainment", headers=headers)
    assert doc.status_code == 200
    assert doc.json()["rows"] == figures(filled, "quota-attainment") and doc.json()["rows"]
    one_team = anon.get(f"/api/v1/reports/quota-attainment?team={TEAM}", headers=headers).json()
    assert one_team["params"] == {"team": TEAM} and len(one_team["rows"]) == len(with_quotas) + 1
    assert anon.get("/api/v1/reports/quota-attainment?team=Nobody", headers=headers).json()["rows"] == []
    c = anon.get("/api/v1/reports/quota-attainment.csv", headers=headers)
    assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
    assert c.text == reports.to_csv(reports.get("quota-attainment"), figures(filled, "quota-attainment"))
    table = list(csv.reader(io.StringIO(c.text)))
    assert table[0] == reports.get("quota-attainment").keys and len(table) == len(with_quotas) + 2
    bad = anon.get("/api/v1/reports/quota-attainment?owner=ann", headers=headers)
    assert bad.status_code == 422 and "no parameter owner" in bad.json()["detail"]
    page_csv = TestClient(filled.app)  # the dashboard's CSV link needs a login; the API needs the token
    assert page_csv.get("/dashboards/sales/quota-attainment.csv", follow_redirects=False).status_code == 303


def test_owner_parameter_over_the_api(filled: Demo, anon: TestClient) -> None:
    headers = {"Authorization": f"Bearer {filled.token}"}
    rows = figures(filled, "win-rate-by-owner")
    for row in rows:
        if row["owner"] is None:
            continue
        [mine] = anon.get(f"/api/v1/reports/win-rate?owner={row['owner']}", headers=headers).json()["rows"]
        assert (mine["won"], mine["lost"], mine["win_rate_percent"]) == (row["won"], row["lost"],
                                                                        row["win_rate_percent"])

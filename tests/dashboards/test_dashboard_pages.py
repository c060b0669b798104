"""The dashboards on the demo's records: every report shown, charts drawn from the same
figures as `handlers.reports.run`, CSV downloads equal to `to_csv`, login required."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from dashboards_support import Demo, section, svg_blocks
from fastapi.testclient import TestClient

from handlers import reports

AREAS = ("sales", "marketing", "service", "process")


def figures(filled: Demo, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    with filled.engine.db.read() as session:
        return reports.run(session, name, filled.engine.now(), params)


def test_index_links_the_four_dashboards(manager: TestClient) -> None:
    r = manager.get("/dashboards")
    assert r.status_code == 200
    for area in AREAS:
        assert f'href="/dashboards/{area}"' in r.text
    assert 'href="/dashboards"' in manager.get("/").text  # the nav link


@pytest.mark.parametrize("area", AREAS)
def test_each_dashboard_shows_every_report_with_a_chart(manager: TestClient, area: str) -> None:
    r = manager.get(f"/dashboards/{area}")
    assert r.status_code == 200, r.text
    for report in reports.by_area(area):
        part = section(r.text, report.name)
        assert report.title in part
        assert f'href="/dashboards/{area}/{report.name}.csv"' in part
    assert svg_blocks(r.text), "no chart on the page"


def test_funnel_chart_shows_the_reports_stage_counts(filled: Demo, manager: TestClient) -> None:
    rows = figures(filled, "funnel")["rows"]
    assert rows and any(row["count"] for row in rows)
    svg = svg_blocks(section(manager.get("/dashboards/marketing").text, "funnel"))[0]
    drawn = re.findall(r'class="band"[^>]*data-value="([^"]*)"', svg)
    assert drawn == [str(row["count"]) for row in rows]
    for row in rows:
        assert f"{row['stage']}: {row['count']}" in svg


def test_bar_charts_show_the_reports_figures(filled: Demo, manager: TestClient) -> None:
    html = manager.get("/dashboards/service").text
    sla = figures(filled, "sla-compliance")["rows"]
    assert sla
    svg = svg_blocks(section(html, "sla-compliance"))[0]
    assert re.findall(r'class="bar[^"]*"[^>]*data-value="([^"]*)"', svg) == [row["met_percent"] or "" for row in sla]
    instances = figures(filled, "instances")["rows"]
    svg = svg_blocks(section(manager.get("/dashboards/process").text, "instances"))[0]
    values = re.findall(r'class="bar[^"]*"[^>]*data-value="([^"]*)"', svg)
    assert values == [str(row["instances"]) for row in instances] and instances


def test_money_cells_are_right_aligned(manager: TestClient) -> None:
    part = section(manager.get("/dashboards/sales").text, "win-rate")
    assert re.search(r'<td class="money num">\d+\.\d\d</td>', part)


def test_window_reaches_windowed_reports_only(filled: Demo, manager: TestClient) -> None:
    since, until = "2000-01-01", "2000-02-01"
    html = manager.get(f"/dashboards/sales?since={since}&until={until}")
    assert html.status_code == 200  # pipeline (a snapshot) was not handed the window it would refuse
    empty = figures(filled, "win-rate", {"since": since, "until": until})["rows"]
    part = section(html.text, "win-rate")
    assert f'/dashboards/sales/win-rate.csv?since={since}&amp;until={until}' in part
    assert 'href="/dashboards/sales/pipeline.csv"' in section(html.text, "pipeline")
    assert empty == [] and "No rows." in part  # nothing won in 2000: the window reached the report
    assert figures(filled, "win-rate")["rows"] and "No rows." not in section(manager.get("/dashboards/sales").text,
                                                                             "win-rate")
    bad = manager.get("/dashboards/sales?since=yesterday")
    assert bad.status_code == 422 and "is not an ISO 8601 time" in bad.text


@pytest.mark.parametrize(("area", "name"), [("marketing", "campaigns"), ("process", "waits"), ("sales", "win-rate")])
def test_csv_download_equals_to_csv(filled: Demo, manager: TestClient, area: str, name: str) -> None:
    r = manager.get(f"/dashboards/{area}/{name}.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    expected = reports.to_csv(reports.get(name), figures(filled, name)["rows"])
    assert r.text == expected
    parsed = list(csv.reader(io.StringIO(r.text)))
    assert parsed[0] == reports.get(name).keys and len(parsed) > 1


def test_csv_of_another_area_or_unknown_is_404(manager: TestClient) -> None:
    assert manager.get("/dashboards/sales/funnel.csv").status_code == 404
    assert manager.get("/dashboards/sales/nope.csv").status_code == 404
    assert manager.get("/dashboards/nowhere").status_code == 404


@pytest.mark.parametrize("path", ["/dashboards", "/dashboards/sales", "/dashboards/process/waits.csv"])
def test_logged_out_is_sent_to_login(anon: TestClient, path: str) -> None:
    r = anon.get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")

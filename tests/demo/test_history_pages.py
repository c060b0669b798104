"""After `serve --demo` a manager opens the dashboards and every chart has figures drawn:
bars, bands or points, never the "No data" box."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from history_support import Seeded, app_of, log_in, section, svg_blocks

from handlers import reports

AREAS = ("sales", "marketing", "service", "process")
MANAGERS = ("bob", "max", "sam")  # the sales, marketing and service managers of the demo


@pytest.fixture(scope="module")
def manager(seeded: Seeded) -> Iterator[TestClient]:
    client = log_in(app_of(seeded), "admin")  # every area; each manager reads only their own (issue 21)
    yield client
    client.close()


def drawn(svg: str) -> list[str]:
    """The figures a chart draws with some size: bars and funnel bands wider than 0, line points."""
    sized = re.findall(r'<rect class="(?:bar[^"]*|band)"[^>]*width="([^"]+)"[^>]*data-value="([^"]*)"', svg)
    points = re.findall(r'<circle class="point"[^>]*data-value="([^"]*)"', svg)
    return [value for width, value in sized if float(width) > 0] + points


@pytest.mark.parametrize("area", AREAS)
def test_every_chart_on_the_dashboard_has_figures(manager: TestClient, area: str) -> None:
    r = manager.get(f"/dashboards/{area}")
    assert r.status_code == 200, r.text
    charts = 0
    for report in reports.by_area(area):
        part = section(r.text, report.name)
        assert "No rows." not in part or report.name == "orders-outstanding", f"{report.name} shows no rows"
        for svg in svg_blocks(part):
            charts += 1
            assert "chart-empty" not in svg, f"the {report.name} chart says no data"
            assert drawn(svg), f"the {report.name} chart draws nothing"
    assert charts >= 2, f"only {charts} chart(s) on the {area} dashboard"


def test_the_pipeline_chart_draws_the_reports_weighted_values(seeded: Seeded, manager: TestClient) -> None:
    with seeded.engine.db.read() as session:
        figures = reports.run(session, "forecast", seeded.engine.now())["rows"]
    svg = svg_blocks(section(manager.get("/dashboards/sales").text, "forecast"))[0]
    assert re.findall(r'class="bar[^"]*"[^>]*data-value="([^"]*)"', svg) == [r["weighted_value"] for r in figures]
    assert sum(1 for value in drawn(svg) if float(value) > 0) >= 2


@pytest.mark.parametrize("name", MANAGERS)
def test_the_demo_managers_log_in_with_the_demo_password(seeded: Seeded, name: str) -> None:
    with log_in(app_of(seeded), name) as client:
        assert client.get("/dashboards").status_code == 200

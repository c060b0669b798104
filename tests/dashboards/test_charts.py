"""The SVG charts on their own: proportional bars, escaped text, accessible names, 'no data'."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from crmflow.web import charts

SVG = "{http://www.w3.org/2000/svg}"


def widths(svg: str) -> list[float]:
    root = ET.fromstring(svg)
    return [float(r.get("width")) for r in root.iter(f"{SVG}rect")]


def test_bar_widths_are_proportional_to_values() -> None:
    svg = charts.bar_chart(["a", "b", "c"], [10, "5.00", 2], title="T")
    w = widths(svg)
    assert w[0] == charts.WIDTH - charts.LABEL_WIDTH - charts.VALUE_WIDTH  # the largest fills the plot
    assert w[1] == pytest.approx(w[0] / 2)
    assert w[2] == pytest.approx(w[0] / 5)
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("class") == "value"]
    assert texts == ["10", "5.00", "2"]  # the report's own digits


def test_missing_and_negative_values() -> None:
    svg = charts.bar_chart(["gain", "loss", "unknown"], ["50.00", "-100.00", None], title="ROI", unit=" %")
    rects = list(ET.fromstring(svg).iter(f"{SVG}rect"))
    assert [float(r.get("width")) for r in rects][2] == 0
    assert rects[1].get("class") == "bar neg" and float(rects[1].get("width")) > float(rects[0].get("width"))
    assert "-100.00 %" in svg and "—" in svg


def test_text_is_escaped_and_chart_is_accessible() -> None:
    svg = charts.bar_chart(['<script>alert("x")</script> & co'], [1], title="A <b> & C", desc="d & e")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&amp; co" in svg
    root = ET.fromstring(svg)  # still well-formed XML
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "A <b> & C"
    assert root.find(f"{SVG}desc").text == "d & e"
    ids = root.get("aria-labelledby").split()
    assert ids == [root.find(f"{SVG}title").get("id"), root.find(f"{SVG}desc").get("id")]
    assert "<script" not in re.sub(r"&lt;script", "", svg)


@pytest.mark.parametrize("labels, values", [([], []), (["a", "b"], [None, None])])
def test_empty_data_draws_no_data(labels: list[str], values: list[object]) -> None:
    for draw in (charts.bar_chart, charts.funnel_chart):
        svg = draw(labels, values, title="Empty")
        root = ET.fromstring(svg)
        assert not list(root.iter(f"{SVG}rect"))
        assert "No data" in svg and root.find(f"{SVG}title").text == "Empty"


def test_funnel_bands_are_proportional_and_centred() -> None:
    svg = charts.funnel_chart(["list", "reached", "won"], [8, 4, 1], title="Funnel")
    rects = list(ET.fromstring(svg).iter(f"{SVG}rect"))
    w = [float(r.get("width")) for r in rects]
    assert w[1] == pytest.approx(w[0] / 2) and w[2] == pytest.approx(w[0] / 8)
    centres = {round(float(r.get("x")) + float(r.get("width")) / 2, 2) for r in rects}
    assert centres == {charts.WIDTH / 2}
    assert "reached: 4" in svg


def test_labels_and_values_must_pair() -> None:
    with pytest.raises(ValueError):
        charts.bar_chart(["a"], [1, 2], title="T")


# -- line chart ------------------------------------------------------------------------------------
def points(svg: str) -> list[ET.Element]:
    return list(ET.fromstring(svg).iter(f"{SVG}circle"))


def test_line_points_carry_the_figures_and_heights_are_proportional() -> None:
    days = ["2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04"]
    svg = charts.line_chart(days, {"Open": [4, 2, 0, "1"], "Created": [1, 0, 3, 0]}, title="Backlog")
    root = ET.fromstring(svg)
    assert root.get("class") == "chart chart-line" and root.find(f"{SVG}title").text == "Backlog"
    series = [g for g in root.iter(f"{SVG}g") if g.get("class") == "series"]
    assert [g.get("data-series") for g in series] == ["Open", "Created"]
    opened = [c for c in series[0].iter(f"{SVG}circle")]
    assert [c.get("data-value") for c in opened] == ["4", "2", "0", "1"]
    assert [c.get("data-label") for c in opened] == days
    bottom = charts.LINE_HEIGHT - charts.LINE_BOTTOM  # y of 0; the top of the plot is the highest figure (4)
    ys = [float(c.get("cy")) for c in opened]
    assert ys[2] == bottom and ys[0] == charts.LINE_TOP
    assert ys[1] == pytest.approx(bottom - (bottom - charts.LINE_TOP) / 2)
    assert ys[3] == pytest.approx(bottom - (bottom - charts.LINE_TOP) / 4)
    xs = [float(c.get("cx")) for c in opened]
    assert xs[0] == charts.LINE_LEFT and xs[-1] == charts.WIDTH - charts.LINE_RIGHT
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.02)  # to the hundredth
    assert "Open 2026-05-02: 2" in svg  # each point's tooltip
    assert "Open from 4 (2026-05-01) to 1 (2026-05-04), highest 4 (2026-05-01)" in root.find(f"{SVG}desc").text


def test_missing_value_breaks_the_line_and_draws_no_point() -> None:
    svg = charts.line_chart(["a", "b", "c", "d", "e"], {"Rate": ["10.00", "20.00", None, "30.00", "40.00"]},
                            title="Rate", unit=" %")
    assert [c.get("data-value") for c in points(svg)] == ["10.00", "20.00", "30.00", "40.00"]
    lines = [p.get("points").split() for p in ET.fromstring(svg).iter(f"{SVG}polyline")]
    assert [len(p) for p in lines] == [2, 2]
    assert "Rate d: 30.00 %" in svg


def test_line_axis_and_labels_stay_readable() -> None:
    days = [f"day {i:02d}" for i in range(30)]
    svg = charts.line_chart(days, {"Open": list(range(30))}, title="Long")
    shown_labels = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("class") == "axis x-label"]
    assert len(shown_labels) <= charts.MAX_X_LABELS and shown_labels[-1] == "day 29"
    axis = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("class") == "axis"]
    assert axis == ["0", "29"]
    negative = charts.line_chart(["a", "b"], {"Net": ["-5.50", "11"]}, title="Net")
    assert [t.text for t in ET.fromstring(negative).iter(f"{SVG}text") if t.get("class") == "axis"] == \
        ["-5.5", "0", "11"]


def test_line_chart_escapes_and_handles_no_data() -> None:
    svg = charts.line_chart(["<a>"], {'"x" & <y>': [1]}, title="T <1>")
    assert "<a>" not in svg and "&lt;a&gt;" in svg and "&amp; &lt;y&gt;" in svg
    ET.fromstring(svg)  # well-formed, one point centred
    assert float(points(svg)[0].get("cx")) == pytest.approx(
        charts.LINE_LEFT + (charts.WIDTH - charts.LINE_LEFT - charts.LINE_RIGHT) / 2)
    for labels, series in (([], {"Open": []}), (["a", "b"], {"Open": [None, None]}), (["a"], {})):
        empty = charts.line_chart(labels, series, title="Empty")
        assert "No data" in empty and not points(empty)
    with pytest.raises(ValueError, match="series 'Open'"):
        charts.line_chart(["a"], {"Open": [1, 2]}, title="T")

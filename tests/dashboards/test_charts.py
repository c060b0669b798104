"""The SVG charts on their own: proportional bars, escaped text, accessible names, 'no data'."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from worklists import charts

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

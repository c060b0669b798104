"""Instance counts per element drawn on a diagram: where a process's instances are right now.

`element_counts` counts, per element, the unfinished instances of one version that wait there
(open tasks, pending timers, message subscriptions) or failed there (open incidents); `overlay`
draws each count as a badge on the SVG `drawing.render_svg` made, shaded by how many wait there.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import HumanTask, Incident, Instance, MessageSubscription, ProcessVersion, Timer
from .task_dates import TASK_KINDS

SVG_NS = "http://www.w3.org/2000/svg"
UNFINISHED = ("running", "waiting", "incident", "suspended")


def element_counts(session: Session, process_id: str, version: int) -> dict[str, int]:
    """element id → how many unfinished instances of this version are at it."""
    instances = (select(Instance.id).join(ProcessVersion, ProcessVersion.id == Instance.version_id)
                 .where(Instance.process_id == process_id, ProcessVersion.version == version,
                        Instance.status.in_(UNFINISHED)))
    at: dict[str, set[int]] = defaultdict(set)
    queries = [
        select(HumanTask.element_id, HumanTask.instance_id).where(HumanTask.state == "open"),
        select(Timer.element_id, Timer.instance_id).where(Timer.state == "pending", Timer.kind.not_in(TASK_KINDS)),
        select(MessageSubscription.element_id, MessageSubscription.instance_id),
        select(Incident.element_id, Incident.instance_id).where(Incident.state == "open"),
    ]
    for query in queries:
        model_instance = query.selected_columns[1]
        for element_id, instance_id in session.execute(query.where(model_instance.in_(instances))):
            if element_id:
                at[element_id].add(instance_id)
    return {element: len(ids) for element, ids in at.items()}


def _box(group: Any) -> tuple[float, float, float, float] | None:
    """x, y, width, height of an element's first drawn body."""
    for child in group:
        tag = etree.QName(child).localname
        if tag == "rect":
            return (float(child.get("x", 0)), float(child.get("y", 0)), float(child.get("width", 0)),
                    float(child.get("height", 0)))
        if tag == "circle":
            r = float(child.get("r", 0))
            return float(child.get("cx", 0)) - r, float(child.get("cy", 0)) - r, 2 * r, 2 * r
        if tag == "polygon":
            pts = [tuple(map(float, p.split(","))) for p in (child.get("points") or "").split()]
            if pts:
                xs, ys = [p[0] for p in pts], [p[1] for p in pts]
                return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    return None


def overlay(svg: str, counts: dict[str, int]) -> str:
    """The SVG with a count badge (darker for more) on each element that has instances."""
    if not counts:
        return svg
    root = etree.fromstring(svg.encode())
    most = max(counts.values())
    layer = etree.SubElement(root, f"{{{SVG_NS}}}g", {"class": "heatmap"})
    for group in root.iter(f"{{{SVG_NS}}}g"):
        element = group.get("data-element-id")
        if element not in counts:
            continue
        box = _box(group)
        if box is None:
            continue
        x, y, w, h = box
        share = counts[element] / most
        heat = etree.SubElement(layer, f"{{{SVG_NS}}}rect", {
            "x": f"{x - 3:g}", "y": f"{y - 3:g}", "width": f"{w + 6:g}", "height": f"{h + 6:g}", "rx": "8",
            "fill": "#e8590c", "fill-opacity": f"{0.12 + 0.38 * share:.2f}", "stroke": "#e8590c",
            "class": "heat", "data-element-id": element, "data-count": str(counts[element]),
        })
        etree.SubElement(heat, f"{{{SVG_NS}}}title").text = f"{element}: {counts[element]} instance(s) here"
        etree.SubElement(layer, f"{{{SVG_NS}}}circle", {"cx": f"{x + w:g}", "cy": f"{y:g}", "r": "13",
                                                        "fill": "#c92a2a", "class": "heat-badge"})
        label = etree.SubElement(layer, f"{{{SVG_NS}}}text", {
            "x": f"{x + w:g}", "y": f"{y + 4:g}", "text-anchor": "middle", "fill": "#ffffff",
            "style": "fill:#fff;font-weight:700;font-size:12px", "class": "heat-count"})
        label.text = str(counts[element])
    return etree.tostring(root, encoding="unicode")


def version_counts(session: Session, process_id: str) -> dict[int, dict[str, int]]:
    """version → status → instances."""
    rows = session.execute(
        select(ProcessVersion.version, Instance.status, func.count())
        .join(ProcessVersion, ProcessVersion.id == Instance.version_id).where(Instance.process_id == process_id)
        .group_by(ProcessVersion.version, Instance.status))
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for version, status, count in rows:
        found[version][status] = count
    return dict(found)

"""One rendering: collect the plane's shapes and edges, lay out the document, draw edges."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from .glyphs import _line, _sub
from .layout import (
    Box,
    Edge,
    Point,
    Shape,
    _bounds,
    _clean,
    _first_child,
    _fit_lines,
    _label_box,
    _local,
    _semantic_index,
    _waypoints,
    fmt,
    wrap_text,
)
from .shapes import ShapeDrawing
from .style import (
    ACTIVITIES,
    CHAR_WIDTH,
    CONTAINERS,
    CSS,
    FONT_SIZE,
    LABEL_FONT_SIZE,
    LINE_HEIGHT,
    MARGIN,
    SVG_NS,
    TYPE_NAMES,
)


# -- the renderer ---------------------------------------------------------------------------------
class Renderer(ShapeDrawing):
    """One rendering: the parsed model, the chosen plane and the SVG being built."""

    def __init__(self, root: Any, plane: Any, marks: Mapping[str, str], title: str, trace_flows: bool) -> None:
        self.root = root
        self.plane = plane
        self.index = _semantic_index(root)
        self.title = title
        self.trace_flows = trace_flows
        self.raw_marks = dict(marks)
        self.ext: list[float] = [math.inf, math.inf, -math.inf, -math.inf]
        self.used_ids: set[str] = set()
        digest = hashlib.sha1(etree.tostring(plane)).hexdigest()[:8]
        self.prefix = f"bpmn{digest}"
        self.shapes, self.edges = self._collect()
        self.drawn_shape_ids = {s.element_id for s in self.shapes}
        self.marks = self._effective_marks()

    # collection ---------------------------------------------------------------------------------
    def _collect(self) -> tuple[list[Shape], list[Edge]]:
        shapes: list[Shape] = []
        edges: list[Edge] = []
        for di in self.plane.iter():
            name = _local(di)
            if name not in ("BPMNShape", "BPMNEdge"):
                continue
            element_id = di.get("bpmnElement") or di.get("id") or ""
            node = self.index.get(di.get("bpmnElement") or "")
            kind = _local(node) if node is not None else "unknown"
            label_di = _first_child(di, "BPMNLabel")
            label = _bounds(label_di) if label_di is not None else None
            if name == "BPMNShape":
                shapes.append(Shape(element_id, kind, node, di, _bounds(di), label))
            else:
                edges.append(Edge(element_id, kind, node, di, _waypoints(di), label))
        return shapes, edges

    def _effective_marks(self) -> dict[str, str]:
        """Marks on drawn elements; a mark on an element that is not drawn (inside a collapsed
        subprocess) goes to its nearest drawn ancestor, the most urgent state winning."""
        drawn = {s.element_id for s in self.shapes} | {e.element_id for e in self.edges}
        urgency = {"failed": 5, "active": 4, "waiting": 3, "done": 2, "cancelled": 1}
        marks = {k: v for k, v in self.raw_marks.items() if k in drawn}
        for element_id, state in self.raw_marks.items():
            if element_id in drawn or element_id not in self.index:
                continue
            parent = self.index[element_id].getparent()
            while parent is not None and parent.get("id") not in drawn:
                parent = parent.getparent()
            if parent is None:
                continue
            target = parent.get("id")
            if target not in self.raw_marks and urgency[state] > urgency.get(marks.get(target, ""), 0):
                marks[target] = state
        if self.trace_flows and marks:
            self._trace(marks)
        return marks

    def _trace(self, marks: dict[str, str]) -> None:
        """A sequence flow from a done element into a marked one was taken: mark it done."""
        for edge in self.edges:
            node = edge.node
            if edge.kind != "sequenceFlow" or edge.element_id in marks or node is None:
                continue
            if marks.get(node.get("sourceRef") or "") == "done" and (node.get("targetRef") or "") in marks:
                marks[edge.element_id] = "done"

    # svg plumbing -------------------------------------------------------------------------------
    def _grow(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.ext = [min(self.ext[0], x1), min(self.ext[1], y1), max(self.ext[2], x2), max(self.ext[3], y2)]

    def _grow_box(self, box: Box) -> None:
        self._grow(box.x, box.y, box.right, box.bottom)

    def _svg_id(self, element_id: str) -> str:
        base = "el-" + (re.sub(r"[^A-Za-z0-9_.-]", "_", element_id) or "x")
        candidate, n = base, 1
        while candidate in self.used_ids:
            n += 1
            candidate = f"{base}-{n}"
        self.used_ids.add(candidate)
        return candidate

    def _group(self, parent: Any, element_id: str, kind: str, extra: list[str], node: Any) -> Any:
        classes = ["bpmn-element", f"bpmn-{kind}", *extra]
        state = self.marks.get(element_id)
        if state:
            classes.append(f"state-{state}")
        group = _sub(parent, "g", {
            "id": self._svg_id(element_id), "class": " ".join(classes),
            "data-element-id": _clean(element_id), "data-element-type": kind,
        })  # fmt: skip
        if state:
            group.set("data-state", state)
        tip = f"{TYPE_NAMES.get(kind, kind)}: {self._name(node) or element_id}"
        _sub(group, "title", text=tip + (f" ({state})" if state else ""))
        return group

    def _name(self, node: Any) -> str:
        if node is None:
            return ""
        name = node.get("name")
        if name:
            return _clean(name).strip()
        kind = _local(node)
        if kind == "participant":
            process = self.index.get(node.get("processRef") or "")
            return _clean(process.get("name") if process is not None else "").strip()
        if kind == "textAnnotation":
            text = _first_child(node, "text")
            return _clean(text.text if text is not None else "").strip()
        if kind == "group":
            value = self.index.get(node.get("categoryValueRef") or "")
            return _clean(value.get("value") if value is not None else "").strip()
        if kind in ("dataObjectReference", "dataStoreReference"):
            ref = self.index.get(node.get("dataObjectRef") or node.get("dataStoreRef") or "")
            return self._name(ref) if ref is not None and ref is not node else ""
        return ""

    def _text(self, parent: Any, text: str, box: Box, *, align: str = "middle", valign: str = "middle",
              size: float = FONT_SIZE, clip: bool = True, rotate: bool = False, pad: float = 4.0) -> None:
        """Wrapped text inside `box` (or rotated -90 degrees, for pool and lane bands)."""
        if not text:
            return
        if rotate:  # lay the text out in the unrotated frame, then turn it around the box centre
            frame = Box(box.cx - box.h / 2, box.cy - box.w / 2, box.h, box.w)
        else:
            frame = box
        line_h = size * LINE_HEIGHT
        lines = wrap_text(text, max(size, frame.w - 2 * pad), size)
        max_lines = max(1, int((frame.h - 2) // line_h)) if clip else None
        lines = _fit_lines(lines, max_lines)
        total = len(lines) * line_h
        if valign == "top":
            top = frame.y + 2
        elif valign == "bottom":
            top = frame.bottom - total
        else:
            top = frame.cy - total / 2
        if align == "start":
            x, anchor = frame.x + pad, "start"
        else:
            x, anchor = frame.cx, "middle"
        attrs = {"x": fmt(x), "y": fmt(top), "text-anchor": anchor}
        if size != FONT_SIZE:
            attrs["class"] = "small"
        if rotate:
            attrs["transform"] = f"rotate(-90 {fmt(box.cx)} {fmt(box.cy)})"
        node = _sub(parent, "text", attrs)
        for i, line in enumerate(lines):
            baseline = top + i * line_h + size * 0.95
            _sub(node, "tspan", {"x": fmt(x), "y": fmt(baseline)}, text=line)
        if rotate:
            self._grow_box(box)
        else:
            width = max(len(line) for line in lines) * size * CHAR_WIDTH if lines else 0
            left = x if anchor == "start" else x - width / 2
            self._grow(left, top, left + width, top + total)

    # the document -------------------------------------------------------------------------------
    def render(self) -> str:
        svg = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS})
        svg.set("version", "1.1")
        svg.set("class", "bpmn-diagram")
        svg.set("role", "img")
        svg.set("aria-label", self.title)
        _sub(svg, "title", text=self.title)
        _sub(svg, "style", text=CSS)
        self._defs(svg)
        layers = {name: _sub(svg, "g", {"class": f"layer-{name}"}) for name in
                  ("pools", "lanes", "containers", "shapes", "edges", "boundary", "groups")}  # fmt: skip
        for shape in sorted(self.shapes, key=self._container_order):
            self._draw_shape(layers[self._layer(shape)], shape)
        for edge in self.edges:
            self._draw_edge(layers["edges"], edge)
        self._finish(svg)
        return etree.tostring(svg, encoding="unicode")

    def _container_order(self, shape: Shape) -> float:
        """Bigger containers first, so nested subprocesses and lanes are drawn on top."""
        return -(shape.bounds.w * shape.bounds.h) if shape.bounds else 0.0

    def _layer(self, shape: Shape) -> str:
        if shape.kind == "participant":
            return "pools"
        if shape.kind == "lane":
            return "lanes"
        if shape.kind == "group":
            return "groups"
        if shape.kind == "boundaryEvent":
            return "boundary"
        if shape.kind in CONTAINERS and self._expanded(shape):
            return "containers"
        return "shapes"

    def _finish(self, svg: Any) -> None:
        x1, y1, x2, y2 = self.ext
        if not math.isfinite(x1):
            x1, y1, x2, y2 = 0.0, 0.0, 100.0, 40.0
        x, y = x1 - MARGIN, y1 - MARGIN
        w, h = (x2 - x1) + 2 * MARGIN, (y2 - y1) + 2 * MARGIN
        svg.set("viewBox", f"{fmt(x)} {fmt(y)} {fmt(w)} {fmt(h)}")
        svg.set("width", fmt(w))
        svg.set("height", fmt(h))

    def _defs(self, svg: Any) -> None:
        defs = _sub(svg, "defs")
        p = self.prefix

        def marker(name: str, w: float, h: float, rx: float, ry: float) -> Any:
            return _sub(defs, "marker", {
                "id": f"{p}-{name}", "viewBox": f"0 0 {fmt(w)} {fmt(h)}", "refX": fmt(rx), "refY": fmt(ry),
                "markerWidth": fmt(w), "markerHeight": fmt(h), "markerUnits": "userSpaceOnUse", "orient": "auto",
            })  # fmt: skip

        _sub(marker("arrow", 12, 12, 11, 6), "path", {"d": "M1,1 L11,6 L1,11 Z", "class": "marker-fill"})
        _sub(marker("msg-end", 12, 12, 11, 6), "path", {"d": "M1,1 L11,6 L1,11 Z", "class": "marker-open"})
        _sub(marker("msg-start", 12, 12, 6, 6), "circle", {"cx": "6", "cy": "6", "r": "4.5", "class": "marker-open"})
        _sub(marker("open-arrow", 12, 12, 11, 6), "path", {"d": "M1,1 L11,6 L1,11", "class": "marker-line"})
        _sub(marker("open-arrow-start", 12, 12, 1, 6), "path", {"d": "M11,1 L1,6 L11,11", "class": "marker-line"})
        _sub(marker("diamond", 18, 12, 1, 6), "path", {"d": "M1,6 L9,1 L17,6 L9,11 Z", "class": "marker-open"})

    def _url(self, name: str) -> str:
        return f"url(#{self.prefix}-{name})"


    # edges --------------------------------------------------------------------------------------
    def _draw_edge(self, layer: Any, edge: Edge) -> None:
        kind, node = edge.kind, edge.node
        extra = ["edge"]
        if kind == "messageFlow":
            extra.append("flow-message")
        elif kind in ("association", "dataInputAssociation", "dataOutputAssociation", "conversationLink"):
            extra.append("flow-association")
        group = self._group(layer, edge.element_id, kind, extra, node)
        points = edge.points
        if len(points) < 2:
            group.set("data-no-waypoints", "true")
            self._edge_label(group, edge)
            return
        for x, y in points:
            self._grow(x, y, x, y)
        attrs = {"points": " ".join(f"{fmt(x)},{fmt(y)}" for x, y in points), "class": "line"}
        attrs.update(self._edge_markers(edge))
        _sub(group, "polyline", attrs)
        if kind == "sequenceFlow" and self._is_default(node):
            self._default_slash(group, points)
        self._edge_label(group, edge)

    def _edge_markers(self, edge: Edge) -> dict[str, str]:
        kind, node = edge.kind, edge.node
        if kind == "sequenceFlow":
            attrs = {"marker-end": self._url("arrow")}
            if self._is_conditional_from_activity(node):
                attrs["marker-start"] = self._url("diamond")
            return attrs
        if kind == "messageFlow":
            return {"marker-start": self._url("msg-start"), "marker-end": self._url("msg-end")}
        if kind in ("dataInputAssociation", "dataOutputAssociation"):
            return {"marker-end": self._url("open-arrow")}
        if kind == "association" and node is not None:
            direction = node.get("associationDirection")
            if direction == "One":
                return {"marker-end": self._url("open-arrow")}
            if direction == "Both":
                return {"marker-start": self._url("open-arrow-start"), "marker-end": self._url("open-arrow")}
        return {}

    def _is_default(self, node: Any) -> bool:
        if node is None:
            return False
        source = self.index.get(node.get("sourceRef") or "")
        return source is not None and source.get("default") == node.get("id")

    def _is_conditional_from_activity(self, node: Any) -> bool:
        if node is None or _first_child(node, "conditionExpression") is None:
            return False
        source = self.index.get(node.get("sourceRef") or "")
        return source is not None and _local(source) in ACTIVITIES

    def _default_slash(self, g: Any, points: list[Point]) -> None:
        (x1, y1), (x2, y2) = points[0], points[1]
        length = math.hypot(x2 - x1, y2 - y1)
        if length < 1:
            return
        dx, dy = (x2 - x1) / length, (y2 - y1) / length
        at = min(12.0, length / 2)
        px, py = x1 + dx * at, y1 + dy * at
        vx, vy = (-dy + dx) * 5, (dx + dy) * 5  # the normal turned 45 degrees toward the flow
        _line(g, (px - vx, py - vy), (px + vx, py + vy), cls="line")

    def _edge_label(self, g: Any, edge: Edge) -> None:
        name = self._name(edge.node)
        if not name:
            return
        if edge.label is not None:
            self._text(g, name, _label_box(edge.label), size=LABEL_FONT_SIZE, valign="top", clip=False, pad=0)
            return
        if not edge.points:
            return
        mid = len(edge.points) // 2
        (x1, y1) = edge.points[max(0, mid - 1)]
        (x2, y2) = edge.points[mid]
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        self._text(g, name, Box(mx - 50, my - 20, 100, 16), size=LABEL_FONT_SIZE, valign="bottom", clip=False)

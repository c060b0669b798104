"""Draw a BPMN diagram's layout (BPMNDI) as a standalone SVG, optionally with run states marked.

Analysts look at the picture in the CLI and agents on web pages, so the renderer must take any
modeler's export (bpmn.io/Camunda, Signavio, spiff-arena, ...) without a traceback: unknown
elements become a labelled placeholder, a file without BPMNDI becomes a small SVG that says so.
The SVG is built as an lxml tree, which escapes every name and keeps the output well-formed.
Every drawn element is a `<g data-element-id="..." class="bpmn-element bpmn-<type>">` so tests
and pages can find it; `marks` add a `state-<state>` class. Knows BPMN only, nothing of CRM.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from .errors import DefinitionError
from .xml import parse_bytes

SVG_NS = "http://www.w3.org/2000/svg"
STATES = ("done", "active", "waiting", "failed", "cancelled")
NO_LAYOUT_MESSAGE = "this diagram has no layout (BPMNDI)"

MARGIN = 20.0
COORD_LIMIT = 1e7  # anything beyond is nonsense from a broken export; clamp so the numbers stay printable
FONT_SIZE = 12.0
LABEL_FONT_SIZE = 11.0
CHAR_WIDTH = 0.56  # average glyph width of a sans-serif font, as a fraction of the font size
LINE_HEIGHT = 1.2

ACTIVITIES = {
    "task", "userTask", "serviceTask", "scriptTask", "manualTask", "businessRuleTask", "sendTask",
    "receiveTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "choreographyTask", "callChoreography", "subChoreography",
}  # fmt: skip
CONTAINERS = {"subProcess", "transaction", "adHocSubProcess", "subChoreography"}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
          "implicitThrowEvent"}  # fmt: skip
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway",
            "gateway"}  # fmt: skip
DATA_OBJECTS = {"dataObjectReference", "dataObject", "dataInput", "dataOutput"}
DATA_STORES = {"dataStoreReference", "dataStore"}
CONVERSATIONS = {"conversation", "subConversation", "callConversation"}
THROWING = {"endEvent", "intermediateThrowEvent", "implicitThrowEvent"}
DI_NAMES = {"BPMNDiagram", "BPMNPlane", "BPMNShape", "BPMNEdge", "BPMNLabel", "BPMNLabelStyle", "Bounds",
            "waypoint", "Font"}  # fmt: skip
TYPE_NAMES = {
    "userTask": "User task", "serviceTask": "Service task", "scriptTask": "Script task",
    "manualTask": "Manual task", "businessRuleTask": "Business rule task", "sendTask": "Send task",
    "receiveTask": "Receive task", "callActivity": "Call activity", "subProcess": "Subprocess",
    "startEvent": "Start event", "endEvent": "End event", "boundaryEvent": "Boundary event",
    "intermediateCatchEvent": "Intermediate catch event", "intermediateThrowEvent": "Intermediate throw event",
    "exclusiveGateway": "Exclusive gateway", "parallelGateway": "Parallel gateway",
    "inclusiveGateway": "Inclusive gateway", "eventBasedGateway": "Event-based gateway",
    "sequenceFlow": "Sequence flow", "messageFlow": "Message flow", "participant": "Pool", "lane": "Lane",
}  # fmt: skip

CSS = """
.bpmn-diagram { font-family: Arial, Helvetica, sans-serif; }
.bpmn-diagram text { fill: #22242a; font-size: 12px; stroke: none; }
.bpmn-diagram text.small { font-size: 11px; paint-order: stroke; stroke: #ffffff; stroke-width: 3px;
  stroke-linejoin: round; }
.bpmn-diagram text.title { font-size: 13px; }
.bpmn-diagram .body { fill: #ffffff; stroke: #22242a; stroke-width: 2px; }
.bpmn-diagram .inner { fill: none; stroke: #22242a; stroke-width: 1.5px; }
.bpmn-diagram .line { fill: none; stroke: #22242a; stroke-width: 1.5px; stroke-linejoin: round; }
.bpmn-diagram .glyph { fill: none; stroke: #22242a; stroke-width: 1.5px; stroke-linejoin: round; }
.bpmn-diagram .glyph.bold { stroke-width: 3px; }
.bpmn-diagram .glyph.filled, .bpmn-diagram .filled { fill: #22242a; }
.bpmn-diagram .glyph.white { stroke: #ffffff; }
.bpmn-diagram .marker-fill { fill: #22242a; stroke: #22242a; stroke-width: 1px; }
.bpmn-diagram .marker-open { fill: #ffffff; stroke: #22242a; stroke-width: 1px; }
.bpmn-diagram .marker-line { fill: none; stroke: #22242a; stroke-width: 1.5px; }
.bpmn-diagram .participant .body, .bpmn-diagram .lane .body { stroke-width: 1.5px; }
.bpmn-diagram .lane .body { fill: none; }
.bpmn-diagram .band { fill: none; stroke: #22242a; stroke-width: 1.5px; }
.bpmn-diagram .event-start .body { stroke-width: 2px; }
.bpmn-diagram .event-intermediate .body { stroke-width: 1.5px; }
.bpmn-diagram .event-end .body { stroke-width: 4px; }
.bpmn-diagram .non-interrupting .body, .bpmn-diagram .non-interrupting .inner { stroke-dasharray: 6 3; }
.bpmn-diagram .call .body { stroke-width: 4px; }
.bpmn-diagram .event-subprocess .body { stroke-dasharray: 2 3; }
.bpmn-diagram .container .body { fill: #ffffff; fill-opacity: 0.6; stroke-width: 1.5px; }
.bpmn-diagram .flow-message .line { stroke-dasharray: 10 5; }
.bpmn-diagram .flow-association .line { stroke-dasharray: 2 4; stroke-linecap: round; }
.bpmn-diagram .group-border { fill: none; stroke: #22242a; stroke-width: 1.5px; stroke-dasharray: 10 4 2 4; }
.bpmn-diagram .unknown .body { fill: #f7f7f7; stroke-dasharray: 4 3; }
.bpmn-diagram .state-done .body { stroke: #2e7d32; fill: #e8f5e9; }
.bpmn-diagram .state-done .line { stroke: #2e7d32; stroke-width: 2.5px; }
.bpmn-diagram .state-active .body { stroke: #1565c0; stroke-width: 4px; fill: #e3f2fd; }
.bpmn-diagram .state-active .line { stroke: #1565c0; stroke-width: 3px; }
.bpmn-diagram .state-waiting .body { stroke: #e08a00; stroke-width: 3px; fill: #fff3e0; }
.bpmn-diagram .state-waiting .line { stroke: #e08a00; stroke-width: 2.5px; }
.bpmn-diagram .state-failed .body { stroke: #c62828; stroke-width: 3px; fill: #ffebee; }
.bpmn-diagram .state-failed .line { stroke: #c62828; stroke-width: 2.5px; }
.bpmn-diagram .state-cancelled .body { stroke: #9e9e9e; stroke-dasharray: 6 4; fill: #f5f5f5; }
.bpmn-diagram .state-cancelled .line { stroke: #9e9e9e; stroke-dasharray: 6 4; }
.bpmn-diagram .badge circle { fill: #c62828; stroke: #ffffff; stroke-width: 1.5px; }
.bpmn-diagram .badge text { fill: #ffffff; font-size: 12px; font-weight: bold; }
.bpmn-diagram .nolayout { fill: #555555; font-size: 14px; }
"""


# -- geometry -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


Point = tuple[float, float]


@dataclass
class Shape:
    element_id: str
    kind: str
    node: Any  # the semantic element, or None when the DI points at nothing
    di: Any
    bounds: Box | None
    label: Box | None


@dataclass
class Edge:
    element_id: str
    kind: str
    node: Any
    di: Any
    points: list[Point]
    label: Box | None


def fmt(value: float) -> str:
    """Short, stable numbers: SVG does not need 15 digits."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _num(raw: str | None) -> float | None:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    return max(-COORD_LIMIT, min(COORD_LIMIT, value))


def _bounds(el: Any) -> Box | None:
    """The `Bounds` child of a DI element, or None when absent or not numbers."""
    found = _first_child(el, "Bounds")
    if found is None:
        return None
    values = [_num(found.get(name)) for name in ("x", "y", "width", "height")]
    if any(v is None for v in values):
        return None
    x, y, w, h = values  # type: ignore[misc]
    return Box(x, y, max(0.0, w), max(0.0, h))  # type: ignore[arg-type]


def _waypoints(el: Any) -> list[Point]:
    points = []
    for wp in _children(el, "waypoint"):
        x, y = _num(wp.get("x")), _num(wp.get("y"))
        if x is not None and y is not None:
            points.append((x, y))
    return points


# -- XML helpers (by local name: modelers disagree on prefixes and sometimes on namespaces) ---------
def _local(el: Any) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _children(el: Any, name: str) -> Iterator[Any]:
    return (child for child in el if _local(child) == name)


def _first_child(el: Any, name: str) -> Any:
    return next(_children(el, name), None)


def _descendants(el: Any, name: str) -> Iterator[Any]:
    return (child for child in el.iter() if _local(child) == name)


def _clean(text: str | None) -> str:
    """Text fit for an XML text node: control characters become spaces."""
    if not text:
        return ""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", " ", text)


def _semantic_index(root: Any) -> dict[str, Any]:
    """Every model element with an id (first wins), skipping the DI elements."""
    index: dict[str, Any] = {}
    for el in root.iter():
        name = _local(el)
        if not name or name in DI_NAMES:
            continue
        element_id = el.get("id")
        if element_id and element_id not in index:
            index[element_id] = el
    return index


# -- text ---------------------------------------------------------------------------------------
def wrap_text(text: str, width: float, size: float = FONT_SIZE) -> list[str]:
    """Greedy word wrap by estimated glyph width; words longer than a line are cut."""
    per_line = max(1, int(width / (size * CHAR_WIDTH)))
    lines: list[str] = []
    for paragraph in _clean(text).replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        current = ""
        for word in paragraph.split():
            while len(word) > per_line:
                if current:
                    lines.append(current)
                    current = ""
                lines.append(word[:per_line])
                word = word[per_line:]
            if not current:
                current = word
            elif len(current) + 1 + len(word) <= per_line:
                current = f"{current} {word}"
            else:
                lines.append(current)
                current = word
        if current:
            lines.append(current)
    return lines


def _fit_lines(lines: list[str], max_lines: int | None) -> list[str]:
    if max_lines is None or len(lines) <= max_lines:
        return lines
    if max_lines <= 0:
        return []
    kept = lines[:max_lines]
    kept[-1] = kept[-1][: max(1, len(kept[-1]) - 1)] + "\u2026"
    return kept


# -- the renderer ---------------------------------------------------------------------------------
class _Renderer:
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

    # shapes -------------------------------------------------------------------------------------
    def _draw_shape(self, layer: Any, shape: Shape) -> None:
        kind = shape.kind
        extra = self._shape_classes(shape)
        group = self._group(layer, shape.element_id, kind, extra, shape.node)
        box = shape.bounds
        if box is None:
            group.set("data-no-bounds", "true")
            return
        self._grow_box(box)
        if kind == "participant":
            self._participant(group, shape, box)
        elif kind == "lane":
            self._lane(group, shape, box)
        elif kind in ACTIVITIES:
            self._activity(group, shape, box)
        elif kind in EVENTS:
            self._event(group, shape, box)
        elif kind in GATEWAYS:
            self._gateway(group, shape, box)
        elif kind in DATA_OBJECTS:
            self._data_object(group, shape, box)
        elif kind in DATA_STORES:
            self._data_store(group, shape, box)
        elif kind == "textAnnotation":
            self._annotation(group, shape, box)
        elif kind == "group":
            self._bpmn_group(group, shape, box)
        elif kind in CONVERSATIONS:
            self._conversation(group, shape, box)
        else:
            self._unknown(group, shape, box)
        if self.marks.get(shape.element_id) == "failed":
            self._badge(group, box)

    def _shape_classes(self, shape: Shape) -> list[str]:
        kind, node = shape.kind, shape.node
        classes = ["shape"]
        if kind in ("participant", "lane"):
            classes.append(kind)
        elif kind == "callActivity":
            classes.append("call")
        elif kind in CONTAINERS:
            if self._expanded(shape):
                classes.append("container")
            if node is not None and node.get("triggeredByEvent") == "true":
                classes.append("event-subprocess")
        elif kind in EVENTS:
            classes.append(
                "event-start" if kind == "startEvent" else "event-end" if kind == "endEvent" else "event-intermediate"
            )
            if node is not None and "false" in (node.get("cancelActivity"), node.get("isInterrupting")):
                classes.append("non-interrupting")
        elif kind not in ACTIVITIES | GATEWAYS | DATA_OBJECTS | DATA_STORES | CONVERSATIONS | {
            "textAnnotation", "group",
        }:  # fmt: skip
            classes.append("unknown")
        return classes

    def _expanded(self, shape: Shape) -> bool:
        flag = shape.di.get("isExpanded")
        if flag in ("true", "1"):
            return True
        if flag in ("false", "0") or shape.node is None:
            return False
        # Some modelers omit isExpanded: the subprocess is open when its children are drawn on this plane.
        return any(child.get("id") in self.drawn_shape_ids for child in shape.node)

    def _horizontal(self, shape: Shape, box: Box) -> bool:
        flag = shape.di.get("isHorizontal")
        if flag in ("true", "1"):
            return True
        if flag in ("false", "0"):
            return False
        return box.w >= box.h

    def _participant(self, g: Any, shape: Shape, box: Box) -> None:
        _rect(g, box, cls="body")
        name = self._name(shape.node)
        black_box = shape.node is not None and not shape.node.get("processRef")
        horizontal = self._horizontal(shape, box)
        if black_box:
            self._text(g, name, box, size=FONT_SIZE)
        elif horizontal:
            band = Box(box.x, box.y, min(30.0, box.w), box.h)
            _line(g, (band.right, box.y), (band.right, box.bottom), cls="band")
            self._text(g, name, band, rotate=True)
        else:
            band = Box(box.x, box.y, box.w, min(30.0, box.h))
            _line(g, (box.x, band.bottom), (box.right, band.bottom), cls="band")
            self._text(g, name, band)

    def _lane(self, g: Any, shape: Shape, box: Box) -> None:
        _rect(g, box, cls="body")
        name = self._name(shape.node)
        if self._horizontal(shape, box):
            band = Box(box.x, box.y, min(30.0, box.w), box.h)
            if name:
                _line(g, (band.right, box.y), (band.right, box.bottom), cls="band")
            self._text(g, name, band, rotate=True)
        else:
            band = Box(box.x, box.y, box.w, min(30.0, box.h))
            if name:
                _line(g, (box.x, band.bottom), (box.right, band.bottom), cls="band")
            self._text(g, name, band)

    # activities ---------------------------------------------------------------------------------
    def _activity(self, g: Any, shape: Shape, box: Box) -> None:
        kind, node = shape.kind, shape.node
        radius = min(10.0, box.w / 4, box.h / 4)
        _rect(g, box, cls="body", rx=radius)
        if kind == "transaction":
            inner = Box(box.x + 3, box.y + 3, max(0.0, box.w - 6), max(0.0, box.h - 6))
            _rect(g, inner, cls="inner", rx=max(0.0, radius - 3))
        expanded = kind in CONTAINERS and self._expanded(shape)
        self._task_icon(g, kind, node, box)
        markers = self._activity_markers(kind, node, expanded)
        self._bottom_markers(g, box, markers)
        name = self._name(node)  # label bounds are ignored: they are sized for the modeler's own font
        if expanded:
            self._text(g, name, Box(box.x + 4, box.y + 2, max(0.0, box.w - 8), 34), align="start", valign="top")
        else:
            has_icon = kind in ICONS
            top = box.y + (18 if has_icon else 2)
            bottom = box.bottom - (20 if markers else 2)
            self._text(g, name, Box(box.x, top, box.w, max(FONT_SIZE * LINE_HEIGHT, bottom - top)))

    def _task_icon(self, g: Any, kind: str, node: Any, box: Box) -> None:
        draw = ICONS.get(kind)
        if draw is not None and box.w >= 30 and box.h >= 30:
            icon = _sub(g, "g", {"class": "icon", "transform": f"translate({fmt(box.x)} {fmt(box.y)})"})
            draw(icon)

    def _activity_markers(self, kind: str, node: Any, expanded: bool) -> list[str]:
        markers: list[str] = []
        if node is None:
            return markers
        loop = next((c for c in node if _local(c).endswith("LoopCharacteristics")), None)
        if loop is not None:
            if _local(loop) == "standardLoopCharacteristics":
                markers.append("loop")
            else:
                markers.append("mi-seq" if loop.get("isSequential") == "true" else "mi-par")
        if node.get("isForCompensation") == "true":
            markers.append("compensation")
        if kind == "adHocSubProcess":
            markers.append("adhoc")
        if (kind in CONTAINERS and not expanded) or kind == "callActivity":
            markers.append("collapsed")
        return markers

    def _bottom_markers(self, g: Any, box: Box, markers: list[str]) -> None:
        size, gap = 14.0, 4.0
        total = len(markers) * size + (len(markers) - 1) * gap
        x = box.cx - total / 2
        y = box.bottom - size - 4
        for marker in markers:
            MARKERS[marker](g, x, y, size)
            x += size + gap

    # events -------------------------------------------------------------------------------------
    def _event(self, g: Any, shape: Shape, box: Box) -> None:
        kind, node = shape.kind, shape.node
        cx, cy = box.cx, box.cy
        r = max(1.0, min(box.w, box.h) / 2)
        _circle(g, cx, cy, r, cls="body")
        if kind not in ("startEvent", "endEvent"):
            _circle(g, cx, cy, max(0.5, r - 3), cls="inner")
        definitions = self._event_definitions(node)
        filled = kind in THROWING
        if len(definitions) == 1:
            glyph = EVENT_GLYPHS.get(definitions[0])
            if glyph is not None:
                glyph(g, cx, cy, r / 18, filled)
        elif len(definitions) > 1:
            parallel = node is not None and node.get("parallelMultiple") == "true"
            (_glyph_plus_outline if parallel else _glyph_pentagon)(g, cx, cy, r / 18, filled)
        self._outside_label(g, shape, box)

    def _event_definitions(self, node: Any) -> list[str]:
        if node is None:
            return []
        names = [_local(c) for c in node if _local(c).endswith("EventDefinition")]
        for ref in _children(node, "eventDefinitionRef"):
            target = self.index.get((ref.text or "").strip())
            if target is not None:
                names.append(_local(target))
        return names

    def _outside_label(self, g: Any, shape: Shape, box: Box) -> None:
        name = self._name(shape.node)
        if shape.label is not None:
            self._text(g, name, _label_box(shape.label), size=LABEL_FONT_SIZE, valign="top", clip=False, pad=0)
        else:
            below = Box(box.cx - 50, box.bottom + 4, 100, 0)
            self._text(g, name, below, size=LABEL_FONT_SIZE, valign="top", clip=False, pad=0)

    # gateways -----------------------------------------------------------------------------------
    def _gateway(self, g: Any, shape: Shape, box: Box) -> None:
        kind, node = shape.kind, shape.node
        cx, cy = box.cx, box.cy
        points = [(cx, box.y), (box.right, cy), (cx, box.bottom), (box.x, cy)]
        _polygon(g, points, cls="body")
        s = min(box.w, box.h) / 50
        if kind == "exclusiveGateway" and shape.di.get("isMarkerVisible") != "false":
            _line(g, (cx - 8 * s, cy - 8 * s), (cx + 8 * s, cy + 8 * s), cls="glyph bold")
            _line(g, (cx + 8 * s, cy - 8 * s), (cx - 8 * s, cy + 8 * s), cls="glyph bold")
        elif kind == "parallelGateway":
            _plus(g, cx, cy, 11 * s, cls="glyph bold")
        elif kind == "inclusiveGateway":
            _circle(g, cx, cy, 10 * s, cls="glyph bold")
        elif kind == "complexGateway":
            _plus(g, cx, cy, 11 * s, cls="glyph bold")
            _line(g, (cx - 8 * s, cy - 8 * s), (cx + 8 * s, cy + 8 * s), cls="glyph bold")
            _line(g, (cx + 8 * s, cy - 8 * s), (cx - 8 * s, cy + 8 * s), cls="glyph bold")
        elif kind == "eventBasedGateway":
            self._event_gateway_glyph(g, node, cx, cy, s)
        self._outside_label(g, shape, box)

    def _event_gateway_glyph(self, g: Any, node: Any, cx: float, cy: float, s: float) -> None:
        _circle(g, cx, cy, 12 * s, cls="glyph")
        instantiate = node is not None and node.get("instantiate") == "true"
        if not instantiate:
            _circle(g, cx, cy, 9.5 * s, cls="glyph")
        if node is not None and node.get("eventGatewayType") == "Parallel":
            _glyph_plus_outline(g, cx, cy, s * 0.9, False)
        else:
            _glyph_pentagon(g, cx, cy, s * 0.9, False)

    # data, annotations, groups, others ----------------------------------------------------------
    def _data_object(self, g: Any, shape: Shape, box: Box) -> None:
        fold = min(12.0, box.w / 3, box.h / 3)
        x, y, r, b = box.x, box.y, box.right, box.bottom
        d = f"M{fmt(x)},{fmt(y)} H{fmt(r - fold)} L{fmt(r)},{fmt(y + fold)} V{fmt(b)} H{fmt(x)} Z"
        _sub(g, "path", {"d": d, "class": "body"})
        _sub(g, "path", {
            "d": f"M{fmt(r - fold)},{fmt(y)} V{fmt(y + fold)} H{fmt(r)}", "class": "inner",
        })  # fmt: skip
        node = shape.node
        if shape.kind in ("dataInput", "dataOutput"):
            filled = shape.kind == "dataOutput"
            ax, ay = x + 4, y + 4
            arrow = [(ax, ay + 3), (ax + 6, ay + 3), (ax + 6, ay), (ax + 11, ay + 5), (ax + 6, ay + 10),
                     (ax + 6, ay + 7), (ax, ay + 7)]  # fmt: skip
            _polygon(g, arrow, cls="glyph filled" if filled else "glyph")
        target = node
        if node is not None and shape.kind == "dataObjectReference":
            target = self.index.get(node.get("dataObjectRef") or "", node)
        if target is not None and target.get("isCollection") == "true":
            for dx in (-4.0, 0.0, 4.0):
                _line(g, (box.cx + dx, b - 12), (box.cx + dx, b - 3), cls="glyph")
        self._outside_label(g, shape, box)

    def _data_store(self, g: Any, shape: Shape, box: Box) -> None:
        x, y, w, h = box.x, box.y, box.w, box.h
        ry = min(8.0, h / 6)
        body = (f"M{fmt(x)},{fmt(y + ry)} A{fmt(w / 2)},{fmt(ry)} 0 0 1 {fmt(x + w)},{fmt(y + ry)} "
                f"V{fmt(y + h - ry)} A{fmt(w / 2)},{fmt(ry)} 0 0 1 {fmt(x)},{fmt(y + h - ry)} Z")  # fmt: skip
        _sub(g, "path", {"d": body, "class": "body"})
        for offset in (ry, 2 * ry, 3 * ry):
            if y + offset + ry < y + h - ry:
                _sub(g, "path", {
                    "d": f"M{fmt(x)},{fmt(y + offset)} A{fmt(w / 2)},{fmt(ry)} 0 0 0 {fmt(x + w)},{fmt(y + offset)}",
                    "class": "inner",
                })  # fmt: skip
        self._outside_label(g, shape, box)

    def _annotation(self, g: Any, shape: Shape, box: Box) -> None:
        _rect(g, box, cls="hit", fill="none", stroke="none")
        leg = min(10.0, box.w)
        d = f"M{fmt(box.x + leg)},{fmt(box.y)} H{fmt(box.x)} V{fmt(box.bottom)} H{fmt(box.x + leg)}"
        _sub(g, "path", {"d": d, "class": "line"})
        self._text(g, self._name(shape.node), box, align="start", valign="top", clip=False, pad=5)

    def _bpmn_group(self, g: Any, shape: Shape, box: Box) -> None:
        _rect(g, box, cls="group-border", rx=min(10.0, box.w / 4, box.h / 4))
        name = self._name(shape.node)
        if shape.label is not None:
            self._text(g, name, _label_box(shape.label), size=LABEL_FONT_SIZE, valign="top", clip=False, pad=0)
        else:
            self._text(g, name, Box(box.x, box.y + 2, box.w, 30), valign="top", clip=False)

    def _conversation(self, g: Any, shape: Shape, box: Box) -> None:
        x, y, w, h = box.x, box.y, box.w, box.h
        points = [(x + w / 4, y), (x + 3 * w / 4, y), (x + w, y + h / 2), (x + 3 * w / 4, y + h),
                  (x + w / 4, y + h), (x, y + h / 2)]  # fmt: skip
        _polygon(g, points, cls="body")
        if shape.kind == "subConversation":
            MARKERS["collapsed"](g, box.cx - 7, box.bottom - 16, 14)
        self._outside_label(g, shape, box)

    def _unknown(self, g: Any, shape: Shape, box: Box) -> None:
        """An element this renderer does not know: a dashed box naming what it is."""
        _rect(g, box, cls="body", rx=4)
        if shape.node is None:
            text = f"{shape.element_id} (not in the model)"
        else:
            label = self._name(shape.node) or shape.kind
            text = f"{label} ({shape.kind})" if label != shape.kind else label
        self._text(g, text, box, size=LABEL_FONT_SIZE)

    def _badge(self, g: Any, box: Box) -> None:
        badge = _sub(g, "g", {"class": "badge"})
        x, y = box.right - 2, box.y + 2
        _circle(badge, x, y, 8, cls="badge-dot")
        _sub(badge, "text", {"x": fmt(x), "y": fmt(y + 4.5), "text-anchor": "middle"}, text="!")
        self._grow(x - 8, y - 8, x + 8, y + 8)

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


def _label_box(label: Box) -> Box:
    """Modelers size label bounds to their own font; give the text the usual 90px to wrap in."""
    width = max(label.w, 90.0)
    return Box(label.cx - width / 2, label.y, width, label.h)


# -- primitive shapes ---------------------------------------------------------------------------
def _sub(parent: Any, tag: str, attrs: Mapping[str, str] | None = None, text: str | None = None) -> Any:
    el = etree.SubElement(parent, f"{{{SVG_NS}}}{tag}")
    for key, value in (attrs or {}).items():
        el.set(key, value)
    if text is not None:
        el.text = _clean(text)
    return el


def _rect(g: Any, box: Box, cls: str, rx: float = 0.0, **extra: str) -> Any:
    attrs = {"x": fmt(box.x), "y": fmt(box.y), "width": fmt(box.w), "height": fmt(box.h), "class": cls}
    if rx:
        attrs["rx"] = fmt(rx)
    attrs.update(extra)
    return _sub(g, "rect", attrs)


def _circle(g: Any, cx: float, cy: float, r: float, cls: str) -> Any:
    return _sub(g, "circle", {"cx": fmt(cx), "cy": fmt(cy), "r": fmt(r), "class": cls})


def _line(g: Any, a: Point, b: Point, cls: str) -> Any:
    return _sub(g, "line", {"x1": fmt(a[0]), "y1": fmt(a[1]), "x2": fmt(b[0]), "y2": fmt(b[1]), "class": cls})


def _polygon(g: Any, points: Iterable[Point], cls: str) -> Any:
    return _sub(g, "polygon", {"points": " ".join(f"{fmt(x)},{fmt(y)}" for x, y in points), "class": cls})


def _plus(g: Any, cx: float, cy: float, half: float, cls: str) -> None:
    _line(g, (cx, cy - half), (cx, cy + half), cls=cls)
    _line(g, (cx - half, cy), (cx + half, cy), cls=cls)


def _scaled(points: Iterable[Point], cx: float, cy: float, s: float) -> list[Point]:
    return [(cx + x * s, cy + y * s) for x, y in points]


# -- event glyphs (drawn around the centre, for an event of radius 18 scaled by s) -----------------
def _glyph_message(g: Any, cx: float, cy: float, s: float, filled: bool) -> None:
    box = _scaled([(-9, -6), (9, -6), (9, 6), (-9, 6)], cx, cy, s)
    _polygon(g, box, cls="glyph filled" if filled else "glyph")
    flap = _scaled([(-9, -6), (0, 1), (9, -6)], cx, cy, s)
    _sub(g, "polyline", {"points": " ".join(f"{fmt(x)},{fmt(y)}" for x, y in flap),
                         "class": "glyph white" if filled else "glyph"})  # fmt: skip


def _glyph_timer(g: Any, cx: float, cy: float, s: float, filled: bool) -> None:
    _circle(g, cx, cy, 10 * s, cls="glyph")
    for i in range(12):
        angle = i * math.pi / 6
        inner = 7.5 if i % 3 == 0 else 8.5
        a = (cx + math.cos(angle) * inner * s, cy + math.sin(angle) * inner * s)
        b = (cx + math.cos(angle) * 10 * s, cy + math.sin(angle) * 10 * s)
        _line(g, a, b, cls="glyph")
    _line(g, (cx, cy), (cx + 2 * s, cy - 7 * s), cls="glyph")
    _line(g, (cx, cy), (cx + 5 * s, cy + 1 * s), cls="glyph")


def _glyph_error(g: Any, cx: float, cy: float, s: float, filled: bool) -> None:
    points = [(-8, 8), (-3, -7), (1.5, 1), (7, -8), (3, 8), (-1.5, 0)]
    _polygon(g, _scaled(points, cx, cy, s), cls="glyph filled" if filled else "glyph")


def _glyph_escalation(g: Any, cx: float, cy: float, s: float, filled: bool) -> None:
    points = [(0, -9), (6.5, 8), (0, 2), (-6.5, 8)]
    _polygon(g, _scaled(points, cx, cy, s), cls="glyph filled" if filled else "glyph")


def _glyph_signal(g: Any, cx: float, cy: float, s: float, filled: bool) -> None:
    points = [(0, -9), (8, 6), (-8, 6)]
    _polygon(g, _scaled(points, cx, cy, s), cls="glyph filled" if filled else "glyph")


def _glyph_terminate(g: Any, cx: float, cy: float, s: float, filled: bool) -> None:
    _circle(g, cx, cy, 10 * s, cls="glyph filled")


def _glyph_conditional(g: Any, cx: float, cy: float, s: float, filled: bool) -> None:
    _polygon(g, _scaled([(-7, -9), (7, -9), (7, 9), (-7, 9)], cx, cy, s), cls="glyph")
    for y in (-5, -1.5, 2, 5.5):
        _line(g, (cx - 4.5 * s, cy + y * s), (cx + 4.5 * s, cy + y * s), cls="glyph")


def _glyph_link(g: Any, cx: float, cy: float, s: float, filled: bool) -> None:
    points = [(-8, -3), (1, -3), (1, -8), (9, 0), (1, 8), (1, 3), (-8, 3)]
    _polygon(g, _scaled(points, cx, cy, s), cls="glyph filled" if filled else "glyph")


def _glyph_compensate(g: Any, cx: float, cy: float, s: float, filled: bool) -> None:
    cls = "glyph filled" if filled else "glyph"
    _polygon(g, _scaled([(-9, 0), (-1, -6), (-1, 6)], cx, cy, s), cls=cls)
    _polygon(g, _scaled([(-1, 0), (7, -6), (7, 6)], cx, cy, s), cls=cls)


def _glyph_cancel(g: Any, cx: float, cy: float, s: float, filled: bool) -> None:
    _line(g, (cx - 7 * s, cy - 7 * s), (cx + 7 * s, cy + 7 * s), cls="glyph bold")
    _line(g, (cx + 7 * s, cy - 7 * s), (cx - 7 * s, cy + 7 * s), cls="glyph bold")


def _glyph_pentagon(g: Any, cx: float, cy: float, s: float, filled: bool) -> None:
    points = [(math.cos(a) * 8, math.sin(a) * 8) for a in (-math.pi / 2 + i * 2 * math.pi / 5 for i in range(5))]
    _polygon(g, _scaled(points, cx, cy, s), cls="glyph filled" if filled else "glyph")


def _glyph_plus_outline(g: Any, cx: float, cy: float, s: float, filled: bool) -> None:
    points = [(-2.5, -8), (2.5, -8), (2.5, -2.5), (8, -2.5), (8, 2.5), (2.5, 2.5), (2.5, 8), (-2.5, 8),
              (-2.5, 2.5), (-8, 2.5), (-8, -2.5), (-2.5, -2.5)]  # fmt: skip
    _polygon(g, _scaled(points, cx, cy, s), cls="glyph filled" if filled else "glyph")


EVENT_GLYPHS = {
    "messageEventDefinition": _glyph_message,
    "timerEventDefinition": _glyph_timer,
    "errorEventDefinition": _glyph_error,
    "escalationEventDefinition": _glyph_escalation,
    "signalEventDefinition": _glyph_signal,
    "terminateEventDefinition": _glyph_terminate,
    "conditionalEventDefinition": _glyph_conditional,
    "linkEventDefinition": _glyph_link,
    "compensateEventDefinition": _glyph_compensate,
    "cancelEventDefinition": _glyph_cancel,
}


# -- task icons (top-left corner, in the task's own coordinates) -----------------------------------
def _icon_user(g: Any) -> None:
    _sub(g, "circle", {"cx": "15", "cy": "11", "r": "4", "class": "glyph"})
    _sub(g, "path", {"d": "M7,24 C7,17 10,16 15,16 C20,16 23,17 23,24 Z", "class": "glyph"})


def _icon_service(g: Any) -> None:
    for i in range(8):
        angle = i * math.pi / 4
        a = (15 + math.cos(angle) * 5, 15 + math.sin(angle) * 5)
        b = (15 + math.cos(angle) * 8.5, 15 + math.sin(angle) * 8.5)
        _line(g, a, b, cls="glyph bold")
    _sub(g, "circle", {"cx": "15", "cy": "15", "r": "5", "class": "glyph"})
    _sub(g, "circle", {"cx": "15", "cy": "15", "r": "2", "class": "glyph"})


def _icon_script(g: Any) -> None:
    _sub(g, "path", {"d": "M10,6 H22 C18,10 24,16 20,20 H8 C12,16 6,10 10,6 Z", "class": "glyph"})
    for y in (10, 13, 16):
        _line(g, (11, y), (18, y), cls="glyph")


def _icon_manual(g: Any) -> None:
    d = ("M6,19 V13 L10,9 H21 A1.5,1.5 0 0 1 21,12 H15 H23 A1.5,1.5 0 0 1 23,15 H15 H22 "
         "A1.5,1.5 0 0 1 22,18 H15 H20 A1.5,1.5 0 0 1 20,21 H9 Z")  # fmt: skip
    _sub(g, "path", {"d": d, "class": "glyph"})


def _icon_business_rule(g: Any) -> None:
    _sub(g, "rect", {"x": "7", "y": "8", "width": "17", "height": "13", "class": "glyph"})
    _sub(g, "rect", {"x": "7", "y": "8", "width": "17", "height": "4", "class": "glyph filled"})
    _line(g, (7, 16.5), (24, 16.5), cls="glyph")
    _line(g, (12, 12), (12, 21), cls="glyph")


def _icon_envelope(g: Any, filled: bool) -> None:
    _sub(g, "rect", {"x": "7", "y": "9", "width": "17", "height": "12", "class": "glyph filled" if filled else "glyph"})
    _sub(g, "polyline", {"points": "7,9 15.5,15.5 24,9", "class": "glyph white" if filled else "glyph"})


ICONS = {
    "userTask": _icon_user,
    "serviceTask": _icon_service,
    "scriptTask": _icon_script,
    "manualTask": _icon_manual,
    "businessRuleTask": _icon_business_rule,
    "sendTask": lambda g: _icon_envelope(g, True),
    "receiveTask": lambda g: _icon_envelope(g, False),
}


# -- activity markers (bottom centre, each `size` square at x, y) --------------------------------
def _marker_collapsed(g: Any, x: float, y: float, size: float) -> None:
    _rect(g, Box(x, y, size, size), cls="glyph")
    _plus(g, x + size / 2, y + size / 2, size * 0.3, cls="glyph")


def _marker_loop(g: Any, x: float, y: float, size: float) -> None:
    """A circle arrow: 300 degrees clockwise from bottom-left, arrowhead at bottom-right."""
    cx, cy, r = x + size / 2, y + size / 2, size * 0.4
    a0, a1 = math.radians(120), math.radians(60)
    sx, sy = cx + r * math.cos(a0), cy + r * math.sin(a0)
    ex, ey = cx + r * math.cos(a1), cy + r * math.sin(a1)
    d = f"M{fmt(sx)},{fmt(sy)} A{fmt(r)},{fmt(r)} 0 1 1 {fmt(ex)},{fmt(ey)}"
    _sub(g, "path", {"d": d, "class": "glyph"})
    tx, ty = -math.sin(a1), math.cos(a1)  # the direction of travel at the end of the arc
    head = []
    for turn in (math.radians(150), math.radians(-150)):
        hx = tx * math.cos(turn) - ty * math.sin(turn)
        hy = tx * math.sin(turn) + ty * math.cos(turn)
        head.append((ex + hx * 4, ey + hy * 4))
    points = f"{fmt(head[0][0])},{fmt(head[0][1])} {fmt(ex)},{fmt(ey)} {fmt(head[1][0])},{fmt(head[1][1])}"
    _sub(g, "polyline", {"points": points, "class": "glyph"})


def _marker_mi_parallel(g: Any, x: float, y: float, size: float) -> None:
    for dx in (0.2, 0.5, 0.8):
        _line(g, (x + size * dx, y + 1), (x + size * dx, y + size - 1), cls="glyph bold")


def _marker_mi_sequential(g: Any, x: float, y: float, size: float) -> None:
    for dy in (0.2, 0.5, 0.8):
        _line(g, (x + 1, y + size * dy), (x + size - 1, y + size * dy), cls="glyph bold")


def _marker_adhoc(g: Any, x: float, y: float, size: float) -> None:
    cy = y + size / 2
    d = (f"M{fmt(x)},{fmt(cy + 2)} C{fmt(x + 3)},{fmt(cy - 5)} {fmt(x + 6)},{fmt(cy - 2)} {fmt(x + size / 2)},{fmt(cy)}"
         f" S{fmt(x + size - 3)},{fmt(cy + 5)} {fmt(x + size)},{fmt(cy - 2)}")  # fmt: skip
    _sub(g, "path", {"d": d, "class": "glyph"})


def _marker_compensation(g: Any, x: float, y: float, size: float) -> None:
    _glyph_compensate(g, x + size / 2 + 1, y + size / 2, size / 19, False)


MARKERS = {
    "collapsed": _marker_collapsed,
    "loop": _marker_loop,
    "mi-par": _marker_mi_parallel,
    "mi-seq": _marker_mi_sequential,
    "adhoc": _marker_adhoc,
    "compensation": _marker_compensation,
}


# -- public API ---------------------------------------------------------------------------------
def render_svg(
    xml: bytes,
    marks: Mapping[str, str] | None = None,
    *,
    process_id: str | None = None,
    title: str | None = None,
    filename: str = "diagram.bpmn",
    trace_flows: bool = True,
) -> str:
    """SVG of the diagram's layout, with `marks` (element id -> state) styled.

    Draws the first BPMNDI plane, or the one for `process_id` (or its collaboration). A file
    with no layout gives a small SVG that says so. Hostile or broken XML raises `DefinitionError`;
    an unknown `process_id` too. With marks, sequence flows from a done element into a marked
    one are drawn as taken unless `trace_flows` is False.
    """
    checked = _check_marks(marks)
    content = xml.encode("utf-8") if isinstance(xml, str) else xml
    root = parse_bytes(content, filename).getroot()
    if _local(root) != "definitions":
        raise DefinitionError(f"{filename}: not a BPMN file (the root element is <{_local(root) or '?'}>)")
    plane = _pick_plane(root, process_id, filename)
    shown_title = _clean(title) if title else _default_title(root, plane, process_id)
    if plane is None or not any(_local(el) in ("BPMNShape", "BPMNEdge") for el in plane.iter()):
        return no_layout_svg(shown_title)
    return _Renderer(root, plane, checked, shown_title, trace_flows).render()


def no_layout_svg(title: str = "BPMN diagram") -> str:
    """The picture of a diagram that carries no BPMNDI: a short, clear sentence."""
    svg = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS})
    for key, value in {"version": "1.1", "class": "bpmn-diagram bpmn-no-layout", "role": "img",
                       "aria-label": f"{_clean(title)}: {NO_LAYOUT_MESSAGE}", "viewBox": "0 0 420 60",
                       "width": "420", "height": "60"}.items():  # fmt: skip
        svg.set(key, value)
    _sub(svg, "title", text=title)
    _sub(svg, "style", text=CSS)
    _sub(svg, "rect", {"x": "0.5", "y": "0.5", "width": "419", "height": "59", "fill": "#fafafa", "stroke": "#cccccc"})
    _sub(svg, "text", {"x": "210", "y": "35", "text-anchor": "middle", "class": "nolayout"}, text=NO_LAYOUT_MESSAGE)
    return etree.tostring(svg, encoding="unicode")


def _check_marks(marks: Mapping[str, str] | None) -> dict[str, str]:
    if not marks:
        return {}
    bad = sorted({str(state) for state in marks.values() if state not in STATES})
    if bad:
        raise ValueError(f"unknown mark state(s) {', '.join(bad)}; use one of {', '.join(STATES)}")
    return {str(k): v for k, v in marks.items()}


def _planes(root: Any) -> list[Any]:
    return [plane for diagram in _descendants(root, "BPMNDiagram") for plane in _children(diagram, "BPMNPlane")]


def _pick_plane(root: Any, process_id: str | None, filename: str) -> Any:
    """The first diagram's plane, or the one showing `process_id` (directly or as a pool)."""
    planes = _planes(root)
    if process_id is None:
        return planes[0] if planes else None
    index = _semantic_index(root)
    if process_id not in index:
        known = sorted(el.get("id") for el in _descendants(root, "process") if el.get("id"))
        raise DefinitionError(
            f"{filename}: there is no process {process_id!r} in this file (processes: {', '.join(known) or 'none'})"
        )
    for plane in planes:
        if plane.get("bpmnElement") == process_id:
            return plane
    collaborations = {
        p.getparent().get("id") for p in _descendants(root, "participant") if p.get("processRef") == process_id
    }
    for plane in planes:
        if plane.get("bpmnElement") in collaborations:
            return plane
    members = {el.get("id") for el in index[process_id].iter() if el.get("id")}
    for plane in planes:
        if any(el.get("bpmnElement") in members for el in plane.iter() if _local(el) == "BPMNShape"):
            return plane
    return planes[0] if planes else None


def _default_title(root: Any, plane: Any, process_id: str | None) -> str:
    index = _semantic_index(root)
    target = index.get(process_id or "") if process_id else None
    if target is None and plane is not None:
        target = index.get(plane.get("bpmnElement") or "")
    if target is None:
        target = next(_descendants(root, "process"), None)
    if target is None:
        return "BPMN diagram"
    return _clean(target.get("name") or target.get("id") or "BPMN diagram")


def _field(entry: Any, name: str) -> Any:
    return entry.get(name) if isinstance(entry, Mapping) else getattr(entry, name, None)


def marks_from_history(
    history: Iterable[Any],
    open_task_element_ids: Iterable[str] = (),
    waiting_element_ids: Iterable[str] = (),
    incident_element_ids: Iterable[str] = (),
) -> dict[str, str]:
    """Element states from an instance's history and what it waits for now.

    'completed' makes an element done; 'timer_cancelled'/'cancelled' makes it cancelled when
    nothing happened to it later. Then what waits now wins: timers and subscriptions are
    waiting, open tasks active, incidents failed (the most urgent). History entries may be
    `HistoryView`s or their `to_dict()`s.
    """
    marks: dict[str, str] = {}
    for entry in history:
        element_id, event = _field(entry, "element_id"), _field(entry, "event")
        if not element_id:
            continue
        if event == "completed":
            marks[element_id] = "done"
        elif event in ("timer_cancelled", "cancelled"):
            marks[element_id] = "cancelled"
        elif marks.get(element_id) == "cancelled":
            del marks[element_id]  # something happened after the cancel: it no longer describes the element
    for ids, state in ((waiting_element_ids, "waiting"), (open_task_element_ids, "active"),
                       (incident_element_ids, "failed")):  # fmt: skip
        for element_id in ids:
            if element_id:
                marks[element_id] = state
    return marks


def instance_marks(detail: Any) -> dict[str, str]:
    """Marks for an `InstanceDetail` (history, open tasks, timers, subscriptions, incidents)."""
    waiting = [t.element_id for t in detail.timers] + [s.element_id for s in detail.subscriptions]
    incidents = [i.element_id for i in detail.incidents if getattr(i, "state", "open") == "open"]
    return marks_from_history(
        detail.history, [t.element_id for t in detail.open_tasks], waiting, [i for i in incidents if i]
    )

"""How each kind of element is drawn: pools, lanes, activities, events, gateways, data, others.

`ShapeDrawing` is the half of the renderer that draws shapes; `renderer.Renderer` supplies
the SVG plumbing it uses (`_group`, `_text`, `_name`, `_grow_box`, `_url`)."""

from __future__ import annotations

from typing import Any

from .glyphs import (
    EVENT_GLYPHS,
    ICONS,
    MARKERS,
    _circle,
    _glyph_pentagon,
    _glyph_plus_outline,
    _line,
    _plus,
    _polygon,
    _rect,
    _sub,
)
from .layout import Box, Shape, _children, _label_box, _local, fmt
from .style import (
    ACTIVITIES,
    CONTAINERS,
    CONVERSATIONS,
    DATA_OBJECTS,
    DATA_STORES,
    EVENTS,
    FONT_SIZE,
    GATEWAYS,
    LABEL_FONT_SIZE,
    LINE_HEIGHT,
    THROWING,
)


class ShapeDrawing:
    """Drawing of shapes, mixed into `renderer.Renderer`."""

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

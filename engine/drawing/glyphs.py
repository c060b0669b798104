"""SVG primitives and the small pictures inside elements: event glyphs, task icons, markers."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from lxml import etree

from .layout import Box, Point, _clean, fmt
from .style import SVG_NS


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

"""Reading BPMNDI: boxes, shapes and edges, the semantic index, and fitting text into boxes."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .style import CHAR_WIDTH, COORD_LIMIT, DI_NAMES, FONT_SIZE


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


def _label_box(label: Box) -> Box:
    """Modelers size label bounds to their own font; give the text the usual 90px to wrap in."""
    width = max(label.w, 90.0)
    return Box(label.cx - width / 2, label.y, width, label.h)

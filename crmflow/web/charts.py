"""Server-rendered SVG charts for the managers' dashboards: no script, no client build.

Pure functions from labels and values to an SVG string, so a chart is tested like any other
text. Values are the reports' own figures (ints or Decimal strings such as "1234.50") and are
printed next to their bar exactly as the report gives them, so the number a manager reads on a
chart is the number in the table, the CSV and the API. Every text is XML-escaped; every chart
carries `<title>` and `<desc>` (role="img", aria-labelledby) for screen readers. Missing values
(a report's None: "undefined", e.g. a rate over zero cases) draw no bar and print "—". Charts:
horizontal bars, a funnel, and lines for trends over time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from html import escape
from itertools import count
from typing import Any

WIDTH = 640
LABEL_WIDTH = 200
VALUE_WIDTH = 90
ROW_HEIGHT = 26
BAR_HEIGHT = 18
TOP = 8
NO_DATA = "No data"
STYLE = ("<style>.bar{fill:#1558b0}.bar.neg{fill:#b3261e}.band{fill:#9cc0ef}"
         "text{font:12px system-ui,sans-serif;fill:#1d2330}.no-data{fill:#566074}</style>")
_ids = count(1)


def number_of(value: Any) -> Decimal | None:
    """A report figure as a number; None (or anything unreadable) stays None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def shown(value: Any, unit: str = "") -> str:
    """The figure as printed next to its bar: the report's own digits, plus a unit ('%')."""
    return "—" if number_of(value) is None else f"{value}{unit}"


def _x(text: Any) -> str:
    return escape(str(text), quote=True)


def _open(title: str, desc: str, width: int, height: int, kind: str) -> tuple[str, str]:
    """The <svg> start tag with its accessible name and description, and the id prefix used."""
    uid = f"chart{next(_ids)}"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{uid}-title {uid}-desc">'
        f'<title id="{uid}-title">{_x(title)}</title><desc id="{uid}-desc">{_x(desc)}</desc>{STYLE}'
    )
    return head, uid


def no_data(title: str, desc: str = "", width: int = WIDTH) -> str:
    """What a chart without figures shows: its title and the words 'No data' (never an empty box)."""
    head, _ = _open(title, desc or f"{title}: no data", width, 40, "empty")
    return f'{head}<text class="no-data" x="{width // 2}" y="25" text-anchor="middle">{NO_DATA}</text></svg>'


def _scale(values: Sequence[Decimal | None]) -> Decimal:
    """The largest magnitude, so the longest bar fills the plot (1 when all are zero or missing)."""
    top = max((abs(v) for v in values if v is not None), default=Decimal(0))
    return top or Decimal(1)


def _width(value: Decimal | None, top: Decimal, plot: int) -> Decimal:
    if value is None:
        return Decimal(0)
    return (abs(value) * plot / top).quantize(Decimal("0.01"))


def bar_chart(
    labels: Sequence[Any], values: Sequence[Any], *, title: str, desc: str = "", unit: str = "",
    width: int = WIDTH,
) -> str:
    """Horizontal bars, one per label, lengths proportional to |value| (negative bars marked 'neg')."""
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels but {len(values)} values")
    numbers = [number_of(v) for v in values]
    if not labels or all(n is None for n in numbers):
        return no_data(title, desc, width)
    plot = width - LABEL_WIDTH - VALUE_WIDTH
    top = _scale(numbers)
    height = TOP * 2 + ROW_HEIGHT * len(labels)
    head, _ = _open(title, desc or _summary(title, labels, values, unit), width, height, "bar")
    parts = [head]
    for i, (label, value, number) in enumerate(zip(labels, values, numbers, strict=True)):
        y = TOP + i * ROW_HEIGHT
        bar = _width(number, top, plot)
        cls = "bar neg" if number is not None and number < 0 else "bar"
        parts.append(
            f'<g class="row"><text class="label" x="{LABEL_WIDTH - 8}" y="{y + 14}" text-anchor="end">'
            f"{_x(_clip(label))}</text>"
            f'<rect class="{cls}" x="{LABEL_WIDTH}" y="{y}" width="{bar}" height="{BAR_HEIGHT}" '
            f'data-value="{_x("" if number is None else value)}">'
            f"<title>{_x(label)}: {_x(shown(value, unit))}</title></rect>"
            f'<text class="value" x="{LABEL_WIDTH + bar + 6}" y="{y + 14}">{_x(shown(value, unit))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def funnel_chart(
    labels: Sequence[Any], values: Sequence[Any], *, title: str, desc: str = "", width: int = WIDTH,
) -> str:
    """A funnel: one centred band per stage, widths proportional to the stage's count."""
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels but {len(values)} values")
    numbers = [number_of(v) for v in values]
    if not labels or all(n is None for n in numbers):
        return no_data(title, desc, width)
    top = _scale(numbers)
    row = ROW_HEIGHT + 6
    height = TOP * 2 + row * len(labels)
    centre = Decimal(width) / 2
    head, _ = _open(title, desc or _summary(title, labels, values, ""), width, height, "funnel")
    parts = [head]
    for i, (label, value, number) in enumerate(zip(labels, values, numbers, strict=True)):
        y = TOP + i * row
        band = _width(number, top, width - 20)
        parts.append(
            f'<g class="stage"><rect class="band" x="{centre - band / 2}" y="{y}" width="{band}" '
            f'height="{ROW_HEIGHT}" data-value="{_x("" if number is None else value)}"/>'
            f'<text class="stage-label" x="{centre}" y="{y + 17}" text-anchor="middle">'
            f"{_x(_clip(label, 40))}: {_x(shown(value))}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


# -- line chart ----------------------------------------------------------------------------------
LINE_HEIGHT = 240
LINE_LEFT = 64  # room for the y-axis figures
LINE_RIGHT = 40  # half a date label, so the latest day is not cut off
LINE_TOP = 34  # room for the legend
LINE_BOTTOM = 28  # room for the x labels
MAX_X_LABELS = 7
PALETTE = ("#1558b0", "#2e7d32", "#b3261e", "#8e24aa", "#ef6c00")
LINE_STYLE = ("<style>.grid{stroke:#d5dae3;stroke-width:1}.line{fill:none;stroke-width:2}"
              ".axis{fill:#566074;font-size:11px}</style>")


def line_chart(
    labels: Sequence[Any], series: Mapping[str, Sequence[Any]], *, title: str, desc: str = "", unit: str = "",
    width: int = WIDTH, height: int = LINE_HEIGHT,
) -> str:
    """A trend: one line per series over the labels (e.g. days), points at the report's figures.

    The y axis runs from min(0, lowest) to the highest figure; a missing value breaks its line
    (no point is invented). Every point carries its figure (`data-value`) and a tooltip; the
    x axis names at most `MAX_X_LABELS` labels, always the last (the latest) one.
    """
    for name, values in series.items():
        if len(values) != len(labels):
            raise ValueError(f"{len(labels)} labels but {len(values)} values in series {name!r}")
    numbers = {name: [number_of(v) for v in values] for name, values in series.items()}
    known = [n for values in numbers.values() for n in values if n is not None]
    if not labels or not known:
        return no_data(title, desc, width)
    lo, hi = min(min(known), Decimal(0)), max(max(known), Decimal(0))
    if hi == lo:
        hi = lo + 1
    plot_w, plot_h = width - LINE_LEFT - LINE_RIGHT, height - LINE_TOP - LINE_BOTTOM
    count_ = len(labels)

    def x(i: int) -> Decimal:
        step = Decimal(plot_w) / (count_ - 1) if count_ > 1 else Decimal(0)
        return (LINE_LEFT + (step * i if count_ > 1 else Decimal(plot_w) / 2)).quantize(Decimal("0.01"))

    def y(v: Decimal) -> Decimal:
        return (LINE_TOP + Decimal(plot_h) * (hi - v) / (hi - lo)).quantize(Decimal("0.01"))

    head, _ = _open(title, desc or _trend_summary(title, labels, series, unit), width, height, "line")
    parts = [head, LINE_STYLE]
    for value in sorted({lo, hi, Decimal(0)}):
        parts.append(f'<line class="grid" x1="{LINE_LEFT}" x2="{width - LINE_RIGHT}" y1="{y(value)}" '
                     f'y2="{y(value)}"/><text class="axis" x="{LINE_LEFT - 6}" y="{y(value) + 4}" '
                     f'text-anchor="end">{_x(_axis_figure(value))}</text>')
    every = -(-count_ // MAX_X_LABELS)
    for i, label in enumerate(labels):
        if (count_ - 1 - i) % every == 0:
            parts.append(f'<text class="axis x-label" x="{x(i)}" y="{height - 8}" text-anchor="middle">'
                         f"{_x(_clip(label, 12))}</text>")
    legend_x = LINE_LEFT
    for k, (name, values) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        parts.append(f'<g class="series" data-series="{_x(name)}">'
                     f'<rect class="swatch" x="{legend_x}" y="8" width="12" height="12" fill="{colour}"/>'
                     f'<text class="legend" x="{legend_x + 16}" y="18">{_x(_clip(name))}</text>')
        legend_x += 16 + 7 * len(_clip(name)) + 18
        segment: list[str] = []
        runs: list[list[str]] = [segment]
        for i, number in enumerate(numbers[name]):
            if number is None:
                segment = []
                runs.append(segment)
            else:
                segment.append(f"{x(i)},{y(number)}")
        for run in runs:
            if len(run) > 1:
                parts.append(f'<polyline class="line" stroke="{colour}" points="{" ".join(run)}"/>')
        for i, (label, value, number) in enumerate(zip(labels, values, numbers[name], strict=True)):
            if number is not None:
                parts.append(f'<circle class="point" cx="{x(i)}" cy="{y(number)}" r="3" fill="{colour}" '
                             f'data-label="{_x(label)}" data-value="{_x(value)}">'
                             f"<title>{_x(name)} {_x(label)}: {_x(shown(value, unit))}</title></circle>")
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _axis_figure(value: Decimal) -> str:
    """An axis figure without trailing zeros (12, 3.5), never in exponent form."""
    return f"{value.normalize():f}"


def _trend_summary(title: str, labels: Sequence[Any], series: Mapping[str, Sequence[Any]], unit: str) -> str:
    """The trend in words: each series' first and last figure, and its highest."""
    said = []
    for name, values in series.items():
        pairs = [(label, v) for label, v in zip(labels, values, strict=True) if number_of(v) is not None]
        if not pairs:
            said.append(f"{name}: no data")
            continue
        top = max(pairs, key=lambda p: number_of(p[1]) or Decimal(0))
        said.append(f"{name} from {shown(pairs[0][1], unit)} ({pairs[0][0]}) to {shown(pairs[-1][1], unit)} "
                    f"({pairs[-1][0]}), highest {shown(top[1], unit)} ({top[0]})")
    return f"{title}: " + "; ".join(said)


def _clip(label: Any, limit: int = 28) -> str:
    text = str(label)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _summary(title: str, labels: Sequence[Any], values: Sequence[Any], unit: str) -> str:
    """The chart in words, for readers that cannot see it."""
    return f"{title}: " + "; ".join(f"{label} {shown(v, unit)}" for label, v in zip(labels, values, strict=True))

"""Output formatting for the CLI: aligned tables and short UTC dates for people, JSON for machines.

Kept apart from the commands so every command prints the same way and the formatting can be
tested without an engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

EMPTY = "-"

Column = tuple[str, Callable[[Any], Any]]


def when(value: datetime | str | None) -> str:
    """A UTC timestamp as `2026-01-05 09:00:00Z`; naive values are taken as UTC (SQLite drops zones)."""
    if value is None:
        return EMPTY
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def scalar(value: Any) -> str:
    """One cell: dates short, collections as compact JSON, None as a dash."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list | tuple):
        return compact_json(value)
    return " ".join(str(value).split())


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str)


def table(rows: Iterable[Any], columns: Sequence[Column], empty: str = "(none)") -> str:
    """Rows as a left-aligned text table with a header; `empty` when there are no rows."""
    cells = [[scalar(get(row)) for _, get in columns] for row in rows]
    if not cells:
        return empty
    headers = [title for title, _ in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """`label: value` lines with the values aligned."""
    width = max(len(label) for label, _ in pairs)
    return "\n".join(f"{(label + ':').ljust(width + 1)} {scalar(value)}" for label, value in pairs)


def section(title: str, body: str) -> str:
    indented = "\n".join(f"  {line}" if line else line for line in body.splitlines())
    return f"{title}\n{indented}"


def delta(value: dict[str, Any] | None) -> str:
    """A history data delta as `set a=1, b="x"; removed c` (other shapes as `key=value`)."""
    if not value:
        return EMPTY
    parts: list[str] = []
    rest = dict(value)
    changed = rest.pop("set", None)
    removed = rest.pop("removed", None)
    if isinstance(changed, dict) and changed:
        parts.append("set " + ", ".join(f"{k}={compact_json(v)}" for k, v in changed.items()))
    elif changed:
        parts.append(f"set {compact_json(changed)}")
    if removed:
        names = removed if isinstance(removed, list) else [removed]
        parts.append("removed " + ", ".join(str(n) for n in names))
    if rest:
        parts.append(", ".join(f"{k}={compact_json(v)}" for k, v in rest.items()))
    return "; ".join(parts)


def element(name: str | None, element_id: str | None) -> str:
    """`Review lead [review]`: the name people drew, plus the id they can find in the diagram."""
    if name and element_id and name != element_id:
        return f"{name} [{element_id}]"
    return name or element_id or EMPTY


def to_json(value: Any) -> str:
    """A JSON document: views through `.to_dict()`, lists of views element-wise."""
    return json.dumps(plain(value), indent=2, ensure_ascii=False, default=str)


def plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value

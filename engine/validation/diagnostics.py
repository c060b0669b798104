"""What the validator reports: one `Diagnostic` per problem, printable as a compiler-style line.

The text form is `file:line:col: severity rule-id element-id "name": message (hint)`, so
editors and CI logs can jump to the spot; the JSON form carries the same fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    """One problem in one file. `line` is 1-based (0 when unknown); `column` 0 when unknown."""

    file: str
    line: int
    column: int
    severity: str
    rule: str
    message: str
    element_id: str | None = None
    name: str | None = None
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        element = self.element_id or "-"
        name = f' "{_one_line(self.name)}"' if self.name else ""
        hint = f" ({_one_line(self.hint)})" if self.hint else ""
        return (
            f"{self.file}:{self.line}:{self.column}: {self.severity} {self.rule} {element}{name}: "
            f"{_one_line(self.message)}{hint}"
        )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def sort_key(d: Diagnostic) -> tuple[str, int, int, str, str]:
    return (d.file, d.line, d.column, d.rule, d.element_id or "")


def summary(diagnostics: Iterable[Diagnostic]) -> dict[str, int]:
    items = list(diagnostics)
    errors = sum(1 for d in items if d.is_error)
    return {"errors": errors, "warnings": len(items) - errors}


def format_text(diagnostics: list[Diagnostic], files: int) -> str:
    """Every diagnostic on its own line, then a one-line count."""
    counts = summary(diagnostics)
    lines = [d.text() for d in diagnostics]
    lines.append(
        f"{files} file{'s' if files != 1 else ''} checked: {counts['errors']} error"
        f"{'s' if counts['errors'] != 1 else ''}, {counts['warnings']} warning{'s' if counts['warnings'] != 1 else ''}"
    )
    return "\n".join(lines)


def format_json(diagnostics: list[Diagnostic], files: int) -> str:
    document = {"files": files, **summary(diagnostics), "diagnostics": [d.to_dict() for d in diagnostics]}
    return json.dumps(document, indent=2, ensure_ascii=False)

"""The managers' figures: one registry of reports, each a table computed from the records.

`REPORTS[name].rows(session, now, params)` gives the rows (JSON-ready dicts keyed by the
report's column keys); `run` wraps them with the report's description for an API or a page,
and `to_csv` writes them as RFC 4180 CSV. Charts are drawn on top of these functions, so a
figure on a page, in the CLI and in a CSV export is always the same number.

Parameters: `since` / `until` (ISO times or datetimes) bound the window of the reports that
count events; some reports read more (see `Report.params`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from . import marketing, process, sales, service
from .base import WINDOW, Column, Params, Report, ReportError, Row, utc

AREAS = ("sales", "marketing", "service", "process")

REPORTS: dict[str, Report] = {
    report.name: report
    for report in (*sales.REPORTS, *marketing.REPORTS, *service.REPORTS, *process.REPORTS)
}


class UnknownReport(ReportError):
    """No report has that name; the message lists the names there are."""


def names() -> list[str]:
    return list(REPORTS)


def get(name: str) -> Report:
    try:
        return REPORTS[name]
    except KeyError:
        raise UnknownReport(f"no report named {name!r}; reports are: {', '.join(REPORTS)}") from None


def by_area(area: str) -> list[Report]:
    return [r for r in REPORTS.values() if r.area == area]


def run(session: Session, name: str, now: datetime, params: Params | None = None) -> dict[str, Any]:
    """One report as a JSON-ready document: what it is, its columns, and its rows.

    A parameter the report does not read is refused rather than ignored, so nobody reads a
    snapshot believing it was cut to their window.
    """
    report = get(name)
    params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
    unknown = sorted(set(params) - set(report.params))
    if unknown:
        takes = f"it takes {', '.join(report.params)}" if report.params else "it takes none"
        if not set(WINDOW) & set(report.params):
            takes = f"it is a snapshot as of now ({takes})"
        raise ReportError(f"report {report.name} has no parameter {', '.join(unknown)}; {takes}")
    rows = report.rows(session, now, params)
    return {**report.to_dict(), "now": utc(now).isoformat(),
            "params": {k: _plain(v) for k, v in params.items()}, "rows": rows}


def to_csv(report: Report, rows: Iterable[Row]) -> str:
    """RFC 4180 CSV (CRLF line ends, quoted as needed), the header being the column keys."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(report.keys)
    for row in rows:
        writer.writerow([_cell(row.get(key)) for key in report.keys])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


__all__ = [
    "AREAS",
    "REPORTS",
    "Column",
    "Report",
    "ReportError",
    "UnknownReport",
    "by_area",
    "get",
    "names",
    "run",
    "to_csv",
]

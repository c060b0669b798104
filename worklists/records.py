"""The record beside the task: a readable summary of the CRM records an instance works on.

Worklists know nothing of CRM: the composition root gives the `Worklist` a `RecordReader`, a
function from an instance's variables (which hold record ids such as `lead.lead_id` or
`case.case_id`) to `RecordSummary`s — labelled fields and small tables. The task and instance
pages show them with `templates/_record.html`; the raw variables stay behind a "Technical
details" disclosure. A later customer page can link in through `RecordSummary.link`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: how a value is shown: text, money (with the summary's currency), percent, date, datetime, yesno, status
KINDS = ("text", "money", "percent", "number", "date", "datetime", "yesno", "status", "email")


@dataclass(frozen=True)
class RecordField:
    label: str
    value: Any
    kind: str = "text"


@dataclass(frozen=True)
class RecordTable:
    """A small table (quote lines, SLA KPIs): column labels, their kinds, and the rows' values."""

    caption: str
    columns: list[tuple[str, str]]  # (label, kind)
    rows: list[list[Any]]
    totals: list[RecordField] = field(default_factory=list)  # shown under the table (subtotal … total)


@dataclass(frozen=True)
class RecordSummary:
    kind: str  # lead, opportunity, quote, case, ...
    title: str  # "Quote Q-00012 (revision 0)"
    fields: list[RecordField] = field(default_factory=list)
    tables: list[RecordTable] = field(default_factory=list)
    currency: str | None = None
    link: str | None = None  # the record's page in the CRM workspace (/records/ENTITY/ID)


RecordReader = Callable[[Mapping[str, Any]], list[RecordSummary]]


def read_records(reader: RecordReader | None, variables: Mapping[str, Any]) -> list[RecordSummary]:
    """The summaries for an instance's variables; a reader that fails leaves the panel empty (and
    logs why) rather than breaking the task page."""
    if reader is None:
        return []
    try:
        return list(reader(variables))
    except Exception:  # noqa: BLE001 - the raw variables are still shown under "Technical details"
        log.exception("the record reader failed")
        return []

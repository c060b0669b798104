"""A work item's SLA status: the one decision behind the SLA column, the SLA filter, the task
page's chip and sorting by SLA time left (API and CLI too), so they cannot disagree.

The deadline is the case's SLA KPI when the CRM knows one (its failure time), else the task's
own due date (open tasks only). The status:
- "breached": the SLA says Noncompliant, or its deadline has passed — even if the KPI's stored
  status has not caught up yet (its check runs on a timer);
- "nearing": the SLA says Nearing Noncompliance, or — for a task's due date, which has no
  warning time of its own — less than NEARING is left;
- "ok": otherwise (a paused KPI is ok and has no deadline);
- None: neither an SLA nor a due date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.clock import ensure_utc

NEARING = timedelta(hours=4)
STATUSES = ("ok", "nearing", "breached")
SLA, DUE = "sla", "due"


@dataclass(frozen=True)
class SlaState:
    status: str | None  # ok / nearing / breached, None: nothing to count down to
    deadline: datetime | None
    source: str | None  # "sla" (the case's KPI) or "due" (the task's due date)
    seconds_left: float | None


def sla_state(
    now: datetime, *, sla_status: str | None, sla_due_at: datetime | None, due_at: datetime | None,
    is_open: bool = True,
) -> SlaState:
    """Decide the status (see the module docstring) at `now`."""
    now = ensure_utc(now)
    if sla_status or sla_due_at is not None:
        deadline = ensure_utc(sla_due_at) if sla_due_at is not None else None
        left = (deadline - now).total_seconds() if deadline is not None else None
        if sla_status == "breached" or (left is not None and left < 0):
            status = "breached"
        elif sla_status in ("nearing", "warning"):
            status = "nearing"
        else:
            status = "ok"
        return SlaState(status, deadline, SLA, left)
    if due_at is not None and is_open:
        deadline = ensure_utc(due_at)
        left = (deadline - now).total_seconds()
        status = "breached" if left < 0 else ("nearing" if left < NEARING.total_seconds() else "ok")
        return SlaState(status, deadline, DUE, left)
    return SlaState(None, None, None, None)

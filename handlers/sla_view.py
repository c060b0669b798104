"""The case SLA a worklist item shows: status and time left of the case's next KPI.

Worklists ask by business key (they know nothing of cases). A case-resolution instance
carries its case id in its variables (`case.case_id`); the KPI on the clock with the
earliest failure time decides the item's status: "breached" (Noncompliant), "nearing"
(Nearing Noncompliance) or "ok" (In Progress or Paused).

The due time given is the KPI's failure time as stored: for a KPI on a business calendar it
was already counted in working time (holds push it by working time), so it falls in working
hours; the worklist counts down to it in wall-clock time. A paused KPI has no due time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.read_model import Instance

from .models import SlaKpiInstance

STATUS = {"Noncompliant": "breached", "Nearing Noncompliance": "nearing", "In Progress": "ok", "Paused": "ok"}
ORDER = {"breached": 0, "nearing": 1, "ok": 2}


def case_ids_by_key(session: Session, business_keys: Sequence[str]) -> dict[int, str]:
    """case id → business key, from the variables of the instances with those keys."""
    found: dict[int, str] = {}
    rows = session.execute(
        select(Instance.business_key, Instance.variables).where(Instance.business_key.in_(list(business_keys)))
    )
    for key, variables in rows:
        try:
            case = (json.loads(variables or "{}") or {}).get("case") or {}
        except (TypeError, ValueError):
            continue
        case_id = case.get("case_id") if isinstance(case, dict) else None
        if isinstance(case_id, int):
            found[case_id] = key
    return found


class CaseSlaProvider:
    """`worklists.service.SlaProvider` for case-resolution work items."""

    def sla_for(self, session: Session, business_keys: Sequence[str]) -> Mapping[str, tuple[str, datetime | None]]:
        keys = [k for k in business_keys if k]
        if not keys:
            return {}
        cases = case_ids_by_key(session, keys)
        if not cases:
            return {}
        best: dict[str, tuple[str, datetime | None]] = {}
        ranks: dict[str, tuple[int, float]] = {}
        kpis = session.scalars(select(SlaKpiInstance).where(SlaKpiInstance.case_id.in_(list(cases))))
        for kpi in kpis:
            status = STATUS.get(kpi.status)
            if status is None:  # Succeeded or Canceled: no longer on the clock
                continue
            key = cases[kpi.case_id]
            due = None if kpi.status == "Paused" else kpi.failure_at
            rank = (ORDER[status], due.timestamp() if due else float("inf"))
            if key not in ranks or rank < ranks[key]:
                ranks[key] = rank
                best[key] = (status, due)
        return best

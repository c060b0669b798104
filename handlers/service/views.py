"""The answers the service handlers return: a case, its SLA KPIs and the most severe SLA
status, plus the lookups every service handler starts from (an Active case, its KPIs).

Split from the service module so cases, SLA and entitlement handlers share one shape of a
case without importing each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import lifecycle as lc
from ..models.service import Case, SlaKpiInstance
from ..support import fetch

#: most severe first, for a single status a gateway can test
SEVERITY = ("Noncompliant", "Nearing Noncompliance", "Paused", "In Progress", "Succeeded", "Canceled")


def iso_time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def case_view(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "number": case.number,
        "state": case.state,
        "status": case.status,
        "priority": case.priority,
        "queue": case.queue,
        "contact_id": case.contact_id,
        "account_id": case.account_id,
        "entitlement_id": case.entitlement_id,
        "first_response_by": iso_time(case.first_response_by),
        "resolve_by": iso_time(case.resolve_by),
    }


def kpi_view(kpi: SlaKpiInstance) -> dict[str, Any]:
    return {
        "kpi": kpi.kpi,
        "state": kpi.state,
        "status": kpi.status,
        "warning_at": iso_time(kpi.warning_at),
        "failure_at": iso_time(kpi.failure_at),
        "calendar": kpi.calendar,
    }


def case_kpis(session: Session, case: Case) -> dict[str, SlaKpiInstance]:
    rows = session.scalars(select(SlaKpiInstance).where(SlaKpiInstance.case_id == case.id))
    return {kpi.kpi: kpi for kpi in rows}


def case_sla_view(session: Session, case: Case) -> dict[str, Any]:
    kpis = case_kpis(session, case)
    view = case_view(case)
    view["kpis"] = {name: kpi_view(kpi) for name, kpi in sorted(kpis.items())}
    statuses = [kpi.status for kpi in kpis.values()]
    view["sla_status"] = next((s for s in SEVERITY if s in statuses), None)
    return view


def active_case(session: Session, case_id: int, action: str) -> Case:
    case = fetch(session, Case, case_id)
    lc.CASE.require(case, ["Active"], action)
    return case

"""Service entitlements: which of the customer's terms in force cover a case, and charging
them (a case on creation or resolution, hours at resolution).

Split from the service module. `BpmnError` codes: `no_entitlement` (route to paid support),
`entitlement_exhausted` (the customer's terms are used up).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.services import BpmnError, ServiceContext

from ..models.service import Case, Contract, Entitlement
from ..support import fetch, operation
from .views import active_case


def _candidate_entitlements(session: Session, case: Case) -> list[Entitlement]:
    """Active, in-date entitlements of the case's contact or account (under an active contract)."""
    owners = []
    if case.contact_id is not None:
        owners.append(Entitlement.contact_id == case.contact_id)
    if case.account_id is not None:
        owners.append(Entitlement.account_id == case.account_id)
    if not owners:
        return []
    query = select(Entitlement).where(Entitlement.state == "Active", or_(*owners))
    return list(session.scalars(query.order_by(Entitlement.end_date, Entitlement.id)))


def _in_force(session: Session, entitlement: Entitlement, now: datetime) -> bool:
    today = now.date()
    if not entitlement.start_date <= today <= entitlement.end_date:
        return False
    if entitlement.contract_id is None:
        return True
    contract = session.get(Contract, entitlement.contract_id)
    return contract is not None and contract.state == "Active" and contract.start_date <= today <= contract.end_date


def entitlement_view(entitlement: Entitlement) -> dict[str, Any]:
    return {
        "entitlement_id": entitlement.id,
        "name": entitlement.name,
        "allocation_type": entitlement.allocation_type,
        "decrease_on": entitlement.decrease_on,
        "remaining_terms": str(entitlement.remaining_terms),
        "sla_name": entitlement.sla_name,
    }


def _charge(entitlement: Entitlement, terms: Decimal) -> Decimal:
    """Take `terms` off the remaining terms (never below zero); returns what could not be covered."""
    covered = min(terms, entitlement.remaining_terms)
    entitlement.remaining_terms = entitlement.remaining_terms - covered
    return terms - covered


@operation("service/check_entitlement")
def check_entitlement(ctx: ServiceContext, case_id: int) -> dict[str, Any]:
    """Link the case to the customer's entitlement in force, charging one case now if it
    decreases on creation (hours are always charged at resolution, from the time spent).

    Raises `BpmnError("no_entitlement")` when the customer has none in force and
    `BpmnError("entitlement_exhausted")` when every one in force is used up.
    """
    case = active_case(ctx.session, case_id, "checked for an entitlement")
    if case.entitlement_id is not None:  # checked before (e.g. a loop back); never charge twice
        view = entitlement_view(fetch(ctx.session, Entitlement, case.entitlement_id))
        view.update(case_id=case.id, charged=False, already_linked=True)
        return view
    in_force = [e for e in _candidate_entitlements(ctx.session, case) if _in_force(ctx.session, e, ctx.now)]
    if not in_force:
        raise BpmnError("no_entitlement", f"case {case.number}: the customer has no entitlement in force")
    # the contact's own terms before the account's, then the one ending soonest
    in_force.sort(key=lambda e: (e.contact_id != case.contact_id, e.end_date, e.id))
    usable = next((e for e in in_force if e.remaining_terms > 0), None)
    if usable is None:
        names = ", ".join(e.name for e in in_force)
        raise BpmnError("entitlement_exhausted", f"case {case.number}: entitlement(s) {names} have no terms left")
    case.entitlement_id = usable.id
    if usable.sla_name and not case.sla_name:
        case.sla_name = usable.sla_name
    charged = usable.allocation_type == "cases" and usable.decrease_on == "creation"
    if charged:
        _charge(usable, Decimal(1))
    ctx.session.flush()
    view = entitlement_view(usable)
    view.update(case_id=case.id, charged=charged, already_linked=False)
    return view


def charge_resolution(session: Session, case: Case, time_spent_minutes: int, first: bool) -> dict[str, Any] | None:
    """Charge the entitlement at resolution: hours always (time spent), a case once if it
    decreases on resolution."""
    if case.entitlement_id is None:
        return None
    entitlement = fetch(session, Entitlement, case.entitlement_id)
    if entitlement.allocation_type == "hours":
        terms = (Decimal(time_spent_minutes) / Decimal(60)).quantize(Decimal("0.001"))
    elif entitlement.decrease_on == "resolution" and first:
        terms = Decimal(1)
    else:
        terms = Decimal(0)
    uncovered = _charge(entitlement, terms)
    view = entitlement_view(entitlement)
    view.update(charged=str(terms), uncovered=str(uncovered))
    return view

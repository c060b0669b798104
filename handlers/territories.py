"""Territories: where a lead belongs and which sales queue works it.

The analyst owns the mapping country / region → territory → queue in
`processes/territories.dmn`. Handlers never evaluate DMN (they never import
SpiffWorkflow): the diagram's business rule task runs the table, and its outputs
`territory` and `sales_queue` are passed to `sales/assign_territory`, which records them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import ServiceContext

from .errors import DomainError
from .models import Lead
from .models.planning import Territory, TerritoryAssignment
from .support import fetch, operation


def _text(value: Any, field: str, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise DomainError(f"assign_territory needs a {field}")
        return None
    if not isinstance(value, str):
        raise DomainError(f"{field} must be text, not {value!r}")
    return value.strip()


def current_territory(session: Session, lead_id: int) -> TerritoryAssignment | None:
    """The lead's current territory assignment, if it has one."""
    return session.scalars(
        select(TerritoryAssignment)
        .where(TerritoryAssignment.lead_id == lead_id, TerritoryAssignment.replaced_at.is_(None))
        .order_by(TerritoryAssignment.id.desc())
    ).first()


def _territory(session: Session, name: str, queue: str, ctx: ServiceContext) -> Territory:
    """The territory row, created on first use; its queue follows what the DMN says now."""
    territory = session.scalars(select(Territory).where(Territory.name == name)).first()
    if territory is None:
        territory = Territory(name=name, sales_queue=queue, created_at=ctx.now)
        session.add(territory)
        session.flush()
    elif territory.sales_queue != queue:
        territory.sales_queue, territory.updated_at = queue, ctx.now
    return territory


@operation("sales/assign_territory")
def assign_territory(
    ctx: ServiceContext,
    lead_id: int,
    territory: str,
    queue: str,
    country: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """Record the territory and sales queue the territory DMN chose for a lead.

    Assigning the same territory and queue again changes nothing (`changed=False`);
    another one replaces the current assignment, which is kept as history.
    """
    lead = fetch(ctx.session, Lead, lead_id)
    name = _text(territory, "territory", required=True)
    queue_name = _text(queue, "queue", required=True)
    country_code = (_text(country, "country", required=False) or "").upper() or None
    region_name = _text(region, "region", required=False) or lead.region
    row = _territory(ctx.session, name, queue_name, ctx)
    current = current_territory(ctx.session, lead.id)
    changed = current is None or current.territory_id != row.id or current.queue != queue_name
    if changed:
        if current is not None:
            current.replaced_at = ctx.now
        current = TerritoryAssignment(
            lead_id=lead.id, territory_id=row.id, queue=queue_name, country=country_code, region=region_name,
            assigned_at=ctx.now,
        )
        ctx.session.add(current)
    ctx.session.flush()
    return {
        "lead_id": lead.id,
        "territory_id": row.id,
        "territory": row.name,
        "queue": current.queue,
        "country": current.country,
        "region": current.region,
        "assignment_id": current.id,
        "assigned_at": current.assigned_at,
        "changed": changed,
    }

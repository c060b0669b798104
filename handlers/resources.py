"""Resources, resource groups, skills, capacity, services, and routing work to a resource.

A resource (person, tool, room, equipment) holds at most `capacity` open items at once;
an item is an open row in `crm_resource_assignment`. Routing picks, among the active
members of a group that have the skill and capacity left:

- `least-busy`: the fewest open items; ties go to the one whose last assignment is the
  oldest (never assigned first), then the lowest id;
- `round-robin`: the next member after the group's last assigned one, in id order,
  skipping those that are full or lack the skill.

When nobody qualifies, `BpmnError("no_resource")` lets the diagram take a waiting path
(e.g. a timer that tries again). The routing reads and writes under a lock on the group
row, so two workers cannot both hand out a resource's last free slot.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.services import BpmnError, ServiceContext

from .calendars import is_open, load_calendar
from .errors import DomainError, RecordNotFound
from .models.planning import (
    RESOURCE_KINDS,
    ROUTING_STRATEGIES,
    BusinessCalendar,
    Resource,
    ResourceAssignment,
    ResourceGroup,
    ResourceGroupMember,
    ResourceSkill,
    Service,
)
from .models.service import Case
from .support import choose, fetch, operation


# -- set-up (demo data, admin scripts, tests) ----------------------------------------------
def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError(f"a {what} needs a name")
    return value.strip()


def _by_name(session: Session, model: type, name: str) -> Any:
    row = session.scalars(select(model).where(model.name == name)).first()
    if row is None:
        raise RecordNotFound(f"{model.kind} {name!r} does not exist")
    return row


def add_group(session: Session, name: str, now: datetime, strategy: str = "least-busy") -> ResourceGroup:
    """A new resource group (team, pool) with its default routing strategy."""
    group = ResourceGroup(name=_name(name, "resource group"), strategy=choose(strategy, ROUTING_STRATEGIES, "strategy"),
                          created_at=now)
    session.add(group)
    session.flush()
    return group


def add_resource(
    session: Session,
    name: str,
    now: datetime,
    kind: str = "person",
    capacity: int = 1,
    user_name: str | None = None,
    skills: Iterable[str] | dict[str, int] = (),
    groups: Iterable[str] = (),
    calendar: str | None = None,
) -> Resource:
    """A new resource with its skills (names, or name → level) and group memberships."""
    choose(kind, RESOURCE_KINDS, "resource kind")
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise DomainError(f"capacity must be a whole number ≥ 1, not {capacity!r}")
    calendar_id = _by_name(session, BusinessCalendar, calendar).id if calendar is not None else None
    resource = Resource(name=_name(name, "resource"), resource_kind=kind, capacity=capacity, user_name=user_name,
                        calendar_id=calendar_id, active=True, created_at=now)
    session.add(resource)
    session.flush()
    levels = skills if isinstance(skills, dict) else dict.fromkeys(skills, 1)
    for skill, level in levels.items():
        session.add(ResourceSkill(resource_id=resource.id, skill=_name(skill, "skill"), level=level))
    for group in groups:
        session.add(ResourceGroupMember(group_id=_by_name(session, ResourceGroup, group).id, resource_id=resource.id))
    session.flush()
    return resource


def add_service(
    session: Session, name: str, group: str, now: datetime, skill: str | None = None, strategy: str | None = None
) -> Service:
    """A service delivered by a resource of `skill` from `group`."""
    if strategy is not None:
        choose(strategy, ROUTING_STRATEGIES, "strategy")
    service = Service(name=_name(name, "service"), group_id=_by_name(session, ResourceGroup, group).id,
                      skill=skill, strategy=strategy, created_at=now)
    session.add(service)
    session.flush()
    return service


# -- workload -------------------------------------------------------------------------------
def open_counts(session: Session, resource_ids: Iterable[int]) -> dict[int, int]:
    """Open assignments per resource (0 for those with none)."""
    ids = list(resource_ids)
    counts = dict.fromkeys(ids, 0)
    if ids:
        rows = session.execute(
            select(ResourceAssignment.resource_id, func.count())
            .where(ResourceAssignment.resource_id.in_(ids), ResourceAssignment.released_at.is_(None))
            .group_by(ResourceAssignment.resource_id)
        )
        counts.update({rid: n for rid, n in rows})
    return counts


def _members(session: Session, group: ResourceGroup, skill: str | None) -> tuple[list[Resource], list[Resource]]:
    """The group's active members in id order, and those of them with `skill`."""
    members = list(
        session.scalars(
            select(Resource)
            .join(ResourceGroupMember, ResourceGroupMember.resource_id == Resource.id)
            .where(ResourceGroupMember.group_id == group.id, Resource.active.is_(True))
            .order_by(Resource.id)
        )
    )
    if skill is None:
        return members, members
    skilled = set(
        session.scalars(
            select(ResourceSkill.resource_id).where(
                ResourceSkill.skill == skill, ResourceSkill.resource_id.in_([m.id for m in members])
            )
        )
    )
    return members, [m for m in members if m.id in skilled]


def workload(session: Session, group: str) -> list[dict[str, Any]]:
    """Each active member of `group`: open items and capacity (for worklists and dashboards)."""
    members, _ = _members(session, _by_name(session, ResourceGroup, group), None)
    counts = open_counts(session, [m.id for m in members])
    return [
        {"resource_id": m.id, "resource": m.name, "assignee": m.user_name, "open_items": counts[m.id],
         "capacity": m.capacity}
        for m in members
    ]


# -- routing --------------------------------------------------------------------------------
def _last_assignment_ids(session: Session, resource_ids: list[int]) -> dict[int, int]:
    rows = session.execute(
        select(ResourceAssignment.resource_id, func.max(ResourceAssignment.id))
        .where(ResourceAssignment.resource_id.in_(resource_ids))
        .group_by(ResourceAssignment.resource_id)
    )
    return {rid: last for rid, last in rows}


def _pick(
    session: Session, group: ResourceGroup, free: list[Resource], counts: dict[int, int], strategy: str
) -> Resource:
    if strategy == "least-busy":
        last = _last_assignment_ids(session, [r.id for r in free])
        return min(free, key=lambda r: (counts[r.id], last.get(r.id, 0), r.id))
    previous = session.scalars(
        select(ResourceAssignment.resource_id)
        .where(ResourceAssignment.group_id == group.id)
        .order_by(ResourceAssignment.id.desc())
        .limit(1)
    ).first()
    after = [r for r in free if previous is not None and r.id > previous]
    return after[0] if after else free[0]


def _open_assignment(session: Session, regarding_type: str, regarding_id: int) -> ResourceAssignment | None:
    return session.scalars(
        select(ResourceAssignment)
        .where(
            ResourceAssignment.regarding_type == regarding_type,
            ResourceAssignment.regarding_id == regarding_id,
            ResourceAssignment.released_at.is_(None),
        )
        .order_by(ResourceAssignment.id)
    ).first()


def assignment_view(session: Session, assignment: ResourceAssignment, already: bool) -> dict[str, Any]:
    resource = session.get(Resource, assignment.resource_id)
    group = session.get(ResourceGroup, assignment.group_id) if assignment.group_id else None
    return {
        "assignment_id": assignment.id,
        "resource_id": resource.id,
        "resource": resource.name,
        "resource_kind": resource.resource_kind,
        "assignee": resource.user_name,
        "capacity": resource.capacity,
        "open_items": open_counts(session, [resource.id])[resource.id],
        "group": group.name if group else None,
        "skill": assignment.skill,
        "strategy": assignment.strategy,
        "regarding_type": assignment.regarding_type,
        "regarding_id": assignment.regarding_id,
        "assigned_at": assignment.assigned_at,
        "already_assigned": already,
    }


def release(session: Session, regarding_type: str, regarding_id: int, now: datetime) -> int:
    """Close the record's open assignments, freeing the resources' capacity; returns how many."""
    rows = session.scalars(
        select(ResourceAssignment).where(
            ResourceAssignment.regarding_type == regarding_type,
            ResourceAssignment.regarding_id == regarding_id,
            ResourceAssignment.released_at.is_(None),
        )
    ).all()
    for row in rows:
        row.released_at = now
    session.flush()
    return len(rows)


def route(
    session: Session,
    now: datetime,
    regarding_type: str,
    regarding_id: int,
    group: str,
    skill: str | None = None,
    strategy: str | None = None,
    service: Service | None = None,
    available_now: bool = False,
) -> dict[str, Any]:
    """Assign the record to a resource of `group` (see the module notes for the strategies).

    A record already held by a resource of the same group keeps it (a loop back in the
    diagram does not hand it out twice); routing to another group releases the old one
    once a new resource is found.
    With `available_now`, members whose own calendar is closed at `now` are passed over.
    """
    row = session.scalars(select(ResourceGroup).where(ResourceGroup.name == group).with_for_update()).first()
    if row is None:
        raise RecordNotFound(f"resource group {group!r} does not exist")
    strategy = choose(strategy or row.strategy, ROUTING_STRATEGIES, "strategy")
    current = _open_assignment(session, regarding_type, regarding_id)
    if current is not None and current.group_id == row.id:
        return assignment_view(session, current, already=True)
    members, skilled = _members(session, row, skill)
    counts = open_counts(session, [m.id for m in skilled])
    if current is not None and current.resource_id in counts:
        counts[current.resource_id] -= 1  # its slot frees up when the record moves
    free = [r for r in skilled if counts[r.id] < r.capacity]
    if available_now:
        free = [r for r in free if _working(session, r, now)]
    if not free:
        reason = "no member" if not members else ("nobody with that skill" if not skilled else "everyone at capacity")
        wanted = f" with skill {skill!r}" if skill else ""
        raise BpmnError(
            "no_resource",
            f"no available resource{wanted} in group {row.name!r}: {reason}",
            {"group": row.name, "skill": skill, "reason": reason},
        )
    chosen = _pick(session, row, free, counts, strategy)
    if current is not None:  # released only now: without a new resource the record keeps its old one
        release(session, regarding_type, regarding_id, now)
    assignment = ResourceAssignment(
        resource_id=chosen.id, group_id=row.id, service_id=service.id if service else None,
        regarding_type=regarding_type, regarding_id=regarding_id, skill=skill, strategy=strategy, assigned_at=now,
    )
    session.add(assignment)
    session.flush()
    return assignment_view(session, assignment, already=False)


def _working(session: Session, resource: Resource, now: datetime) -> bool:
    if resource.calendar_id is None:
        return True
    calendar = session.get(BusinessCalendar, resource.calendar_id)
    return is_open(load_calendar(session, calendar.name), now)


@operation("service/route_to_resource")
def route_to_resource(
    ctx: ServiceContext,
    case_id: int,
    group: str | None = None,
    skill: str | None = None,
    strategy: str | None = None,
    service: str | None = None,
    available_now: bool = False,
) -> dict[str, Any]:
    """Route a case to a resource: of `group` with `skill`, or as the named `service` needs.

    The result's `assignee` (the person's login) is meant for the work task's `assignee`
    expression, so the worklist item shows who has it. `BpmnError("no_resource")` when
    no member qualifies.
    """
    case = fetch(ctx.session, Case, case_id)
    offering = None
    if service is not None:
        offering = _by_name(ctx.session, Service, service)
        group = group or ctx.session.get(ResourceGroup, offering.group_id).name
        skill = skill or offering.skill
        strategy = strategy or offering.strategy
    if group is None:
        raise DomainError("route_to_resource needs a group or a service")
    return route(ctx.session, ctx.now, "case", case.id, group, skill, strategy, offering, bool(available_now))


@operation("service/release_resource")
def release_resource(ctx: ServiceContext, case_id: int) -> dict[str, Any]:
    """Free the resource a case holds (when it is resolved or canceled)."""
    case = fetch(ctx.session, Case, case_id)
    return {"case_id": case.id, "released": release(ctx.session, "case", case.id, ctx.now)}

"""The console's instance search: by process, version, status, business key, a variable's value,
started/ended between, current element; paged, sortable, with counts per status.

Only instances the caller may read are found (the same SQL filter as every instance list).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB

from engine import Engine, InvalidInput
from engine.clock import ensure_utc
from engine.read_model import HumanTask, Incident, Instance, MessageSubscription, ProcessVersion, Timer
from engine.views import InstanceView

from .service import Worklist

STATUSES = ("running", "waiting", "incident", "suspended", "completed", "terminated", "cancelled")
SORTS = {"newest": (Instance.id, True), "oldest": (Instance.id, False), "updated": (Instance.updated_at, True),
         "ended": (Instance.ended_at, True)}
PAGE_SIZE = 25


@dataclass
class InstanceQuery:
    process: str | None = None
    version: int | None = None
    status: str | None = None
    key: str | None = None
    variable: str | None = None  # NAME=VALUE
    started_from: datetime | None = None
    started_to: datetime | None = None
    ended_from: datetime | None = None
    ended_to: datetime | None = None
    element: str | None = None
    sort: str = "newest"
    page: int = 1

    @classmethod
    def from_params(cls, params: dict[str, str]) -> InstanceQuery:
        """From a page's query string; a bad value is named in the error."""
        def text(name: str) -> str | None:
            value = (params.get(name) or "").strip()
            return value[:255] or None

        def number(name: str) -> int | None:
            raw = text(name)
            if raw is None:
                return None
            if not raw.isdigit() or not 0 < int(raw) < 2**31:
                raise InvalidInput(f"{name}: {raw!r} is not a positive whole number")
            return int(raw)

        def time(name: str) -> datetime | None:
            raw = text(name)
            if raw is None:
                return None
            try:
                return ensure_utc(datetime.fromisoformat(raw))
            except ValueError:
                raise InvalidInput(f"{name}: {raw!r} is not a date (e.g. 2026-03-01)") from None

        status, sort = text("status"), text("sort") or "newest"
        if status and status not in STATUSES:
            raise InvalidInput(f"status: {status!r} is not one of {', '.join(STATUSES)}")
        if sort not in SORTS:
            raise InvalidInput(f"sort: {sort!r} is not one of {', '.join(SORTS)}")
        variable = text("variable")
        if variable and "=" not in variable:
            raise InvalidInput("variable: write NAME=VALUE, e.g. customer=Northwind")
        return cls(process=text("process"), version=number("version"), status=status, key=text("key"),
                   variable=variable, started_from=time("started_from"), started_to=time("started_to"),
                   ended_from=time("ended_from"), ended_to=time("ended_to"), element=text("element"), sort=sort,
                   page=number("page") or 1)


@dataclass
class SearchResult:
    items: list[InstanceView] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    more: bool = False


def _variable_filter(engine: Engine, variable: str) -> Any:
    if "=" not in variable:
        raise InvalidInput("variable: write NAME=VALUE, e.g. customer=Northwind")
    name, _, value = variable.partition("=")
    name, value = name.strip(), value.strip()
    if not name.isidentifier():
        raise InvalidInput(f"variable: {name!r} is not a variable name")
    if engine.db.is_sqlite:
        extracted = func.json_extract(Instance.variables, f"$.{name}")
    else:
        extracted = cast(Instance.variables, JSONB)[name].astext
    return cast(extracted, String) == value


def _at_element(element: str) -> Any:
    ids = [
        select(HumanTask.instance_id).where(HumanTask.state == "open", HumanTask.element_id == element),
        select(Timer.instance_id).where(Timer.state == "pending", Timer.element_id == element),
        select(Incident.instance_id).where(Incident.state == "open", Incident.element_id == element),
        select(MessageSubscription.instance_id).where(MessageSubscription.element_id == element),
    ]
    return or_(*(Instance.id.in_(q) for q in ids))


def search(engine: Engine, worklist: Worklist, user: Any, q: InstanceQuery) -> SearchResult:
    """One page of matching instances and the count per status of all matches."""
    conditions = [worklist.instances.visible(user)]
    if q.process:
        conditions.append(Instance.process_id == q.process)
    if q.version:
        conditions.append(ProcessVersion.version == q.version)
    if q.key:
        conditions.append(Instance.business_key == q.key)
    if q.variable:
        conditions.append(_variable_filter(engine, q.variable))
    if q.started_from:
        conditions.append(Instance.created_at >= q.started_from)
    if q.started_to:
        conditions.append(Instance.created_at <= q.started_to)
    if q.ended_from:
        conditions.append(Instance.ended_at >= q.ended_from)
    if q.ended_to:
        conditions.append(Instance.ended_at <= q.ended_to)
    if q.element:
        conditions.append(_at_element(q.element))
    joined = select(Instance.status, func.count()).join(ProcessVersion, ProcessVersion.id == Instance.version_id)
    column, descending = SORTS[q.sort]
    with engine.db.read() as session:
        counts = {s: n for s, n in session.execute(joined.where(*conditions).group_by(Instance.status))}
        stmt = (select(Instance, ProcessVersion.version).join(ProcessVersion, ProcessVersion.id == Instance.version_id)
                .where(*conditions))
        if q.status:
            stmt = stmt.where(Instance.status == q.status)
        order = column.desc() if descending else column.asc()
        rows = session.execute(stmt.order_by(column.is_(None), order, Instance.id.desc())
                               .limit(PAGE_SIZE + 1).offset((q.page - 1) * PAGE_SIZE)).all()
    items = [InstanceView(id=i.id, process_id=i.process_id, version=v, business_key=i.business_key, status=i.status,
                          created_at=i.created_at, updated_at=i.updated_at, ended_at=i.ended_at)
             for i, v in rows[:PAGE_SIZE]]
    total = counts.get(q.status, 0) if q.status else sum(counts.values())
    return SearchResult(items=items, counts=counts, total=total, more=len(rows) > PAGE_SIZE)


__all__ = ["STATUSES", "SORTS", "InstanceQuery", "SearchResult", "search"]

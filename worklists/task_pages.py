"""How the worklist views read `wf_human_task`: index-backed pages in a chosen order.

Each queue (a "scope": a list of conditions) is read along the (state, queue, assignee, due_at)
index with a LIMIT, so the first page costs the same at 1,000 and at 100,000 open items. Pages
use keyset cursors (`next_cursor`); `offset` works too but reads the skipped rows. Totals are
counted only when asked, and capped. SLA sorting and filtering look at the first SLA_WINDOW items.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, case, cast, func, or_, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from engine import InvalidInput
from engine.clock import ensure_utc
from engine.read_model import HumanTask

from .sla import sla_state
from .views import Actor, Page, SlaInfo, SlaProvider, TaskFilter, TaskView, task_view

HT = HumanTask.__table__
_LIST_COLUMNS = [c for c in HT.c if c.name not in ("instructions", "ui_form")]
_DATETIME_KEYS = {"due_at", "created_at", "completed_at"}
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
COUNT_CAP = 10_000
SLA_WINDOW = 1_000
SORTS = ("due", "priority", "sla", "age")
Scopes = list[list[ColumnElement[bool]]]


# -- ordering ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Phase:
    """A slice of a sort order: rows with NULL sort keys come after the others, as their own phase."""

    where: ColumnElement[bool] | None
    keys: tuple[tuple[Any, bool], ...]  # (column, descending)


_ID, _CREATED, _DUE, _PRIO = HT.c.id, HT.c.created_at, HT.c.due_at, HT.c.priority
_ORDERS: dict[str, list[_Phase]] = {
    "due": [
        _Phase(_DUE.is_not(None), ((_DUE, False), (_CREATED, False), (_ID, False))),
        _Phase(_DUE.is_(None), ((_CREATED, False), (_ID, False))),
    ],
    "priority": [  # 1 is the most urgent (worklists.priority): ascending, tasks without one last
        _Phase(_PRIO.is_not(None), ((_PRIO, False), (_CREATED, False), (_ID, False))),
        _Phase(_PRIO.is_(None), ((_CREATED, False), (_ID, False))),
    ],
    "age": [_Phase(None, ((_CREATED, False), (_ID, False)))],
    "closed": [_Phase(None, ((HT.c.completed_at, True), (_ID, True)))],
}


def _order_by(keys: Iterable[tuple[Any, bool]], table: Any = None) -> list[Any]:
    cols = [(table.c[c.name] if table is not None else c, desc) for c, desc in keys]
    return [c.desc() if desc else c.asc() for c, desc in cols]


def _after(keys: Sequence[tuple[Any, bool]], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in this order (the keyset condition), with a leading
    range the index can seek on."""
    clauses = []
    for i, (col, desc) in enumerate(keys):
        eqs = [keys[j][0] == values[j] for j in range(i)]
        clauses.append(and_(*eqs, col < values[i] if desc else col > values[i]))
    first, desc = keys[0]
    seek = first <= values[0] if desc else first >= values[0]
    return and_(seek, or_(*clauses))


def _encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), default=lambda v: ensure_utc(v).isoformat())
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> dict[str, Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(payload, dict) or payload.get("s") != sort:
            raise ValueError
        return payload
    except (ValueError, TypeError):
        raise InvalidInput(f"cursor {cursor[:40]!r} is not a cursor of this view sorted by {sort}") from None


def _key_values(keys: Sequence[tuple[Any, bool]], raw: Sequence[Any]) -> list[Any]:
    if len(raw) != len(keys):
        raise InvalidInput("cursor does not match this view's sort order")
    out = []
    for (col, _), value in zip(keys, raw, strict=True):
        if col.name in _DATETIME_KEYS and isinstance(value, str):
            value = datetime.fromisoformat(value)
        out.append(value)
    return out


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def cg_text() -> ColumnElement[str]:
    return func.coalesce(cast(HT.c.candidate_groups, Text), "[]")


def cg_empty() -> ColumnElement[bool]:
    return cg_text().in_(["[]", "null"])


def cg_matches(principals: Iterable[str]) -> ColumnElement[bool]:
    """Candidate groups (a JSON list, stored as text) naming one of `principals`."""
    text = cg_text()
    return or_(*[text.like(f'%"{_like_escape(p)}"%', escape="\\") for p in sorted(principals)])


class TaskPages:
    """Pages of human tasks for the worklist views, with each item's SLA from the one decision
    (`worklists.sla.sla_state`): the CRM's SLA (`sla`) for its business key, else its due date."""

    def __init__(self, sla: SlaProvider | None, now: Callable[[], datetime]) -> None:
        self.sla = sla
        self.now = now

    @staticmethod
    def counts(
        session: Session, actor: Actor, queues: list[str], members: set[str]
    ) -> tuple[int, dict[str, tuple[int, int, int]]]:
        """`actor`'s open work, and per queue (open, unpicked, available to them) in one grouped query:
        in the queues they are a member of, unpicked tasks without candidates or naming them; elsewhere
        only those naming them."""
        mine = session.scalar(select(func.count()).where(HT.c.assignee == actor.name, HT.c.state == "open")) or 0
        unpicked = HT.c.assignee.is_(None)
        eligible = cg_matches(actor.principals)
        available = case(
            *[(and_(HT.c.queue == q, unpicked, or_(cg_empty(), eligible) if q in members else eligible), 1)
              for q in queues],
            else_=0,
        )
        stmt = (
            select(HT.c.queue, func.count(), func.sum(case((unpicked, 1), else_=0)), func.sum(available))
            .where(HT.c.state == "open", HT.c.queue.in_(queues))
            .group_by(HT.c.queue)
        )
        return mine, {q: (n, u or 0, a or 0) for q, n, u, a in session.execute(stmt)}

    def page(
        self, session: Session, scopes: Scopes, filters: TaskFilter | None, sort: str,
        limit: int, offset: int, cursor: str | None, with_total: bool,
    ) -> Page:
        filters = filters or TaskFilter()
        if sort not in _ORDERS and sort != "sla":
            raise InvalidInput(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
        if offset < 0:
            raise InvalidInput("offset must not be negative")
        scopes = [[*s, *self._filter_clauses(filters)] for s in scopes]
        if sort == "sla" or filters.sla_status:
            page = self._sla_page(session, scopes, filters, sort, limit, offset, cursor)
        elif offset and not cursor:
            page = self._offset_page(session, scopes, sort, limit, offset)
        else:
            page = self._keyset_page(session, scopes, sort, limit, cursor)
            self.attach_sla(session, page.items)
        if with_total:
            page.total, page.total_is_lower_bound = self._count(session, scopes, filters)
        return page

    @staticmethod
    def _filter_clauses(f: TaskFilter) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if f.process:
            clauses.append(HT.c.process_id == f.process)
        if f.business_key:
            clauses.append(HT.c.business_key == f.business_key)
        if f.due_before is not None:
            clauses.append(_DUE <= ensure_utc(f.due_before))
        if f.priority_up_to is not None:
            clauses.append(_PRIO <= f.priority_up_to)
        if f.text and f.text.strip():
            pattern = f"%{_like_escape(f.text.strip())}%"
            clauses.append(
                or_(*[c.ilike(pattern, escape="\\") for c in (HT.c.name, HT.c.business_key, HT.c.process_id)])
            )
        return clauses

    def _fetch(
        self, session: Session, scopes: Scopes, extra: list[ColumnElement[bool]],
        keys: tuple[tuple[Any, bool], ...], limit: int,
    ) -> list[TaskView]:
        """Rows of all scopes in one order: each scope walks its index with its own LIMIT, and
        the small union is merged (so a user with several queues never sorts whole queues)."""
        if not scopes:
            return []
        if len(scopes) == 1:
            stmt = select(*_LIST_COLUMNS).where(*scopes[0], *extra).order_by(*_order_by(keys)).limit(limit)
            return [task_view(row._mapping) for row in session.execute(stmt)]
        # Merge only ids and sort keys (cheap to build and to sort), then read those rows by id.
        narrow = list(dict.fromkeys([_ID, *(c for c, _ in keys)]))
        parts = [select(*narrow).where(*s, *extra).order_by(*_order_by(keys)).limit(limit).subquery() for s in scopes]
        merged = union_all(*[select(*part.c) for part in parts]).subquery()
        ids = list(session.scalars(select(merged.c.id).order_by(*_order_by(keys, merged)).limit(limit)))
        if not ids:
            return []
        rows = {r.id: r for r in session.execute(select(*_LIST_COLUMNS).where(_ID.in_(ids)))}
        return [task_view(rows[i]._mapping) for i in ids if i in rows]

    def _keyset_page(
        self, session: Session, scopes: Scopes, sort: str, limit: int, cursor: str | None,
    ) -> Page:
        phases = _ORDERS[sort]
        start, after = 0, None
        if cursor:
            payload = _decode_cursor(cursor, sort)
            start = int(payload.get("p", 0))
            if not 0 <= start < len(phases):
                raise InvalidInput("cursor does not match this view's sort order")
            after = _key_values(phases[start].keys, payload.get("v") or [])
        found: list[tuple[int, TaskView]] = []
        for p in range(start, len(phases)):
            phase = phases[p]
            extra = [phase.where] if phase.where is not None else []
            if p == start and after is not None:
                extra.append(_after(phase.keys, after))
            rows = self._fetch(session, scopes, extra, phase.keys, limit + 1 - len(found))
            found.extend((p, r) for r in rows)
            if len(found) > limit:
                break
        more = len(found) > limit
        found = found[:limit]
        next_cursor = None
        if more and found:
            p, last = found[-1]
            values = [getattr(last, col.name) for col, _ in phases[p].keys]
            next_cursor = _encode_cursor({"s": sort, "p": p, "v": values})
        return Page([item for _, item in found], next_cursor)

    def _offset_page(
        self, session: Session, scopes: Scopes, sort: str, limit: int, offset: int,
    ) -> Page:
        phases = _ORDERS[sort]
        keys = list(dict.fromkeys(k for phase in phases for k in phase.keys))
        order = ([case((phases[0].where, 0), else_=1)] if phases[0].where is not None else []) + _order_by(keys)
        stmt = (
            select(*_LIST_COLUMNS).where(or_(*[and_(*s) for s in scopes])).order_by(*order)
            .limit(limit + 1).offset(offset)
        )
        items = [task_view(row._mapping) for row in session.execute(stmt)]
        self.attach_sla(session, items)
        more = len(items) > limit
        next_cursor = _encode_cursor({"s": sort, "o": offset + limit}) if more else None
        return Page(items[:limit], next_cursor)

    def _sla_page(
        self, session: Session, scopes: Scopes, filters: TaskFilter, sort: str,
        limit: int, offset: int, cursor: str | None,
    ) -> Page:
        """SLA status lives with the case, not the task: look at the first SLA_WINDOW items by
        due date (or the chosen sort), then filter and sort them here."""
        if cursor:
            offset = int(_decode_cursor(cursor, sort).get("o", 0))
        base_sort = "due" if sort == "sla" else sort
        window = self._keyset_page(session, scopes, base_sort, SLA_WINDOW, None)
        items = window.items
        self.attach_sla(session, items)
        if filters.sla_status:
            items = [i for i in items if i.sla_status == filters.sla_status]
        if sort == "sla":
            items.sort(key=lambda i: (i.sla_seconds_left is None, i.sla_seconds_left or 0.0))
        chunk = items[offset: offset + limit]
        more = len(items) > offset + limit
        next_cursor = _encode_cursor({"s": sort, "o": offset + limit}) if more else None
        return Page(chunk, next_cursor, window_limited=window.next_cursor is not None)

    def attach_sla(self, session: Session, items: list[TaskView]) -> None:
        """Every item's SLA status from the one decision (`sla_state`): the CRM's SLA for its
        business key when there is one, else its due date."""
        if not items:
            return
        keys = sorted({i.business_key for i in items if i.business_key})
        found = self.sla.sla_for(session, keys) if self.sla is not None and keys else {}
        now = self.now()
        for item in items:
            info = found.get(item.business_key or "")
            status, due = SlaInfo(*info) if info is not None else (None, None)
            state = sla_state(now, sla_status=status, sla_due_at=due, due_at=item.due_at,
                              is_open=item.state == "open")
            item.sla_status, item.sla_due_at = state.status, state.deadline
            item.sla_seconds_left, item.sla_source = state.seconds_left, state.source

    def _count(
        self, session: Session, scopes: Scopes, filters: TaskFilter
    ) -> tuple[int, bool]:
        """How many items match, counting at most COUNT_CAP (+1 to know there are more)."""
        if filters.sla_status:
            page = self._keyset_page(session, scopes, "due", SLA_WINDOW, None)
            self.attach_sla(session, page.items)
            n = sum(1 for i in page.items if i.sla_status == filters.sla_status)
            return n, page.next_cursor is not None
        total, capped = 0, False
        for scope in scopes:
            inner = select(HT.c.id).where(*scope).limit(COUNT_CAP + 1).subquery()
            n = session.scalar(select(func.count()).select_from(inner)) or 0
            capped = capped or n > COUNT_CAP
            total += min(n, COUNT_CAP)
        return total, capped

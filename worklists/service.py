"""The worklist service: the one API the CLI, the HTTP API and the web pages call.

Views ("My work", "Available to me", a queue, "Closed by me") are index-backed queries on
the engine's `wf_human_task` projection: each queue is read along the (state, queue,
assignee, due_at) index with a LIMIT, so the first page costs the same at 1,000 and at
100,000 open items. Pages use keyset cursors (`next_cursor`); `offset` works too but reads
the skipped rows. Totals are counted only when asked, and capped.

Operations (pick, release, route, complete, comment and their bulk forms) check who may act
here, then call the engine facade, which makes the change atomic and records it in the
instance's history. Refusals are `engine` errors with one clear line: `Forbidden` (not
allowed), `Conflict` (lost a race, already done), `NotFound`, `InvalidInput`/`FormInvalid`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, NoReturn, Protocol

from sqlalchemy import Text, and_, case, cast, func, or_, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from engine import Conflict, Engine, EngineError, Forbidden, InvalidInput
from engine.clock import ensure_utc
from engine.read_model import HumanTask
from engine.views import HistoryView, HumanTaskView, InstanceView, View

from .auth import Accounts
from .forms import Forms, RenderedForm
from .permissions import READ, SUPERVISE, WORK, Authorizer, Policy
from .permissions.audit import AuditLog
from .permissions.instances import InstanceAccess
from .permissions.lanes import lane_rules
from .priority import priority_label
from .records import RecordReader, RecordSummary, read_records
from .reminders import notify_reassigned
from .routing import UNASSIGNED, USER_PREFIX, LaneMap, QueueInfo
from .sla import sla_state

_HT = HumanTask.__table__
_LIST_COLUMNS = [c for c in _HT.c if c.name not in ("instructions", "ui_form")]
_DATETIME_KEYS = {"due_at", "created_at", "completed_at"}
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
COUNT_CAP = 10_000
SLA_WINDOW = 1_000
SORTS = ("due", "priority", "sla", "age")


# -- what the views return ---------------------------------------------------------------

class SlaInfo(NamedTuple):
    """A case's SLA KPI: its status (e.g. "ok", "nearing", "breached") and when it falls due."""

    status: str
    due_at: datetime | None


class SlaProvider(Protocol):
    """Answers SLA status by business key, in the view's read session (CRM wiring plugs in here)."""

    def sla_for(self, session: Session, business_keys: Sequence[str]) -> Mapping[str, SlaInfo | tuple]: ...


@dataclass
class WorkItem(View):
    """One row of a worklist: the task plus its SLA status and time left.

    `sla_status`, `sla_due_at`, `sla_seconds_left` and `sla_source` come from one decision
    (`worklists.sla.sla_state`): the case's SLA when the CRM has one, else the task's due date."""

    id: str
    instance_id: int
    process_id: str
    business_key: str | None
    element_id: str
    name: str | None
    kind: str
    lane: str | None
    queue: str | None
    form: str | None
    assignee: str | None
    claimed_at: datetime | None
    candidate_groups: list[str]
    priority: int | None
    due_at: datetime | None
    follow_up_at: datetime | None
    state: str
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    instructions: str | None = None
    sla_status: str | None = None
    sla_due_at: datetime | None = None
    sla_seconds_left: float | None = None
    sla_source: str | None = None
    priority_label: str | None = None


_ITEM_FIELDS = tuple(f.name for f in fields(WorkItem))


@dataclass
class TaskFilter:
    """Filters every view accepts; all are optional and combine with AND."""

    process: str | None = None
    business_key: str | None = None
    due_before: datetime | None = None
    priority_up_to: int | None = None
    """At least this urgent: priority 1..N (1 is the most urgent, see worklists.priority)."""
    sla_status: str | None = None
    text: str | None = None


@dataclass
class Page(View):
    """A page of items; pass `next_cursor` back for the next one (None: this was the last).

    `total` is filled only when asked (`with_total=True`) and is a lower bound when
    `total_is_lower_bound` (counting stops at COUNT_CAP). SLA sorting and filtering look
    at the first SLA_WINDOW items by due date; `window_limited` says more existed."""

    items: list[WorkItem]
    next_cursor: str | None = None
    total: int | None = None
    total_is_lower_bound: bool = False
    window_limited: bool = False


@dataclass
class QueueCount(View):
    queue: str
    open: int
    unpicked: int
    available_to_me: int
    groups: list[str] = field(default_factory=list)


@dataclass
class Counts(View):
    """The numbers beside the view names: my open work and each of my queues."""

    mine: int
    queues: list[QueueCount]


@dataclass
class ItemResult(View):
    """The outcome for one task of a bulk operation."""

    task_id: str
    ok: bool
    code: str | None = None
    message: str | None = None
    task: HumanTaskView | None = None


@dataclass
class Permissions(View):
    """What a user may do with a task now (to show the right buttons)."""

    view: bool
    pick: bool
    release: bool
    route: bool
    complete: bool
    comment: bool


@dataclass(frozen=True)
class Actor:
    """A user as the checks see them."""

    name: str
    groups: frozenset[str]
    admin: bool = False

    @property
    def principals(self) -> frozenset[str]:
        return self.groups | {f"{USER_PREFIX}{self.name}"}


# -- ordering ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Phase:
    """A slice of a sort order: rows with NULL sort keys come after the others, as their own phase."""

    where: ColumnElement[bool] | None
    keys: tuple[tuple[Any, bool], ...]  # (column, descending)


_ID, _CREATED, _DUE, _PRIO = _HT.c.id, _HT.c.created_at, _HT.c.due_at, _HT.c.priority
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
    "closed": [_Phase(None, ((_HT.c.completed_at, True), (_ID, True)))],
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


def _cg_text() -> ColumnElement[str]:
    return func.coalesce(cast(_HT.c.candidate_groups, Text), "[]")


def _cg_empty() -> ColumnElement[bool]:
    return _cg_text().in_(["[]", "null"])


def _cg_matches(principals: Iterable[str]) -> ColumnElement[bool]:
    """Candidate groups (a JSON list, stored as text) naming one of `principals`."""
    text = _cg_text()
    return or_(*[text.like(f'%"{_like_escape(p)}"%', escape="\\") for p in sorted(principals)])


# -- the service -------------------------------------------------------------------------

class Worklist:
    """Worklists over one engine: views, counts, forms and checked operations on human tasks.

    Who may work, supervise or look at a queue is asked of `authz` (worklists.permissions): the
    permission file (`permissions`: a Policy or a path; default: the configured file) plus the
    queue rules of `lane_map`. A user with a file grant of `work` on every queue (`queue:*`, the
    admins) may see and act on every queue, including "unassigned"."""

    def __init__(
        self,
        engine: Engine,
        lane_map: LaneMap | None = None,
        sla: SlaProvider | None = None,
        *,
        forms: Forms | None = None,
        accounts: Accounts | None = None,
        records: RecordReader | None = None,
        permissions: Policy | str | Path | None = None,
        authz: Authorizer | None = None,
    ) -> None:
        self.engine = engine
        self.lane_map = lane_map or LaneMap()
        self.sla = sla
        self.forms = forms or Forms()
        self.records = records  # the record panel's reader (the composition root's; none: no panel)
        self.accounts = accounts or Accounts(engine)
        policy = permissions if isinstance(permissions, Policy) else Policy.configured(permissions)
        self.authz = authz or Authorizer(
            policy, lane_rules(self.lane_map), groups_of=self.accounts.groups_of, audit=AuditLog(engine),
        )
        self.instances = InstanceAccess(engine, self.authz)
        self._queues = self.lane_map.queues()

    # -- who is who ---------------------------------------------------------------------
    def actor(self, user: str, session: Session | None = None) -> Actor:
        """The acting user with their groups; Forbidden when unknown or deactivated."""
        if not user:
            raise InvalidInput("this needs a user (--user or CRMFLOW_USER)")
        groups = self.accounts.groups_of(user, session)
        if groups is None:
            raise Forbidden(f"user {user!r} is not an active user (crmflow users add {user} --groups ...)")
        return self._actor(user, groups)

    def _actor(self, user: str, groups: frozenset[str]) -> Actor:
        who = self.authz.principals(Actor(user, groups))
        return Actor(user, who.groups, self.authz.everywhere(who, WORK, "queue", whole=True))

    def queue_info(self, name: str | None) -> QueueInfo:
        return self._queues.get(name or "", QueueInfo(name or UNASSIGNED))

    def known_queues(self) -> list[str]:
        return [*self._queues, *([] if UNASSIGNED in self._queues else [UNASSIGNED])]

    def member_queues(self, actor: Actor) -> list[str]:
        return [q.name for q in self._queues.values() if self.authz.allows(actor, WORK, _queue(q.name))]

    def supervised_queues(self, actor: Actor) -> list[str]:
        return [q.name for q in self._queues.values() if self.supervises(actor, q.name)]

    def supervises(self, actor: Actor, queue: str | None) -> bool:
        """`supervise` on the queue (the queue-supervisor rule: worklists.permissions.lanes + the file)."""
        return self.authz.allows(actor, SUPERVISE, _queue(queue))

    def can_work(self, actor: Actor, task: HumanTaskView | WorkItem) -> bool:
        """Whether `actor` may pick the task: a file grant of `work` on its queue covers every task;
        else its candidates if it names any, else the lane map's groups of its queue."""
        if actor.admin or task.assignee == actor.name:
            return True
        grants = self.authz.grants(actor, WORK, _queue(task.queue))
        if any(not rule.narrowable for rule in grants):
            return True
        if task.candidate_groups:
            return bool(set(task.candidate_groups) & actor.principals)
        return bool(grants)

    def may_route(self, actor: Actor, task: HumanTaskView | WorkItem) -> bool:
        """The one rule for moving someone's work (route, release, reassign): admins and
        supervisors of the task's queue always; otherwise only its assignee while it is picked,
        or someone who may work it while nobody has. (Kept in one place so the permission layer
        can take it over.)"""
        if actor.admin or self.supervises(actor, task.queue):
            return True
        if task.assignee is not None:
            return task.assignee == actor.name
        return self.can_work(actor, task)

    def permissions(self, task_id: str, user: str) -> Permissions:
        task = self.engine.get_task(task_id)
        actor = self.actor(user)
        is_open = task.state == "open"
        mine = task.assignee == actor.name
        works = self.can_work(actor, task)
        supervises = self.supervises(actor, task.queue)
        reads = self.authz.allows(actor, READ, _queue(task.queue))
        involved = works or supervises or reads or mine or task.completed_by == actor.name
        routes = self.may_route(actor, task)
        return Permissions(
            view=involved,
            pick=is_open and task.assignee is None and works,
            release=is_open and task.assignee is not None and routes,
            route=is_open and routes,
            complete=is_open and mine,
            comment=involved,
        )

    # -- views --------------------------------------------------------------------------
    def my_work(
        self, user: str, filters: TaskFilter | None = None, *, sort: str = "due", limit: int = DEFAULT_LIMIT,
        offset: int = 0, cursor: str | None = None, with_total: bool = False,
    ) -> Page:
        """Open tasks picked by (or assigned to) `user`."""
        with self.engine.db.read() as session:
            actor = self.actor(user, session)
            scopes = [[_HT.c.assignee == actor.name, _HT.c.state == "open"]]
            return self._page(session, scopes, filters, sort, limit, offset, cursor, with_total)

    def available(
        self, user: str, filters: TaskFilter | None = None, *, sort: str = "due", limit: int = DEFAULT_LIMIT,
        offset: int = 0, cursor: str | None = None, with_total: bool = False,
    ) -> Page:
        """Unpicked open tasks `user` may pick: in the queues of their groups, or naming them
        (or one of their groups) as candidates in the "unassigned" queue."""
        with self.engine.db.read() as session:
            actor = self.actor(user, session)
            scopes = self._available_scopes(actor)
            return self._page(session, scopes, filters, sort, limit, offset, cursor, with_total)

    def queue(
        self, name: str, filters: TaskFilter | None = None, *, user: str | None = None, picked: bool | None = None,
        sort: str = "due", limit: int = DEFAULT_LIMIT, offset: int = 0, cursor: str | None = None,
        with_total: bool = False,
    ) -> Page:
        """Open tasks of one queue (`picked`: None all, False unpicked only, True picked only).

        With `user`, only members, supervisors and admins of the queue may look."""
        with self.engine.db.read() as session:
            if user is not None:
                actor = self.actor(user, session)
                info = self.queue_info(name)
                self.authz.require(actor, READ, _queue(name), message=(
                    f"{user} is not in a group that works queue {name!r}{_groups_hint(info)}"))
            base: list[ColumnElement[bool]] = [_HT.c.state == "open", _HT.c.queue == name]
            unpicked, picked_ = [*base, _HT.c.assignee.is_(None)], [*base, _HT.c.assignee.is_not(None)]
            # Unpicked items are read in index order; picked ones are sorted (the index orders them per assignee).
            scopes = {False: [unpicked], True: [picked_], None: [unpicked, picked_]}[picked]
            return self._page(session, scopes, filters, sort, limit, offset, cursor, with_total)

    def closed_by(
        self, user: str, filters: TaskFilter | None = None, *, limit: int = DEFAULT_LIMIT, offset: int = 0,
        cursor: str | None = None, with_total: bool = False,
    ) -> Page:
        """Tasks `user` completed, newest first."""
        with self.engine.db.read() as session:
            scopes = [[_HT.c.completed_by == user, _HT.c.state == "completed"]]
            return self._page(session, scopes, filters, "closed", limit, offset, cursor, with_total)

    def counts(self, user: str) -> Counts:
        """My open work and, per queue I work or supervise (and "unassigned"), open/unpicked/available counts."""
        with self.engine.db.read() as session:
            actor = self.actor(user, session)
            mine = session.scalar(
                select(func.count()).where(_HT.c.assignee == actor.name, _HT.c.state == "open")
            ) or 0
            names = list(dict.fromkeys([*self.member_queues(actor), *self.supervised_queues(actor), UNASSIGNED]))
            members = set(self.member_queues(actor))
            unpicked = _HT.c.assignee.is_(None)
            eligible = _cg_matches(actor.principals)
            avail_rows: dict[str, ColumnElement[bool]] = {}
            for q in names:
                avail_rows[q] = and_(unpicked, or_(_cg_empty(), eligible)) if q in members else and_(
                    unpicked, eligible
                )
            available = case(
                *[(and_(_HT.c.queue == q, cond), 1) for q, cond in avail_rows.items()], else_=0
            )
            stmt = (
                select(
                    _HT.c.queue, func.count(), func.sum(case((unpicked, 1), else_=0)), func.sum(available)
                )
                .where(_HT.c.state == "open", _HT.c.queue.in_(names))
                .group_by(_HT.c.queue)
            )
            found = {q: (n, u or 0, a or 0) for q, n, u, a in session.execute(stmt)}
            queues = [
                QueueCount(q, *found.get(q, (0, 0, 0)), groups=list(self.queue_info(q).groups)) for q in names
            ]
            return Counts(mine, queues)

    def get(self, task_id: str, user: str | None = None) -> WorkItem:
        """One task with its SLA and instructions; with `user`, only if they may see it."""
        task = self.engine.get_task(task_id)
        if user is not None and not self.permissions(task_id, user).view:
            self._refuse(user, READ, task, f"{user} may not see task {task_id} (queue {task.queue!r})")
        item = _item(asdict(task))
        with self.engine.db.read() as session:
            self._attach_sla(session, [item])
        return item

    def form(self, task_id: str, user: str | None = None) -> RenderedForm:
        """The task's form, prefilled and with `{{ variable }}` texts rendered from the case's data."""
        task = self.engine.get_task(task_id)
        if user is not None and not self.permissions(task_id, user).view:
            self._refuse(user, READ, task, f"{user} may not see task {task_id} (queue {task.queue!r})")
        data = self.engine.get_instance(task.instance_id, with_history=False).data
        source = self.engine.task_form_source(task_id)
        prefill = None
        if source.variable:  # spiffworkflow:variableName: the form's values are kept under it
            kept = data.get(source.variable)
            prefill = kept if isinstance(kept, Mapping) else {}
        return self.forms.render(task.form, data, task.instructions, self._ui_form(task_id), inline=source.schema,
                                 prefill=prefill)

    def record_summaries(self, variables: Mapping[str, Any]) -> list[RecordSummary]:
        """The CRM records an instance's variables name, as the record panel shows them."""
        return read_records(self.records, variables)

    def _ui_form(self, task_id: str) -> str | None:
        with self.engine.db.read() as session:
            return session.scalar(select(_HT.c.ui_form).where(_HT.c.id == task_id))

    # -- operations ---------------------------------------------------------------------
    def pick(self, task_id: str, user: str) -> HumanTaskView:
        """Claim an open task. Of two agents picking at once exactly one wins; the other
        gets Conflict "already picked by X"."""
        actor = self.actor(user)
        task = self._open_task(task_id)
        if not self.can_work(actor, task):
            self._refuse(actor, WORK, task,
                         f"{user} may not pick task {task_id} ({_label(task)}): {self._who_works(task)}")
        return self.engine.claim_task(task_id, actor.name)

    def release(self, task_id: str, user: str) -> HumanTaskView:
        """Put a picked task back in its queue: its assignee, or a supervisor of the queue (the
        assignee is then told, see `_tell_previous_assignee`)."""
        actor = self.actor(user)
        task = self._open_task(task_id)
        if task.assignee is None:
            raise Conflict(f"task {task_id} ({_label(task)}) is not picked by anyone")
        if task.assignee == actor.name:
            return self.engine.release_task(task_id, actor.name)
        self._may_route(actor, task, "release")
        released = self.engine.release_task(task_id, actor.name, force=True)
        self._tell_previous_assignee(task, released, actor.name)
        return released

    def route(self, task_id: str, user: str, *, queue: str | None = None, to: str | None = None) -> HumanTaskView:
        """Send a task to another queue (it arrives unpicked) and/or to a person.

        Who may: `may_route` — a task someone picked is moved only by them, a supervisor of its
        queue or an admin; the person it goes to must be able to work the destination (unless a
        supervisor sends it). When the task leaves someone else's hands, they are told."""
        if not queue and not to:
            raise InvalidInput("routing needs a queue (--queue) or a person (--to)")
        actor = self.actor(user)
        task = self._open_task(task_id)
        self._may_route(actor, task, "route")
        if queue and queue not in self.known_queues():
            raise InvalidInput(f"queue: unknown queue {queue!r}; known queues: {', '.join(self.known_queues())}")
        moving = bool(queue) and queue != task.queue
        destination = self._as_routed(task, queue if moving else None, to)
        if to:
            target = self.accounts.groups_of(to)
            if target is None:
                raise InvalidInput(f"to: {to!r} is not an active user")
            target_actor = self._actor(to, target)
            dest_queue = destination.queue
            if not self.can_work(target_actor, destination):  # supervisors too: nobody gets work they may not do
                self._refuse(target_actor, WORK, destination,
                             f"{to} cannot work task {task_id} in queue {dest_queue!r}: {self._who_works(destination)}")
        routed = self.engine.route_task(
            task_id, by=actor.name, queue=queue if moving else None, assignee=to or None,
            # a task moved to another queue is worked by that queue's groups, not the old candidates
            candidate_groups=[] if moving else None,
        )
        if moving:
            if not to and routed.assignee is not None:
                routed = self.engine.release_task(task_id, actor.name, force=True)
            routed = self.engine.get_task(task_id)
        self._tell_previous_assignee(task, routed, actor.name)
        return routed

    def complete(self, task_id: str, user: str, data: Mapping[str, Any] | None = None) -> InstanceView:
        """Complete a task picked by `user` with form data (validated against the task's form first)."""
        actor = self.actor(user)
        task = self._open_task(task_id)
        if task.assignee is None:
            raise Forbidden(f"task {task_id} ({_label(task)}) must be picked before completing (crmflow pick)")
        if task.assignee != actor.name:
            raise Forbidden(f"task {task_id} ({_label(task)}) is picked by {task.assignee}; only they can complete it")
        inline = self.engine.task_form_source(task_id).schema if task.form else None
        payload = self.forms.validate(task.form, data or {}, inline=inline)
        return self.engine.complete_task(task_id, actor.name, payload, require_claim=True)

    def comment(self, task_id: str, user: str, text: str) -> HistoryView:
        """Add a note to the task's history (anyone who may see the task)."""
        if not self.permissions(task_id, user).comment:
            task = self.engine.get_task(task_id)
            self._refuse(user, READ, task,
                         f"{user} may not comment on task {task_id} ({_label(task)}): {self._who_works(task)}")
        return self.engine.comment_task(task_id, user, text)

    def pick_many(self, task_ids: Iterable[str], user: str) -> list[ItemResult]:
        return _each(task_ids, lambda tid: self.pick(tid, user))

    def release_many(self, task_ids: Iterable[str], user: str) -> list[ItemResult]:
        return _each(task_ids, lambda tid: self.release(tid, user))

    def route_many(
        self, task_ids: Iterable[str], user: str, *, queue: str | None = None, to: str | None = None
    ) -> list[ItemResult]:
        return _each(task_ids, lambda tid: self.route(tid, user, queue=queue, to=to))

    # -- helpers ------------------------------------------------------------------------
    def _refuse(self, user: str | Actor, verb: str, task: HumanTaskView | WorkItem, message: str) -> NoReturn:
        """Refuse with the missing queue permission named; when the queue permission is there and
        the task's own rules (candidates) refuse, say so without naming a permission."""
        decision = self.authz.decide(user, verb, _queue(task.queue))
        if decision.allowed:
            raise Forbidden(f"{message} (the task names who may work it)")
        self.authz.deny(decision, message=message)

    def _may_route(self, actor: Actor, task: HumanTaskView, verb: str) -> None:
        """Refuse, naming the missing permission, what `may_route` does not allow."""
        if self.may_route(actor, task):
            return
        if task.assignee is not None:
            self._refuse(actor, SUPERVISE, task, self._picked_by_someone_else(actor, task, verb))
        self._refuse(actor, WORK, task,
                     f"{actor.name} may not {verb} task {task.id} ({_label(task)}): {self._who_works(task)}")

    def _open_task(self, task_id: str) -> HumanTaskView:
        task = self.engine.get_task(task_id)
        if task.state != "open":
            who = f" by {task.completed_by}" if task.completed_by else ""
            raise Conflict(f"task {task_id} ({_label(task)}) is already {task.state}{who}")
        return task

    def _picked_by_someone_else(self, actor: Actor, task: HumanTaskView, verb: str) -> str:
        info = self.queue_info(task.queue)
        who = f"groups {', '.join(info.supervisor_groups)}" if info.supervisor_groups else "nobody"
        return (f"{actor.name} may not {verb} task {task.id} ({_label(task)}): it is picked by {task.assignee}; "
                f"only they or a supervisor of queue {task.queue!r} ({who}) or an admin may {verb} it")

    def _tell_previous_assignee(self, before: HumanTaskView, after: HumanTaskView, by: str) -> None:
        """Someone else moved a task its assignee had picked: the history says so (the engine records
        the route or release); the assignee also gets a notification email when they have an address."""
        previous = before.assignee
        if previous is None or previous == by or after.assignee == previous:
            return
        notify_reassigned(self.engine, after, previous=previous, by=by)

    def _who_works(self, task: HumanTaskView | WorkItem) -> str:
        users = [g[len(USER_PREFIX):] for g in task.candidate_groups if g.startswith(USER_PREFIX)]
        groups = [g for g in task.candidate_groups if not g.startswith(USER_PREFIX)]
        if task.candidate_groups:
            parts = [f"groups {', '.join(groups)}"] if groups else []
            parts += [f"users {', '.join(users)}"] if users else []
            return "only " + " and ".join(parts) + " may work it"
        info = self.queue_info(task.queue)
        return f"queue {task.queue!r} is worked by {_groups_hint(info, lead='') or 'admins only'}"

    @staticmethod
    def _as_routed(task: HumanTaskView, queue: str | None, to: str | None) -> HumanTaskView:
        changes: dict[str, Any] = {}
        if queue:
            changes.update(queue=queue, candidate_groups=[], assignee=None)
        if to:
            changes["assignee"] = None  # judge the person against the queue, not the current pick
        return replace(task, **changes)

    def _available_scopes(self, actor: Actor) -> list[list[ColumnElement[bool]]]:
        base = [_HT.c.state == "open", _HT.c.assignee.is_(None)]
        eligible = _cg_matches(actor.principals)
        scopes = [[*base, _HT.c.queue == q, or_(_cg_empty(), eligible)] for q in self.member_queues(actor)]
        if UNASSIGNED not in self._queues:
            whole = actor.admin or any(not r.narrowable for r in self.authz.grants(actor, WORK, _queue(UNASSIGNED)))
            scopes.append([*base, _HT.c.queue == UNASSIGNED] + ([] if whole else [eligible]))
        return scopes

    def _page(
        self, session: Session, scopes: list[list[ColumnElement[bool]]], filters: TaskFilter | None, sort: str,
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
            self._attach_sla(session, page.items)
        if with_total:
            page.total, page.total_is_lower_bound = self._count(session, scopes, filters)
        return page

    @staticmethod
    def _filter_clauses(f: TaskFilter) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if f.process:
            clauses.append(_HT.c.process_id == f.process)
        if f.business_key:
            clauses.append(_HT.c.business_key == f.business_key)
        if f.due_before is not None:
            clauses.append(_DUE <= ensure_utc(f.due_before))
        if f.priority_up_to is not None:
            clauses.append(_PRIO <= f.priority_up_to)
        if f.text and f.text.strip():
            pattern = f"%{_like_escape(f.text.strip())}%"
            clauses.append(
                or_(*[c.ilike(pattern, escape="\\") for c in (_HT.c.name, _HT.c.business_key, _HT.c.process_id)])
            )
        return clauses

    def _fetch(
        self, session: Session, scopes: list[list[ColumnElement[bool]]], extra: list[ColumnElement[bool]],
        keys: tuple[tuple[Any, bool], ...], limit: int,
    ) -> list[WorkItem]:
        """Rows of all scopes in one order: each scope walks its index with its own LIMIT, and
        the small union is merged (so a user with several queues never sorts whole queues)."""
        if not scopes:
            return []
        if len(scopes) == 1:
            stmt = select(*_LIST_COLUMNS).where(*scopes[0], *extra).order_by(*_order_by(keys)).limit(limit)
            return [_item(row._mapping) for row in session.execute(stmt)]
        # Merge only ids and sort keys (cheap to build and to sort), then read those rows by id.
        narrow = list(dict.fromkeys([_ID, *(c for c, _ in keys)]))
        parts = [select(*narrow).where(*s, *extra).order_by(*_order_by(keys)).limit(limit).subquery() for s in scopes]
        merged = union_all(*[select(*part.c) for part in parts]).subquery()
        ids = list(session.scalars(select(merged.c.id).order_by(*_order_by(keys, merged)).limit(limit)))
        if not ids:
            return []
        rows = {r.id: r for r in session.execute(select(*_LIST_COLUMNS).where(_ID.in_(ids)))}
        return [_item(rows[i]._mapping) for i in ids if i in rows]

    def _keyset_page(
        self, session: Session, scopes: list[list[ColumnElement[bool]]], sort: str, limit: int, cursor: str | None,
    ) -> Page:
        phases = _ORDERS[sort]
        start, after = 0, None
        if cursor:
            payload = _decode_cursor(cursor, sort)
            start = int(payload.get("p", 0))
            if not 0 <= start < len(phases):
                raise InvalidInput("cursor does not match this view's sort order")
            after = _key_values(phases[start].keys, payload.get("v") or [])
        found: list[tuple[int, WorkItem]] = []
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
        self, session: Session, scopes: list[list[ColumnElement[bool]]], sort: str, limit: int, offset: int,
    ) -> Page:
        phases = _ORDERS[sort]
        keys = list(dict.fromkeys(k for phase in phases for k in phase.keys))
        order = ([case((phases[0].where, 0), else_=1)] if phases[0].where is not None else []) + _order_by(keys)
        stmt = (
            select(*_LIST_COLUMNS).where(or_(*[and_(*s) for s in scopes])).order_by(*order)
            .limit(limit + 1).offset(offset)
        )
        items = [_item(row._mapping) for row in session.execute(stmt)]
        self._attach_sla(session, items)
        more = len(items) > limit
        next_cursor = _encode_cursor({"s": sort, "o": offset + limit}) if more else None
        return Page(items[:limit], next_cursor)

    def _sla_page(
        self, session: Session, scopes: list[list[ColumnElement[bool]]], filters: TaskFilter, sort: str,
        limit: int, offset: int, cursor: str | None,
    ) -> Page:
        """SLA status lives with the case, not the task: look at the first SLA_WINDOW items by
        due date (or the chosen sort), then filter and sort them here."""
        if cursor:
            offset = int(_decode_cursor(cursor, sort).get("o", 0))
        base_sort = "due" if sort == "sla" else sort
        window = self._keyset_page(session, scopes, base_sort, SLA_WINDOW, None)
        items = window.items
        self._attach_sla(session, items)
        if filters.sla_status:
            items = [i for i in items if i.sla_status == filters.sla_status]
        if sort == "sla":
            items.sort(key=lambda i: (i.sla_seconds_left is None, i.sla_seconds_left or 0.0))
        chunk = items[offset: offset + limit]
        more = len(items) > offset + limit
        next_cursor = _encode_cursor({"s": sort, "o": offset + limit}) if more else None
        return Page(chunk, next_cursor, window_limited=window.next_cursor is not None)

    def _attach_sla(self, session: Session, items: list[WorkItem]) -> None:
        """Every item's SLA status from the one decision (`sla_state`): the CRM's SLA for its
        business key when there is one, else its due date."""
        if not items:
            return
        keys = sorted({i.business_key for i in items if i.business_key})
        found = self.sla.sla_for(session, keys) if self.sla is not None and keys else {}
        now = self.engine.now()
        for item in items:
            info = found.get(item.business_key or "")
            status, due = SlaInfo(*info) if info is not None else (None, None)
            state = sla_state(now, sla_status=status, sla_due_at=due, due_at=item.due_at,
                              is_open=item.state == "open")
            item.sla_status, item.sla_due_at = state.status, state.deadline
            item.sla_seconds_left, item.sla_source = state.seconds_left, state.source

    def _count(
        self, session: Session, scopes: list[list[ColumnElement[bool]]], filters: TaskFilter
    ) -> tuple[int, bool]:
        """How many items match, counting at most COUNT_CAP (+1 to know there are more)."""
        if filters.sla_status:
            page = self._keyset_page(session, scopes, "due", SLA_WINDOW, None)
            self._attach_sla(session, page.items)
            n = sum(1 for i in page.items if i.sla_status == filters.sla_status)
            return n, page.next_cursor is not None
        total, capped = 0, False
        for scope in scopes:
            inner = select(_HT.c.id).where(*scope).limit(COUNT_CAP + 1).subquery()
            n = session.scalar(select(func.count()).select_from(inner)) or 0
            capped = capped or n > COUNT_CAP
            total += min(n, COUNT_CAP)
        return total, capped


def _item(values: Mapping[str, Any]) -> WorkItem:
    data = dict.fromkeys(_ITEM_FIELDS)
    data.update((k, v) for k, v in values.items() if k in data)
    data["candidate_groups"] = list(data["candidate_groups"] or [])
    data["priority_label"] = priority_label(data["priority"]) if data["priority"] is not None else None
    return WorkItem(**data)


def _queue(name: str | None) -> str:
    """The permission resource of a queue."""
    return f"queue:{name or UNASSIGNED}"


def _label(task: HumanTaskView | WorkItem) -> str:
    return task.name or task.element_id


def _groups_hint(info: QueueInfo, lead: str = ": it is worked by ") -> str:
    return f"{lead}groups {', '.join(info.groups)}" if info.groups else ""


def _each(task_ids: Iterable[str], op: Callable[[str], HumanTaskView]) -> list[ItemResult]:
    """Run `op` per task; each succeeds or fails on its own and says so."""
    results = []
    for task_id in dict.fromkeys(task_ids):
        try:
            results.append(ItemResult(task_id, True, task=op(task_id)))
        except EngineError as err:
            results.append(ItemResult(task_id, False, err.code, str(err)))
    return results

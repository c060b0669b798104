"""The worklist service: the one API the CLI, the HTTP API and the web pages call.

Views ("My work", "Available to me", a queue, "Closed by me") choose which tasks a user sees
(scopes of `wf_human_task` conditions) and read them a page at a time (`task_pages`); every
task comes back as the one human-task view, `views.TaskView`.

Operations (pick, release, route, complete, comment and their bulk forms) check who may act
here, then call the engine facade, which makes the change atomic and records it in the
instance's history. `complete` is the one completion path: the CLI (`crmflow complete`,
`crmflow work complete`), the API and the pages all call it, so the pick rule and the form's
validation hold everywhere. Refusals are `engine` errors with one clear line: `Forbidden` (not
allowed), `Conflict` (lost a race, already done), `NotFound`, `InvalidInput`/`FormInvalid`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from engine import Conflict, Engine, EngineError, Forbidden, InvalidInput
from engine.views import HistoryView, HumanTaskView, InstanceView

from .auth import Accounts
from .forms import Forms, RenderedForm
from .permissions import READ, SUPERVISE, WORK, Authorizer, Policy
from .permissions.audit import AuditLog
from .permissions.instances import InstanceAccess
from .permissions.lanes import lane_rules
from .records import RecordReader, RecordSummary, read_records
from .reminders import notify_reassigned
from .routing import UNASSIGNED, USER_PREFIX, LaneMap, QueueInfo
from .task_pages import (  # noqa: F401 - re-exported: the API, pages, CLI and tests import them from here
    DEFAULT_LIMIT,
    HT,
    MAX_LIMIT,
    SORTS,
    TaskPages,
    cg_empty,
    cg_matches,
)
from .views import (  # noqa: F401 - re-exported, as above
    Actor,
    Counts,
    ItemResult,
    Page,
    Permissions,
    QueueCount,
    SlaInfo,
    SlaProvider,
    TaskFilter,
    TaskView,
    task_view,
)

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
        self.pages = TaskPages(sla, engine.now)

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

    def can_work(self, actor: Actor, task: HumanTaskView) -> bool:
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

    def may_route(self, actor: Actor, task: HumanTaskView) -> bool:
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
            scopes = [[HT.c.assignee == actor.name, HT.c.state == "open"]]
            return self.pages.page(session, scopes, filters, sort, limit, offset, cursor, with_total)

    def available(
        self, user: str, filters: TaskFilter | None = None, *, sort: str = "due", limit: int = DEFAULT_LIMIT,
        offset: int = 0, cursor: str | None = None, with_total: bool = False,
    ) -> Page:
        """Unpicked open tasks `user` may pick: in the queues of their groups, or naming them
        (or one of their groups) as candidates in the "unassigned" queue."""
        with self.engine.db.read() as session:
            actor = self.actor(user, session)
            scopes = self._available_scopes(actor)
            return self.pages.page(session, scopes, filters, sort, limit, offset, cursor, with_total)

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
            base: list[ColumnElement[bool]] = [HT.c.state == "open", HT.c.queue == name]
            unpicked, picked_ = [*base, HT.c.assignee.is_(None)], [*base, HT.c.assignee.is_not(None)]
            # Unpicked items are read in index order; picked ones are sorted (the index orders them per assignee).
            scopes = {False: [unpicked], True: [picked_], None: [unpicked, picked_]}[picked]
            return self.pages.page(session, scopes, filters, sort, limit, offset, cursor, with_total)

    def closed_by(
        self, user: str, filters: TaskFilter | None = None, *, limit: int = DEFAULT_LIMIT, offset: int = 0,
        cursor: str | None = None, with_total: bool = False,
    ) -> Page:
        """Tasks `user` completed, newest first."""
        with self.engine.db.read() as session:
            scopes = [[HT.c.completed_by == user, HT.c.state == "completed"]]
            return self.pages.page(session, scopes, filters, "closed", limit, offset, cursor, with_total)

    def counts(self, user: str) -> Counts:
        """My open work and, per queue I work or supervise (and "unassigned"), open/unpicked/available counts."""
        with self.engine.db.read() as session:
            actor = self.actor(user, session)
            names = list(dict.fromkeys([*self.member_queues(actor), *self.supervised_queues(actor), UNASSIGNED]))
            mine, found = self.pages.counts(session, actor, names, set(self.member_queues(actor)))
            queues = [
                QueueCount(q, *found.get(q, (0, 0, 0)), groups=list(self.queue_info(q).groups)) for q in names
            ]
            return Counts(mine, queues)

    def get(self, task_id: str, user: str | None = None) -> TaskView:
        """One task with its SLA and instructions; with `user`, only if they may see it."""
        task = self.engine.get_task(task_id)
        if user is not None and not self.permissions(task_id, user).view:
            self._refuse(user, READ, task, f"{user} may not see task {task_id} (queue {task.queue!r})")
        item = task_view(task)
        with self.engine.db.read() as session:
            self.pages.attach_sla(session, [item])
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
            return session.scalar(select(HT.c.ui_form).where(HT.c.id == task_id))

    # -- operations ---------------------------------------------------------------------
    def pick(self, task_id: str, user: str) -> TaskView:
        """Claim an open task. Of two agents picking at once exactly one wins; the other
        gets Conflict "already picked by X"."""
        actor = self.actor(user)
        task = self._open_task(task_id)
        if not self.can_work(actor, task):
            self._refuse(actor, WORK, task,
                         f"{user} may not pick task {task_id} ({_label(task)}): {self._who_works(task)}")
        return task_view(self.engine.claim_task(task_id, actor.name))

    def release(self, task_id: str, user: str) -> TaskView:
        """Put a picked task back in its queue: its assignee, or a supervisor of the queue (the
        assignee is then told, see `_tell_previous_assignee`)."""
        actor = self.actor(user)
        task = self._open_task(task_id)
        if task.assignee is None:
            raise Conflict(f"task {task_id} ({_label(task)}) is not picked by anyone")
        if task.assignee == actor.name:
            return task_view(self.engine.release_task(task_id, actor.name))
        self._may_route(actor, task, "release")
        released = self.engine.release_task(task_id, actor.name, force=True)
        self._tell_previous_assignee(task, released, actor.name)
        return task_view(released)

    def route(self, task_id: str, user: str, *, queue: str | None = None, to: str | None = None) -> TaskView:
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
        return task_view(routed)

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
    def _refuse(self, user: str | Actor, verb: str, task: HumanTaskView, message: str) -> NoReturn:
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

    def _who_works(self, task: HumanTaskView) -> str:
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
        base = [HT.c.state == "open", HT.c.assignee.is_(None)]
        eligible = cg_matches(actor.principals)
        scopes = [[*base, HT.c.queue == q, or_(cg_empty(), eligible)] for q in self.member_queues(actor)]
        if UNASSIGNED not in self._queues:
            whole = actor.admin or any(not r.narrowable for r in self.authz.grants(actor, WORK, _queue(UNASSIGNED)))
            scopes.append([*base, HT.c.queue == UNASSIGNED] + ([] if whole else [eligible]))
        return scopes


def _queue(name: str | None) -> str:
    """The permission resource of a queue."""
    return f"queue:{name or UNASSIGNED}"


def _label(task: HumanTaskView) -> str:
    return task.name or task.element_id


def _groups_hint(info: QueueInfo, lead: str = ": it is worked by ") -> str:
    return f"{lead}groups {', '.join(info.groups)}" if info.groups else ""


def _each(task_ids: Iterable[str], op: Callable[[str], TaskView]) -> list[ItemResult]:
    """Run `op` per task; each succeeds or fails on its own and says so."""
    results = []
    for task_id in dict.fromkeys(task_ids):
        try:
            results.append(ItemResult(task_id, True, task=op(task_id)))
        except EngineError as err:
            results.append(ItemResult(task_id, False, err.code, str(err)))
    return results

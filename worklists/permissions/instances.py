"""Who may see which process instances: by process (the permission file) or by involvement.

A user may `read` (and `read-data`) an instance when the permission file grants it on
`instances:<process id>`, or when they are involved: they started it, have or had a task in it
(picked or completed it), or it has an open task in a queue they may read. Lists are filtered
by the same rule in SQL, so a page of 50 is 50 visible instances, not 50 minus the hidden ones.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.sql import ColumnElement

from engine import Engine, NotFound
from engine.read_model import HumanTask, Incident, Instance
from engine.views import HistoryView, IncidentView, InstanceDetail, InstanceView

from .authorizer import Authorizer
from .model import READ, READ_DATA, Decision, Principals

INVOLVEMENT_VERBS = frozenset({READ, READ_DATA})


class InstanceAccess:
    """Instance checks and filtered instance lists over one engine and authorizer."""

    def __init__(self, engine: Engine, authz: Authorizer) -> None:
        self.engine = engine
        self.authz = authz

    # -- single instances -------------------------------------------------------------------------
    def process_of(self, instance_id: int) -> str:
        with self.engine.db.read() as session:
            pid = session.scalar(select(Instance.process_id).where(Instance.id == instance_id))
        if pid is None:
            raise NotFound(f"instance {instance_id} does not exist (crmflow instances lists them)")
        return pid

    def exists(self, instance_id: int) -> bool:
        with self.engine.db.read() as session:
            return session.scalar(select(Instance.id).where(Instance.id == instance_id)) is not None

    def decide(self, user: Any, verb: str, instance_id: int) -> Decision:
        """The decision on `verb` for this instance (by process, else by involvement)."""
        who = self.authz.principals(user)
        resource = f"instances:{self.process_of(instance_id)}"
        decision = self.authz.decide(who, verb, resource)
        if decision.allowed or verb not in INVOLVEMENT_VERBS:
            return decision
        if self.involved(who, instance_id):
            return Decision(who.user, verb, resource, reason="they started it or have or had a task in it")
        return decision

    def require(self, user: Any, verb: str, instance_id: int, doing: str = "") -> Decision:
        decision = self.decide(user, verb, instance_id)
        if not decision.allowed:
            self.authz.deny(decision, doing or f"{verb} instance {instance_id}")
        return decision

    def require_incident(self, user: Any, verb: str, incident_id: int, doing: str = "") -> Decision:
        """`verb` on the instances of the process an incident belongs to (e.g. operate to retry it)."""
        resource = f"instances:{self.process_of_incident(incident_id)}"
        return self.authz.require(user, verb, resource, doing=doing or f"{verb} incident {incident_id}")

    def may(self, user: Any, verb: str, instance_id: int) -> bool:
        return self.decide(user, verb, instance_id).allowed

    def involved(self, who: Principals, instance_id: int) -> bool:
        with self.engine.db.read() as session:
            return session.scalar(
                select(Instance.id).where(Instance.id == instance_id, self._involvement(who))
            ) is not None

    # -- redaction --------------------------------------------------------------------------------
    def shown(self, user: Any, detail: InstanceDetail) -> InstanceDetail:
        """The detail as this user may see it: without variables and history data unless `read-data`."""
        if self.decide(user, READ_DATA, detail.id).allowed:
            return detail
        detail.data = {}
        detail.history = [self._without_data(h) for h in detail.history]
        return detail

    def history(self, user: Any, instance_id: int, entries: list[HistoryView]) -> list[HistoryView]:
        if self.decide(user, READ_DATA, instance_id).allowed:
            return entries
        return [self._without_data(h) for h in entries]

    @staticmethod
    def _without_data(entry: HistoryView) -> HistoryView:
        entry.data_delta = None
        return entry

    # -- lists ------------------------------------------------------------------------------------
    def visible(self, user: Any) -> ColumnElement[bool]:
        """A WHERE clause on `wf_instance` keeping the instances this user may read."""
        who = self.authz.principals(user)
        return or_(self.authz.sql_filter(who, READ, "instances", Instance.process_id), self._involvement(who))

    def list(
        self, user: Any, process_id: str | None = None, status: str | None = None, business_key: str | None = None,
        limit: int = 100, offset: int = 0,
    ) -> list[InstanceView]:
        """Instances this user may read, newest first (the facade's list, filtered)."""
        return self.engine.list_instances(process_id, status, business_key, limit, offset, visible=self.visible(user))

    def incidents(self, user: Any, incidents: list[IncidentView]) -> list[IncidentView]:
        """The incidents of instances this user may read."""
        ids = {i.instance_id for i in incidents}
        if not ids:
            return incidents
        with self.engine.db.read() as session:
            shown = set(session.scalars(select(Instance.id).where(Instance.id.in_(ids), self.visible(user))))
        return [i for i in incidents if i.instance_id in shown]

    def visible_ids(self, user: Any, ids: set[int]) -> set[int]:
        """Which of these instances this user may read."""
        if not ids:
            return set()
        with self.engine.db.read() as session:
            return set(session.scalars(select(Instance.id).where(Instance.id.in_(ids), self.visible(user))))

    def process_of_incident(self, incident_id: int) -> str:
        with self.engine.db.read() as session:
            pid = session.scalar(
                select(Instance.process_id).join(Incident, Incident.instance_id == Instance.id)
                .where(Incident.id == incident_id)
            )
        if pid is None:
            raise NotFound(f"incident {incident_id} does not exist (crmflow incidents lists them)")
        return pid

    def _involvement(self, who: Principals) -> ColumnElement[bool]:
        ht = HumanTask
        tasks = select(ht.instance_id).where(or_(
            ht.assignee == who.user,
            ht.completed_by == who.user,
            and_(ht.state == "open", self.authz.sql_filter(who, READ, "queue", ht.queue)),
        ))
        return or_(Instance.started_by == who.user, Instance.id.in_(tasks))

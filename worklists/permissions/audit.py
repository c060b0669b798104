"""The audit log: every permission change and every refused attempt on an admin function.

Changes are written in the same transaction as the change itself (`record(session, ...)`), so a
change is never without its entry; refusals get a transaction of their own. `crmflow audit`
lists the entries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Engine
from engine.views import View

from ..models import AuditEntry
from .model import Decision

DONE = "done"
REFUSED = "refused"


@dataclass
class AuditView(View):
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    detail: dict[str, Any] | None


class AuditLog:
    """Writes and reads `wl_audit` on the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self, session: Session, actor: str | None, action: str, target: str | None = None,
        detail: Mapping[str, Any] | None = None, outcome: str = DONE,
    ) -> None:
        """Add an entry inside the caller's transaction."""
        session.add(AuditEntry(
            at=self.engine.now(), actor=(actor or "(unknown)")[:255], action=action[:64],
            target=target[:512] if target else None, outcome=outcome,
            detail=json.dumps(dict(detail), default=str, sort_keys=True) if detail else None,
        ))

    def write(self, actor: str | None, action: str, target: str | None = None,
              detail: Mapping[str, Any] | None = None, outcome: str = DONE) -> None:
        """Add an entry in a transaction of its own."""
        with self.engine.db.write() as session:
            self.record(session, actor, action, target, detail, outcome)

    def refused(self, decision: Decision, doing: str = "") -> None:
        """A refused privileged attempt (the Authorizer calls this)."""
        detail = {"verb": decision.verb, "permission": decision.permission}
        if doing:
            detail["attempt"] = doing
        self.write(decision.user, "refused", decision.resource, detail, REFUSED)

    def entries(
        self, *, actor: str | None = None, action: str | None = None, outcome: str | None = None,
        since: datetime | None = None, limit: int = 100,
    ) -> list[AuditView]:
        """Newest first."""
        with self.engine.db.read() as session:
            stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if actor:
                stmt = stmt.where(AuditEntry.actor == actor)
            if action:
                stmt = stmt.where(AuditEntry.action == action)
            if outcome:
                stmt = stmt.where(AuditEntry.outcome == outcome)
            if since is not None:
                stmt = stmt.where(AuditEntry.at >= since)
            return [
                AuditView(e.id, e.at, e.actor, e.action, e.target, e.outcome,
                          json.loads(e.detail) if e.detail else None)
                for e in session.scalars(stmt)
            ]

    def last_policy_digest(self) -> str | None:
        """The digest of the permission file the last `permissions.loaded` entry recorded."""
        with self.engine.db.read() as session:
            row = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "permissions.loaded").order_by(AuditEntry.id.desc())
            ).first()
        if row is None or not row.detail:
            return None
        return json.loads(row.detail).get("sha256")

    def policy_loaded(self, source: str, digest: str, actor: str = "crmflow") -> bool:
        """Record that a permission file with a new content was put in force; False when unchanged."""
        if not digest or digest == self.last_policy_digest():
            return False
        self.write(actor, "permissions.loaded", source, {"sha256": digest})
        return True

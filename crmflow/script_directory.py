"""crmflow's users and groups for spiff-arena's script helpers (`get_current_user()`, ...).

The engine knows users only by name; the worklists' tables know their e-mail, display name and
groups. This adapter reads those tables in the step's own session, so a script sees the same
transaction as the step that runs it. A database without the worklists' tables (an engine
used on its own) answers as if the directory were empty.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from worklists.models import Group, Membership, User


class WorklistDirectory:
    """`engine.arena_helpers.UserDirectory` over the worklists' user, group and membership tables."""

    @staticmethod
    def _usable(session: Session) -> bool:
        """Asked each time (helpers are rare): a cached answer could outlive a recreated schema."""
        return inspect(session.connection()).has_table(User.__tablename__)

    def user(self, session: Session, name: str) -> dict[str, Any] | None:
        if not self._usable(session):
            return None
        columns = select(User.id, User.name, User.email, User.display_name)
        row = session.execute(columns.where(User.name == name)).first()
        if row is None:
            return None
        groups = session.scalars(
            select(Group.name).join(Membership, Membership.group_id == Group.id)
            .where(Membership.user_id == row.id).order_by(Group.name)
        ).all()
        return {"username": row.name, "email": row.email, "display_name": row.display_name or row.name,
                "groups": list(groups)}

    def members(self, session: Session, group: str) -> list[str] | None:
        if not self._usable(session):
            return None
        group_id = session.scalar(select(Group.id).where(Group.name == group))
        if group_id is None:
            return None
        return list(session.scalars(
            select(User.name).join(Membership, Membership.user_id == User.id)
            .where(Membership.group_id == group_id).order_by(User.name)
        ))

"""The one enforcement layer: every API route, page and user-facing command asks it.

`Authorizer.require(user, verb, resource)` raises `PermissionDenied` (a `Forbidden`, so the API
answers 403 and the pages show the refusal) naming the missing permission; `allows` answers
yes/no; `decide` also says which rule allowed it (what `crmflow permissions check` prints).
Lists are filtered rather than refused: `filter_names` keeps the names a user may see and
`sql_filter` turns the same rules into a WHERE clause on a column of names.

A refused attempt on a privileged permission (admin functions, operate, deploy) is written to the
audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, Protocol

from sqlalchemy import false, or_, true
from sqlalchemy.sql import ColumnElement

from engine import Forbidden, InvalidInput

from .model import (
    ADMINISTER,
    DEPLOY,
    EVERYTHING,
    OPERATE,
    RESOURCE_TYPES,
    VERBS,
    Decision,
    Principals,
    Rule,
    covers_every,
    granted_by,
    is_pattern,
    split_resource,
)
from .policy import Policy
from .watching import PolicyWatcher

PRIVILEGED_VERBS = frozenset({ADMINISTER, OPERATE, DEPLOY})
GroupsOf = Callable[[str], frozenset[str] | None]


class AuditSink(Protocol):
    def refused(self, decision: Decision, doing: str = "") -> None: ...


class PermissionDenied(Forbidden):
    """A refusal naming the permission that is missing (`verb on resource`)."""

    def __init__(self, decision: Decision, message: str) -> None:
        super().__init__(message)
        self.decision = decision
        self.verb = decision.verb
        self.resource = decision.resource
        self.permission = decision.permission


class Authorizer:
    """Decisions over one policy (the permission file plus the lane map's queue rules)."""

    def __init__(
        self, policy: Policy, extra_rules: Iterable[Rule] = (), *, groups_of: GroupsOf | None = None,
        audit: AuditSink | None = None, watch: bool = True,
    ) -> None:
        self.policy = policy
        self.extra_rules = tuple(extra_rules)
        self.rules: tuple[Rule, ...] = (*policy.rules, *self.extra_rules)
        self.groups_of = groups_of
        self.audit = audit
        # a file edited while the server runs is put in force without a restart (watching.py)
        self.watcher = PolicyWatcher(policy, audit=audit) if watch and PolicyWatcher.watches(policy) else None

    def refresh(self) -> None:
        """Take up the permission file's new content, if it changed (cheap: a stat at most every
        few seconds). Every decision starts here, through `principals`."""
        if self.watcher is None:
            return
        current = self.watcher.current()
        if current is not self.policy:
            self.policy = current
            self.rules = (*current.rules, *self.extra_rules)

    # -- who ------------------------------------------------------------------------------------
    def principals(self, user: Any) -> Principals:
        """Principals for a user name (looked up: Forbidden if unknown or deactivated), an object
        with `name` and `groups` (an authenticated `UserView`), or `Principals` as they are."""
        self.refresh()
        if isinstance(user, Principals):
            return user if self.policy.default_group in user.groups else Principals(
                user.user, user.groups | {self.policy.default_group})
        name = getattr(user, "name", user)
        groups = getattr(user, "groups", None)
        if groups is None:
            if not name:
                raise InvalidInput("this needs a user (--user or CRMFLOW_USER)")
            if self.groups_of is None:
                raise Forbidden(f"user {name!r} cannot be looked up here")
            found = self.groups_of(str(name))
            if found is None:
                raise Forbidden(f"user {name!r} is not an active user (crmflow users add {name} --groups ...)")
            groups = found
        return Principals(str(name), frozenset(groups) | {self.policy.default_group})

    # -- decisions ------------------------------------------------------------------------------
    def grants(self, user: Any, verb: str, resource: str) -> list[Rule]:
        """Every rule that lets this user do `verb` on `resource` (file rules first)."""
        who = self.principals(user)
        return [r for r in self.rules if r.applies_to(who) and r.grants(verb, resource)]

    def decide(self, user: Any, verb: str, resource: str) -> Decision:
        check_request(verb, resource)
        who = self.principals(user)
        found = self.grants(who, verb, resource)
        return Decision(who.user, verb, resource, found[0] if found else None)

    def allows(self, user: Any, verb: str, resource: str) -> bool:
        return self.decide(user, verb, resource).allowed

    def require(self, user: Any, verb: str, resource: str, *, doing: str = "", message: str = "") -> Decision:
        """The decision when allowed; else PermissionDenied naming the missing permission.
        `doing` describes the attempt (e.g. "read instance 12"); `message` replaces the whole
        first sentence when the caller can say more (who works the queue, who picked the task)."""
        decision = self.decide(user, verb, resource)
        if not decision.allowed:
            self.deny(decision, doing, message)
        return decision

    def deny(self, decision: Decision, doing: str = "", message: str = "") -> NoReturn:
        """Refuse (and audit a privileged attempt); the message names the missing permission."""
        if self.audit is not None and is_privileged(decision.verb, decision.resource):
            self.audit.refused(decision, doing)
        head = message or f"{decision.user} may not {doing or decision.verb + ' ' + decision.resource}"
        where = Path(self.policy.source).name  # the file's name only: refusals reach users, not the server's paths
        raise PermissionDenied(decision, (
            f"{head} (missing permission {decision.verb!r} on {decision.resource!r}; an admin grants permissions "
            f"in {where}, and crmflow permissions check {decision.user} {decision.verb} "
            f"'{decision.resource}' explains)"
        ))

    # -- filters --------------------------------------------------------------------------------
    def filter_names(self, user: Any, verb: str, kind: str, names: Iterable[str]) -> list[str]:
        """The names (of one resource type) this user may `verb`, in the given order."""
        who = self.principals(user)
        return [n for n in names if self.grants(who, verb, f"{kind}:{n}")]

    def everywhere(self, user: Any, verb: str, kind: str, *, whole: bool = False) -> bool:
        """Whether a rule grants `verb` on every resource of this type (`*` or `kind:*`);
        `whole` counts only rules that are not narrowable (file grants)."""
        who = self.principals(user)
        return any(
            r.applies_to(who) and r.grants(verb, f"{kind}:*") and any(covers_every(p, kind) for p in r.resources)
            and not (whole and r.narrowable)
            for r in self.rules
        )

    def patterns(self, user: Any, verb: str, kind: str) -> list[str]:
        """The name patterns (`*`, ids, globs) under which this user may `verb` resources of a type."""
        who = self.principals(user)
        found: list[str] = []
        for rule in self.rules:
            usable = {v for v in rule.verbs & granted_by(verb) if v in RESOURCE_TYPES[kind][1]}
            if not (usable and rule.applies_to(who)):
                continue
            for pattern in rule.resources:
                if pattern == EVERYTHING:
                    found.append(EVERYTHING)
                elif split_resource(pattern)[0] == kind:
                    found.append(split_resource(pattern)[1])
        return list(dict.fromkeys(found))

    def sql_filter(self, user: Any, verb: str, kind: str, column: Any) -> ColumnElement[bool]:
        """A WHERE clause keeping rows whose `column` (a resource name) this user may `verb`."""
        names = self.patterns(user, verb, kind)
        if EVERYTHING in names:
            return true()
        clauses = [column.like(_like(n), escape="\\") if is_pattern(n) else column == n for n in names]
        return or_(*clauses) if clauses else false()


def _like(glob: str) -> str:
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def is_privileged(verb: str, resource: str) -> bool:
    return verb in PRIVILEGED_VERBS or split_resource(resource)[0] == "admin"


def check_request(verb: str, resource: str) -> None:
    """A question must use a known verb on a concrete resource of a known type."""
    if verb not in VERBS:
        raise InvalidInput(f"unknown verb {verb!r} (verbs: {', '.join(VERBS)})")
    kind, name = split_resource(resource)
    if kind not in RESOURCE_TYPES or not name:
        raise InvalidInput(f"resource {resource!r} is not TYPE:NAME with TYPE one of {', '.join(RESOURCE_TYPES)}")
    if verb not in RESOURCE_TYPES[kind][1]:
        raise InvalidInput(f"verb {verb!r} does not apply to {kind} resources "
                           f"(verbs for {kind}: {', '.join(RESOURCE_TYPES[kind][1])})")


__all__ = ["Authorizer", "PermissionDenied", "check_request", "is_privileged"]

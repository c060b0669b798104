"""The permission model's vocabulary: verbs, resource types, rules and decisions.

A permission is a verb on a resource. Resources are typed names, `type:name` (`process:lead_to_invoice`,
`instances:case_resolution`, `queue:Sales DACH`, `reports:sales`, `records:lead`, `message:quote_accepted`,
`admin:users`); a rule names them by id or by a glob pattern (`*` any run of characters, `?` one
character), and `*` alone is every resource. Nothing here knows a CRM: the names come from the
permission file and the lane map.

Verbs say what the holder may do; a few verbs carry lesser ones with them (`IMPLIES`), so a
supervisor needs no separate `read` to look at the queue she supervises.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

# -- verbs ------------------------------------------------------------------------------------

READ = "read"
READ_DATA = "read-data"
START = "start"
WORK = "work"
SUPERVISE = "supervise"
OPERATE = "operate"
DEPLOY = "deploy"
EDIT = "edit"
SEND = "send"
ADMINISTER = "administer"

#: what each verb means, for `crmflow permissions verbs`, the docs and error hints
VERBS: dict[str, str] = {
    READ: "see it: a definition and its diagram, an instance's status and path, a queue's tasks, a report, a record",
    READ_DATA: "see an instance's variables and the data in its history (customers' personal and financial data)",
    START: "start an instance of a process",
    WORK: "pick, complete, release and route your own tasks of a queue, and comment on them",
    SUPERVISE: "release and route tasks of a queue that someone else picked (the queue's supervisor)",
    OPERATE: "repair instances: retry incidents, cancel, suspend, resume, edit variables, move tokens",
    DEPLOY: "edit drafts of and deploy new versions of a process",
    EDIT: "create and change records (and their reference data)",
    SEND: "send a message into running processes",
    ADMINISTER: "administer users, tokens, permissions and the audit log",
}

#: a verb granted also grants these (one level is enough: the table is closed under itself)
IMPLIES: dict[str, frozenset[str]] = {
    READ_DATA: frozenset({READ}),
    START: frozenset({READ}),
    WORK: frozenset({READ}),
    SUPERVISE: frozenset({READ}),
    OPERATE: frozenset({READ, READ_DATA}),
    DEPLOY: frozenset({READ}),
    EDIT: frozenset({READ}),
    ADMINISTER: frozenset({READ}),
}

#: resource type → what it is, and the verbs that apply to it
RESOURCE_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "process": ("a deployed process definition, by process id", (READ, START, DEPLOY)),
    "instances": ("the instances of a process, by process id", (READ, READ_DATA, OPERATE)),
    "queue": ("the tasks of a worklist queue, by queue name", (READ, WORK, SUPERVISE)),
    "reports": ("the reports and dashboard of an area (sales, marketing, service, process)", (READ,)),
    "records": ("CRM records of one entity (lead, account, case, ...)", (READ, EDIT)),
    "message": ("a BPMN message, by name", (SEND,)),
    "admin": ("an administrative function (users, permissions, audit)", (ADMINISTER, READ)),
}

EVERYTHING = "*"
_GLOB_CHARS = re.compile(r"[*?]")


def granted_by(verb: str) -> frozenset[str]:
    """The verbs whose grant allows `verb` (itself and those implying it)."""
    return frozenset({verb, *(v for v, lesser in IMPLIES.items() if verb in lesser)})


def split_resource(resource: str) -> tuple[str, str]:
    """`instances:case_*` → ("instances", "case_*"); the name may itself contain colons."""
    kind, sep, name = resource.partition(":")
    if not sep:
        return resource, ""
    return kind, name


def is_pattern(name: str) -> bool:
    return bool(_GLOB_CHARS.search(name))


def matches(pattern: str, resource: str) -> bool:
    """Whether a rule's resource pattern covers a concrete resource (case-sensitive, like ids)."""
    if pattern == EVERYTHING:
        return True
    p_kind, p_name = split_resource(pattern)
    r_kind, r_name = split_resource(resource)
    if p_kind != r_kind:
        return False
    # fnmatch's [..] classes are refused when the file is read, so only * and ? are special here
    return fnmatch.fnmatchcase(r_name, p_name)


def covers_every(pattern: str, kind: str) -> bool:
    """Whether the pattern names every resource of this type (`*` or `kind:*`)."""
    return pattern == EVERYTHING or pattern == f"{kind}:*"


# -- rules and decisions ------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """One grant: these groups and users may do these verbs on these resources.

    `source` says where the rule was declared (file and entry, or the lane map), so a decision can
    be explained. `narrowable` marks the lane map's queue grants: a task whose diagram names its
    own candidates (candidate groups, lane owners) is worked by those candidates only, while a
    grant written in the permission file covers every task of the queue."""

    name: str
    verbs: frozenset[str]
    resources: tuple[str, ...]
    groups: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()
    source: str = ""
    description: str = ""
    narrowable: bool = False

    def applies_to(self, principals: Principals) -> bool:
        return bool(self.groups & principals.groups) or principals.user in self.users

    def grants(self, verb: str, resource: str) -> bool:
        """Whether a verb of this rule that applies to the resource's type allows `verb` on it
        (`read-data` granted on `instances:x` says nothing about `process:x`)."""
        kind = split_resource(resource)[0]
        usable = {v for v in self.verbs & granted_by(verb) if v in RESOURCE_TYPES.get(kind, ("", ()))[1]}
        return bool(usable) and any(matches(p, resource) for p in self.resources)

    def where(self) -> str:
        return f"{self.source}: permission {self.name!r}" if self.source else f"permission {self.name!r}"


@dataclass(frozen=True)
class Principals:
    """Who asks: the user's name and groups (with the file's default group, e.g. `everybody`)."""

    user: str
    groups: frozenset[str] = field(default_factory=frozenset)

    @property
    def as_candidates(self) -> frozenset[str]:
        """The names a task's candidate list may use for this user: groups and `user:NAME`."""
        return self.groups | {f"user:{self.user}"}


@dataclass(frozen=True)
class Decision:
    """The answer to "may USER do VERB on RESOURCE", with the rule that allowed it."""

    user: str
    verb: str
    resource: str
    rule: Rule | None = None
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.rule is not None or bool(self.reason)

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def permission(self) -> str:
        """The permission asked for, as the file writes it: `read on instances:case_resolution`."""
        return f"{self.verb} on {self.resource}"

    def explain(self) -> str:
        if self.rule is not None:
            verbs = ", ".join(sorted(self.rule.verbs))
            who = ", ".join(sorted([*self.rule.groups, *(f"user {u}" for u in self.rule.users)]))
            return (f"allowed: {self.user} may {self.permission} — {self.rule.where()} gives {who} "
                    f"[{verbs}] on {', '.join(self.rule.resources)}")
        if self.reason:
            return f"allowed: {self.user} may {self.permission} — {self.reason}"
        return f"refused: {self.user} lacks the permission {self.permission} (no rule grants it to their groups)"

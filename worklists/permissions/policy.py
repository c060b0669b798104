"""The permission file: per group, verbs on resources (borrowed from spiff-arena's permission yaml).

    default_group: everybody        # every active user is a member (give it little or nothing)
    groups:                         # the groups this file may name, with what they are for
      sales: Sales reps: work the sales queues, start and follow leads
    permissions:
      sales-leads:                  # an entry: a name that says why
        groups: [sales]             # and/or users: [ann]
        allowed_permissions: [start, read, read-data]
        resources: [process:lead_to_invoice, instances:lead_to_invoice]

Memberships live in the database (`crmflow users groups`); the file says what each group may do.
It is read once when the server or command starts, and checked whole: every mistake is reported
with the file, the entry and what is wrong, so a typo never silently grants or withholds.
Where it comes from: a path given by the caller, else `$CRMFLOW_PERMISSIONS`, else
`processes/permissions.yml`; without any file only the `admin` group may do anything.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .model import EVERYTHING, RESOURCE_TYPES, VERBS, Rule, split_resource

PERMISSIONS_ENV = "CRMFLOW_PERMISSIONS"
DEFAULT_FILE = Path("processes") / "permissions.yml"
DEFAULT_GROUP = "everybody"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_TOP_KEYS = {"default_group", "groups", "permissions"}
_ENTRY_KEYS = {"description", "groups", "users", "allowed_permissions", "resources"}


class PermissionFileError(ValueError):
    """The permission file cannot be used; `problems` lists every mistake, each naming its entry."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"permission file {source}: {len(problems)} problem(s):\n{lines}")


@dataclass(frozen=True)
class Policy:
    """The rules of one permission file, ready to ask."""

    rules: tuple[Rule, ...] = ()
    groups: Mapping[str, str] = field(default_factory=dict)
    default_group: str = DEFAULT_GROUP
    source: str = "(built in)"
    digest: str = ""

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Policy:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise PermissionFileError(str(path), [f"cannot read it: {err.strerror or err}"]) from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, source: str = "(text)") -> Policy:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(err, "problem", None) or str(err)
            raise PermissionFileError(source, [f"not valid YAML{where}: {problem}"]) from None
        policy = cls.from_dict(raw if raw is not None else {}, source)
        return _with_digest(policy, hashlib.sha256(text.encode()).hexdigest())

    @classmethod
    def from_dict(cls, raw: Any, source: str = "(dict)") -> Policy:
        """A policy from parsed YAML; every mistake is collected before refusing."""
        problems: list[str] = []
        if not isinstance(raw, Mapping):
            raise PermissionFileError(source, ["the file must be a mapping with groups: and permissions:"])
        for key in raw:
            if key not in _TOP_KEYS:
                problems.append(f"unknown top-level key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})")
        default_group = raw.get("default_group", DEFAULT_GROUP)
        if not isinstance(default_group, str) or not _NAME.match(default_group):
            problems.append(f"default_group: {default_group!r} is not a group name")
            default_group = DEFAULT_GROUP
        groups = _groups(raw.get("groups"), problems)
        known_groups = {*groups, default_group}
        rules: list[Rule] = []
        entries = raw.get("permissions")
        if entries is None:
            entries = {}
        if not isinstance(entries, Mapping):
            problems.append("permissions: must be a mapping of entry name → {groups, allowed_permissions, resources}")
            entries = {}
        for name, entry in entries.items():
            rule = _rule(str(name), entry, known_groups, source, problems)
            if rule is not None:
                rules.append(rule)
        if problems:
            raise PermissionFileError(source, problems)
        return cls(tuple(rules), groups, default_group, source)

    @classmethod
    def configured(cls, path: str | Path | None = None) -> Policy:
        """`path`, else `$CRMFLOW_PERMISSIONS`, else processes/permissions.yml, else the built-in policy."""
        chosen = path or os.environ.get(PERMISSIONS_ENV)
        if chosen:
            return cls.load(chosen)
        return cls.load(DEFAULT_FILE) if DEFAULT_FILE.exists() else BUILT_IN

    # -- asking ---------------------------------------------------------------------------------
    def rules_for(self, group: str | None = None, user: str | None = None) -> list[Rule]:
        """The entries naming this group or this user (all entries when neither is given)."""
        if group is None and user is None:
            return list(self.rules)
        return [r for r in self.rules if (group is not None and group in r.groups)
                or (user is not None and user in r.users)]


def _with_digest(policy: Policy, digest: str) -> Policy:
    return Policy(policy.rules, policy.groups, policy.default_group, policy.source, digest)


def _groups(value: Any, problems: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, list):  # a bare list of names is fine too
        value = dict.fromkeys(value, "")
    if not isinstance(value, Mapping):
        problems.append("groups: must map each group name to what the group is for")
        return {}
    found: dict[str, str] = {}
    for name, description in value.items():
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(f"groups: {name!r} is not a group name (letters, digits, '.', '_', '@', '-')")
            continue
        if description is not None and not isinstance(description, str):
            problems.append(f"groups: {name}: the description must be text")
        found[name] = description or ""
    return found


def _names(entry: Mapping[str, Any], key: str, where: str, problems: list[str]) -> list[str]:
    value = entry.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{where}: {key} must be a list of names")
        return []
    return [v.strip() for v in value]


def _rule(name: str, entry: Any, known_groups: set[str], source: str, problems: list[str]) -> Rule | None:
    where = f"permission {name!r}"
    if not isinstance(entry, Mapping):
        problems.append(f"{where}: must be a mapping with groups, allowed_permissions and resources")
        return None
    before = len(problems)
    for key in entry:
        if key not in _ENTRY_KEYS:
            hint = " (crmflow writes spiff-arena's `uri` as `resources`)" if key == "uri" else ""
            problems.append(f"{where}: unknown key {key!r}{hint} (known: {', '.join(sorted(_ENTRY_KEYS))})")
    groups = _names(entry, "groups", where, problems)
    users = _names(entry, "users", where, problems)
    for group in groups:
        if group not in known_groups:
            problems.append(f"{where}: group {group!r} is not declared under groups: "
                            f"(declared: {', '.join(sorted(known_groups))})")
    if not groups and not users:
        problems.append(f"{where}: names nobody: give groups and/or users")
    verbs = _names(entry, "allowed_permissions", where, problems)
    if not verbs:
        problems.append(f"{where}: allowed_permissions is empty: list verbs ({', '.join(VERBS)})")
    for verb in verbs:
        if verb not in VERBS:
            problems.append(f"{where}: unknown verb {verb!r} in allowed_permissions (verbs: {', '.join(VERBS)})")
    resources = _names(entry, "resources", where, problems)
    if not resources:
        problems.append(f"{where}: resources is empty: list resources like process:lead_to_invoice or queue:sales")
    _check_resources(resources, [v for v in verbs if v in VERBS], where, problems)
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(f"{where}: description must be text")
    if len(problems) > before:
        return None
    return Rule(name=name, verbs=frozenset(verbs), resources=tuple(resources), groups=frozenset(groups),
                users=frozenset(users), source=source, description=str(description or ""))


def _check_resources(resources: list[str], verbs: list[str], where: str, problems: list[str]) -> None:
    """Each resource well-formed; each verb applies to some resource of the entry and each resource
    to some verb (an entry may mix `process:` and `instances:` resources, like spiff-arena's)."""
    kinds: list[str] = []
    for resource in resources:
        if resource == EVERYTHING:
            kinds.append(EVERYTHING)
            continue
        kind, name = split_resource(resource)
        if kind not in RESOURCE_TYPES:
            problems.append(f"{where}: resource {resource!r} has no known type: write TYPE:NAME with TYPE one of "
                            f"{', '.join(RESOURCE_TYPES)} (or * for everything)")
            continue
        if not name:
            problems.append(f"{where}: resource {resource!r} names nothing after the colon (use {kind}:* for all)")
        if "[" in name or "]" in name:
            problems.append(f"{where}: resource {resource!r}: only * and ? are wildcards; brackets are not allowed")
        kinds.append(kind)
        if verbs and not set(verbs) & set(RESOURCE_TYPES[kind][1]):
            problems.append(f"{where}: none of the verbs applies to {kind} resources like {resource!r} "
                            f"(verbs for {kind}: {', '.join(RESOURCE_TYPES[kind][1])})")
    if not kinds or EVERYTHING in kinds:
        return
    for verb in verbs:
        if not any(verb in RESOURCE_TYPES[k][1] for k in kinds):
            types = ", ".join(sorted(set(kinds)))
            fits = ", ".join(k for k, (_, vs) in RESOURCE_TYPES.items() if verb in vs)
            problems.append(f"{where}: verb {verb!r} applies to none of its resources ({types}); "
                            f"it applies to {fits} resources")


#: without a permission file, only the `admin` group may do anything (safe, and still administrable)
BUILT_IN = Policy(
    rules=(Rule("admin-everything", frozenset(VERBS), (EVERYTHING,), frozenset({"admin"}), source="(built in)",
                description="no permission file: only admins may do anything"),),
    groups={"admin": "administrators"},
)

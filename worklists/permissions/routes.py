"""Every HTTP route declares its permission here, and the declaration is the check.

A router builds one `Guard` from the authorizer and its way of finding the current user (the
API's bearer token, the pages' session), then gives every route exactly one of:

    dependencies=[guard.need("read", "instances:{instance_id}")]   # checked before the route runs
    dependencies=[guard.login("lists are filtered by read on instances")]  # any logged-in user;
                                                                          # the service filters
    dependencies=[guard.inside("start", "process:{process_id}", "the body names the process")]
                                                                    # checked in the route/service
    dependencies=[guard.public()]                                   # no login (health, login page)

`need` fills `{param}` from the path (or query) parameter of that name, turned into a resource
name by the guard's resolvers (`instance_id` → the instance's process id, `task_id` → the task's
queue, ...); a resolver answering None (nothing with that id) leaves the route to say 404.
`route_permission(route)` reads the declaration back: the table-driven test in tests/authz runs
every route for every role against it, and fails for a route that declares nothing. This module
must not use `from __future__ import annotations`: FastAPI reads the dependencies' annotations.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam

from .authorizer import Authorizer

Kind = Literal["public", "login", "need", "inside"]
Resolver = Callable[[str], str | None]
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class RoutePermission:
    """What a route needs: nothing (public), a login, or `verb` on `resource` (a template)."""

    kind: Kind
    verb: str | None = None
    resource: str | None = None
    note: str = ""

    def __str__(self) -> str:
        if self.kind in ("public", "login"):
            return self.kind + (f" ({self.note})" if self.note else "")
        where = "checked inside" if self.kind == "inside" else "checked first"
        return f"{self.verb} on {self.resource} ({where}{': ' + self.note if self.note else ''})"


def public(note: str = "") -> DependsParam:
    """No login needed (health, metrics, the login page, problem type documentation)."""

    def public_route() -> None:
        return None

    return _declared(public_route, RoutePermission("public", note=note))


class Guard:
    """Route dependencies for one router: `current_user` is the router's own user dependency;
    `instances` (an InstanceAccess) lets `need_instance` count involvement too."""

    def __init__(
        self, authz: Authorizer, current_user: Callable[..., Any], resolvers: Mapping[str, Resolver] | None = None,
        instances: Any = None,
    ) -> None:
        self.authz = authz
        self.current_user = current_user
        self.resolvers: dict[str, Resolver] = dict(resolvers or {})
        self.instances = instances

    def public(self, note: str = "") -> DependsParam:
        return public(note)

    def login(self, note: str = "") -> DependsParam:
        current = self.current_user

        def logged_in(user: Annotated[Any, Depends(current)]) -> None:
            return None

        return _declared(logged_in, RoutePermission("login", note=note))

    def need(self, verb: str, resource: str, note: str = "", doing: str = "", **resolvers: Resolver) -> DependsParam:
        """Checked before the route runs: `verb` on `resource` with its `{param}`s filled in.
        `doing` (a template of raw parameters, e.g. "retry incident {incident_id}") words a refusal."""
        current, authz = self.current_user, self.authz
        chosen = {**self.resolvers, **resolvers}

        def permission_check(request: Request, user: Annotated[Any, Depends(current)]) -> None:
            filled = fill(resource, request, chosen)
            if filled is not None:
                authz.require(user, verb, filled, doing=fill(doing, request, {}) or "")

        return _declared(permission_check, RoutePermission("need", verb, resource, note))

    def need_instance(self, verb: str, param: str = "instance_id") -> DependsParam:
        """`verb` on `instances:<process of the instance>`, or involvement in it (started it, has or
        had a task in it) for read and read-data. An unknown instance is left to the route (404)."""
        current, access = self.current_user, self.instances

        def instance_check(request: Request, user: Annotated[Any, Depends(current)]) -> None:
            raw = str(request.path_params.get(param, ""))
            if raw.isdigit() and 0 < int(raw) < 2**31 and access.exists(int(raw)):
                access.require(user, verb, int(raw))

        perm = RoutePermission("need", verb, f"instances:{{{param}}}", "or involvement in the instance")
        return _declared(instance_check, perm)

    def inside(self, verb: str, resource: str, note: str) -> DependsParam:
        """Declared here, checked by the route or the service it calls (e.g. a resource named in the
        body, or a task's own rules); the route still needs a login."""
        current = self.current_user

        def checked_inside(user: Annotated[Any, Depends(current)]) -> None:
            return None

        return _declared(checked_inside, RoutePermission("inside", verb, resource, note))


def fill(template: str, request: Request, resolvers: Mapping[str, Resolver]) -> str | None:
    """The template with each `{param}` replaced by its resolved value; None when one resolves to nothing."""
    values: dict[str, str] = {}
    for name in _PLACEHOLDER.findall(template):
        raw = request.path_params.get(name, request.query_params.get(name))
        if raw is None:
            return None
        resolve = resolvers.get(name)
        value = resolve(str(raw)) if resolve is not None else str(raw)
        if value is None:
            return None
        values[name] = value
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _declared(func: Callable[..., None], permission: RoutePermission) -> DependsParam:
    func.__permission__ = permission  # type: ignore[attr-defined]
    return Depends(func)


def route_permission(route: Any) -> RoutePermission | None:
    """The permission a route declared through a Guard (None: it declared nothing)."""
    found = declared_permissions(route)
    return found[0] if len(found) == 1 else None


def declared_permissions(route: Any) -> list[RoutePermission]:
    """Every Guard declaration among a route's dependencies (a route should have exactly one)."""
    dependant = getattr(route, "dependant", None)
    found: list[RoutePermission] = []
    stack = [dependant] if dependant is not None else []
    while stack:
        current = stack.pop()
        perm = getattr(current.call, "__permission__", None)
        if isinstance(perm, RoutePermission) and perm not in found:
            found.append(perm)
        stack.extend(current.dependencies)
    return found

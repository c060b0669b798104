"""Service-task handlers: plain typed functions registered under operation names.

A diagram's service task names an operation (`sales/qualify_lead`) and its parameters;
the engine looks the operation up here and calls the function with a `ServiceContext`
and the evaluated parameters as keyword arguments. Handlers never see SpiffWorkflow.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any

from sqlalchemy.orm import Session

from .errors import EngineError

Handler = Callable[..., Any]
ENTRY_POINT_GROUP = "crmflow.handlers"
_PLAIN = (str, int, float, bool, type(None))


def to_json_value(value: Any) -> Any:
    """The one JSON coercion (handler results, task data, history deltas, records): plain JSON data
    passes through unchanged; Decimal becomes its string, dates and datetimes ISO text, sets sorted
    lists; anything else is a TypeError naming its type."""
    if _is_plain(value):
        return value
    return json.loads(json.dumps(value, default=_json_default))


def _is_plain(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return False


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"a {type(value).__name__} is not JSON data")


class BpmnError(Exception):
    """Raised by a handler for a business error the diagram can catch.

    The engine routes it to the error boundary event whose error code matches `code`
    (or a boundary event with no code); uncaught, it becomes an incident.
    """

    def __init__(self, code: str, message: str = "", data: dict[str, Any] | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        self.data = data or {}


class UnknownOperation(EngineError):
    code = "unknown_operation"


@dataclass
class ServiceContext:
    """What a handler may know about the step it runs in.

    `session` is the unit of work's database session: records written through it commit
    or roll back with the workflow step. `idempotency_key` is stable across retries of the
    same task, so a handler can recognise a call it already carried out.
    """

    session: Session
    instance_id: int
    process_id: str
    business_key: str | None
    element_id: str
    task_id: str
    now: datetime
    attempt: int = 1
    #: who set this step going (completed the task, sent the start), None for timers and workers
    user: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    _sent: int = 0

    @property
    def idempotency_key(self) -> str:
        return f"{self.instance_id}:{self.task_id}"

    def send(self, channel: str, payload: dict[str, Any], key: str | None = None) -> str:
        """Queue a side effect (e.g. channel 'email') in this step's transaction.

        It is delivered after commit, once per key. The default key is stable across
        retries of this task as long as the handler sends in the same order.
        """
        from .outbox import enqueue

        self._sent += 1
        key = key or f"{self.idempotency_key}:{self._sent}"
        enqueue(self.session, channel, payload, key, self.now, self.instance_id)
        return key


class HandlerRegistry:
    """Operation name → handler function. Filled by `register`, decorators or modules."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, name: str, func: Handler) -> Handler:
        if not name or "/" not in name:
            raise ValueError(f"operation name {name!r} must look like 'area/action'")
        existing = self._handlers.get(name)
        if existing is not None and existing is not func:
            raise ValueError(f"operation {name!r} is already registered to {existing.__qualname__}")
        self._handlers[name] = func
        return func

    def operation(self, name: str) -> Callable[[Handler], Handler]:
        """Decorator form of `register`."""

        def decorate(func: Handler) -> Handler:
            return self.register(name, func)

        return decorate

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def __contains__(self, name: str) -> bool:
        return name in self._handlers

    def get(self, name: str) -> Handler:
        try:
            return self._handlers[name]
        except KeyError:
            raise UnknownOperation(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self._handlers, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"no handler is registered for service operation '{name}'{hint}"

    def call(self, name: str, ctx: ServiceContext, params: dict[str, Any]) -> Any:
        """Call a handler, first checking the parameters against its signature."""
        func = self.get(name)
        check_arguments(name, func, params)
        return func(ctx, **params)

    def load_modules(self, modules: Iterable[str]) -> None:
        """Import modules that expose `register(registry)`."""
        for module_name in modules:
            module = importlib.import_module(module_name)
            register = getattr(module, "register", None)
            if register is None:
                raise ValueError(f"handler module {module_name!r} has no register(registry) function")
            register(self)

    def load_entry_points(self) -> None:
        """Plug-ins: every `crmflow.handlers` entry point is a `register(registry)` callable."""
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            ep.load()(self)


@functools.lru_cache(maxsize=1024)
def _signature(func: Handler) -> inspect.Signature:
    return inspect.signature(func)


def check_arguments(name: str, func: Handler, params: dict[str, Any]) -> None:
    """A clear error for parameters the diagram passes but the handler does not take."""
    sig = _signature(func)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    names = list(sig.parameters)[1:]  # the first parameter is the context
    if not accepts_any:
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise TypeError(
                f"operation '{name}' does not take parameter(s) {', '.join(unknown)}; "
                f"it takes {', '.join(names) or 'none'}"
            )
    missing = [
        p.name
        for p in list(sig.parameters.values())[1:]
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and p.name not in params
    ]
    if missing:
        raise TypeError(f"operation '{name}' needs parameter(s) {', '.join(missing)} that the diagram does not pass")

"""Which task a diagram script runs for, while it runs.

spiff-arena's helper functions (`get_current_user()`, `get_toplevel_process_info()`, ...) and the
clocked `datetime.now()` need to know the task, the instance and the engine's time of the step
that runs the script. The script engine opens a `script_scope` around every evaluate/execute;
the helpers read it through `current()`. A context variable, so concurrent steps in threads or
tasks never see each other's scope.
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .clock import _current as _engine_time
from .scoped import Scoped
from .services import ServiceContext

ContextFactory = Callable[[Any], ServiceContext]


@dataclass
class ScriptCall:
    """One evaluate/execute: its task, and how to learn about the step it belongs to."""

    task: Any
    context_factory: ContextFactory | None = None
    _context: ServiceContext | None = field(default=None, repr=False)
    _random: random.Random | None = field(default=None, repr=False)

    def context(self) -> ServiceContext | None:
        """The step's ServiceContext (instance, user, time, session), built on first use."""
        if self._context is None and self.context_factory is not None and self.task is not None:
            self._context = self.context_factory(self.task)
        return self._context

    def rng(self) -> random.Random:
        """This script's own generator: `random.seed()` in one script never reaches another."""
        if self._random is None:
            self._random = random.Random()
        return self._random


_current: contextvars.ContextVar[ScriptCall | None] = contextvars.ContextVar("crmflow_script_call", default=None)


def script_scope(task: Any, context_factory: ContextFactory | None = None) -> Scoped:
    """Run a script or expression for `task` (nested scopes, e.g. a DMN cell, stack); the block
    gets the `ScriptCall`."""
    return Scoped((_current, ScriptCall(task, context_factory)))


def current() -> ScriptCall | None:
    return _current.get()


def engine_now() -> datetime:
    """The engine's time for this step (UTC, aware): the unit's time, else the engine call's
    frozen time, else the wall clock (a script evaluated outside any engine call)."""
    call = _current.get()
    ctx = call.context() if call is not None else None
    if ctx is not None:
        now = ctx.now
    else:
        now = _engine_time.get() or datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)

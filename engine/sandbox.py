"""Restricted evaluator for everything analysts write into diagrams.

SpiffWorkflow's ``TaskDataEnvironment`` ``exec``s scripts with task data as globals: emptying
``__builtins__`` still lets ``().__class__.__base__.__subclasses__()`` reach the interpreter.
Script tasks, pre/post scripts, gateway conditions, DMN cells, timer and service-parameter
expressions therefore run here instead: compiled by RestrictedPython with a stricter policy
(``_SandboxTransformer``) and executed against guard functions that refuse introspection,
writes to foreign objects, unlisted imports and single operations that would allocate
absurd amounts of memory or CPU.

The guards alone are not a hard resource jail (C code such as ``repr`` of a shared structure
runs unchecked), so code that is not provably cheap (engine/sandbox_cheap.py) runs in a forked
child bounded by the operating system (engine/sandbox_worker.py, limits in
engine/sandbox_limits.py, docs/limits.md).
"""


from __future__ import annotations

import copy
import functools
import types
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.script_engine.python_environment import (
    BasePythonScriptEngineEnvironment,
    TaskDataEnvironment,
)

from . import sandbox_cheap, sandbox_limits, script_scope
from .arena_helpers import NEEDS_DATABASE
from .sandbox_builtins import _BUILTINS, _CHEAP_GUARDS, _GUARDS
from .sandbox_compile import _compiled, check_source, clear_compile_cache, compile_cache_info
from .sandbox_core import (
    DEFAULT_TIME_LIMIT,
    MAX_INT_BITS,
    MAX_RANGE,
    MAX_SEQUENCE,
    SandboxCompileError,
    SandboxError,
    _enter,
    _leave,
)
from .sandbox_worker import LimitExceeded, run_limited
from .script_data import DataProblem, check_data

__all__ = [
    "MAX_INT_BITS",
    "MAX_RANGE",
    "MAX_SEQUENCE",
    "DEFAULT_TIME_LIMIT",
    "RestrictedEnvironment",
    "SandboxCompileError",
    "SandboxError",
    "check_source",
    "clear_compile_cache",
    "compile_cache_info",
]



# --- the environment ------------------------------------------------------------------------------


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Drop-in for SpiffWorkflow's ``TaskDataEnvironment`` that runs code in the sandbox.

    Same data semantics: ``evaluate`` sees environment globals < external context < task data;
    ``execute`` runs with the task data dict as namespace, then strips builtins, callables,
    environment globals and external-context names back out of it.
    """

    def __init__(
        self, environment_globals: dict | None = None, *, time_limit: float | None = DEFAULT_TIME_LIMIT
    ) -> None:
        super().__init__(environment_globals)
        self.time_limit = time_limit

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        code = _compiled(expression, "eval")
        my_globals = self.globals.copy()
        self._prepare_context(context)
        if external_context:
            my_globals.update(external_context)
        my_globals.update(context)
        if sandbox_cheap.is_cheap(expression):  # bounded by its text: stays in-process
            try:
                return self._eval_here(code, my_globals, _CHEAP_GUARDS)
            except sandbox_cheap.NeedsIsolation:
                pass  # its arithmetic outgrew the cheap bounds: again, in a bounded child
        limits = sandbox_limits.current()  # after the cheap path: reading the environment costs µs
        if not limits.isolation:
            return self._eval_here(code, my_globals, _GUARDS)
        return _isolated(self._eval_here, (code, my_globals, _GUARDS), limits, "expression")

    def _eval_here(self, code: types.CodeType, my_globals: dict, guards: dict[str, Any]) -> Any:
        my_globals.update(guards)  # last: data can't replace a guard
        saved = _enter(self.time_limit)
        try:
            return eval(code, my_globals)
        finally:
            _leave(saved)

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        code = _compiled(script, "exec")
        self.check_for_overwrite(context, external_context or {})
        if sandbox_cheap.is_cheap_script(script):  # a few assignments: stays in-process
            snapshot = dict(context)
            try:
                self._exec_here(code, context, external_context, _CHEAP_GUARDS)
                return True
            except sandbox_cheap.NeedsIsolation:
                context.clear()  # it only rebinds names: the shallow copy undoes it
                context.update(snapshot)
        limits = sandbox_limits.current()
        if not limits.isolation:
            self._exec_here(code, context, external_context)
            return True
        result = _isolated(self._exec_here, (code, context, external_context), limits, "script")
        context.clear()
        context.update(result)
        return True

    def _exec_here(
        self, code: types.CodeType, context: dict, external_context: dict | None, guards: dict[str, Any] = _GUARDS
    ) -> dict:
        my_globals = copy.copy(self.globals)
        self._prepare_context(context)
        my_globals.update(external_context or {})
        context.update(my_globals)
        context.update(guards)
        saved = _enter(self.time_limit)
        try:
            exec(code, context)
        finally:
            _leave(saved)
            self._remove_globals_and_functions_from_context(context, external_context)
        try:
            check_data(context)  # a generator or a 5,000-digit int would fail only when saved
        except DataProblem as err:
            raise SandboxError(f"the script left {err}") from None
        return context

    def call_service(self, context: dict, **kwargs: Any) -> Any:
        raise NotImplementedError("the engine's script engine overrides call_service")

    def _prepare_context(self, context: dict) -> None:
        """Hook kept from TaskDataEnvironment for subclasses."""

    def _remove_globals_and_functions_from_context(
        self, context: dict, external_context: dict | None = None
    ) -> None:
        for key in _GUARDS:
            context.pop(key, None)
        for key in list(context):
            if (
                callable(context[key])
                or isinstance(context[key], types.ModuleType)  # `import math` leaves no module in data
                or key in self.globals
                or (external_context and key in external_context)
            ):
                context.pop(key)

    def check_for_overwrite(self, context: dict, external_context: dict) -> None:
        """Fail fast, as TaskDataEnvironment does, when task data shadows a predefined name;
        also when it uses a name the sandbox reserves for its guards."""
        TaskDataEnvironment.check_for_overwrite(self, context, external_context)  # type: ignore[arg-type]
        reserved = set(_GUARDS).intersection(context)
        if reserved:
            raise ValueError(
                "Task data uses name(s) reserved by the script sandbox; please rename: "
                f"{sorted(reserved)}"
            )


def _isolated(fn: Callable[..., Any], args: tuple[Any, ...], limits: sandbox_limits.SandboxLimits, what: str) -> Any:
    """Run `fn(*args)` in a child bounded by `limits` (engine/sandbox_worker.py); the child's
    error is raised here as if raised at its script line, an overrun as a SandboxError."""
    call = script_scope.current()
    if call is not None:
        try:
            call.context()  # built here, so the child never touches the database session
        except Exception:  # noqa: BLE001 - the helpers report a missing context themselves
            pass
    parent_functions = {name: _BUILTINS[name] for name in NEEDS_DATABASE if name in _BUILTINS}
    try:
        result, error, line = run_limited(
            _in_child, (fn, args, tuple(parent_functions)), limits, what=what, parent_functions=parent_functions
        )
    except LimitExceeded as err:
        raise SandboxError(str(err)) from None
    if error is None:
        return result
    if line > 0:  # a frame named <string> at that line: SpiffWorkflow reports the script line
        exec(compile("\n" * (line - 1) + "raise _crmflow_error_", "<string>", "exec"), {"_crmflow_error_": error})
    raise error


def _in_child(fn: Callable[..., Any], args: tuple[Any, ...], parent_names: tuple[str, ...]) -> Any:
    """Inside the child: helpers that read the database ask the parent, then run `fn`."""
    from .sandbox_worker import call_parent

    for name in parent_names:
        _BUILTINS[name] = functools.wraps(_BUILTINS[name])(functools.partial(call_parent, name))
    return fn(*args)

"""What a script's namespace holds: the builtins it may call and the guard functions the compiled
code calls (``_GUARDS``; ``_CHEAP_GUARDS`` for the in-process path of engine/sandbox_cheap.py),
with spiff-arena's script environment added (engine/script_env.py)."""

from __future__ import annotations

import datetime as _datetime
import logging
import operator
import types
from collections.abc import Callable
from typing import Any, NoReturn

from RestrictedPython import safe_builtins
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
)

from . import sandbox_cheap
from .sandbox_core import _MODULE_ATTRS, _MODULES, _TYPE_STAND_INS, Decimal, _guarded_getiter, _refuse, _tick
from .sandbox_guards import (
    _apply,
    _format_value,
    _guarded_add,
    _guarded_getattr,
    _guarded_hasattr,
    _guarded_import,
    _guarded_inplacevar,
    _guarded_iter,
    _guarded_lshift,
    _guarded_mod,
    _guarded_mul,
    _guarded_pow,
    _guarded_range,
    _guarded_round,
    _guarded_type,
    _guarded_write,
)
from .script_env import install as _install_script_env

log = logging.getLogger("engine.sandbox")


def _sandbox_print(*args: Any, sep: str = " ", end: str = "") -> None:
    """print() goes to the log (debug), never to stdout or a file."""
    log.debug("script print: %s", str(sep).join(str(a) for a in args) + str(end))


def _not_allowed(name: str) -> Callable[..., NoReturn]:
    def refused(*args: Any, **kwargs: Any) -> NoReturn:
        _refuse(f"{name!r} is not allowed in diagram scripts")

    refused.__name__ = name
    return refused


# Refused at runtime (not compile time) so task data may still use these names for values.
_RUNTIME_REFUSED = (
    "open", "input", "memoryview", "object", "setattr", "delattr", "super", "bytes", "bytearray",
    "classmethod", "staticmethod", "property", "help", "exit", "quit", "id", "map", "filter",
)
# Refused at compile time, wherever they appear: nothing legitimate is called this.
_COMPILE_REFUSED = frozenset(
    {"eval", "exec", "compile", "globals", "locals", "vars", "dir", "breakpoint", "printed"}
)
_EXCLUDED_EXCEPTIONS = {"BaseException", "GeneratorExit", "KeyboardInterrupt", "SystemExit"}


def _build_builtins() -> dict[str, Any]:
    b: dict[str, Any] = {}
    # From RestrictedPython's safe_builtins: the exceptions (minus those that would stop the
    # worker process) and the plain functions; its setattr/delattr/pow/range are replaced.
    for name, value in safe_builtins.items():
        if isinstance(value, type) and issubclass(value, BaseException):
            if name not in _EXCLUDED_EXCEPTIONS:
                b[name] = value
    for name in (
        "None", "False", "True", "abs", "bool", "callable", "chr", "divmod", "float", "hex",
        "int", "isinstance", "issubclass", "len", "oct", "ord", "repr", "slice", "str",
    ):
        b[name] = safe_builtins[name]
    b.update(
        all=all, any=any, bin=bin, dict=dict, enumerate=enumerate, frozenset=frozenset, list=list,
        max=max, min=min, next=next, reversed=reversed, set=set, sorted=sorted, sum=sum,
        tuple=tuple, zip=zip,
    )
    b.update(
        range=_guarded_range, pow=_guarded_pow, round=_guarded_round, type=_guarded_type,
        iter=_guarded_iter, getattr=_guarded_getattr, hasattr=_guarded_hasattr,
        format=_format_value, __import__=_guarded_import,
    )
    for name in _RUNTIME_REFUSED:
        b[name] = _not_allowed(name)
    _TYPE_STAND_INS.update(
        {range: _guarded_range, bytes: b["bytes"], bytearray: b["bytearray"], types.ModuleType: _not_allowed("module"),
         memoryview: b["memoryview"], object: b["object"], map: b["map"], filter: b["filter"]}
    )
    # CRM helpers live in builtins, not environment globals: a task-data field called `date`
    # then simply shadows them instead of tripping check_for_overwrite.
    b.update(
        datetime=_datetime.datetime, date=_datetime.date, timedelta=_datetime.timedelta,
        timezone=_datetime.timezone, Decimal=Decimal, math=_MODULES["math"],
    )
    return b


_BUILTINS = _build_builtins()

# Names the compiled code calls; all start with "_", so scripts can neither read nor rebind them.
_GUARDS: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": operator.getitem,
    "_getiter_": _guarded_getiter,
    "_write_": _guarded_write,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_inplacevar_": _guarded_inplacevar,
    "_apply_": _apply,
    "_mul_": _guarded_mul,
    "_pow_": _guarded_pow,
    "_add_": _guarded_add,
    "_lshift_": _guarded_lshift,
    "_mod_": _guarded_mod,
    "_format_": _format_value,
    "_tick_": _tick,
    "_print_fn_": _sandbox_print,
}

_CHEAP_GUARDS = sandbox_cheap.cheap_guards(_GUARDS)


# spiff-arena's script environment (issue 19): its modules and helper functions join the builtins.
_install_script_env(_BUILTINS, _MODULES, _MODULE_ATTRS, _TYPE_STAND_INS)

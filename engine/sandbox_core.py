"""The sandbox's ground: its limits, its errors, the safe modules and classes scripts see, and the
per-call state (loop time budget, decimal context). Everything else in the sandbox builds on it."""

from __future__ import annotations

import datetime as _datetime
import decimal
import functools
import math
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

# --- limits --------------------------------------------------------------------------------

MAX_RANGE = 1_000_000
"""Most items a ``range()`` may have."""
MAX_SEQUENCE = 10_000_000
"""Most items/characters one ``*``, ``+``, padding, join or replace may produce."""
MAX_INT_BITS = 16_384
"""Largest int one ``*``/``**``/``<<`` may produce (~4,900 digits; Python won't print more
than 4,300 anyway). Stops ``10 ** 10 ** 10`` before CPython starts on it."""
MAX_FORMAT_WIDTH = 10_000
"""Largest width/precision in a format spec (``f"{x:>{n}}"``, ``"%*d"``)."""
MAX_DECIMAL_DIGITS = 4_300
"""Largest |exponent| of a Decimal made in a script: ``int(Decimal('1e999999'))`` takes 25 s."""
DEFAULT_TIME_LIMIT = 10.0
"""Seconds a single evaluate/execute may spend in loops before it is stopped."""
COMPILE_CACHE_SIZE = 4096

ALLOWED_MODULES = ("datetime", "decimal", "math")


class SandboxError(Exception):
    """A script/expression was refused or failed to compile in the sandbox.

    ``str()`` is a clear one-line reason. Derives from Exception (not BaseException) so
    SpiffWorkflow wraps it in ``WorkflowTaskException`` naming the diagram element.
    """


class SandboxCompileError(SandboxError, SyntaxError):
    """Refused at compile time; a SyntaxError too, so SpiffWorkflow reports the line number."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.msg = message
        self.lineno = lineno

    def __str__(self) -> str:
        return self.msg


def _refuse(message: str) -> NoReturn:
    raise SandboxError(message)


# --- safe modules and classes ----------------------------------------------------------------


class _GuardedClassMeta(type):
    """Stand-in for a real class: isinstance()/issubclass() and class attributes behave like the
    real one, but calling it goes through a checking constructor."""

    _real: type
    _construct: Callable[..., Any]

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._real)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._real)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._construct(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        try:
            return getattr(cls._real, name)
        except AttributeError:
            # A fresh error: the original's ``.obj`` would hand out the unguarded class.
            raise AttributeError(f"type object {cls._real.__name__!r} has no attribute {name!r}") from None

    def __repr__(cls) -> str:
        return repr(cls._real)


def _check_decimal(value: decimal.Decimal) -> decimal.Decimal:
    if value.is_finite() and value and abs(value.adjusted()) > MAX_DECIMAL_DIGITS:
        _refuse(f"Decimal with exponent {value.adjusted()} is refused (limit ±{MAX_DECIMAL_DIGITS})")
    return value


def _make_decimal(value: Any = "0", context: decimal.Context | None = None) -> decimal.Decimal:
    """Decimal() for scripts: refuses huge exponents, which later int()/format() would expand."""
    return _check_decimal(decimal.Decimal(value, context))


class Decimal(metaclass=_GuardedClassMeta):
    """``decimal.Decimal`` as scripts see it (construction is size-checked)."""

    _real = decimal.Decimal
    _construct = staticmethod(_make_decimal)


# type(x) hands back the stand-in, so type(d)('1e999999') is checked too; filled in below.
_TYPE_STAND_INS: dict[type, Any] = {decimal.Decimal: Decimal}


def _guarded_math(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(x: Any, *args: Any) -> Any:
        if isinstance(x, decimal.Decimal):
            _check_decimal(x)
        return fn(x, *args)

    return call


_MATH_NAMES = (
    "ceil", "copysign", "cos", "degrees", "e", "exp", "fabs", "floor", "fmod", "fsum", "gcd",
    "hypot", "inf", "isclose", "isfinite", "isinf", "isnan", "log", "log10", "log2", "nan", "pi",
    "pow", "radians", "sin", "sqrt", "tan", "tau", "trunc",
)  # not factorial/comb/perm/prod/lcm: one call can run for minutes
_DATETIME_NAMES = ("MAXYEAR", "MINYEAR", "UTC", "date", "datetime", "time", "timedelta", "timezone", "tzinfo")
_DECIMAL_NAMES = (
    "Decimal", "DecimalException", "DivisionByZero", "InvalidOperation", "Overflow",
    "ROUND_05UP", "ROUND_CEILING", "ROUND_DOWN", "ROUND_FLOOR", "ROUND_HALF_DOWN",
    "ROUND_HALF_EVEN", "ROUND_HALF_UP", "ROUND_UP",
)  # not getcontext/setcontext/localcontext: the decimal context is process state


def _module(name: str, attrs: dict[str, Any]) -> types.ModuleType:
    """A fresh module holding only allow-listed names, so ``from m import x`` can't reach more."""
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    return mod


_MATH_ATTRS: dict[str, Any] = {n: getattr(math, n) for n in _MATH_NAMES}
for _n in ("floor", "ceil", "trunc"):
    _MATH_ATTRS[_n] = _guarded_math(getattr(math, _n))

_MODULES: dict[str, types.ModuleType] = {
    "datetime": _module("datetime", {n: getattr(_datetime, n) for n in _DATETIME_NAMES}),
    "decimal": _module(
        "decimal", {n: Decimal if n == "Decimal" else getattr(decimal, n) for n in _DECIMAL_NAMES}
    ),
    "math": _module("math", _MATH_ATTRS),
}
_MODULE_ATTRS: dict[str, frozenset[str]] = {
    "datetime": frozenset(_DATETIME_NAMES),
    "decimal": frozenset(_DECIMAL_NAMES),
    "math": frozenset(_MATH_NAMES),
}

# --- per-call state: loop budget and decimal context -------------------------------------------

_state = threading.local()
_monotonic = time.monotonic
_DECIMAL_CONTEXT = decimal.Context(
    prec=28, rounding=decimal.ROUND_HALF_EVEN, Emax=MAX_DECIMAL_DIGITS, Emin=-MAX_DECIMAL_DIGITS,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


def _time_exceeded() -> NoReturn:
    _refuse("script stopped: it ran longer than its time limit (endless loop?)")


def _tick(value: Any = None) -> Any:
    """Called at the top of every while-loop body, function and lambda."""
    deadline = getattr(_state, "deadline", None)
    if deadline is not None and _monotonic() > deadline:
        _time_exceeded()
    return value


def _ticking(it: Iterator[Any], deadline: float) -> Iterator[Any]:
    for item in it:
        if _monotonic() > deadline:
            _time_exceeded()
        yield item


def _guarded_getiter(ob: Any) -> Iterator[Any]:
    """``_getiter_``: every for-loop and comprehension; checks the time budget per item."""
    it = iter(ob)
    deadline = getattr(_state, "deadline", None)
    return it if deadline is None else _ticking(it, deadline)


def _enter(time_limit: float | None) -> tuple[float | None, decimal.Context]:
    previous_deadline = getattr(_state, "deadline", None)
    deadline = None if time_limit is None else _monotonic() + time_limit
    if previous_deadline is not None and (deadline is None or previous_deadline < deadline):
        deadline = previous_deadline
    _state.deadline = deadline
    ctx = getattr(_state, "decimal_context", None)
    if ctx is None:
        ctx = _state.decimal_context = _DECIMAL_CONTEXT.copy()
    previous_ctx = decimal.getcontext()
    decimal.setcontext(ctx)
    return previous_deadline, previous_ctx


def _leave(saved: tuple[float | None, decimal.Context]) -> None:
    _state.deadline = saved[0]
    decimal.setcontext(saved[1])

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

import ast
import copy
import datetime as _datetime
import decimal
import functools
import logging
import math
import operator
import re
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    raise_,
    safer_getattr,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.script_engine.python_environment import (
    BasePythonScriptEngineEnvironment,
    TaskDataEnvironment,
)

from . import sandbox_cheap, sandbox_limits, script_scope
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

log = logging.getLogger(__name__)

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


# --- attribute, item and write guards ------------------------------------------------------------

_DENIED_ATTRS = frozenset(INSPECT_ATTRIBUTES) | {
    "mro",  # type.mro() lists base classes, the first step towards object.__subclasses__
    "func_globals", "func_code", "func_closure", "im_func", "im_self", "im_class",
}
_FORMAT_ATTRS = frozenset({"format", "format_map"})
_SIZED_METHODS = frozenset(
    {"ljust", "rjust", "center", "zfill", "expandtabs", "join", "replace", "translate"}
)


def _attribute_refusal(obj: Any, name: str) -> str | None:
    """Why ``obj.name`` is refused, or None. Shared by ``_getattr_``, getattr() and hasattr()."""
    if type(name) is not str:
        return "attribute names must be strings"
    if name.startswith("_") or name in _DENIED_ATTRS:
        return f"access to attribute {name!r} is refused"
    if name in _FORMAT_ATTRS and (
        isinstance(obj, str) or (isinstance(obj, type) and issubclass(obj, str))
    ):
        return f'"{name}" on strings is refused (use f-strings)'
    if isinstance(obj, types.ModuleType):
        allowed = _MODULE_ATTRS.get(obj.__name__, frozenset())
        if name not in allowed:
            return f"attribute {name!r} of module {obj.__name__!r} is refused"
    if name == "obj" and isinstance(obj, BaseException):
        return "access to attribute 'obj' of exceptions is refused"
    return None


def _guarded_getattr(obj: Any, name: str, default: Any = raise_) -> Any:
    """``_getattr_`` for ``obj.name`` (and the getattr() builtin).

    Refuses the introspection names, str.format*, module internals, then defers to
    RestrictedPython's ``safer_getattr`` and size-checks string padding/joining methods.
    """
    reason = _attribute_refusal(obj, name)
    if reason is not None:
        _refuse(reason)
    value = safer_getattr(obj, name, default)
    if name in _SIZED_METHODS and isinstance(obj, (str, bytes)):
        return _sized_method(obj, name, value)
    if name == "to_bytes" and isinstance(obj, int):
        return _checked_to_bytes(value)
    if name == "from_bytes" and isinstance(obj, type) and issubclass(obj, int):
        return _checked_from_bytes(value)
    return value


def _guarded_hasattr(obj: Any, name: str) -> bool:
    reason = _attribute_refusal(obj, name)
    if reason is not None:
        _refuse(reason)
    return hasattr(obj, name)


def _guarded_write(ob: Any) -> Any:
    """``_write_``: scripts may change dicts and lists (task data), nothing else.

    Modules, classes and library objects are shared by every workflow in the process.
    """
    if isinstance(ob, (dict, list)):
        return ob
    if hasattr(type(ob), "_guarded_writes"):
        return full_write_guard(ob)  # RestrictedPython's opt-in for objects that guard themselves
    _refuse(f"changing a {type(ob).__name__} object is refused (only dicts and lists can be changed)")


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``_apply_``: calls written with ``*args``/``**kwargs``."""
    return func(*args, **kwargs)


# --- size guards ------------------------------------------------------------------------------

_REPEATABLE = (str, bytes, bytearray, list, tuple)


def _too_big(what: str, size: int, limit: int = MAX_SEQUENCE) -> NoReturn:
    _refuse(f"{what} would create {size:,} items/characters (limit {limit:,})")


def _check_repeat(seq: Any, times: int) -> None:
    if times > 0 and len(seq) * times > MAX_SEQUENCE:
        _too_big(f"repeating a {type(seq).__name__} {times:,} times", len(seq) * times)


def _int_too_big(op: str) -> NoReturn:
    _refuse(f"'{op}' result is too large (ints are limited to {MAX_INT_BITS:,} bits)")


def _guarded_mul(a: Any, b: Any) -> Any:
    """``a * b``: refuses huge ints and sequence repetition such as ``'a' * 10**10``."""
    if type(a) is int and type(b) is int:
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            _int_too_big("*")
    elif isinstance(a, _REPEATABLE) and isinstance(b, int):
        _check_repeat(a, b)
    elif isinstance(b, _REPEATABLE) and isinstance(a, int):
        _check_repeat(b, a)
    return a * b


def _check_pow(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        if b > MAX_INT_BITS or math.log2(abs(a)) * b > MAX_INT_BITS:
            _int_too_big("**")


def _guarded_pow(a: Any, b: Any, mod: Any = None) -> Any:
    """``a ** b`` and pow(): refuses ``10 ** 10 ** 10`` before CPython starts computing it."""
    if mod is not None:
        return pow(a, b, mod)  # bounded by the modulus
    _check_pow(a, b)
    return a**b


def _guarded_lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and a and b > 0 and a.bit_length() + b > MAX_INT_BITS:
        _int_too_big("<<")
    return a << b


def _guarded_add(a: Any, b: Any) -> Any:
    """``a + b``: stops ``s = s + s`` doubling past the sequence limit."""
    if isinstance(a, _REPEATABLE) and isinstance(b, _REPEATABLE) and len(a) + len(b) > MAX_SEQUENCE:
        _too_big("concatenating", len(a) + len(b))
    return a + b


_PERCENT_SPEC = re.compile(r"%%|%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent_format(fmt: str | bytes) -> None:
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    for match in _PERCENT_SPEC.finditer(text):
        for part in match.groups():
            if part == "*":
                _refuse("'*' width/precision in %-formatting is refused")
            if part is not None and int(part) > MAX_FORMAT_WIDTH:
                _refuse(f"format width/precision {int(part):,} is refused (limit {MAX_FORMAT_WIDTH:,})")


def _guarded_mod(a: Any, b: Any) -> Any:
    """``a % b``: for strings, checks %-format widths (``'%999999999d' % 1``)."""
    if isinstance(a, (str, bytes)):
        _check_percent_format(a)
    return a % b


_CONVERSIONS: dict[int, Callable[[Any], str]] = {ord("s"): str, ord("r"): repr, ord("a"): ascii}
_DIGITS = re.compile(r"\d+")


def _format_value(value: Any, spec: str = "", conversion: int = -1) -> str:
    """f-string fields with a format spec, and the format() builtin: widths are checked."""
    if conversion in _CONVERSIONS:
        value = _CONVERSIONS[conversion](value)
    if type(spec) is not str:
        raise TypeError("format spec must be a string")
    for digits in _DIGITS.findall(spec):
        if len(digits) > 5 or int(digits) > MAX_FORMAT_WIDTH:
            _refuse(f"format width/precision {digits} is refused (limit {MAX_FORMAT_WIDTH:,})")
    if isinstance(value, decimal.Decimal):
        _check_decimal(value)
    return format(value, spec)


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "|=": operator.ior, "&=": operator.iand, "^=": operator.ixor,
    "@=": operator.imatmul,
}


def _guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    """``_inplacevar_``: ``x += 1`` becomes ``x = _inplacevar_('+=', x, 1)``; same guards as the
    binary operators, and lists still grow in place."""
    if op == "+=":
        if isinstance(target, _REPEATABLE) and isinstance(value, _REPEATABLE):
            if len(target) + len(value) > MAX_SEQUENCE:
                _too_big("concatenating", len(target) + len(value))
    elif op == "*=":
        if type(target) is int and type(value) is int:
            if target.bit_length() + value.bit_length() > MAX_INT_BITS:
                _int_too_big("*=")
        elif isinstance(target, _REPEATABLE) and isinstance(value, int):
            _check_repeat(target, value)
        elif isinstance(value, _REPEATABLE) and isinstance(target, int):
            _check_repeat(value, target)
    elif op == "**=":
        _check_pow(target, value)
    elif op == "<<=":
        return _guarded_lshift(target, value)
    elif op == "%=" and isinstance(target, (str, bytes)):
        _check_percent_format(target)
    try:
        fn = _INPLACE[op]
    except KeyError:
        _refuse(f"operator {op!r} is refused")
    return fn(target, value)


def _sized_method(obj: str | bytes, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps str/bytes methods whose result size is set by an argument (``'x'.ljust(10**10)``)."""
    if name in ("ljust", "rjust", "center", "zfill"):

        def padded(width: int, *args: Any) -> Any:
            if isinstance(width, int) and width > MAX_SEQUENCE:
                _too_big(f"{name}()", width)
            return method(width, *args)

        return padded
    if name == "expandtabs":

        def expandtabs(tabsize: int = 8) -> Any:
            tab = "\t" if isinstance(obj, str) else b"\t"
            size = len(obj) + obj.count(tab) * max(tabsize, 0)  # type: ignore[arg-type]
            if size > MAX_SEQUENCE:
                _too_big("expandtabs()", size)
            return method(tabsize)

        return expandtabs
    if name == "join":

        def join(iterable: Iterable[Any]) -> Any:
            items = list(iterable)
            size = len(obj) * max(len(items) - 1, 0)
            size += sum(len(i) for i in items if isinstance(i, (str, bytes)))
            if size > MAX_SEQUENCE:
                _too_big("join()", size)
            return method(items)

        return join
    if name == "replace":

        def replace(old: Any, new: Any, count: int = -1) -> Any:
            if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)) and len(new) > len(old):
                hits = obj.count(old)  # type: ignore[arg-type]
                if count >= 0:
                    hits = min(hits, count)
                size = len(obj) + hits * (len(new) - len(old))
                if size > MAX_SEQUENCE:
                    _too_big("replace()", size)
            return method(old, new, count)

        return replace

    def translate(table: Any) -> Any:  # name == "translate"
        if isinstance(table, dict):
            longest = max((len(v) for v in table.values() if isinstance(v, (str, bytes))), default=1)
            if len(obj) * longest > MAX_SEQUENCE:
                _too_big("translate()", len(obj) * longest)
        return method(table)

    return translate


def _checked_to_bytes(method: Callable[..., bytes]) -> Callable[..., bytes]:
    def to_bytes(length: int = 1, *args: Any, **kwargs: Any) -> bytes:
        if isinstance(length, int) and length > MAX_SEQUENCE:
            _too_big("to_bytes()", length)
        return method(length, *args, **kwargs)

    return to_bytes


def _checked_from_bytes(method: Callable[..., int]) -> Callable[..., int]:
    def from_bytes(data: Any, *args: Any, **kwargs: Any) -> int:
        if isinstance(data, (bytes, bytearray, list, tuple)) and len(data) * 8 > MAX_INT_BITS:
            _int_too_big("from_bytes()")
        return method(data, *args, **kwargs)

    return from_bytes


# --- builtins ---------------------------------------------------------------------------------


def _guarded_range(*args: int) -> range:
    """range() bounded to MAX_RANGE items."""
    r = range(*args)
    try:
        size = len(r)
    except OverflowError:
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        _refuse(f"range() with more than {MAX_RANGE:,} items is refused")
    return r


def _guarded_round(number: Any, ndigits: int | None = None) -> Any:
    if isinstance(ndigits, int) and abs(ndigits) > MAX_FORMAT_WIDTH:
        _refuse(f"round() to {ndigits:,} digits is refused")
    if isinstance(number, decimal.Decimal):
        _check_decimal(number)
    return round(number) if ndigits is None else round(number, ndigits)


def _guarded_type(*args: Any) -> Any:
    """type(x) only: three-argument type() would define classes.

    The result is what the script's own builtins would call the type, so ``type(5) is int`` holds
    but ``type(range(1))(10**12)``, ``type(int)('X', (), {})`` or ``type(d)('1e999999')`` don't get
    round the guards: metaclasses come back as this function, guarded types as their guard.
    """
    if len(args) != 1:
        _refuse("type() with 3 arguments (creating classes) is refused")
    t = type(args[0])
    if issubclass(t, type):
        return _guarded_type
    return _TYPE_STAND_INS.get(t, t)


def _guarded_iter(obj: Any, *sentinel: Any) -> Iterator[Any]:
    if sentinel:
        _refuse("iter(callable, sentinel) is refused (it can loop forever inside C code)")
    return iter(obj)


def _guarded_import(
    name: str, globals: Any = None, locals: Any = None, fromlist: Iterable[str] | None = (), level: int = 0
) -> types.ModuleType:
    """``__import__``: only datetime, decimal and math, as modules holding the allow-listed names."""
    if level != 0 or name not in _MODULES:
        _refuse(_import_refusal(name))
    for attr in fromlist or ():
        if attr not in _MODULE_ATTRS[name]:
            _refuse(f"importing {attr!r} from {name!r} is refused")
    return _MODULES[name]


def _import_refusal(name: str) -> str:
    return f"import of {name!r} is not allowed in diagram scripts (allowed: {', '.join(sorted(_MODULES))})"


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

# --- compile-time policy ------------------------------------------------------------------------

_BINOP_GUARDS: dict[type[ast.operator], str] = {
    ast.Mult: "_mul_", ast.Pow: "_pow_", ast.Add: "_add_", ast.LShift: "_lshift_", ast.Mod: "_mod_",
}
_SIMPLE_NODES = (ast.Name, ast.Constant, ast.Attribute, ast.Subscript, ast.Tuple, ast.Slice, ast.UnaryOp)


def _call(name: str, args: list[ast.expr], like: ast.AST) -> ast.Call:
    node = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    copy_locations(node, like)  # type: ignore[arg-type]
    return node


def _is_simple(node: ast.AST | None) -> bool:
    """Side-effect-free enough to evaluate twice (``d[k] += 1`` reads and writes ``d[k]``)."""
    return node is None or (
        isinstance(node, _SIMPLE_NODES) and all(_is_simple(c) for c in ast.iter_child_nodes(node)
                                                if isinstance(c, ast.expr))
    )


class _SandboxTransformer(RestrictingNodeTransformer):
    """RestrictedPython's policy plus: size guards on ``* ** + << %`` and f-string specs, a time
    tick in loops and functions, an import allow-list, no classes, clearer refusal messages."""

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in _COMPILE_REFUSED or node.id == "__import__":
            self.error(node, f"{node.id!r} is not allowed in diagram scripts")
            return node
        if node.id.startswith("_") and node.id != "_":
            self.error(node, f"name {node.id!r} is refused (names starting with '_' are reserved)")
            return node
        if node.id == "print" and isinstance(node.ctx, ast.Load):
            new = ast.Name("_print_fn_", ast.Load())
            copy_locations(new, node)
            return new
        return super().visit_Name(node)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        attr = node.attr
        if (attr.startswith("_") and attr != "_") or attr in _DENIED_ATTRS:
            node = self.node_contents_visit(node)  # inner refusals first: reads left to right
            self.error(node, f"access to attribute {attr!r} is refused")
            return node
        if attr in _FORMAT_ATTRS and isinstance(node.value, (ast.Constant, ast.JoinedStr)):
            if isinstance(node.value, ast.JoinedStr) or isinstance(node.value.value, str):
                node = self.node_contents_visit(node)
                self.error(node, f'"{attr}" on strings is refused (use f-strings)')
                return node
        return super().visit_Attribute(node)

    def visit_Call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec"):
            return self.node_contents_visit(node)  # visit_Name refuses it; skip the duplicate message
        return super().visit_Call(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        if type(node.value) is int and node.value.bit_length() > MAX_INT_BITS:
            self.error(node, f"integer literal is too large (ints are limited to {MAX_INT_BITS:,} bits)")
        return super().visit_Constant(node)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        return _call(guard, [node.left, node.right], node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node = self.node_contents_visit(node)
        if node.format_spec is None:
            return node
        node.value = _call("_format_", [node.value, node.format_spec, ast.Constant(node.conversion)], node)
        node.format_spec = None
        node.conversion = -1
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        target = node.target
        if isinstance(target, ast.Subscript) and _is_simple(target.value) and _is_simple(target.slice):
            # d[k] += v  ->  _write_(d)[k] = _inplacevar_('+=', _getitem_(d, k), v)
            load = copy.deepcopy(target)
            load.ctx = ast.Load()
            op = ast.Constant(_INPLACE_OPS[type(node.op)])
            value = _call("_inplacevar_", [op, self.visit(load), self.visit(node.value)], node)
            new = ast.Assign(targets=[self.visit(target)], value=value)
            copy_locations(new, node)
            return new
        return super().visit_AugAssign(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        self.error(node, "class definitions are not allowed in diagram scripts")
        return node

    def visit_Import(self, node: ast.Import) -> Any:
        for alias in node.names:
            if alias.name not in _MODULES:
                self.error(node, _import_refusal(alias.name))
        return super().visit_Import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        module = node.module or ""
        if node.level or module not in _MODULES:
            self.error(node, _import_refusal("." * node.level + module))
        else:
            for alias in node.names:
                if alias.name not in _MODULE_ATTRS[module]:
                    self.error(node, f"importing {alias.name!r} from {module!r} is refused")
        return super().visit_ImportFrom(node)

    def visit_While(self, node: ast.While) -> Any:
        node = super().visit_While(node)
        tick = ast.Expr(_call("_tick_", [], node))
        copy_locations(tick, node)
        node.body.insert(0, tick)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node = super().visit_FunctionDef(node)
        tick = ast.Expr(_call("_tick_", [], node))
        copy_locations(tick, node)
        node.body.insert(0, tick)
        return node

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        node = super().visit_Lambda(node)
        node.body = _call("_tick_", [node.body], node.body)
        return node


_INPLACE_OPS: dict[type[ast.operator], str] = {
    ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*=", ast.Div: "/=", ast.FloorDiv: "//=", ast.Mod: "%=",
    ast.Pow: "**=", ast.LShift: "<<=", ast.RShift: ">>=", ast.BitOr: "|=", ast.BitAnd: "&=",
    ast.BitXor: "^=", ast.MatMult: "@=",
}

# --- compiling, cached ----------------------------------------------------------------------------

_LINE = re.compile(r"^Line (\d+)")


@functools.lru_cache(maxsize=COMPILE_CACHE_SIZE)
def _compile(source: str, mode: str) -> tuple[types.CodeType | None, tuple[str, ...]]:
    """(code, errors) per (source, mode); errors are cached too, so the validator is cheap."""
    # eval() strips surrounding whitespace of conditions written on their own line in the XML.
    text = source.strip() if mode == "eval" else source
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(text, filename="<string>", policy=_SandboxTransformer)
    except SyntaxError as err:  # raised by compile() itself, e.g. 'return' outside function
        return None, (f"Line {err.lineno}: SyntaxError: {err.msg}",)
    except (ValueError, RecursionError, MemoryError) as err:  # null bytes, absurd nesting
        return None, (f"cannot compile: {type(err).__name__}: {err}",)
    errors = tuple(dict.fromkeys(result.errors))  # drop duplicates, keep order
    return (None if errors else result.code), errors


def _compiled(source: str, mode: str) -> types.CodeType:
    if not isinstance(source, str):
        raise TypeError(f"expected script text (str), got {type(source).__name__}")
    code, errors = _compile(source, mode)
    if code is None:
        match = _LINE.match(errors[0]) if errors else None
        raise SandboxCompileError("; ".join(errors), int(match.group(1)) if match else None)
    return code


def check_source(source: str, mode: str = "eval") -> list[str]:
    """Compile-only check for the validator: human-readable errors (syntax errors with their
    line, refused constructs); [] when fine. mode is 'eval' or 'exec'."""
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    if not isinstance(source, str):
        return [f"expected script text (str), got {type(source).__name__}"]
    return list(_compile(source, mode)[1])


def compile_cache_info() -> functools._CacheInfo:
    """hits/misses/maxsize/currsize of the compile cache (scripts must not compile per call)."""
    return _compile.cache_info()


def clear_compile_cache() -> None:
    _compile.cache_clear()


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


# spiff-arena's script environment (issue 19): its modules and helper functions join the builtins.
from .script_env import install as _install_script_env  # noqa: E402 - needs the names above

_install_script_env(_BUILTINS, _MODULES, _MODULE_ATTRS, _TYPE_STAND_INS)
from .arena_helpers import NEEDS_DATABASE  # noqa: E402 - helpers the child asks the parent to run

"""Which expressions may stay in-process: those whose cost is bounded by their text.

Most gateway conditions, DMN cells and timer expressions are a few comparisons
(``amount > 1000 and region == "EU"``, ``"P3D"``). Forking for them would cost ~1 ms each
(docs/limits.md); evaluating them in-process costs microseconds. An expression is *cheap* when:

- it is short (at most ``MAX_NODES`` syntax nodes), has no loops of any kind (comprehensions,
  generators, lambdas), no f-strings and no ``*``-unpacking;
- every call is to a function from ``CHEAP_CALLS`` / method from ``CHEAP_METHODS``, each linear in
  the size of its arguments (``len``, ``max``, ``get``, ``lower`` ...; not ``repr``/``sum``/
  ``sorted``, which can be quadratic or explode shared structures). ``str`` is one of them only
  through ``checked_str``: at run time its argument must be a scalar of bounded size (an int of at
  most ``MAX_CHEAP_INT_BITS`` bits, a float, a bool, None, a string of at most
  ``MAX_CHEAP_SEQUENCE`` characters, a Decimal of at most ``MAX_CHEAP_DECIMAL_DIGITS`` digits, a
  date, time or timedelta); ``str`` of anything else (a list, a dict, a huge number: C code that can
  be quadratic or explode shared structures) raises ``NeedsIsolation``;
- and, at run time, its arithmetic stays small: the in-process guards used for cheap expressions
  (``CHEAP_GUARDS``) only allow numbers up to ``MAX_CHEAP_INT_BITS`` bits and sequences up to
  ``MAX_CHEAP_SEQUENCE`` items. Beyond that they raise ``NeedsIsolation`` and the expression is
  evaluated again in a bounded child process (expressions have no side effects, so the retry is
  safe).

So a cheap expression does at most ``MAX_NODES`` operations, each over at most the task data or
``MAX_CHEAP_SEQUENCE`` items: well under a millisecond and a few MB.
"""

from __future__ import annotations

import ast
import datetime
import decimal
import functools
from typing import Any

MAX_NODES = 200
MAX_CHEAP_SEQUENCE = 10_000
MAX_CHEAP_INT_BITS = 4_096
MAX_CHEAP_DECIMAL_DIGITS = 4_000

CHEAP_CALLS = frozenset({
    "len", "abs", "bool", "int", "float", "isinstance", "min", "max", "any", "all", "round", "str",
    "timedelta", "Decimal", "date", "datetime",
})
CHEAP_METHODS = frozenset({
    "get", "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "keys", "values",
    "items", "isoformat", "now", "today", "date", "isdigit", "isalpha", "title", "casefold", "weekday",
    "year", "month", "day", "total_seconds",
})
_NODES = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Name, ast.Constant,
    ast.Attribute, ast.Subscript, ast.Slice, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.Call, ast.keyword,
    ast.Load, ast.boolop, ast.operator, ast.unaryop, ast.cmpop,
)


class NeedsIsolation(Exception):
    """Raised by a cheap guard: this expression's arithmetic is too big for the in-process path."""


@functools.lru_cache(maxsize=4096)
def is_cheap(expression: str) -> bool:
    """True when `expression` may be evaluated in-process (see the module docstring)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    count = 0
    for node in ast.walk(tree):
        count += 1
        if count > MAX_NODES or not isinstance(node, _NODES):
            return False
        if isinstance(node, ast.Call) and not _cheap_call(node):
            return False
    return True


def _cheap_call(node: ast.Call) -> bool:
    """A call to a function of CHEAP_CALLS or a method of CHEAP_METHODS (each linear in its arguments)."""
    func = node.func
    if isinstance(func, ast.Name):
        return func.id in CHEAP_CALLS
    return isinstance(func, ast.Attribute) and func.attr in CHEAP_METHODS


def _big(value: Any) -> bool:
    if type(value) is int:
        return value.bit_length() > MAX_CHEAP_INT_BITS
    if isinstance(value, (str, bytes, list, tuple)):
        return len(value) > MAX_CHEAP_SEQUENCE
    return False


def _small_int(value: Any) -> bool:
    return type(value) is not int or value.bit_length() <= 64


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes, list, tuple)) or isinstance(b, (str, bytes, list, tuple)):
        n = b if isinstance(a, (str, bytes, list, tuple)) else a
        seq = a if n is b else b
        if not isinstance(n, int) or len(seq) * max(n, 0) > MAX_CHEAP_SEQUENCE:
            raise NeedsIsolation
    elif type(a) is int and type(b) is int and a.bit_length() + b.bit_length() > MAX_CHEAP_INT_BITS:
        raise NeedsIsolation
    return a * b


def _pow(a: Any, b: Any, mod: Any = None) -> Any:
    if mod is not None:
        if _big(a) or _big(b) or _big(mod):
            raise NeedsIsolation
        return pow(a, b, mod)
    if type(a) is int and type(b) is int and b > 0 and abs(a) > 1:
        if b > MAX_CHEAP_INT_BITS or abs(a).bit_length() * b > MAX_CHEAP_INT_BITS:
            raise NeedsIsolation
    return a**b


def _add(a: Any, b: Any) -> Any:
    result = a + b
    if _big(result):
        raise NeedsIsolation
    return result


def _lshift(a: Any, b: Any) -> Any:
    if type(b) is int and (b > MAX_CHEAP_INT_BITS or not _small_int(a)):
        raise NeedsIsolation
    return a << b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes)):
        raise NeedsIsolation  # %-formatting: widths, repr of data
    return a % b


def _iadd(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes, list, tuple)) and isinstance(b, (str, bytes, list, tuple)):
        if len(a) + len(b) > MAX_CHEAP_SEQUENCE:
            raise NeedsIsolation
    a += b  # lists grow in place, as with the full guard
    return a


_INPLACE = {"+=": _iadd, "*=": _mul, "**=": _pow, "<<=": _lshift, "%=": _mod}


_SHORT_SCALARS = frozenset({
    float, bool, type(None), datetime.date, datetime.datetime, datetime.time, datetime.timedelta,
})


def _checked_str(*args: Any, **kwargs: Any) -> str:
    """``str(value)`` when its text is bounded by the value's size; otherwise ``NeedsIsolation``."""
    if kwargs or len(args) > 1:
        raise NeedsIsolation  # str(bytes, encoding): leave it to the child
    if not args:
        return ""
    value = args[0]
    kind = type(value)
    if kind is int:
        if value.bit_length() > MAX_CHEAP_INT_BITS:
            raise NeedsIsolation
    elif kind is str:
        if len(value) > MAX_CHEAP_SEQUENCE:
            raise NeedsIsolation
    elif kind is decimal.Decimal:
        if len(value.as_tuple().digits) > MAX_CHEAP_DECIMAL_DIGITS:
            raise NeedsIsolation
    elif kind not in _SHORT_SCALARS:
        raise NeedsIsolation  # a container, an object with its own __str__ ...
    return str(value)


class _StrMeta(type):
    """``str`` for cheap code: calling it goes through ``_checked_str``; ``isinstance(x, str)``,
    ``issubclass``, ``str.lower`` and (with ``_cheap_type``) ``type(x) is str`` behave as usual."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, str)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, str)

    def __call__(cls, *args: Any, **kwargs: Any) -> str:
        return _checked_str(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        return getattr(str, name)  # the sandbox's attribute guard has already checked `name`

    def __repr__(cls) -> str:
        return repr(str)


class CheckedStr(metaclass=_StrMeta):
    """Stands in for ``str`` in the cheap builtins."""


class _BuiltinsOverlay(dict):
    """The sandbox's builtins with a few names replaced: the replacements are its own items, every
    other name is read from the sandbox's dict at lookup time (names it gains later — the
    clock-aware ``datetime`` of engine/script_env.py — are seen too)."""

    def __init__(self, base: dict[str, Any], replaced: dict[str, Any]) -> None:
        super().__init__(replaced)
        self.base = base

    def __missing__(self, key: str) -> Any:
        return self.base[key]

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.base

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default


def cheap_guards(guards: dict[str, Any]) -> dict[str, Any]:
    """The sandbox's guards with the arithmetic ones replaced by the cheap (smaller) ones, and
    ``str`` by ``CheckedStr`` (calls go through ``_checked_str``)."""
    full_inplace = guards["_inplacevar_"]
    full_builtins = guards["__builtins__"]

    def cheap_type(*args: Any) -> Any:
        result = full_builtins["type"](*args)
        return CheckedStr if result is str else result

    builtins = _BuiltinsOverlay(guards["__builtins__"], {"str": CheckedStr, "type": cheap_type})

    def inplacevar(op: str, target: Any, value: Any) -> Any:
        cheap = _INPLACE.get(op)
        return cheap(target, value) if cheap is not None else full_inplace(op, target, value)

    return {**guards, "__builtins__": builtins, "_mul_": _mul, "_pow_": _pow, "_add_": _add, "_lshift_": _lshift,
            "_mod_": _mod, "_inplacevar_": inplacevar}


_STATEMENTS = (ast.Assign, ast.AugAssign, ast.If, ast.Pass, ast.Store)


def _cheap_statement(node: ast.stmt) -> bool:
    if isinstance(node, ast.Assign):
        return all(isinstance(t, ast.Name) for t in node.targets)
    if isinstance(node, ast.AugAssign):
        return isinstance(node.target, ast.Name)
    if isinstance(node, ast.If):
        return all(_cheap_statement(s) for s in (*node.body, *node.orelse))
    return isinstance(node, ast.Pass)


@functools.lru_cache(maxsize=4096)
def is_cheap_script(script: str) -> bool:
    """True for a short script of assignments to plain names (and ifs) of cheap expressions,
    e.g. ``round = round + 1``. It only rebinds top-level names, so a shallow copy of the data
    undoes it when its arithmetic outgrows the cheap bounds and it must run again in a child."""
    try:
        tree = ast.parse(script)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if not all(_cheap_statement(s) for s in tree.body):
        return False
    count = 0
    for node in ast.walk(tree):
        count += 1
        if count > MAX_NODES:
            return False
        if isinstance(node, ast.Module | ast.stmt | ast.Store):
            continue
        if not isinstance(node, _NODES):
            return False
        if isinstance(node, ast.Call) and not _cheap_call(node):
            return False
    return True

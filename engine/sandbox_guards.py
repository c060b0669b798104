"""The sandbox's run-time guards: sizes of ``* ** + << %`` and formatting, attribute, item and
write access, and the builtins scripts call in place of ``range``/``round``/``type``/``iter``/
``__import__``. Compiled scripts call them by their ``_name_`` (engine/sandbox_builtins.py)."""

from __future__ import annotations

import decimal
import math
import operator
import re
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn

from RestrictedPython.Guards import (
    full_write_guard,
    raise_,
    safer_getattr,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from .sandbox_core import (
    _MODULE_ATTRS,
    _MODULES,
    _TYPE_STAND_INS,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_RANGE,
    MAX_SEQUENCE,
    _check_decimal,
    _refuse,
)

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

"""The modules spiff-arena's script engine hands to diagram code, as safe subsets.

spiff-arena (``CustomBpmnScriptEngine``) gives scripts ``datetime`` (the class), ``timedelta``,
``time``, ``decimal``, ``json``, ``random``, ``re``, ``uuid``, ``calendar``, ``pytz``,
``dateparser``, ``map`` and ``filter``. Here each is a fresh module holding only allow-listed
names (the sandbox refuses any other attribute), so nothing reaches files, the network, the
operating system or process-wide state:

- time is the engine's injected clock: ``datetime.now()``, ``date.today()``, ``time.time()``
  and dateparser's "tomorrow" read the step's time, so scenarios and ``tick --now`` move it too.
  The engine's local time zone is UTC.
- ``time.sleep`` is refused (a script runs inside the instance's transaction);
- ``random`` is one generator per script call, so ``random.seed`` stays in that script;
- ``re`` is the ``regex`` package with a timeout on every match, so a catastrophic pattern is
  stopped instead of hanging the worker;
- sizes are bounded where one call could allocate without limit.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as _dt
import json as _json
import time as _time
import types
import uuid as _uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import dateparser as _dateparser
import pytz as _pytz
import regex as _regex

from .sandbox_core import MAX_INT_BITS, MAX_SEQUENCE, SandboxError, _guarded_getiter, _GuardedClassMeta
from .script_scope import current, engine_now

REGEX_TIMEOUT = 1.0
"""Seconds one regular-expression call may take before it is stopped."""
MAX_DATEPARSER_INPUT = 1_000
"""Longest text dateparser may be asked to read (its own regular expressions are not bounded)."""
MAX_JSON_INDENT = 64


def refuse(message: str) -> Any:
    raise SandboxError(message)


# --- datetime and date read the engine's clock -----------------------------------------------


class _StandInMeta(_GuardedClassMeta):
    """A guarded stand-in class whose subclass checks also see through other stand-ins."""

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(getattr(sub, "_real", sub) if isinstance(sub, _GuardedClassMeta) else sub, cls._real)


# Analysts see a type: "changing a type object is refused", as for any other class.
_StandInMeta.__name__ = _StandInMeta.__qualname__ = "type"


def _local(now: _dt.datetime) -> _dt.datetime:
    """The engine's local time is UTC; naive, as Python's local-time functions return it."""
    return now.replace(tzinfo=None)


class ClockedDatetime(metaclass=_StandInMeta):
    """``datetime.datetime`` whose now()/today()/utcnow() read the engine's clock."""

    _real = _dt.datetime
    _construct = staticmethod(_dt.datetime)

    @staticmethod
    def now(tz: _dt.tzinfo | None = None) -> _dt.datetime:
        now = engine_now()
        return now.astimezone(tz) if tz is not None else _local(now)

    @staticmethod
    def today() -> _dt.datetime:
        return _local(engine_now())

    @staticmethod
    def utcnow() -> _dt.datetime:
        return _local(engine_now())

    @staticmethod
    def strptime(date_string: str, format: str) -> _dt.datetime:
        """A Python frame around it: the C code imports _strptime through the caller's
        ``__import__``, which in a script is the sandbox's (spiff-arena exposes ``_strptime`` for this)."""
        return _dt.datetime.strptime(date_string, format)

    @staticmethod
    def fromtimestamp(timestamp: float, tz: _dt.tzinfo | None = None) -> _dt.datetime:
        if tz is not None:
            return _dt.datetime.fromtimestamp(timestamp, tz)
        return _local(_dt.datetime.fromtimestamp(timestamp, _dt.UTC))


class ClockedDate(metaclass=_StandInMeta):
    """``datetime.date`` whose today() reads the engine's clock."""

    _real = _dt.date
    _construct = staticmethod(_dt.date)

    @staticmethod
    def today() -> _dt.date:
        return engine_now().date()

    @staticmethod
    def fromtimestamp(timestamp: float) -> _dt.date:
        return _dt.datetime.fromtimestamp(timestamp, _dt.UTC).date()


# --- helpers to build allow-listed modules -----------------------------------------------------


def module(name: str, attrs: dict[str, Any]) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    return mod


def _refused(name: str, why: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        refuse(f"{name}() is refused in diagram scripts: {why}")

    refused.__name__ = name.rsplit(".", 1)[-1]
    return refused


# --- time -----------------------------------------------------------------------------------------


def _timestamp() -> float:
    return engine_now().timestamp()


def _struct(secs: float | None = None) -> _time.struct_time:
    return _time.gmtime(_timestamp() if secs is None else secs)


def _strftime(fmt: str, t: Any = None) -> str:
    return _time.strftime(fmt, _struct(None) if t is None else t)


def _asctime(t: Any = None) -> str:
    return _time.asctime(_struct(None) if t is None else t)


TIME = module("time", {
    "time": _timestamp,
    "time_ns": lambda: int(_timestamp() * 1_000_000_000),
    "gmtime": _struct,
    "localtime": _struct,  # the engine's local time is UTC
    "mktime": lambda t: float(_calendar.timegm(t)),
    "strftime": _strftime,
    "strptime": lambda string, format="%a %b %d %H:%M:%S %Y": _time.strptime(string, format),  # see strptime above
    "asctime": _asctime,
    "ctime": lambda secs=None: _time.asctime(_struct(secs)),
    "struct_time": _time.struct_time,
    "timezone": 0,
    "altzone": 0,
    "daylight": 0,
    "tzname": ("UTC", "UTC"),
    "sleep": _refused(
        "time.sleep", "a script runs inside the instance's database transaction, so waiting there blocks "
        "other work; draw a timer event (e.g. \"PT30S\") where the process must wait",
    ),
})


# --- json -----------------------------------------------------------------------------------------


def _json_dumps(obj: Any, *, indent: int | str | None = None, separators: tuple[str, str] | None = None,
                **kwargs: Any) -> str:
    if "cls" in kwargs:
        refuse("json.dumps(cls=...) is refused in diagram scripts (use default=...)")
    width = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
    if width > MAX_JSON_INDENT:
        refuse(f"json.dumps(indent=...) above {MAX_JSON_INDENT} is refused")
    if separators is not None and any(len(str(s)) > MAX_JSON_INDENT for s in separators):
        refuse(f"json.dumps(separators=...) longer than {MAX_JSON_INDENT} characters are refused")
    text = _json.dumps(obj, indent=indent, separators=separators, **kwargs)
    if len(text) > MAX_SEQUENCE:
        refuse(f"json.dumps() would create {len(text):,} characters (limit {MAX_SEQUENCE:,})")
    return text


def _json_loads(text: str | bytes, **kwargs: Any) -> Any:
    if "cls" in kwargs:
        refuse("json.loads(cls=...) is refused in diagram scripts (use object_hook=...)")
    return _json.loads(text, **kwargs)


JSON = module("json", {"dumps": _json_dumps, "loads": _json_loads, "JSONDecodeError": _json.JSONDecodeError})


# --- random: one generator per script call ---------------------------------------------------------


def _rng() -> Any:
    call = current()
    if call is None:
        refuse("random is only available while a diagram script runs")
    return call.rng()


def _bounded(name: str, k: int) -> None:
    if isinstance(k, int) and k > MAX_SEQUENCE:
        refuse(f"random.{name}() of {k:,} items is refused (limit {MAX_SEQUENCE:,})")


def _choices(population: Any, weights: Any = None, *, cum_weights: Any = None, k: int = 1) -> list[Any]:
    _bounded("choices", k)
    return _rng().choices(population, weights, cum_weights=cum_weights, k=k)


def _getrandbits(k: int) -> int:
    if isinstance(k, int) and k > MAX_INT_BITS:
        refuse(f"random.getrandbits({k:,}) is refused (ints are limited to {MAX_INT_BITS:,} bits)")
    return _rng().getrandbits(k)


def _seed(a: Any = None) -> None:
    if not isinstance(a, (type(None), int, float, str)):
        refuse("random.seed() takes None, a number or a string in diagram scripts")
    _rng().seed(a)


def _rng_method(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(_rng(), name)(*args, **kwargs)

    call.__name__ = name
    return call


_RANDOM_METHODS = (
    "random", "randint", "randrange", "choice", "sample", "shuffle", "uniform", "gauss", "normalvariate",
    "triangular", "expovariate", "betavariate", "lognormvariate", "vonmisesvariate", "paretovariate",
    "weibullvariate", "gammavariate",
)  # sample() is bounded by its population, which already exists
RANDOM = module("random", {
    **{name: _rng_method(name) for name in _RANDOM_METHODS},
    "choices": _choices, "getrandbits": _getrandbits, "seed": _seed,
})


# --- re: the regex package, every call with a timeout ------------------------------------------------


def _re_error(err: Exception) -> Any:
    if isinstance(err, TimeoutError):
        refuse(f"regular expression stopped: it ran longer than {REGEX_TIMEOUT:g} s (catastrophic backtracking?)")
    raise err


def _sub_estimate(repl: Any, string: Any) -> int:
    """Most characters one replacement may add (a group reference can repeat the whole text)."""
    return len(repl) + repl.count("\\" if isinstance(repl, str) else b"\\") * len(string)


class Match:
    """A match result (``regex.Match`` behind it; its ``.re`` would escape the timeout)."""

    def __init__(self, match: Any) -> None:
        self._m = match

    def group(self, *groups: Any) -> Any:
        return self._m.group(*groups)

    def groups(self, default: Any = None) -> tuple[Any, ...]:
        return self._m.groups(default)

    def groupdict(self, default: Any = None) -> dict[str, Any]:
        return self._m.groupdict(default)

    def start(self, group: Any = 0) -> int:
        return self._m.start(group)

    def end(self, group: Any = 0) -> int:
        return self._m.end(group)

    def span(self, group: Any = 0) -> tuple[int, int]:
        return self._m.span(group)

    def expand(self, template: str) -> str:
        return self._m.expand(template)

    def __getitem__(self, group: Any) -> Any:
        return self._m[group]

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<re.Match object; span={self._m.span()}, match={self._m.group()!r}>"

    @property
    def string(self) -> str:
        return self._m.string

    @property
    def lastgroup(self) -> str | None:
        return self._m.lastgroup

    @property
    def lastindex(self) -> int | None:
        return self._m.lastindex

    @property
    def pos(self) -> int:
        return self._m.pos

    @property
    def endpos(self) -> int:
        return self._m.endpos


def _wrap(match: Any) -> Match | None:
    return None if match is None else Match(match)


def _wrap_repl(repl: Any) -> Any:
    """A replacement function sees our Match; what it returns in total is bounded."""
    if not callable(repl):
        return repl
    produced = [0]

    def call(m: Any) -> Any:
        text = repl(Match(m))
        produced[0] += len(text) if isinstance(text, (str, bytes)) else 0
        if produced[0] > MAX_SEQUENCE:
            refuse(f"re.sub() would create more than {MAX_SEQUENCE:,} characters")
        return text

    return call


class Pattern:
    """A compiled pattern (``regex.Pattern`` behind it); every method runs with the timeout."""

    def __init__(self, pattern: Any) -> None:
        self._p = pattern

    def _run(self, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._p, name)(*args, timeout=REGEX_TIMEOUT, **kwargs)
        except (TimeoutError, _regex.error) as err:
            return _re_error(err)

    def match(self, string: Any, *args: Any) -> Match | None:
        return _wrap(self._run("match", string, *args))

    def fullmatch(self, string: Any, *args: Any) -> Match | None:
        return _wrap(self._run("fullmatch", string, *args))

    def search(self, string: Any, *args: Any) -> Match | None:
        return _wrap(self._run("search", string, *args))

    def findall(self, string: Any, *args: Any) -> list[Any]:
        return self._run("findall", string, *args)

    def finditer(self, string: Any, *args: Any) -> Iterator[Match]:
        found = self._run("finditer", string, *args)

        def matches() -> Iterator[Match]:
            try:
                for m in found:
                    yield Match(m)
            except TimeoutError as err:
                _re_error(err)

        return _guarded_getiter(matches())

    def split(self, string: Any, maxsplit: int = 0) -> list[Any]:
        return self._run("split", string, maxsplit)

    def sub(self, repl: Any, string: Any, count: int = 0) -> Any:
        return self.subn(repl, string, count)[0]

    def subn(self, repl: Any, string: Any, count: int = 0) -> tuple[Any, int]:
        if isinstance(repl, (str, bytes)) and isinstance(string, (str, bytes)):
            per_hit = _sub_estimate(repl, string)
            if len(string) + (len(string) + 1) * per_hit > MAX_SEQUENCE:  # only then count the hits
                hits = len(self._run("findall", string))
                hits = min(hits, count) if count > 0 else hits
                if len(string) + hits * per_hit > MAX_SEQUENCE:
                    refuse(f"re.sub() would create more than {MAX_SEQUENCE:,} characters")
        return self._run("subn", _wrap_repl(repl), string, count)

    @property
    def pattern(self) -> Any:
        return self._p.pattern

    @property
    def flags(self) -> int:
        return self._p.flags

    @property
    def groups(self) -> int:
        return self._p.groups

    @property
    def groupindex(self) -> dict[str, int]:
        return dict(self._p.groupindex)

    def __repr__(self) -> str:
        return f"re.compile({self._p.pattern!r})"


def _compile(pattern: Any, flags: int = 0) -> Pattern:
    if isinstance(pattern, Pattern):
        return pattern
    try:
        return Pattern(_regex.compile(pattern, flags))
    except _regex.error as err:
        return _re_error(err)


def _re_function(name: str) -> Callable[..., Any]:
    def call(pattern: Any, *args: Any, flags: int = 0, **kwargs: Any) -> Any:
        return getattr(_compile(pattern, flags), name)(*args, **kwargs)

    call.__name__ = name
    return call


RE = module("re", {
    **{name: _re_function(name) for name in
       ("match", "fullmatch", "search", "findall", "finditer", "split", "sub", "subn")},
    "compile": _compile, "escape": _regex.escape, "error": _regex.error,
    "Pattern": Pattern, "Match": Match,
    **{flag: getattr(_regex, flag) for flag in
       ("A", "ASCII", "I", "IGNORECASE", "M", "MULTILINE", "S", "DOTALL", "X", "VERBOSE", "U", "UNICODE")},
})


# --- uuid, calendar, pytz, dateparser ----------------------------------------------------------------

UUID = module("uuid", {
    "UUID": _uuid.UUID, "uuid3": _uuid.uuid3, "uuid4": _uuid.uuid4, "uuid5": _uuid.uuid5,
    "NAMESPACE_DNS": _uuid.NAMESPACE_DNS, "NAMESPACE_URL": _uuid.NAMESPACE_URL,
    "NAMESPACE_OID": _uuid.NAMESPACE_OID, "NAMESPACE_X500": _uuid.NAMESPACE_X500,
    "uuid1": _refused("uuid.uuid1", "it reveals the server's network address; use uuid.uuid4()"),
})

CALENDAR = module("calendar", {
    "isleap": _calendar.isleap, "leapdays": _calendar.leapdays, "monthrange": _calendar.monthrange,
    "monthcalendar": _calendar.monthcalendar, "weekday": _calendar.weekday, "timegm": _calendar.timegm,
    "month_name": list(_calendar.month_name), "month_abbr": list(_calendar.month_abbr),
    "day_name": list(_calendar.day_name), "day_abbr": list(_calendar.day_abbr),
    **{day: getattr(_calendar, day) for day in
       ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")},
})  # not setfirstweekday (process-wide state) nor the text calendars


def _timezone(zone: str) -> _dt.tzinfo:
    if not isinstance(zone, str) or len(zone) > 64:
        refuse("pytz.timezone() takes a time zone name such as 'Europe/Berlin'")
    return _pytz.timezone(zone)


PYTZ = module("pytz", {
    "timezone": _timezone, "utc": _pytz.utc, "UTC": _pytz.UTC, "FixedOffset": _pytz.FixedOffset,
    "all_timezones": list(_pytz.all_timezones), "common_timezones": list(_pytz.common_timezones),
    "UnknownTimeZoneError": _pytz.UnknownTimeZoneError, "AmbiguousTimeError": _pytz.AmbiguousTimeError,
    "NonExistentTimeError": _pytz.NonExistentTimeError,
})


def _dateparse(date_string: str, date_formats: list[str] | None = None, languages: list[str] | None = None,
               locales: list[str] | None = None, region: str | None = None,
               settings: dict[str, Any] | None = None) -> _dt.datetime | None:
    """dateparser.parse with "now" at the engine's time and UTC as the local zone."""
    if isinstance(date_string, str) and len(date_string) > MAX_DATEPARSER_INPUT:
        refuse(f"dateparser.parse() reads at most {MAX_DATEPARSER_INPUT:,} characters")
    chosen = {"TIMEZONE": "UTC", "RELATIVE_BASE": _local(engine_now())}
    chosen.update(settings or {})
    return _dateparser.parse(date_string, date_formats=date_formats, languages=languages, locales=locales,
                             region=region, settings=chosen)


DATEPARSER = module("dateparser", {"parse": _dateparse})


# --- map and filter, with the sandbox's loop budget -------------------------------------------------


def ticking_map(func: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]:
    """map() whose items count against the script's time budget like a for-loop's."""
    return _guarded_getiter(map(func, *iterables))


def ticking_filter(func: Callable[[Any], Any] | None, iterable: Iterable[Any]) -> Iterator[Any]:
    return _guarded_getiter(filter(func, iterable))


MODULES: dict[str, types.ModuleType] = {
    "time": TIME, "json": JSON, "random": RANDOM, "re": RE, "uuid": UUID, "calendar": CALENDAR,
    "pytz": PYTZ, "dateparser": DATEPARSER,
}
"""Importable in scripts (``import json``) and present as builtins, as in spiff-arena."""

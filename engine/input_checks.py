"""Checks on process data and text at the engine's door: what cannot be stored safely is refused.

Every interface (API, pages, CLI) hands process data to the engine facade; its entry points
(start, complete, correlate, comment) call these checks, so one rule holds everywhere:

- text must be valid Unicode: a lone surrogate (`"\\ud800"`, which JSON's `\\u` escapes can
  produce) is refused, as is NUL (PostgreSQL cannot store it); stored, either breaks every later
  read of the instance;
- process data is nested at most `max_depth` levels (deeper JSON breaks serialisers that recurse)
  and is at most `max_bytes` as JSON.

The limits come from `$CRMFLOW_MAX_JSON_DEPTH` and `$CRMFLOW_MAX_BODY_BYTES` (the HTTP server's
request body limit uses the same setting). A refusal is `InputRefused`, an `InvalidInput` that
names the field (`data.contact.name`) so the API can answer 422 with it in `errors`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInput

DEPTH_ENV = "CRMFLOW_MAX_JSON_DEPTH"
BYTES_ENV = "CRMFLOW_MAX_BODY_BYTES"
DEFAULT_DEPTH = 32
DEFAULT_BYTES = 1024 * 1024


class InputRefused(InvalidInput):
    """Input the engine will not store; `field` is its path, `message` what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class InputLimits:
    """How big and how deep process data may be."""

    max_bytes: int = DEFAULT_BYTES
    max_depth: int = DEFAULT_DEPTH

    @classmethod
    def configured(cls) -> InputLimits:
        """The limits from the environment (defaults: 1 MiB, 32 levels)."""
        return cls(_positive_int(BYTES_ENV, DEFAULT_BYTES), _positive_int(DEPTH_ENV, DEFAULT_DEPTH))


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a whole number") from None
    if value < 1:
        raise ValueError(f"{name}: must be at least 1, not {value}")
    return value


def text_problem(value: str) -> str | None:
    """Why this text cannot be stored (None: it can)."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        bad = value[err.start]
        return (f"is not valid Unicode (a lone surrogate \\u{ord(bad):04x} at character {err.start}); "
                "send UTF-8 text")
    return None


def check_text(value: str | None, field: str) -> str | None:
    """`value` unchanged, or `InputRefused` naming `field`."""
    if value is not None:
        problem = text_problem(value)
        if problem:
            raise InputRefused(field, problem)
    return value


def check_data(data: Any, field: str = "data", limits: InputLimits | None = None) -> Any:
    """`data` unchanged when every key and string is storable text, it is nested at most
    `max_depth` levels and its JSON is at most `max_bytes`; else `InputRefused` naming the place."""
    limits = limits or InputLimits.configured()
    stack: list[tuple[Any, str, int]] = [(data, field, 0)]
    while stack:  # iterative: data deeper than the recursion limit is refused, not crashed on
        value, path, depth = stack.pop()
        if isinstance(value, str):
            check_text(value, path)
        elif isinstance(value, dict | list):
            if depth >= limits.max_depth:
                raise InputRefused(path, f"is nested deeper than {limits.max_depth} levels "
                                         f"(the limit, {DEPTH_ENV})")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    check_text(key, f"{path} (a field name)")
                stack.append((item, f"{path}.{key}", depth + 1))
    size = json_size(data)
    if size > limits.max_bytes:
        raise InputRefused(field, f"is {size} bytes as JSON; the limit is {limits.max_bytes} ({BYTES_ENV})")
    return data


def parse_object(raw: str | None, field: str = "data", limits: InputLimits | None = None) -> dict[str, Any]:
    """The one parser of JSON object text from users (the CLI's `--data`, the facade's string data):
    a dict within the limits (`check_text`, size, depth, `check_data`); empty text is `{}`.
    A refusal names `field`."""
    if raw is None or not raw.strip():
        return {}
    limits = limits or InputLimits.configured()
    check_text(raw, field)  # bytes that are not UTF-8 arrive as lone surrogates
    size = len(raw.encode("utf-8"))
    if size > limits.max_bytes:
        raise InputRefused(field, f"is {size} bytes; the limit is {limits.max_bytes} ({BYTES_ENV})")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise InvalidInput(f"{field} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise InputRefused(field, f"is nested deeper than {limits.max_depth} levels (the limit, {DEPTH_ENV})") \
            from None
    if not isinstance(value, dict):
        raise InvalidInput(f'{field} must be a JSON object like {{"amount": 10}}, not {type(value).__name__}')
    return check_data(value, field, limits)


def json_size(data: Any) -> int:
    """The size of `data` as compact JSON, in bytes."""
    try:
        return len(json.dumps(data, separators=(",", ":"), default=str).encode("utf-8"))
    except (TypeError, ValueError, RecursionError):
        return 0  # not JSON at all: the engine's own serialiser says so

"""What a script may leave in task data: values the workflow state can store.

A script could leave a generator, a ``range``, an exception object or a 5,000-digit integer in its
data; the step then "succeeded" and saving the workflow failed with an internal error far from the
diagram. Checking after every script turns that into an incident on the script task, naming the
field. Data nested deeper than ``MAX_DEPTH`` is refused for the same reason (RecursionError when
stored or shown).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import uuid
from typing import Any

MAX_DEPTH = 100
"""Deepest nesting of lists/dicts task data may have."""
MAX_INT_DIGITS = 4_000
"""Largest integer (in decimal digits) task data may hold: Python refuses to print > 4,300."""

_SCALARS = (str, bool, float, decimal.Decimal, _dt.date, _dt.time, _dt.timedelta, uuid.UUID, type(None))
_CONTAINERS = (list, tuple, set, frozenset)


class DataProblem(ValueError):
    """Task data holds a value the workflow cannot store; the message names the field."""


def _kind(value: Any) -> str:
    if isinstance(value, BaseException):
        return "an exception object"
    name = type(value).__name__
    return f"a {name} object"


def check_value(value: Any, path: str, depth: int = 0) -> None:
    """Raise DataProblem when `value` (found at `path`) cannot be stored as task data."""
    if depth > MAX_DEPTH:
        raise DataProblem(f"{path} is nested more than {MAX_DEPTH} levels deep; task data must be flatter")
    if isinstance(value, bool) or isinstance(value, _SCALARS):
        return
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_DIGITS * 3.33:
            raise DataProblem(f"{path} is an integer with more than {MAX_INT_DIGITS:,} digits; store a smaller number")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool, type(None))):
                raise DataProblem(f"{path} has a key that is {_kind(key)}; keys must be text or numbers")
            check_value(item, f"{path}[{key!r}]", depth + 1)
        return
    if isinstance(value, _CONTAINERS):
        for index, item in enumerate(value):
            check_value(item, f"{path}[{index}]", depth + 1)
        return
    hint = " (turn it into a list with list(...))" if isinstance(value, (range, map, filter, zip, enumerate)) or (
        type(value).__name__ == "generator") else ""
    raise DataProblem(f"{path} holds {_kind(value)}, which task data cannot store{hint}")


def check_data(data: dict[str, Any]) -> None:
    """Check every field a script left in task data."""
    for name, value in data.items():
        check_value(value, f"data field {name!r}")

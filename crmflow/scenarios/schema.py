"""The scenario file format as JSON Schema (steps, seeds, mocks, shared keys), and the ISO 8601
durations and times it is written in.

Split from `crmflow.scenarios` so the format reads on its own; `files` validates a file
against it and the steps parse durations and times with the same functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import jsonschema

from engine.clock import ensure_utc

DEFAULT_START = datetime.fromisoformat("2026-01-05T09:00:00+00:00")
DEFAULT_KEY = "SCENARIO-1"
STATUSES = ["waiting", "completed", "incident", "terminated"]
SHARED_KEYS = ("process", "deploy", "lanes", "start_at", "seed", "mocks", "business_key", "start")

_STR = {"type": "string", "minLength": 1}
_DURATION = {"type": "string", "format": "iso-duration"}
_OBJ = {"type": "object"}
_TASK_REF = {"anyOf": [{"required": ["element"]}, {"required": ["name"]}]}


def _obj(props: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "additionalProperties": False,
            "required": required or [], **extra}


STEP_SCHEMAS: dict[str, Any] = {
    "expect_task": _obj({
        "element": _STR, "name": _STR, "queue": _STR, "lane": _STR, "assignee": {"type": ["string", "null"]},
        "candidate_groups": {"type": "array", "items": _STR}, "priority": {"type": ["integer", "null"]},
        "due_in": _DURATION, "follow_up_in": _DURATION, "form": {"type": ["string", "null"]},
    }, **_TASK_REF),
    "complete": _obj({"element": _STR, "name": _STR, "user": _STR, "data": _OBJ, "expect_error": _STR},
                     **_TASK_REF),
    "advance": {"anyOf": [_DURATION, _obj({"to": {"type": "string", "format": "iso-datetime"}}, ["to"])]},
    "message": _obj({"name": _STR, "key": {"type": ["string", "null"]}, "data": _OBJ, "expect_error": _STR},
                    ["name"]),
    "expect_path": {"type": "array", "items": _STR, "minItems": 1},
    "expect_not_path": {"type": "array", "items": _STR, "minItems": 1},
    "expect_records": {"type": "array", "minItems": 1, "items": _obj({
        "model": _STR, "where": _OBJ, "state": _STR, "status": _STR, "fields": _OBJ,
        "count": {"type": "integer", "minimum": 0},
    }, ["model"])},
    "expect_open_tasks": {"type": "array", "items": _STR},
    "expect_timers": {"type": "array", "items": {"anyOf": [_STR, _obj({
        "element": _STR, "due_in": _DURATION, "due_at": {"type": "string", "format": "iso-datetime"},
    }, ["element"])]}},
    "expect_messages": {"type": "array", "items": _STR},
    "expect_incidents": {"type": "array", "items": {"anyOf": [_STR, _obj({"element": _STR, "message": _STR},
                                                                           ["element"])]}},
    "expect_status": {"enum": STATUSES},
    "expect_variables": {"type": "object", "minProperties": 1},
    "expect_calls": {"type": "object", "minProperties": 1,
                     "additionalProperties": {"type": "integer", "minimum": 0}},
}
STEP_KINDS = list(STEP_SCHEMAS)
_STEP = {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
         "properties": STEP_SCHEMAS}
_MOCK = _obj({"result": {}, "results": {"type": "array", "minItems": 1}, "raise": _STR, "message": _STR},
             anyOf=[{"required": ["result"]}, {"required": ["results"]}, {"required": ["raise"]}])
_AS = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}
SEED_SCHEMAS: dict[str, Any] = {
    "price_list": _obj({"name": _STR, "currency": _STR, "as": _AS}, ["name"]),
    "product": _obj({"number": _STR, "name": _STR, "unit": _STR, "price": {"type": ["string", "number"]},
                     "price_list": _STR, "prices": {"type": "object"}, "as": _AS}, ["number", "name"]),
    "account": _obj({"name": _STR, "region": _STR, "as": _AS}, ["name"]),
    "contact": _obj({"last_name": _STR, "first_name": _STR, "email": _STR, "region": _STR,
                     "birthdate": {"type": "string", "format": "iso-date"}, "account": _STR,
                     "unsubscribed": {"type": "boolean"}, "as": _AS}, ["last_name"]),
    "competitor": _obj({"name": _STR, "as": _AS}, ["name"]),
    "record": _obj({"model": _STR, "fields": _OBJ, "state": _STR, "status": _STR, "as": _AS}, ["model"]),
    "operation": _obj({"name": {"type": "string", "pattern": r"^[^/\s]+/\S+$"}, "params": _OBJ, "as": _AS},
                      ["name"]),
}
_SEED = {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
         "properties": SEED_SCHEMAS}
_COMMON = {
    "process": _STR,
    "deploy": {"anyOf": [_STR, {"type": "array", "items": _STR, "minItems": 1}]},
    "lanes": _STR,
    "start_at": {"type": "string", "format": "iso-datetime"},
    "business_key": _STR,
    "start": _obj({"data": _OBJ, "user": _STR, "message": _STR}),
    "seed": {"type": "array", "items": _SEED},
    "mocks": {"type": "object", "propertyNames": {"pattern": r"^[^/\s]+/\S+$"}, "additionalProperties": _MOCK},
}
SCENARIO_SCHEMA = _obj({**_COMMON, "name": _STR, "description": {"type": "string"},
                        "steps": {"type": "array", "items": _STEP, "minItems": 1}}, ["name", "steps"])
FILE_SCHEMA = {
    "if": {"type": "object", "required": ["scenarios"]},
    "then": _obj({**_COMMON, "description": {"type": "string"},
                  "scenarios": {"type": "array", "items": SCENARIO_SCHEMA, "minItems": 1}}, ["scenarios"]),
    "else": {**SCENARIO_SCHEMA},
}

# -- durations and times -----------------------------------------------------------------------
_DURATION_RE = re.compile(
    r"^P(?!$)(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """ISO 8601 `P3D`, `PT4H`, `P1W`, `P1DT12H` (no months or years: they have no fixed length)."""
    match = _DURATION_RE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not an ISO 8601 duration like P3D, PT4H or P1DT12H"
                         " (months and years have no fixed length: use days)")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return timedelta(weeks=parts["w"], days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])


def parse_time(text: str) -> datetime:
    """ISO 8601 time; `Z` allowed, no zone means UTC."""
    return ensure_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


def _checks(check: Callable[[str], Any]) -> Callable[[Any], bool]:
    def ok(value: Any) -> bool:
        if not isinstance(value, str):
            return True
        try:
            check(value)
        except ValueError:
            return False
        return True

    return ok


FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("iso-duration")(_checks(parse_duration))
FORMATS.checks("iso-datetime")(_checks(parse_time))
FORMATS.checks("iso-date")(_checks(date.fromisoformat))
FORMAT_HINTS = {
    "iso-duration": "an ISO 8601 duration like P3D, PT4H or P1DT12H",
    "iso-datetime": "an ISO 8601 time like 2026-01-05T09:00:00Z",
    "iso-date": "a date like 1990-05-17",
}


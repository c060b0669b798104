"""Scenario tests for analysts: YAML files that drive a process and check where it went.

A scenario runs on a throwaway in-memory SQLite database (engine, CRM and worklist
migrations applied), with the real handler registry (some operations replaced by mocks),
the lane router of the deployed folder's `lanes.json`, and a ManualClock that only moves
when a step says so. Nothing sleeps; a scenario takes about a second.

File format (one scenario per file, or several under `scenarios:`)::

    # keys at the top of a `scenarios:` file are shared by every scenario in it
    process: lead_to_invoice          # process id to start (required, here or per scenario)
    deploy: [..]                      # diagram files/folders, relative to this file (default: ..)
    lanes: ../lanes.json              # lane map for queues (default: lanes.json in a deployed folder)
    start_at: 2026-01-05T09:00:00Z    # the clock at the start (default: Monday 2026-01-05 09:00 UTC)
    seed:                             # records created before the start, in order
      - price_list: {name: Standard, as: std}          # `as` names it for ${std.id} and for later seeds
      - product: {number: CRM-PRO, name: Licence, price: "480.00", price_list: std}
      - account: {name: Northwind, region: EU, as: northwind}
      - contact: {last_name: Rossi, email: m@x.example, account: northwind}
      - competitor: {name: Contoso}
      - record: {model: Contract, fields: {...}, state: Active}   # any CRM model, for the rest
      - operation: {name: marketing/create_list, params: {...}, as: lst}   # a handler; ${lst.list_id}
    mocks:                            # replace a handler for this scenario
      sales/build_quote: {result: {id: 1}}            # returns this (may use ${params.NAME})
      sales/activate_quote: {results: [{...}, {...}]} # one per call, the last repeats
      sales/qualify_lead: {raise: "BpmnError:no_price_list", message: "..."}  # caught by a boundary
      activities/log: {raise: "SMTP down"}            # any other text: an ordinary failure → incident
    scenarios:
      - name: won and paid in full
        business_key: L2I-1           # correlation key of messages (default SCENARIO-1)
        start: {data: {...}, user: web}      # or {message: NAME, data: {...}} for a message start
        steps:
          - expect_task: {element: qualify_task, queue: sales, assignee: null, priority: 1, due_in: PT4H}
          - complete: {element: qualify_task, user: ann, data: {decision: qualify}}
          - advance: P3D              # or {to: 2026-02-01T09:00:00Z}; timers fire at their own due time
          - message: {name: quote_accepted, key: L2I-1, data: {...}}
          - expect_path: [qualify_task, build_quote]     # completed in this order (gaps allowed)
          - expect_not_path: [approve_discount]
          - expect_records: [{model: Quote, where: {revision: 0}, state: Won, status: Won,
                              fields: {total_amount: "9120.00"}, count: 1}]
          - expect_open_tasks: [work_opportunity]        # exactly these (ids or names)
          - expect_timers: [{element: wait_customer, due_in: P30D}]   # exactly these pending timers
          - expect_messages: [quote_accepted, quote_rejected]         # exactly what it waits for
          - expect_incidents: [{element: send_quote, message: SMTP}]  # exactly these open incidents
          - expect_status: completed  # waiting | completed | incident | terminated
          - expect_variables: {invoice.balance: "0.00"}               # dotted paths into variables
          - expect_calls: {sales/build_quote: 1}                      # how often a mock was called

`complete` and `message` take `expect_error: TEXT` when the step must be refused. `queue`
falls back to the lane when the router left the task unassigned. Strings may hold
`${alias.field}`, `${vars.path}` (process variables now), `${instance.id}` and
`${instance.business_key}`; a string that is only a reference keeps the value's type.
After every step the runner does what a live worker would (due timers, retries, jobs).
"""

from __future__ import annotations

import difflib
import re
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from engine import BpmnError, Engine, EngineError, HandlerRegistry, ManualClock, NoSubscriber, ServiceContext
from engine.clock import ensure_utc
from worklists.routing import LaneMap, make_router

from .settings import all_migrations, build_engine, build_registry

DEFAULT_START = datetime.fromisoformat("2026-01-05T09:00:00+00:00")
DEFAULT_KEY = "SCENARIO-1"
DEFAULT_DIR = Path("processes") / "scenarios"
UNASSIGNED = "unassigned"
MAX_TIMER_ROUNDS = 2000
SETTLE_ROUNDS = 50
STATUSES = ["waiting", "completed", "incident", "terminated"]
SHARED_KEYS = ("process", "deploy", "lanes", "start_at", "seed", "mocks", "business_key", "start")

# -- the schema ------------------------------------------------------------------------------
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


# -- loading ---------------------------------------------------------------------------------
class ScenarioFileError(ValueError):
    """A scenario file that cannot be used; says file, line and what is wrong."""

    def __init__(self, file: Path | str, line: int | None, column: int | None, problem: str) -> None:
        self.file, self.line, self.column, self.problem = str(file), line, column, problem
        self.more: list[ScenarioFileError] = []  # further problems found in the same file
        where = self.file + (f":{line}" if line else "") + (f":{column}" if line and column else "")
        super().__init__(f"{where}: {problem}")

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column, "problem": self.problem}


@dataclass
class Step:
    number: int
    kind: str
    spec: Any
    line: int
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "kind": self.kind, "line": self.line, "yaml": self.source}


@dataclass
class Scenario:
    name: str
    file: Path
    line: int
    process: str
    steps: list[Step]
    business_key: str = DEFAULT_KEY
    start: dict[str, Any] = field(default_factory=dict)
    start_at: datetime = DEFAULT_START
    seed: list[dict[str, Any]] = field(default_factory=list)
    mocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    deploy: list[Path] = field(default_factory=list)
    lanes: Path | None = None


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Scenario files: `.yaml`/`.yml` files as given, and those under folders (sorted)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()))
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def load_file(path: Path) -> list[Scenario]:
    """Every scenario of one file, or `ScenarioFileError` for the first problem found."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioFileError(path, None, None, f"cannot read it: {getattr(err, 'strerror', None) or err}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        problem = " ".join(str(p) for p in (getattr(err, "context", None), getattr(err, "problem", None)) if p)
        raise ScenarioFileError(path, mark.line + 1 if mark else None, mark.column + 1 if mark else None,
                                f"not valid YAML: {problem or err}") from None
    if root is None:
        raise ScenarioFileError(path, None, None, "the file is empty; a scenario needs name, process and steps")
    _check_duplicate_keys(path, root)
    doc = _plain(raw)
    if not isinstance(doc, dict):
        raise ScenarioFileError(path, 1, 1, "a scenario file is a mapping: name, process and steps "
                                            "(or several scenarios under scenarios:)")
    problems = []
    for found in jsonschema.Draft202012Validator(FILE_SCHEMA, format_checker=FORMATS).iter_errors(doc):
        err = _deepest([found])
        node = _node_for(root, list(err.absolute_path), _extra_key(err))
        problems.append(ScenarioFileError(path, node.start_mark.line + 1, node.start_mark.column + 1, _describe(err)))
    if problems:
        problems.sort(key=lambda e: (e.line or 0, e.column or 0))
        problems[0].more = problems[1:]
        raise problems[0]
    return _build(path, text, root, doc)


def _plain(value: Any) -> Any:
    """YAML dates and times as ISO strings, so everything left is JSON."""
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _check_duplicate_keys(path: Path, node: yaml.Node) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                raise ScenarioFileError(path, key.start_mark.line + 1, key.start_mark.column + 1,
                                        f"key {key.value!r} appears twice in the same mapping")
            seen.add(key.value)
            _check_duplicate_keys(path, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(path, item)


def _deepest(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    """The most specific error: into anyOf branches when one branch is clearly meant."""
    err = max(errors, key=lambda e: len(e.absolute_path))
    while err.validator == "anyOf" and err.context:
        # a branch that got past the type check is the one the author meant
        typed = [c for c in err.context if c.validator not in ("type", "required", "format")]
        if not typed:
            break
        err = max(typed, key=lambda e: len(e.absolute_path))
    return err


def _extra_key(err: jsonschema.ValidationError) -> str | None:
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = err.schema.get("properties", {})
        extra = [k for k in err.instance if k not in allowed]
        return extra[0] if extra else None
    return None


def _describe(err: jsonschema.ValidationError) -> str:
    where = _where(list(err.absolute_path))
    props = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
    if err.validator == "additionalProperties":
        extra = _extra_key(err)
        if props is STEP_SCHEMAS or props is SEED_SCHEMAS:
            kinds = ", ".join(props)
            what = "step" if props is STEP_SCHEMAS else "seed entry"
            return f"{where}unknown {what} {extra!r}{_close(extra, props)}; a {what} is one of: {kinds}"
        return f"{where}unknown key {extra!r}{_close(extra, props)}; allowed keys: {', '.join(props)}"
    if err.validator in ("minProperties", "maxProperties") and props in (STEP_SCHEMAS, SEED_SCHEMAS):
        what = "step" if props is STEP_SCHEMAS else "seed entry"
        return f"{where}a {what} is a mapping with exactly one key (one of: {', '.join(props)})"
    if err.validator == "required":
        return f"{where}{err.message.replace('is a required property', 'is required')}"
    if err.validator == "anyOf" and all(set(s) == {"required"} for s in err.validator_value):
        names = " or ".join(repr(s["required"][0]) for s in err.validator_value)
        return f"{where}needs {names}"
    if err.validator == "format":
        return f"{where}{err.instance!r} is not {FORMAT_HINTS.get(err.validator_value, err.validator_value)}"
    if err.validator == "anyOf":
        formats = [s.get("format") for s in err.validator_value if isinstance(s, dict) and s.get("format")]
        if formats and isinstance(err.instance, str):
            return f"{where}{err.instance!r} is not {FORMAT_HINTS.get(formats[0], formats[0])}"
        return f"{where}{err.instance!r} is not in any accepted form"
    if "propertyNames" in err.schema_path:
        return f"{where}{err.instance!r}: a mocked operation is named like 'area/action'"
    if err.validator == "enum":
        return f"{where}{err.instance!r} is not one of: {', '.join(map(str, err.validator_value))}"
    return f"{where}{err.message}"


def _where(path: list[Any]) -> str:
    if not path:
        return ""
    text = "".join(f"[{p + 1}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return f"{text}: "


def _close(word: str | None, options: Iterable[str]) -> str:
    match = difflib.get_close_matches(word or "", list(options), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _node_for(root: yaml.Node, path: list[Any], key: str | None = None) -> yaml.Node:
    """The YAML node at a JSON path (for its line); the deepest one that exists."""
    node = root
    for part in path:
        child = _child(node, part)
        if child is None:
            break
        node = child
    if key is not None and isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == key:
                return k
    return node


def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == str(part)), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def _build(path: Path, text: str, root: yaml.Node, doc: dict[str, Any]) -> list[Scenario]:
    lines = text.splitlines()
    if "scenarios" in doc:
        shared = {k: doc[k] for k in SHARED_KEYS if k in doc}
        items = [(["scenarios", i], s) for i, s in enumerate(doc["scenarios"])]
    else:
        shared, items = {}, [([], doc)]
    names: set[str] = set()
    scenarios = []
    for node_path, raw in items:
        node = _node_for(root, node_path)
        scn = _scenario(path, lines, root, node_path, node, shared, raw)
        if scn.name in names:
            raise ScenarioFileError(path, node.start_mark.line + 1, None, f"two scenarios are named {scn.name!r}")
        names.add(scn.name)
        scenarios.append(scn)
    return scenarios


def _scenario(path: Path, lines: list[str], root: yaml.Node, node_path: list[Any], node: yaml.Node,
              shared: dict[str, Any], raw: dict[str, Any]) -> Scenario:
    merged = {**shared, **raw}
    merged["seed"] = [*shared.get("seed", []), *raw.get("seed", [])]
    merged["mocks"] = {**shared.get("mocks", {}), **raw.get("mocks", {})}
    line = node.start_mark.line + 1
    if "process" not in merged:
        raise ScenarioFileError(path, line, None,
                                f"scenario {raw['name']!r} has no process (set process: here or at the top)")
    _check_mocks(path, root, node_path, merged["mocks"])
    _check_seed(path, root, merged["seed"])
    steps = []
    for i, step in enumerate(raw["steps"]):
        step_node = _node_for(root, [*node_path, "steps", i])
        (kind, spec), = step.items()
        first, last = step_node.start_mark.line, _last_line(step_node)
        indent = step_node.start_mark.column
        chunk = lines[first:max(last, first) + 1]
        source = "\n".join([chunk[0][indent:], *(ln[indent:] if ln[:indent].isspace() else ln for ln in chunk[1:])])
        _check_step(path, step_node, kind, spec)
        steps.append(Step(i + 1, kind, spec, first + 1, source))
    deploy = merged.get("deploy", "..")
    deploy_paths = [(path.parent / p).resolve() for p in ([deploy] if isinstance(deploy, str) else deploy)]
    lanes = (path.parent / merged["lanes"]).resolve() if merged.get("lanes") else _find_lanes(deploy_paths)
    return Scenario(
        name=raw["name"], file=path, line=line, process=merged["process"], steps=steps,
        business_key=merged.get("business_key", DEFAULT_KEY), start=merged.get("start", {}),
        start_at=parse_time(merged["start_at"]) if merged.get("start_at") else DEFAULT_START,
        seed=merged["seed"], mocks=merged["mocks"], deploy=deploy_paths, lanes=lanes,
    )


def _last_line(node: yaml.Node) -> int:
    """The last line a node's text is on (a block node's end mark is the next token's start)."""
    if isinstance(node, yaml.ScalarNode) or node.flow_style or not node.value:
        end = node.end_mark
        return end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line
    last = node.value[-1]
    return _last_line(last[1] if isinstance(node, yaml.MappingNode) else last)


def _find_lanes(deploy: list[Path]) -> Path | None:
    for p in deploy:
        candidate = (p if p.is_dir() else p.parent) / "lanes.json"
        if candidate.is_file():
            return candidate
    return None


def _check_mocks(path: Path, root: yaml.Node, node_path: list[Any], mocks: dict[str, Any]) -> None:
    for op, mock in mocks.items():
        given = [k for k in ("result", "results", "raise") if k in mock]
        if len(given) > 1:
            node = _child(_node_for(root, [*node_path, "mocks"]), op) or _node_for(root, ["mocks", op])
            raise ScenarioFileError(path, node.start_mark.line + 1, node.start_mark.column + 1,
                                    f"mock {op!r} gives {' and '.join(given)}; give one of result, results, raise")


def _check_seed(path: Path, root: yaml.Node, seed: list[dict[str, Any]]) -> None:
    for entry in seed:
        (kind, spec), = entry.items()
        if kind == "record":
            model = _model(spec["model"])
            if model is None:
                raise _error_at(path, root, spec["model"], f"unknown model {spec['model']!r}"
                                f"{_close(spec['model'], _model_names())}")
            _check_columns(path, root, model, spec.get("fields", {}))


def _error_at(path: Path, root: yaml.Node, text: str, problem: str) -> ScenarioFileError:
    """An error pointed at the first scalar equal to `text` (good enough for names)."""
    node = _find_scalar(root, text)
    line = node.start_mark.line + 1 if node else None
    return ScenarioFileError(path, line, node.start_mark.column + 1 if node else None, problem)


def _find_scalar(node: yaml.Node, text: str) -> yaml.Node | None:
    if isinstance(node, yaml.ScalarNode):
        return node if node.value == text else None
    children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
    for child in children:
        found = _find_scalar(child, text)
        if found is not None:
            return found
    return None


def _check_step(path: Path, node: yaml.Node, kind: str, spec: Any) -> None:
    """What the schema cannot know: CRM model and column names."""
    if kind != "expect_records":
        return
    for i, item in enumerate(spec):
        item_node = _node_for(node, [kind, i])
        model = _model(item["model"])
        if model is None:
            at = _node_for(item_node, ["model"])
            raise ScenarioFileError(path, at.start_mark.line + 1, at.start_mark.column + 1,
                                    f"unknown model {item['model']!r}{_close(item['model'], _model_names())}")
        for key in ("where", "fields"):
            _check_columns(path, _node_for(item_node, [key]), model, item.get(key, {}))
        if ("state" in item or "status" in item) and "state" not in _columns(model):
            raise ScenarioFileError(path, item_node.start_mark.line + 1, None,
                                    f"{item['model']} has no state or status")


def _check_columns(path: Path, node: yaml.Node, model: type, names: dict[str, Any]) -> None:
    columns = _columns(model)
    for name in names:
        if name not in columns:
            at = _node_for(node, [], name)
            raise ScenarioFileError(path, at.start_mark.line + 1, at.start_mark.column + 1,
                                    f"{model.__name__} has no field {name!r}{_close(name, columns)}; "
                                    f"fields: {', '.join(columns)}")


def _model_names() -> list[str]:
    from handlers import models

    return [n for n in models.__all__ if isinstance(getattr(models, n), type) and hasattr(getattr(models, n),
                                                                                        "__table__")]


def _model(name: str) -> type | None:
    from handlers import models

    return getattr(models, name) if name in _model_names() else None


def _columns(model: type) -> list[str]:
    from sqlalchemy import inspect as sa_inspect

    return [c.key for c in sa_inspect(model).column_attrs]


def load_all(paths: Iterable[str | Path]) -> tuple[list[Scenario], list[ScenarioFileError]]:
    """Scenarios from every readable file, and a `ScenarioFileError` for each that is not."""
    scenarios: list[Scenario] = []
    errors: list[ScenarioFileError] = []
    files = discover(paths)
    for path in files:
        if not path.exists():
            errors.append(ScenarioFileError(path, None, None, "no such file or directory"))
            continue
        try:
            scenarios.extend(load_file(path))
        except ScenarioFileError as err:
            errors.extend([err, *err.more])
    return scenarios, errors


# -- running ---------------------------------------------------------------------------------
class StepFailure(Exception):
    """A step whose expectation did not hold: what it expected and what the run found."""

    def __init__(self, expected: str, found: str) -> None:
        super().__init__(expected)
        self.expected, self.found = expected, found


@dataclass
class Result:
    scenario: Scenario
    outcome: str  # passed | failed | error
    seconds: float
    steps_run: int = 0
    step: Step | None = None
    stage: str | None = None  # seed | start | step
    expected: str | None = None
    found: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)  # elements completed, in order (coverage)

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.scenario.name, "file": str(self.scenario.file), "line": self.scenario.line,
            "outcome": self.outcome, "seconds": round(self.seconds, 3), "steps_run": self.steps_run,
            "path": self.path,
        }
        if not self.passed:
            out["failure"] = {"stage": self.stage, "step": self.step.to_dict() if self.step else None,
                              "expected": self.expected, "found": self.found, "context": self.context}
        return out


@dataclass
class Report:
    results: list[Result]
    errors: list[ScenarioFileError]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def exit_code(self) -> int:
        """2 when a file could not be used, else 1 when a scenario failed, else 0."""
        return 2 if self.errors else (1 if self.failed else 0)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": self.failed, "invalid_files": [e.to_dict() for e in self.errors],
                "scenarios": [r.to_dict() for r in self.results], "exit_code": self.exit_code}


_TEMPLATES: dict[tuple[str, ...], Engine] = {}


def _fresh_engine(registry: HandlerRegistry, clock: ManualClock, lanes: Path | None) -> Engine:
    """A new in-memory database with every migration, copied from a migrated template (fast)."""
    migrations = all_migrations()
    key = tuple(str(p) for p in migrations)
    if key not in _TEMPLATES:
        _TEMPLATES[key] = Engine("sqlite://", migrations=migrations)
    router = make_router(LaneMap.load(lanes) if lanes else LaneMap())
    eng = build_engine("sqlite://", clock, auto_migrate=False, registry=registry, task_router=router)
    source = _TEMPLATES[key].db.write_engine.raw_connection()
    target = eng.db.write_engine.raw_connection()
    try:
        source.driver_connection.backup(target.driver_connection)
    finally:
        target.close()
        source.close()
    eng.db.ensure_schema()  # a no-op when the copy is current; migrates otherwise
    return eng


def mock_handler(op: str, spec: dict[str, Any], calls: dict[str, int]) -> Callable[..., Any]:
    """A handler that returns the scenario's result(s) or raises as told."""

    def mocked(ctx: ServiceContext, **params: Any) -> Any:
        n = calls.get(op, 0)
        calls[op] = n + 1
        if "raise" in spec:
            text = spec["raise"]
            if text.startswith("BpmnError:"):
                code = text.split(":", 1)[1].strip()
                raise BpmnError(code, spec.get("message", code))
            raise RuntimeError(spec.get("message") or text)
        value = spec["results"][min(n, len(spec["results"]) - 1)] if "results" in spec else spec.get("result")
        return resolve(value, {"params": params})

    mocked.__qualname__ = f"mock[{op}]"
    return mocked


def scenario_registry(mocks: dict[str, dict[str, Any]], calls: dict[str, int]) -> HandlerRegistry:
    """The real handlers, with each mocked operation replaced (or added, if not written yet)."""
    real = build_registry()
    registry = HandlerRegistry()
    for name in real.names():
        if name not in mocks:
            registry.register(name, real.get(name))
    for name, spec in mocks.items():
        registry.register(name, mock_handler(name, spec, calls))
    return registry


_REF = re.compile(r"\$\{([^}]+)\}")


def resolve(value: Any, names: dict[str, Any]) -> Any:
    """`${a.b}` references in strings, lists and mappings, from `names`."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value.strip())
        if whole:
            return _lookup(whole.group(1), names)
        return _REF.sub(lambda m: str(_lookup(m.group(1), names)), value)
    if isinstance(value, dict):
        return {k: resolve(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    return value


class _Missing:
    pass


MISSING = _Missing()


def _lookup(ref: str, names: dict[str, Any]) -> Any:
    found = dig(names, ref.strip())
    if found is MISSING:
        raise StepFailure(f"${{{ref}}} to name a value",
                          "nothing there " + _missing_text(names, ref.strip()).replace("the variables", "the names"))
    return found


def dig(value: Any, dotted: str) -> Any:
    """`a.b.0.c` into nested mappings and lists; MISSING when absent."""
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


class Run:
    """One scenario's engine, clock, instance and named records."""

    def __init__(self, scn: Scenario) -> None:
        self.scn = scn
        self.clock = ManualClock(scn.start_at)
        self.calls: dict[str, int] = {}
        self.eng = _fresh_engine(scenario_registry(scn.mocks, self.calls), self.clock, scn.lanes)
        self.aliases: dict[str, Any] = {}
        self.refs: dict[str, dict[str, Any]] = {}
        self.iid: int | None = None

    def close(self) -> None:
        self.eng.close()

    # -- names for ${...} ------------------------------------------------------------------
    def names(self) -> dict[str, Any]:
        names: dict[str, Any] = dict(self.aliases)
        names["now"] = self.clock.now().isoformat()
        if self.iid is not None:
            inst = self.eng.get_instance(self.iid, with_history=False)
            names["vars"] = inst.data
            names["instance"] = {"id": inst.id, "business_key": inst.business_key}
        return names

    # -- setup -----------------------------------------------------------------------------
    def deploy(self) -> None:
        from engine.validation import ValidationContext

        # validate's checks, except the handler one: an operation a scenario leaves unmocked is
        # meant to become an incident the scenario can expect
        self.eng.deploy(self.scn.deploy, context=ValidationContext(check_handlers=False))

    def seed(self) -> None:
        from handlers import catalog

        with self.eng.db.write() as session:
            now = self.clock.now()
            for entry in self.scn.seed:
                (kind, spec), = entry.items()
                spec = resolve(spec, dict(self.aliases))
                record = self._seed_one(catalog, session, now, kind, spec)
                for ref in (spec.get("name"), spec.get("as")):
                    if ref:
                        self.refs.setdefault(kind, {})[str(ref)] = record
                if spec.get("as"):
                    self.aliases[spec["as"]] = _row(record)

    def _ref(self, kind: str, name: str | None) -> Any:
        """A record seeded earlier, by its `as` or its name; the only one of its kind when unnamed."""
        known = self.refs.get(kind, {})
        if name is None and len({id(r) for r in known.values()}) == 1:
            return next(iter(known.values()))
        if name not in known:
            raise StepFailure(f"a {kind} seeded before, named {name!r}",
                              f"seeded {kind}s: {', '.join(known) or '(none)'}")
        return known[name]

    def _seed_one(self, catalog: Any, session: Any, now: datetime, kind: str, spec: dict[str, Any]) -> Any:
        if kind == "price_list":
            return catalog.add_price_list(session, now, spec["name"], spec.get("currency", "EUR"))
        if kind == "product":
            product = catalog.add_product(session, now, spec["number"], spec["name"], spec.get("unit", "each"))
            prices: list[tuple[str | None, Any]] = list(spec.get("prices", {}).items())
            if "price" in spec:
                prices.append((spec.get("price_list"), spec["price"]))
            for ref, amount in prices:
                catalog.set_price(session, self._ref("price_list", ref), product, str(amount))
            return product
        if kind == "account":
            return catalog.add_account(session, now, spec["name"], spec.get("region"))
        if kind == "contact":
            account_id = self._ref("account", spec["account"]).id if spec.get("account") else None
            birthdate = date.fromisoformat(spec["birthdate"]) if spec.get("birthdate") else None
            return catalog.add_contact(session, now, spec["last_name"], spec.get("first_name"), spec.get("email"),
                                       birthdate, spec.get("region"), account_id, spec.get("unsubscribed", False))
        if kind == "competitor":
            return catalog.add_competitor(session, now, spec["name"])
        if kind == "operation":
            return self._seed_operation(session, now, spec)
        return self._seed_record(session, now, spec)

    def _seed_operation(self, session: Any, now: datetime, spec: dict[str, Any]) -> Any:
        """A handler called as an admin tool would (e.g. marketing/create_list); its result is the alias."""
        ctx = ServiceContext(session=session, instance_id=0, process_id="scenario-seed", business_key=None,
                             element_id="seed", task_id=f"seed-{len(self.aliases)}-{spec['name']}", now=now)
        return _Result(self.eng.registry.call(spec["name"], ctx, dict(spec.get("params", {}))))

    def _seed_record(self, session: Any, now: datetime, spec: dict[str, Any]) -> Any:
        from handlers import lifecycle

        model = _model(spec["model"])
        assert model is not None  # checked when the file was loaded
        record = model(**{k: _to_column(model, k, v) for k, v in spec.get("fields", {}).items()})
        if "state" in _columns(model):
            machine = next((m for m in vars(lifecycle).values()
                            if isinstance(m, lifecycle.Lifecycle) and m.kind == getattr(model, "kind", None)), None)
            if machine is not None:
                machine.start(record, now, spec.get("state"), spec.get("status"))
            else:
                record.state, record.status = spec.get("state", "Active"), spec.get("status", spec.get("state",
                                                                                                       "Active"))
                record.created_at = record.state_changed_at = now
        session.add(record)
        session.flush()
        return record

    # -- the process -----------------------------------------------------------------------
    def start(self) -> None:
        start = resolve(self.scn.start, self.names())
        data = start.get("data", {})
        if start.get("message"):
            inst = self.eng.correlate(start["message"], key=self.scn.business_key, data=data)
        else:
            inst = self.eng.start(self.scn.process, data, business_key=self.scn.business_key,
                                  user=start.get("user"))
        self.iid = inst.id
        self.settle()

    def settle(self) -> None:
        """What a live worker does at once: due timers, due retries, queued jobs."""
        for _ in range(SETTLE_ROUNDS):
            result = self.eng.tick(self.clock.now(), worker="scenario")
            if not (result.timers_fired or result.incidents_retried or result.jobs_run):
                return
        raise StepFailure("the process to come to rest", f"still busy after {SETTLE_ROUNDS} worker passes")

    def instance(self) -> Any:
        assert self.iid is not None
        return self.eng.get_instance(self.iid, with_history=False)

    def open_tasks(self) -> list[Any]:
        return self.eng.list_tasks(state="open", instance_id=self.iid)

    def path(self) -> list[str]:
        assert self.iid is not None
        return [h.element_id for h in self.eng.history(self.iid) if h.event == "completed" and h.element_id]

    def context(self) -> dict[str, Any]:
        """Where the instance stands, for a failure report."""
        if self.iid is None:
            return {"now": self.clock.now().isoformat()}
        try:
            inst = self.instance()
            return {
                "now": self.clock.now().isoformat(),
                "status": inst.status,
                "open_tasks": [_task_text(t) for t in inst.open_tasks],
                "waiting_for": sorted(s.message_name for s in inst.subscriptions),
                "timers": [f"{t.element_id} due {t.due_at.isoformat()}" for t in inst.timers],
                "incidents": [f"{i.element_id}: {i.message}" for i in inst.incidents],
                "path": self.path(),
            }
        except Exception as err:  # the report must not hide the failure behind a second one
            return {"context_error": f"{type(err).__name__}: {err}"}


@dataclass
class _Result:
    """A seeding operation's result, named with `as` like a record."""

    value: Any


def _row(record: Any) -> Any:
    if isinstance(record, _Result):
        return record.value
    return {k: _jsonish(getattr(record, k)) for k in _columns(type(record))}


def _jsonish(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _to_column(model: type, name: str, value: Any) -> Any:
    """YAML values into what the column holds (dates, times, decimals)."""
    from sqlalchemy import inspect as sa_inspect

    column_type = sa_inspect(model).column_attrs[name].columns[0].type
    column_type = getattr(column_type, "impl_instance", None) or column_type  # a TypeDecorator's stored type
    try:
        kind = column_type.python_type
    except NotImplementedError:
        return value
    if isinstance(value, str) and kind is datetime:
        return parse_time(value)
    if isinstance(value, str) and kind is date:
        return date.fromisoformat(value)
    if isinstance(value, (str, int, float)) and kind is Decimal:
        return Decimal(str(value))
    return value


def _task_text(t: Any) -> str:
    parts = [f"queue {t.queue}" if t.queue else None, f"lane {t.lane}" if t.lane else None,
             f"assignee {t.assignee}" if t.assignee else None]
    label = t.element_id + (f" ({t.name!r})" if t.name and t.name != t.element_id else "")
    return f"{label} [{', '.join(p for p in parts if p)}]"


def same(actual: Any, expected: Any) -> bool:
    """Equal as an analyst means it: 9120 == "9120.00" for money, ISO text for dates."""
    if isinstance(actual, Decimal):
        try:
            return actual == Decimal(str(expected))
        except (InvalidOperation, ValueError):
            return False
    if isinstance(actual, datetime):
        try:
            return isinstance(expected, str) and actual == parse_time(expected)
        except ValueError:
            return False
    if isinstance(actual, date):
        return str(expected) == actual.isoformat()
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return bool(actual == expected)


def _show(value: Any) -> str:
    if isinstance(value, (Decimal, datetime, date)):
        return str(_jsonish(value))
    return yaml.safe_dump(value, default_flow_style=True, width=1_000_000).strip().removesuffix("...").strip()


# -- steps -----------------------------------------------------------------------------------
def _matches(task: Any, spec: dict[str, Any]) -> bool:
    return (spec.get("element") in (None, task.element_id)) and (spec.get("name") in (None, task.name))


def _label(spec: dict[str, Any]) -> str:
    return " ".join(f"{k} {spec[k]!r}" for k in ("element", "name") if k in spec)


def _open_text(run: Run) -> str:
    tasks = run.open_tasks()
    return "open tasks: " + (", ".join(_task_text(t) for t in tasks) if tasks else "(none)")


def _one_task(run: Run, spec: dict[str, Any]) -> Any:
    tasks = [t for t in run.open_tasks() if _matches(t, spec)]
    if len(tasks) != 1:
        what = "no" if not tasks else f"{len(tasks)} (ambiguous)"
        raise StepFailure(f"one open task {_label(spec)}", f"{what} such task; {_open_text(run)}")
    return tasks[0]


def step_expect_task(run: Run, spec: dict[str, Any]) -> None:
    task = _one_task(run, spec)
    now = run.clock.now()
    checks: list[tuple[str, Any, Any, bool]] = []
    if "queue" in spec:
        actual = task.queue if task.queue not in (None, UNASSIGNED) else task.lane
        checks.append(("queue", spec["queue"], actual, spec["queue"] in (task.queue, actual)))
    for key in ("lane", "assignee", "priority", "form"):
        if key in spec:
            checks.append((key, spec[key], getattr(task, key), getattr(task, key) == spec[key]))
    if "candidate_groups" in spec:
        actual_groups = sorted(task.candidate_groups or [])
        checks.append(("candidate_groups", spec["candidate_groups"], actual_groups,
                       actual_groups == sorted(spec["candidate_groups"])))
    for key, attr in (("due_in", "due_at"), ("follow_up_in", "follow_up_at")):
        if key in spec:
            at = getattr(task, attr)
            actual = _duration_text(at - now) if at else None
            checks.append((key, spec[key], actual, at is not None and at - now == parse_duration(spec[key])))
    wrong = [(k, e, a) for k, e, a, ok in checks if not ok]
    if wrong:
        raise StepFailure(
            f"task {task.element_id} with " + ", ".join(f"{k} {_show(e)}" for k, e, _ in wrong),
            f"task {task.element_id} has " + ", ".join(f"{k} {_show(a)}" for k, _, a in wrong),
        )


def _duration_text(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time_part = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if v)
    return f"{sign}P{f'{days}D' if days else ''}{'T' + time_part if time_part else ''}" if seconds else "PT0S"


@contextmanager
def _refusal(spec: dict[str, Any], what: str) -> Iterator[None]:
    """Run an action; with `expect_error`, its refusal is the expectation."""
    wanted = spec.get("expect_error")
    try:
        yield
    except EngineError as err:
        if wanted is None:
            raise StepFailure(f"{what} to succeed", f"refused: {err}") from None
        if wanted.lower() not in str(err).lower():
            raise StepFailure(f"{what} refused with {wanted!r}", f"refused with: {err}") from None
        return
    if wanted is not None:
        raise StepFailure(f"{what} refused with {wanted!r}", "it was accepted")


def step_complete(run: Run, spec: dict[str, Any]) -> None:
    task = _one_task(run, spec)
    data = resolve(spec.get("data", {}), run.names())
    with _refusal(spec, f"completing {task.element_id}"):
        run.eng.complete_task(task.id, user=spec.get("user"), data=data)
    run.settle()


def step_message(run: Run, spec: dict[str, Any]) -> None:
    names = run.names()
    key = resolve(spec["key"], names) if "key" in spec else run.scn.business_key
    data = resolve(spec.get("data", {}), names)
    what = f"message {spec['name']!r} (key {key!r})"
    try:
        with _refusal(spec, what):
            run.eng.correlate(spec["name"], key=key, data=data)
    except StepFailure as failure:
        if "expect_error" not in spec and isinstance(failure.__context__, NoSubscriber):
            waiting = ", ".join(sorted(s.message_name for s in run.instance().subscriptions)) or "(nothing)"
            failure.found += f"; the instance waits for: {waiting}"
        raise
    run.settle()


def step_advance(run: Run, spec: Any) -> None:
    """Move the clock, stopping at each due timer and retry on the way as a live worker would."""
    now = run.clock.now()
    target = now + parse_duration(spec) if isinstance(spec, str) else parse_time(spec["to"])
    if target < now:
        raise StepFailure(f"a time after {now.isoformat()}", f"{target.isoformat()} is in the past")
    for _ in range(MAX_TIMER_ROUNDS):
        due = _next_due(run)
        if due is None or due > target:
            break
        run.clock.set(max(due, run.clock.now()))
        run.settle()
    else:
        raise StepFailure(f"the clock to reach {target.isoformat()}",
                          f"timers kept firing ({MAX_TIMER_ROUNDS} rounds); stopped at {run.clock.now().isoformat()}")
    run.clock.set(target)
    run.settle()


def _next_due(run: Run) -> datetime | None:
    times = [t.due_at for t in run.eng.list_timers(state="pending")]
    times += [i.next_retry_at for i in run.eng.list_incidents(state="open") if i.next_retry_at and i.retries_left]
    return min(times) if times else None


def step_expect_path(run: Run, spec: list[str]) -> None:
    path = run.path()
    position = 0
    for element in spec:
        try:
            position = path.index(element, position) + 1
        except ValueError:
            where = "at all" if element not in path else "after the elements before it"
            raise StepFailure("completed in this order: " + " → ".join(spec),
                              f"{element!r} not completed {where} (the path is below)") from None


def step_expect_not_path(run: Run, spec: list[str]) -> None:
    path = run.path()
    ran = [e for e in spec if e in path]
    if ran:
        raise StepFailure("never completed: " + ", ".join(spec), f"completed: {', '.join(ran)} (the path is below)")


def step_expect_status(run: Run, spec: str) -> None:
    status = run.instance().status
    if status != spec:
        raise StepFailure(f"status {spec}", f"status {status}")


def _exact(expected: list[Any], actual: list[Any], fits: Callable[[Any, Any], bool]) -> tuple[list[Any], list[Any]]:
    """Expected entries with no actual match, and actual ones left over (a multiset match)."""
    left = list(actual)
    missing = []
    for want in expected:
        hit = next((a for a in left if fits(a, want)), None)
        if hit is None:
            missing.append(want)
        else:
            left.remove(hit)
    return missing, left


def step_expect_open_tasks(run: Run, spec: list[str]) -> None:
    tasks = run.open_tasks()
    missing, extra = _exact(spec, tasks, lambda t, w: w in (t.element_id, t.name))
    if missing or extra:
        raise StepFailure("open tasks: " + (", ".join(spec) or "(none)"), _open_text(run))


def step_expect_timers(run: Run, spec: list[Any]) -> None:
    timers = run.instance().timers
    now = run.clock.now()
    wants = [w if isinstance(w, dict) else {"element": w} for w in spec]

    def fits(t: Any, w: dict[str, Any]) -> bool:
        if t.element_id != w["element"]:
            return False
        if "due_in" in w and t.due_at - now != parse_duration(w["due_in"]):
            return False
        return "due_at" not in w or t.due_at == parse_time(w["due_at"])

    missing, extra = _exact(wants, timers, fits)
    if missing or extra:
        def text(w: dict[str, Any]) -> str:
            return w["element"] + "".join(f" {k} {w[k]}" for k in ("due_in", "due_at") if k in w)

        found = ", ".join(f"{t.element_id} due_in {_duration_text(t.due_at - now)} (due_at {t.due_at.isoformat()})"
                          for t in timers)
        raise StepFailure("pending timers: " + (", ".join(text(w) for w in wants) or "(none)"),
                          "pending timers: " + (found or "(none)"))


def step_expect_messages(run: Run, spec: list[str]) -> None:
    waiting = sorted(s.message_name for s in run.instance().subscriptions)
    if sorted(spec) != waiting:
        raise StepFailure("waiting for messages: " + (", ".join(sorted(spec)) or "(none)"),
                          "waiting for messages: " + (", ".join(waiting) or "(none)"))


def step_expect_incidents(run: Run, spec: list[Any]) -> None:
    incidents = run.eng.list_incidents(state="open", instance_id=run.iid)
    wants = [w if isinstance(w, dict) else {"element": w} for w in spec]

    def fits(i: Any, w: dict[str, Any]) -> bool:
        return i.element_id == w["element"] and w.get("message", "").lower() in (i.message or "").lower()

    missing, extra = _exact(wants, incidents, fits)
    if missing or extra:
        want_text = ", ".join(w["element"] + (f" ({w['message']!r})" if "message" in w else "") for w in wants)
        found = ", ".join(f"{i.element_id} ({i.message!r}, {i.retries_left} retries left)" for i in incidents)
        raise StepFailure("open incidents: " + (want_text or "(none)"), "open incidents: " + (found or "(none)"))


def step_expect_variables(run: Run, spec: dict[str, Any]) -> None:
    data = run.instance().data
    wanted = resolve(spec, run.names())
    wrong = []
    for path, value in wanted.items():
        actual = dig(data, str(path))
        if actual is MISSING or not same(actual, value):
            wrong.append((path, value, _missing_text(data, str(path)) if actual is MISSING else _show(actual)))
    if wrong:
        raise StepFailure(", ".join(f"{p} = {_show(v)}" for p, v, _ in wrong),
                          ", ".join(f"{p} = {a}" for p, _, a in wrong))


def _missing_text(data: dict[str, Any], dotted: str) -> str:
    """`(not set; lead has: lead_id, email, ...)`: what is there instead, at the deepest level that exists."""
    parts = dotted.split(".")
    value: Any = data
    where = "the variables"
    for i, part in enumerate(parts[:-1]):
        found = dig(value, part)
        if found is MISSING:
            break
        value, where = found, ".".join(parts[: i + 1])
    if isinstance(value, dict):
        keys = sorted(map(str, value))
        shown = ", ".join(keys[:15]) + (", ..." if len(keys) > 15 else "")
        return f"(not set; {where} has: {shown or 'nothing'})"
    return f"(not set; {where} is {_show(value)})"


def step_expect_calls(run: Run, spec: dict[str, int]) -> None:
    unknown = [op for op in spec if op not in run.scn.mocks]
    if unknown:
        raise StepFailure("calls counted for mocked operations only",
                          f"{', '.join(unknown)} not mocked; mocks: {', '.join(run.scn.mocks) or '(none)'}")
    actual = {op: run.calls.get(op, 0) for op in spec}
    if actual != spec:
        raise StepFailure(", ".join(f"{op} called {n}x" for op, n in spec.items()),
                          ", ".join(f"{op} called {n}x" for op, n in actual.items()))


def step_expect_records(run: Run, spec: list[dict[str, Any]]) -> None:
    from sqlalchemy import select

    names = run.names()
    for item in resolve(spec, names):
        model = _model(item["model"])
        assert model is not None
        where = item.get("where", {})
        checks = {**({"state": item["state"]} if "state" in item else {}),
                  **({"status": item["status"]} if "status" in item else {}), **item.get("fields", {})}
        with run.eng.db.read() as session:
            rows = list(session.scalars(select(model).order_by(*_primary_key(model))))
            selected = [r for r in rows if all(same(getattr(r, k), v) for k, v in where.items())]
            hits = [r for r in selected if all(same(getattr(r, k), v) for k, v in checks.items())]
            ok = len(hits) == item["count"] if "count" in item else bool(hits)
            if ok:
                continue
            shown = [*where, *checks] or [c.key for c in _primary_key(model)]
            found = "; ".join(
                f"{item['model']} #{_key_text(r)}: " + ", ".join(f"{k} {_show(getattr(r, k))}" for k in shown)
                for r in selected[:10]
            ) or f"no {item['model']} " + ("records at all" if not rows else f"where {_show(where)}")
            if len(selected) > 10:
                found += f"; ... {len(selected) - 10} more"
        count = f"{item['count']} " if "count" in item else ("an " if item["model"][0] in "AEIOU" else "a ")
        expected = f"{count}{item['model']}" + (f" where {_show(where)}" if where else "")
        expected += (f" with {_show(checks)}" if checks else "")
        raise StepFailure(expected, f"{len(hits)} match; {found}")


def _primary_key(model: type) -> list[Any]:
    from sqlalchemy import inspect as sa_inspect

    return list(sa_inspect(model).primary_key)


def _key_text(record: Any) -> str:
    return "/".join(str(getattr(record, c.key)) for c in _primary_key(type(record)))


STEPS: dict[str, Callable[[Run, Any], None]] = {
    "expect_task": step_expect_task, "complete": step_complete, "advance": step_advance,
    "message": step_message, "expect_path": step_expect_path, "expect_not_path": step_expect_not_path,
    "expect_records": step_expect_records, "expect_open_tasks": step_expect_open_tasks,
    "expect_timers": step_expect_timers, "expect_messages": step_expect_messages,
    "expect_incidents": step_expect_incidents, "expect_status": step_expect_status,
    "expect_variables": step_expect_variables, "expect_calls": step_expect_calls,
}
assert set(STEPS) == set(STEP_KINDS)


def run_scenario(scn: Scenario) -> Result:
    """Run one scenario to its first failing step (or its end) on a fresh database."""
    began = time.perf_counter()
    result = Result(scn, "passed", 0.0)
    run: Run | None = None
    stage, step = "setup", None
    try:
        run = Run(scn)
        stage = "deploy"
        run.deploy()
        stage = "seed"
        run.seed()
        stage = "start"
        run.start()
        stage = "step"
        for step in scn.steps:
            STEPS[step.kind](run, step.spec)
            result.steps_run += 1
        step = None
        result.path = run.path()
    except StepFailure as failure:
        _fail(result, "failed", stage, step, failure.expected, failure.found, run)
    except EngineError as err:
        _fail(result, "failed", stage, step, f"{stage} to succeed", f"{type(err).__name__}: {err}", run)
    except Exception as err:  # a bug in a handler or the runner: report it, go on with the next scenario
        tb = traceback.extract_tb(err.__traceback__)[-1]
        first = (str(err).strip().splitlines() or [""])[0]
        found = f"{type(err).__name__}: {first} (at {Path(tb.filename).name}:{tb.lineno})"
        _fail(result, "error", stage, step, f"{stage} to succeed", found, run)
    finally:
        if run is not None:
            run.close()
        result.seconds = time.perf_counter() - began
    return result


def _fail(result: Result, outcome: str, stage: str, step: Step | None, expected: str, found: str,
          run: Run | None) -> None:
    result.outcome, result.stage, result.step = outcome, stage, step
    result.expected, result.found = expected, found
    result.context = run.context() if run is not None else {}


def run_paths(paths: Iterable[str | Path], keyword: str | None = None) -> Report:
    """Load every scenario file under `paths`, run those whose name contains `keyword`."""
    scenarios, errors = load_all(paths)
    if keyword:
        scenarios = [s for s in scenarios if keyword.lower() in s.name.lower()]
    return Report([run_scenario(s) for s in scenarios], errors)


# -- reporting -------------------------------------------------------------------------------
def _rel(path: Path | str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def format_text(report: Report) -> str:
    """PASS/FAIL per scenario, the failing step with expected vs found, then `N passed, M failed`."""
    lines: list[str] = []
    for err in report.errors:
        where = _rel(err.file) + (f":{err.line}" if err.line else "") + (f":{err.column}" if err.column else "")
        lines.append(f"INVALID {where}: {err.problem}")
    for r in report.results:
        head = f"{_rel(r.scenario.file)}:{r.scenario.line}: {r.scenario.name}"
        if r.passed:
            lines.append(f"PASS  {head} ({r.seconds:.2f}s)")
            continue
        lines.append(f"{'FAIL' if r.outcome == 'failed' else 'ERROR'}  {head}")
        if r.step is not None:
            lines.append(f"      step {r.step.number} of {len(r.scenario.steps)} (line {r.step.line}): {r.step.kind}")
            lines.extend(f"        | {src}" for src in r.step.source.splitlines())
        else:
            lines.append(f"      during {r.stage}")
        lines.append(f"      expected: {r.expected}")
        lines.append(f"      found:    {r.found}")
        ctx = r.context
        if "status" in ctx:
            lines.append(f"      status {ctx['status']} at {ctx['now']}")
            for key, label in (("open_tasks", "open tasks"), ("waiting_for", "waiting for"),
                               ("timers", "timers"), ("incidents", "incidents")):
                if ctx.get(key):
                    lines.append(f"      {label}: {', '.join(ctx[key])}")
            lines.append("      path: " + (" → ".join(ctx["path"]) or "(nothing completed)"))
        elif ctx.get("context_error"):
            lines.append(f"      (state unavailable: {ctx['context_error']})")
    if report.errors:
        files = len({e.file for e in report.errors})
        lines.append(f"{files} scenario file{'s' if files != 1 else ''} could not be used")
    lines.append(f"{report.passed} passed, {report.failed} failed")
    return "\n".join(lines)

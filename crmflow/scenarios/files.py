"""Loading scenario files: YAML into `Scenario`s and `Step`s, every problem a
`ScenarioFileError` with file, line and column, a hint and the closest valid word.

Split from `crmflow.scenarios`; `model_named` and `column_names` are also how seeding and
`expect_records` find a CRM model by name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from engine.clock import ensure_utc

from .schema import (
    DEFAULT_KEY,
    DEFAULT_START,
    FILE_SCHEMA,
    FORMAT_HINTS,
    FORMATS,
    SEED_SCHEMAS,
    SHARED_KEYS,
    STEP_SCHEMAS,
    parse_time,
)


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
            model = model_named(spec["model"])
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
        model = model_named(item["model"])
        if model is None:
            at = _node_for(item_node, ["model"])
            raise ScenarioFileError(path, at.start_mark.line + 1, at.start_mark.column + 1,
                                    f"unknown model {item['model']!r}{_close(item['model'], _model_names())}")
        for key in ("where", "fields"):
            _check_columns(path, _node_for(item_node, [key]), model, item.get(key, {}))
        if ("state" in item or "status" in item) and "state" not in column_names(model):
            raise ScenarioFileError(path, item_node.start_mark.line + 1, None,
                                    f"{item['model']} has no state or status")


def _check_columns(path: Path, node: yaml.Node, model: type, names: dict[str, Any]) -> None:
    columns = column_names(model)
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


def model_named(name: str) -> type | None:
    from handlers import models

    return getattr(models, name) if name in _model_names() else None


def column_names(model: type) -> list[str]:
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


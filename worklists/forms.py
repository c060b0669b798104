"""Task forms: spiff-arena's `formJsonSchemaFilename` JSON Schemas, prefilled, rendered, validated.

A task's form is a JSON Schema file named relative to the processes folder, or a schema the task
carries inline (a Camunda generated form, passed as `inline`). Showing it:
defaults and current task data prefill the fields, and `{{ variable }}` in the title,
descriptions and the task's instructions are rendered from task data with a sandboxed
Jinja2 environment (no attribute tricks, no I/O). Submitting it: the data is validated
with jsonschema (Draft 2020-12) and every failing field comes back named with the reason.
Fields marked `x-lookup` (see `worklists.lookups`) are offered from, and checked against,
the records the composition root provides.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import TemplateError
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError, ValidationError

from engine import InvalidInput, NotFound
from engine.templating import BoundedEnvironment, TemplateLimitError
from engine.templating import render as bounded_render
from engine.views import View

from .lookups import KEYWORD as LOOKUP
from .lookups import Lookups, Option, lookup_names

DEFAULT_ROOT = Path("processes")
_RENDERED_KEYS = ("title", "description", "placeholder")
def _for_people(value: Any) -> Any:
    """What `{{ value }}` prints: Yes/No for booleans and nothing for None, never Python's True/False/None."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return "" if value is None else value


_env = BoundedEnvironment(autoescape=False, finalize=_for_people)


@dataclass
class FieldError(View):
    field: str
    message: str


class FormInvalid(InvalidInput):
    """Submitted data fails the form; `errors` names every failing field (for API and pages)."""

    def __init__(self, form: str, errors: list[FieldError]) -> None:
        self.form = form
        self.errors = errors
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(f"form {form} is not valid: {detail}")


@dataclass
class RenderedForm(View):
    """What a page or client needs to show a task's form."""

    form: str | None
    schema: dict[str, Any] | None
    ui_schema: dict[str, Any] | None
    values: dict[str, Any] = field(default_factory=dict)
    instructions: str | None = None
    title: str | None = None
    lookups: dict[str, list[Option]] = field(default_factory=dict)
    """The choices of each lookup the form names (`x-lookup`), to fill its selects."""


def render_text(text: str | None, data: Mapping[str, Any]) -> str | None:
    """`{{ variable }}` from task data; a broken template is shown as written, never an error page."""
    if not text or "{" not in text:
        return text
    try:
        return bounded_render(_env, text, dict(data))
    except TemplateLimitError as err:  # say why the text is not filled in
        return f"{text}\n\n(This text was not filled in: {err}.)"
    except TemplateError:
        return text
    except Exception:  # sandbox violations and errors raised by the data itself
        return text


class Forms:
    """Loads and caches form schemas under `root` (the processes folder)."""

    def __init__(self, root: str | Path = DEFAULT_ROOT, lookups: Lookups | None = None) -> None:
        self.root = Path(root)
        self.lookups = lookups
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    def path_of(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise InvalidInput(f"form {name!r} is outside the forms folder ({self.root.name}/)")
        return path

    def schema(self, name: str) -> dict[str, Any]:
        """The parsed schema (a copy); NotFound/InvalidInput name the file at fault."""
        path = self.path_of(name)
        try:
            mtime = path.stat().st_mtime
        except OSError:
            raise NotFound(f"form {name!r} not found in the forms folder ({self.root.name}/)") from None
        cached = self._cache.get(name)
        if cached is None or cached[0] != mtime:
            try:
                schema = json.loads(path.read_text())
                Draft202012Validator.check_schema(schema)
            except json.JSONDecodeError as err:
                raise InvalidInput(f"form {name}: not valid JSON: {err.msg} at line {err.lineno}") from None
            except SchemaError as err:
                raise InvalidInput(f"form {name}: not a valid JSON Schema: {err.message}") from None
            cached = (mtime, schema)
            self._cache[name] = cached
        return copy.deepcopy(cached[1])

    def render(
        self, form: str | None, data: Mapping[str, Any], instructions: str | None = None,
        ui_form: str | None = None, *, inline: Mapping[str, Any] | None = None,
        prefill: Mapping[str, Any] | None = None,
    ) -> RenderedForm:
        """The form to show: texts rendered from `data`, values from `prefill` (default: `data`)
        over defaults. `inline` is the task's own schema (a generated form), used instead of a file."""
        text = render_text(instructions, data)
        if not form:
            return RenderedForm(None, None, None, {}, text)
        schema = render_schema_texts(self._schema_of(form, inline), data)
        ui_schema = self.schema(ui_form) if ui_form else None
        choices = {name: source.options() for name in dict.fromkeys(lookup_names(schema))
                   if self.lookups is not None and (source := self.lookups.get(name)) is not None}
        values = initial_values(schema, data if prefill is None else prefill)
        return RenderedForm(form, schema, ui_schema, values, text, schema.get("title"), choices)

    def _schema_of(self, form: str, inline: Mapping[str, Any] | None) -> dict[str, Any]:
        if inline is None:
            return self.schema(form)
        try:
            Draft202012Validator.check_schema(inline)
        except SchemaError as err:
            raise InvalidInput(f"form {form}: not a valid JSON Schema: {err.message}") from None
        return copy.deepcopy(dict(inline))

    def validate(
        self, form: str | None, data: Mapping[str, Any], *, inline: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Submitted data with defaults filled in; raises FormInvalid naming every bad field."""
        payload = dict(data)
        if not form:
            return payload
        schema = self._schema_of(form, inline)
        if self.lookups is not None:
            missing = sorted(set(lookup_names(schema)) - set(self.lookups))
            if missing:
                raise InvalidInput(f"form {form} names lookup(s) {', '.join(missing)} that this server does not "
                                   f"provide (known: {', '.join(sorted(self.lookups)) or 'none'})")
        filled = fill_defaults(schema, payload)
        errors = field_errors(schema, filled, self.lookups)
        if errors:
            raise FormInvalid(form, errors)
        return filled


# -- schema helpers ----------------------------------------------------------------------

def _properties(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, Mapping) else {}


def fill_defaults(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` plus each property's `default` where the field is missing (nested objects too)."""
    out = dict(data)
    for name, prop in _properties(schema).items():
        if not isinstance(prop, Mapping):
            continue
        if name not in out and "default" in prop:
            out[name] = copy.deepcopy(prop["default"])
        if prop.get("type") == "object" and isinstance(out.get(name), Mapping):
            out[name] = fill_defaults(prop, out[name])
    return out


def initial_values(schema: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Prefill: the task data's value for each field, else its default."""
    values = {name: copy.deepcopy(data[name]) for name in _properties(schema) if name in data}
    return fill_defaults(schema, values)


def render_schema_texts(schema: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Titles, descriptions and placeholders with `{{ variable }}` rendered (in place, recursively)."""
    for key in _RENDERED_KEYS:
        if isinstance(schema.get(key), str):
            schema[key] = render_text(schema[key], data)
    for prop in _properties(schema).values():
        if isinstance(prop, dict):
            render_schema_texts(prop, data)
    items = schema.get("items")
    if isinstance(items, dict):
        render_schema_texts(items, data)
    return schema


def field_errors(
    schema: Mapping[str, Any], data: Mapping[str, Any], lookups: Lookups | None = None
) -> list[FieldError]:
    """Every failing field, named by its path (`address.zip`, `lines.0.qty`), in a stable order;
    with `lookups`, a lookup field's value must name one of its records."""
    cls = _with_lookups(lookups) if lookups is not None else Draft202012Validator
    validator = cls(schema, format_checker=FormatChecker())
    found: dict[tuple[str, str], FieldError] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        for fe in _explain(error):
            found.setdefault((fe.field, fe.message), fe)
    return list(found.values())


def _with_lookups(lookups: Lookups) -> Any:
    """Draft 2020-12 plus the `x-lookup` keyword, checked against `lookups`."""

    def check(validator: Any, name: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
        source = lookups.get(name) if isinstance(name, str) else None
        if source is None or instance is None or isinstance(instance, bool | dict | list):
            return
        if source.find(instance) is None:
            yield ValidationError(f"is not a known {source.noun}: {instance!r} (choose one from the list)")

    return validators.extend(Draft202012Validator, {LOOKUP: check})


def _explain(error: ValidationError) -> list[FieldError]:
    base = ".".join(str(p) for p in error.absolute_path)

    def at(name: str) -> str:
        return f"{base}.{name}" if base else name

    kind, value = error.validator, error.validator_value
    instance = error.instance
    if kind == "required":
        missing = [n for n in value if isinstance(instance, Mapping) and n not in instance]
        return [FieldError(at(n), "is required") for n in missing]
    if kind == "additionalProperties" and isinstance(instance, Mapping):
        allowed = set(_properties(error.schema))
        return [FieldError(at(n), "is not a field of this form") for n in instance if n not in allowed]
    return [FieldError(base or "(form)", _message(kind, value, error))]


def _message(kind: Any, value: Any, error: ValidationError) -> str:
    messages = {
        "maximum": f"must be ≤ {value}",
        "minimum": f"must be ≥ {value}",
        "exclusiveMaximum": f"must be < {value}",
        "exclusiveMinimum": f"must be > {value}",
        "maxLength": f"must be at most {value} characters",
        "minLength": "is required" if value == 1 else f"must be at least {value} characters",
        "enum": "must be one of " + ", ".join(json.dumps(v) for v in value) if isinstance(value, list) else "",
        "const": f"must be {json.dumps(value)}",
        "pattern": f"must match the pattern {value}",
        "format": f"must be a valid {value}",
        "type": f"must be {_a(value)}",
        "multipleOf": f"must be a multiple of {value}",
        "maxItems": f"must have at most {value} items",
        "minItems": f"must have at least {value} items",
        "uniqueItems": "must not repeat items",
    }
    return messages.get(kind) or error.message


def _a(types: Any) -> str:
    names = {"integer": "a whole number", "number": "a number", "string": "text", "boolean": "true or false",
             "object": "an object", "array": "a list", "null": "empty"}
    if isinstance(types, list):
        return " or ".join(names.get(t, str(t)) for t in types)  # any list: messages are built eagerly
    return names.get(types, str(types))


def coerce_values(schema: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Turn HTML form strings into the schema's types (numbers, booleans); empty optional fields drop out.

    Values that do not convert are left as given, so validation names the field."""
    out: dict[str, Any] = {}
    props = _properties(schema)
    for name, value in raw.items():
        prop = props.get(name)
        kind = prop.get("type") if isinstance(prop, Mapping) else None
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if isinstance(value, str) and kind in ("integer", "number", "boolean"):
            text = value.strip()
            if text == "":
                continue
            out[name] = _convert(text, kind)
        else:
            out[name] = value
    return out


def _convert(text: str, kind: str) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            number = float(text)
            return int(number) if number.is_integer() and "." not in text else number
    except ValueError:
        return text
    lowered = text.lower()
    if lowered in ("true", "on", "yes", "1"):
        return True
    if lowered in ("false", "off", "no", "0"):
        return False
    return text

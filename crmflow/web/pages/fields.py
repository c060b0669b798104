"""The form model of the pages: a task form's JSON Schema (and its UI hints) turned into fields,
rows added and removed without JavaScript, and a submitted form read back into typed data.
Used by the task page, the workspace's start forms and the workbench's form preview.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from worklists.lookups import KEYWORD as LOOKUP
from worklists.lookups import Option

EMPTY_ROWS = 1  # blank rows offered under an array-of-objects field ("Add a row" gives more)


# -- the form model ------------------------------------------------------------------------

@dataclass
class Field:
    """One input of a task form, built from its JSON Schema property (nested for objects and arrays)."""

    name: str  # the submitted name: `a`, `a.b`, `lines.0.qty`
    label: str
    widget: str  # text, textarea, number, integer, checkbox, select, date, email, datetime, object, rows, list
    required: bool = False
    nullable: bool = False
    description: str | None = None
    value: Any = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # (submitted value, label)
    error: str | None = None
    children: list[Field] = field(default_factory=list)  # object members
    rows: list[list[Field]] = field(default_factory=list)  # array-of-object rows
    attrs: dict[str, Any] = field(default_factory=dict)  # min, max, step, maxlength, readonly, placeholder

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)


def _types(prop: Mapping[str, Any]) -> tuple[str | None, bool]:
    kind = prop.get("type")
    if isinstance(kind, list):
        nullable = "null" in kind
        rest = [k for k in kind if k != "null"]
        return (rest[0] if rest else None), nullable
    if kind is None and "enum" in prop:
        return "string", None in prop["enum"]
    return kind, False


def _widget(prop: Mapping[str, Any], ui: Mapping[str, Any]) -> str:
    kind, _ = _types(prop)
    ui_widget = ui.get("ui:widget")
    if isinstance(prop.get(LOOKUP), str):
        return "lookup"
    if "enum" in prop:
        return "radio" if ui_widget == "radio" else "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return kind
    if kind == "object":
        return "object"
    if kind == "array":
        items = prop.get("items") if isinstance(prop.get("items"), Mapping) else {}
        if _types(items)[0] == "object":
            return "rows"
        if "enum" in items:
            return "multi"
        return "list"
    fmt = prop.get("format")
    if ui_widget == "textarea" or fmt == "textarea" or (prop.get("maxLength") or 0) >= 500:
        return "textarea"
    return {"date": "date", "email": "email", "date-time": "datetime"}.get(fmt or "", "text")


def _shown(value: Any, widget: str) -> Any:
    """A stored value as the input shows it."""
    if value is None:
        return ""
    if widget == "checkbox":
        return bool(value)
    if widget == "list" and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if widget == "multi" and isinstance(value, list):
        return [str(v) for v in value]
    return value if isinstance(value, (dict, list)) else str(value)


def build_fields(
    schema: Mapping[str, Any] | None, values: Mapping[str, Any], ui_schema: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None, raw: FormData | None = None, prefix: str = "",
    choices: Mapping[str, Sequence[Option]] | None = None,
) -> list[Field]:
    """The form's fields in schema order (or ui:order), filled from `raw` (a re-shown submit) or `values`;
    lookup fields get their `choices` (RenderedForm.lookups)."""
    if not schema:
        return []
    props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    required = set(schema.get("required") or [])
    ui_schema = ui_schema or {}
    order = [n for n in ui_schema.get("ui:order", []) if n in props] or list(props)
    order += [n for n in props if n not in order]
    out = []
    for name in order:
        prop = props[name]
        if not isinstance(prop, Mapping):
            continue
        ui = ui_schema.get(name) if isinstance(ui_schema.get(name), Mapping) else {}
        if ui.get("ui:widget") == "hidden":
            continue
        out.append(_field(prefix + name, name, prop, name in required, values, ui, errors or {}, raw, choices or {}))
    return out


def _field(
    full: str, name: str, prop: Mapping[str, Any], required: bool, values: Mapping[str, Any],
    ui: Mapping[str, Any], errors: Mapping[str, str], raw: FormData | None,
    choices: Mapping[str, Sequence[Option]],
) -> Field:
    widget = _widget(prop, ui)
    _, nullable = _types(prop)
    label = str(prop.get("title") or ui.get("ui:title") or name.replace("_", " ").capitalize())
    f = Field(full, label, widget, required, nullable, prop.get("description") or ui.get("ui:help"),
              error=errors.get(full))
    current = values.get(name) if isinstance(values, Mapping) else None
    for key, attr in (("minimum", "min"), ("maximum", "max"), ("maxLength", "maxlength"),
                      ("minLength", "minlength")):  # fmt: skip
        if key in prop:
            f.attrs[attr] = prop[key]
    if widget in ("integer", "number"):
        f.attrs["step"] = "1" if widget == "integer" else "any"
    if prop.get("readOnly") or ui.get("ui:readonly"):
        f.attrs["readonly"] = True
    if ui.get("ui:placeholder") or prop.get("placeholder"):
        f.attrs["placeholder"] = ui.get("ui:placeholder") or prop.get("placeholder")
    if widget in ("select", "radio", "multi"):
        enum = prop["enum"] if widget != "multi" else prop["items"]["enum"]
        names = prop.get("enumNames") or ui.get("ui:enumNames") or []
        f.options = [(str(v), str(names[i]) if i < len(names) else str(v)) for i, v in enumerate(enum) if v is not None]
    if widget == "lookup":
        found = choices.get(str(prop[LOOKUP]))
        if found is None:  # this server provides no such lookup: a plain input (validation says why)
            f.widget = widget = "integer" if _types(prop)[0] == "integer" else "text"
        else:
            f.options = [(str(o.value), o.label) for o in found]
            f.attrs.pop("minlength", None)
            f.attrs.pop("maxlength", None)
    if widget == "object":
        sub_values = current if isinstance(current, Mapping) else {}
        f.children = build_fields(prop, sub_values, ui, errors, raw, prefix=full + ".", choices=choices)
        return f
    if widget == "rows":
        items = prop["items"]
        if raw is not None:
            count = _row_count(raw, full)
            rows_values: list[Any] = [{} for _ in range(count)]
        else:
            rows_values = list(current) if isinstance(current, list) else []
            rows_values += [{} for _ in range(EMPTY_ROWS)]
        f.rows = [
            build_fields(items, v if isinstance(v, Mapping) else {}, ui.get("items") or {}, errors, raw,
                         prefix=f"{full}.{i}.", choices=choices)
            for i, v in enumerate(rows_values)
        ]
        f.error = f.error or errors.get(full)
        return f
    if raw is not None:
        if widget == "checkbox":
            f.value = "true" in raw.getlist(full)
        elif widget == "multi":
            f.value = raw.getlist(full)
        else:
            f.value = raw.get(full, "")
    else:
        f.value = _shown(current, widget)
    return f


ROWS_ACTION = "_rows"


def change_rows(raw: FormData, action: str) -> FormData:
    """The submitted form with a row added ("add:lines") or removed ("remove:lines.1", later rows
    move up): what the "Add a row" / "Remove row" buttons do when the page has no script."""
    verb, _, target = action.partition(":")
    items = [(k, v) for k, v in raw.multi_items() if k != ROWS_ACTION]
    if verb == "add" and target:
        pattern = re.compile(re.escape(target) + r"\.(\d+)\.")
        found = [int(m.group(1)) for k, _ in items if (m := pattern.match(k))]
        # a blank marker row at the next index: _row_count shows it, and no extra blank after it
        items.append((f"{target}.{max(found) + 1 if found else 0}.", ""))
        return FormData(items)
    name, _, index = target.rpartition(".")
    if verb == "remove" and name and index.isdigit():
        pattern = re.compile(re.escape(name) + r"\.(\d+)\.(.*)$", re.S)
        kept = []
        for key, value in items:
            m = pattern.match(key)
            if m is None:
                kept.append((key, value))
            elif int(m.group(1)) != int(index):
                row = int(m.group(1))
                kept.append((f"{name}.{row - 1 if row > int(index) else row}.{m.group(2)}", value))
        if not any(pattern.match(k) for k, _ in kept):
            kept.append((f"{name}.0.", ""))  # keep one (blank) row to type into
        return FormData(kept)
    return FormData(items)


def _row_count(raw: FormData, name: str) -> int:
    """Rows shown again after a submit: those submitted, plus blank ones to add more."""
    pattern = re.compile(re.escape(name) + r"\.(\d+)\.")
    found = [int(m.group(1)) for key in raw.keys() if (m := pattern.match(key))]
    return (max(found) + 1 if found else 0) + (0 if found and _has_blank_row(raw, name, max(found)) else 1)


def _has_blank_row(raw: FormData, name: str, last: int) -> bool:
    prefix = f"{name}.{last}."
    return all(not str(v).strip() for k, v in raw.multi_items() if k.startswith(prefix))


# -- reading a submitted form ----------------------------------------------------------------

MISSING = object()


def parse_submission(fields: Sequence[Field], raw: FormData, schema: Mapping[str, Any]) -> dict[str, Any]:
    """HTML form strings → the schema's types; blanks drop out (nullable fields become null), so
    `required` names what is missing. Values that do not convert stay text: validation names them."""
    out: dict[str, Any] = {}
    props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    for f in fields:
        prop = props.get(f.name.rsplit(".", 1)[-1], {})
        value = _parse_field(f, raw, prop)
        if value is not MISSING:
            out[f.name.rsplit(".", 1)[-1]] = value
    return out


def _parse_field(f: Field, raw: FormData, prop: Mapping[str, Any]) -> Any:
    if f.attrs.get("readonly"):
        return MISSING
    if f.widget == "checkbox":
        return "true" in raw.getlist(f.name)
    if f.widget == "object":
        value = parse_submission(f.children, raw, prop)
        return value if value else MISSING
    if f.widget == "rows":
        rows = []
        for row in f.rows:
            parsed = parse_submission(row, raw, prop.get("items") or {})
            if any(v not in (None, "", False) for v in parsed.values()):
                rows.append(parsed)
        return rows if rows or _any_row_key(raw, f.name) else MISSING
    if f.widget == "multi":
        chosen = raw.getlist(f.name)
        enum = prop.get("items", {}).get("enum", [])
        return [next((e for e in enum if str(e) == c), c) for c in chosen]
    text = str(raw.get(f.name, "")).strip() if f.widget != "textarea" else str(raw.get(f.name, ""))
    if text.strip() == "":
        return None if f.nullable and not f.required else MISSING
    if f.widget in ("select", "radio"):
        return next((e for e in prop.get("enum", []) if e is not None and str(e) == text), text)
    if f.widget == "lookup":
        return _convert(text.strip(), _types(prop)[0])
    if f.widget == "list":
        item_kind = _types(prop.get("items") or {})[0]
        return [_convert(line.strip(), item_kind) for line in text.splitlines() if line.strip()]
    if f.widget in ("integer", "number"):
        return _convert(text, f.widget)
    return text


def _any_row_key(raw: FormData, name: str) -> bool:
    return any(key.startswith(name + ".") for key in raw.keys())


def _convert(text: str, kind: str | None) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            number = float(text)
            if not math.isfinite(number):
                return text
            return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    except ValueError:
        return text
    return text


def field_labels(fields: Sequence[Field]) -> dict[str, str]:
    """name → label for every field (nested too), to name failing fields in the error summary."""
    out: dict[str, str] = {}
    for f in fields:
        out[f.name] = f.label
        out.update(field_labels(f.children))
        for i, row in enumerate(f.rows):
            for name, label in field_labels(row).items():
                out[name] = f"{f.label} row {i + 1}: {label}"
    return out


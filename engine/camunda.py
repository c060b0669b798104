"""Camunda Modeler (Camunda 7) attributes: the ones crmflow honours, and the list of the rest.

Honoured on user tasks, mapped onto crmflow's own task properties (spiffworkflow:property) when
the diagram does not set those itself: `camunda:assignee`, `camunda:candidateGroups`,
`camunda:dueDate`, `camunda:followUpDate`, `camunda:priority`. Values are JUEL in Camunda: a
literal (`ann`, `sales,managers`, `2`, `2026-01-31T09:00:00`) or `${expression}`; a literal
becomes a Python literal and `${name}` the Python expression `name` (simple JUEL operators are
translated), so the sandbox evaluates it like any crmflow property. Generated form fields
(`camunda:formData`) are turned into a JSON Schema by `form_schema` and kept inline in the task's
`formJsonSchema` property, so the schema is stored with the process version's spec and the
worklists serve it (the task's form is then named `camunda:formData`); a `formJsonSchemaFilename`
the diagram names itself wins.

Everything else from the Camunda namespace is listed by `unsupported` so `crmflow validate`
warns about it per element and line; nothing is run silently differently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from lxml import etree

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"

USER_TASK_ATTRIBUTES = ("assignee", "candidateGroups", "dueDate", "followUpDate", "priority")
"""camunda:X on a user task → crmflow's task property X (same names)."""
METADATA = frozenset({"historyTimeToLive", "versionTag", "isStartableInTasklist", "modelerTemplate",
                      "modelerTemplateVersion"})
"""Camunda bookkeeping with no run-time meaning: neither run nor warned about."""
INLINE_FORM_PROPERTY = "formJsonSchema"
"""Task property holding a generated form's JSON Schema as JSON text (not an expression)."""
GENERATED_FORM = "camunda:formData"
"""The form name of a task whose form is the inline generated schema (never a file name)."""

_JUEL = re.compile(r"^\s*[$#]\{(?P<body>.*)\}\s*$", re.DOTALL)
_JUEL_WORDS = [(r"&&", " and "), (r"\|\|", " or "), (r"(?<![=!<>])!(?!=)", " not "), (r"\bnull\b", "None"),
               (r"\btrue\b", "True"), (r"\bfalse\b", "False"), (r"\beq\b", "=="), (r"\bne\b", "!="),
               (r"\band\b", "and"), (r"\bor\b", "or"), (r"\bempty\s+(\w+)", r"not \1")]


def juel_to_python(value: str, kind: str) -> str:
    """The Python expression for a Camunda attribute value of property `kind`."""
    match = _JUEL.match(value)
    if match:
        body = match["body"].strip()
        for pattern, replacement in _JUEL_WORDS:
            body = re.sub(pattern, replacement, body)
        return " ".join(body.split())
    text = value.strip()
    if kind == "priority" and re.fullmatch(r"-?\d+", text):
        return text
    return repr(text)


def _camunda(name: str) -> str:
    return f"{{{CAMUNDA_NS}}}{name}"


def _local(el: Any) -> str:
    tag = el.tag if isinstance(el.tag, str) else ""
    return tag.rsplit("}", 1)[-1]


def adopt(tree: Any) -> None:
    """Add crmflow task properties for the honoured Camunda user-task attributes (in place; the
    stored file keeps its bytes). A property the diagram sets itself wins."""
    for task in tree.getroot().iter(f"{{{BPMN_NS}}}userTask"):
        wanted = {name: juel_to_python(task.get(_camunda(name)) or "", name)
                  for name in USER_TASK_ATTRIBUTES if task.get(_camunda(name))}
        schema = form_schema(task)
        if schema is not None:
            wanted[INLINE_FORM_PROPERTY] = json.dumps(schema, separators=(",", ":"))
        if not wanted:
            continue
        extensions = task.find(f"{{{BPMN_NS}}}extensionElements")
        if extensions is None:
            extensions = etree.Element(f"{{{BPMN_NS}}}extensionElements")
            task.insert(0, extensions)
        properties = extensions.find(f"{{{SPIFF_NS}}}properties")
        if properties is None:
            properties = etree.SubElement(extensions, f"{{{SPIFF_NS}}}properties")
        have = {p.get("name") for p in properties.iter(f"{{{SPIFF_NS}}}property")}
        if "formJsonSchemaFilename" in have:
            wanted.pop(INLINE_FORM_PROPERTY, None)  # the diagram names its own form file
        for name, value in wanted.items():
            if name in have:
                continue
            prop = etree.SubElement(properties, f"{{{SPIFF_NS}}}property")
            prop.set("name", name)
            prop.set("value", value)
            prop.sourceline = task.sourceline  # findings about it point at the task


FIELD_TYPES = {"string": {"type": "string"}, "long": {"type": "integer"}, "boolean": {"type": "boolean"},
               "date": {"type": "string", "format": "date"}, "enum": {"type": "string"}}


def form_schema(task: Any) -> dict[str, Any] | None:
    """A JSON Schema for a user task's generated form (camunda:formData), or None without one."""
    fields = list(task.iter(_camunda("formField")))
    if not fields:
        return None
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in fields:
        name = field.get("id")
        if not name:
            continue
        schema = dict(FIELD_TYPES.get(field.get("type") or "string", {"type": "string"}))
        schema["title"] = field.get("label") or name
        values = [v for v in field.iter(_camunda("value")) if v.get("id")]
        if values:
            schema["enum"] = [v.get("id") for v in values]
            schema["enumNames"] = [v.get("name") or v.get("id") for v in values]  # what the select shows
        default = field.get("defaultValue")
        if default is not None:
            schema["default"] = _typed(default, schema["type"])
        for constraint in field.iter(_camunda("constraint")):
            kind, config = constraint.get("name"), constraint.get("config")
            if kind == "required":
                required.append(name)
            elif kind in ("minlength", "maxlength") and config and config.isdigit():
                schema["minLength" if kind == "minlength" else "maxLength"] = int(config)
            elif kind in ("min", "max") and config:
                schema["minimum" if kind == "min" else "maximum"] = _typed(config, "number")
        properties[name] = schema
    return {"type": "object", "title": task.get("name") or task.get("id"), "properties": properties,
            **({"required": required} if required else {})}


def _typed(value: str, kind: str) -> Any:
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind == "boolean":
            return value.strip().lower() == "true"
    except ValueError:
        return value
    return value


def unsupported(node: Any) -> Iterator[tuple[str, Any]]:
    """(construct, element holding it) for every Camunda attribute or extension on `node` that
    crmflow does not run: attributes on the node, extension elements directly inside it."""
    user_task = _local(node) == "userTask"
    for key in node.attrib:
        if not key.startswith(f"{{{CAMUNDA_NS}}}"):
            continue
        name = key.split("}", 1)[1]
        if name in METADATA or (user_task and name in USER_TASK_ATTRIBUTES):
            continue
        yield f"camunda:{name}", node
    for extensions in node.findall(f"{{{BPMN_NS}}}extensionElements"):
        for child in extensions:
            if not isinstance(child.tag, str) or not child.tag.startswith(f"{{{CAMUNDA_NS}}}"):
                continue
            if user_task and _local(child) == "formData":
                continue  # served as the task's generated form (see adopt)
            yield f"camunda:{_local(child)}", child

"""Everything analysts write as code in a diagram: timers, scripts, conditions, service
parameters, task property expressions, loop conditions and DMN cells.

Each is compiled (never run) by the engine's sandbox (`engine.sandbox.check_source`), so what
the validator accepts is exactly what the engine would run, and a refused construct (an import,
a dunder attribute) is reported before deploy. Timer literals are also checked as ISO 8601.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from datetime import datetime

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.durations import DurationTooLong
from engine.sandbox import check_source

from .context import Workspace
from .diagnostics import WARNING, Diagnostic
from .parsing import (
    Document,
    bpmn_children,
    event_definitions,
    local,
    spiff,
    text_of,
)
from .rules_engine import properties

Rule = Callable[[Document, Workspace], Iterator[Diagnostic]]

_NUM = r"\d+(?:[.,]\d+)?"
DURATION = re.compile(
    rf"^P(?!$)(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?=\d)(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?$",
    re.IGNORECASE,
)
ISO_LOOKING = re.compile(r"^(?:P[\dT][\dTWYMDHS.,]*|R\d*/\S+|\d{4}-\d{2}-\d{2}\S*|\d{4}-?W\d{2}\S*)$")
EXPRESSION_PROPERTIES = ("assignee", "candidateGroups", "priority", "dueDate", "followUpDate", "queue")
DATE_PROPERTIES = ("dueDate", "followUpDate")
TIMER_KINDS = {"timeDate": "date", "timeDuration": "duration", "timeCycle": "cycle"}
EXAMPLES = {"date": '"2026-01-31T09:00:00Z"', "duration": '"P3D" or "PT4H"', "cycle": '"R3/PT10M" or "R/P1D"'}


def foreign_language_hint(text: str) -> str | None:
    stripped = text.strip()
    if stripped.startswith(("${", "#{")):
        return "this looks like a JUEL expression (Camunda); crmflow evaluates Python expressions, e.g. amount > 100"
    if stripped.startswith("=") and not stripped.startswith("=="):
        return "this looks like a FEEL expression (Camunda 8); crmflow evaluates Python expressions"
    return None


def expression_problems(text: str, mode: str) -> list[str]:
    """The sandbox's compile errors for a script ('exec') or an expression ('eval')."""
    return check_source(text, mode)


def _unquoted(text: str) -> str | None:
    """The text when it is an ISO 8601 value written without quotes (the classic mistake)."""
    stripped = text.strip()
    if ISO_LOOKING.match(stripped) and not stripped.startswith(("'", '"')):
        return stripped
    return None


def iso_problem(value: str, kind: str) -> str | None:
    """Why `value` is not a valid ISO 8601 date / duration / cycle, or None."""
    text = value.strip()
    try:
        if kind == "duration":
            if not DURATION.match(text):
                return f"{value!r} is not an ISO 8601 duration"
            TimerEventDefinition.parse_iso_duration(text)
        elif kind == "date":
            if text.upper().startswith("P"):
                return f"{value!r} is a duration, but this timer needs a date-time (use a duration timer instead)"
            if "W" in text.upper():
                TimerEventDefinition.parse_iso_week(text)
            else:
                datetime.fromisoformat(text)
        elif kind == "cycle":
            parts = text.upper().replace("--", "/").split("/")
            if not parts[0].startswith("R") or not re.fullmatch(r"R\d*", parts[0]) or len(parts) not in (2, 3):
                return f"{value!r} is not an ISO 8601 repeating interval (R<n>/<duration>)"
            for part in parts[1:]:
                if part.startswith("P") and not DURATION.match(part):
                    return f"{value!r}: {part!r} is not an ISO 8601 duration"
            TimerEventDefinition.parse_iso_recurring_interval(text)
        elif kind == "date-or-duration":
            return iso_problem(text, "duration" if text.upper().startswith("P") else "date")
    except DurationTooLong as err:  # bounded: a huge duration hung the engine (issue 23)
        return str(err)
    except Exception:  # SpiffWorkflow's parsers raise bare Exception/ValueError/AttributeError
        return f"{value!r} is not a valid ISO 8601 {kind.replace('-or-', ' or ')}"
    return None


def check_value_expression(text: str, kind: str) -> tuple[str, str | None] | None:
    """(message, hint) when a timer-like expression is wrong, else None.

    The expression must be a quoted string literal holding ISO 8601, or some other Python
    expression (checked to compile; its value is only known at run time).
    """
    if not text.strip():
        return "the expression is empty", f"write an ISO 8601 value in quotes, e.g. {EXAMPLES.get(kind, '')}"
    if (bare := _unquoted(text)) is not None:
        return (
            f"{bare} is not quoted: the engine evaluates timer and date fields as Python expressions, "
            f"so {bare} is read as code (a variable name or a syntax error), not as an ISO 8601 value",
            f'write "{bare}" with the quotes',
        )
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        tree = None
    if tree is not None and isinstance(tree.body, ast.Constant):
        value = tree.body.value
        if not isinstance(value, str):
            return (f"the expression is the {type(value).__name__} {value!r}, not an ISO 8601 string",
                    f"write e.g. {EXAMPLES.get(kind, '')}")
        problem = iso_problem(value, kind)
        return (problem, f"e.g. {EXAMPLES.get(kind, '')}") if problem else None
    if tree is not None and _gives_timedelta(tree.body):
        return ("the expression gives a timedelta, but a timer needs an ISO 8601 string (SpiffWorkflow "
                "fails on it with \"'datetime.timedelta' object has no attribute 'lower'\")",
                f'write the duration as text, e.g. {EXAMPLES.get(kind, "")}, or f"PT{{hours}}H"')
    problems = expression_problems(text.strip(), "eval")
    if problems:
        return ("expression does not compile: " + "; ".join(problems),
                foreign_language_hint(text) or f"a quoted ISO 8601 value, e.g. {EXAMPLES.get(kind, '')}")
    return None


def _gives_timedelta(node: ast.expr) -> bool:
    """`timedelta(...)`, or arithmetic of it: a value no timer parser takes."""
    if isinstance(node, ast.Call):
        func = node.func
        return (isinstance(func, ast.Name) and func.id == "timedelta") or (
            isinstance(func, ast.Attribute) and func.attr == "timedelta")
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Add, ast.Sub)):
        sides = (node.left, node.right)
        return all(_gives_timedelta(x) or isinstance(x, ast.Constant) for x in sides) and any(
            _gives_timedelta(x) for x in sides)
    return False


# -- rules ---------------------------------------------------------------------------------------


def timers(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    for _, node in doc.flow_nodes(executable_only=True):
        for definition in event_definitions(node):
            if local(definition) != "timerEventDefinition":
                continue
            parts = bpmn_children(definition, *TIMER_KINDS)
            if not parts:
                yield doc.diag("crmflow/timer", "timer has no date, duration or cycle", node,
                               hint='add e.g. <bpmn:timeDuration>"P3D"</bpmn:timeDuration>')
                continue
            if _process_start(node):
                yield from _start_schedule(doc, node, parts)
                continue
            for part in parts:
                kind = TIMER_KINDS[str(local(part))]
                found = check_value_expression(text_of(part), kind)
                if found:
                    message, hint = found
                    yield doc.diag("crmflow/timer", f"timer {kind}: {message}", node, hint=hint, at=part)
            yield from _business_hours(doc, node, parts)


def _process_start(node: etree._Element) -> bool:
    """A timer start event of a process itself (not of an event sub-process): deploy schedules it."""
    parent = node.getparent()
    return local(node) == "startEvent" and parent is not None and local(parent) == "process"


def _start_schedule(doc: Document, node: etree._Element, parts: list[etree._Element]) -> Iterator[Diagnostic]:
    """Judge a process's timer start with the very function deploy schedules it with (cron lines too)."""
    from engine.clock import SystemClock
    from engine.errors import DefinitionError
    from engine.start_timers import first_schedule

    for part in parts:
        text = text_of(part)
        if (bare := _unquoted(text)) is not None:
            yield doc.diag("crmflow/timer", f"timer start: {bare} is not quoted: the engine evaluates timer fields "
                           "as Python expressions", node, hint=f'write "{bare}" with the quotes', at=part)
            continue
        try:
            first_schedule(text, SystemClock().now(), "timer start")
        except DefinitionError as err:
            message = str(err).removeprefix("timer start: ")
            yield doc.diag("crmflow/timer", message, node, at=part,
                           hint=f'e.g. {EXAMPLES["cycle"]} or "cron: 0 2 * * *" (UTC)')


def _business_hours(doc: Document, node: etree._Element, parts: list[etree._Element]) -> Iterator[Diagnostic]:
    """`businessCalendar` counts working time for durations only (engine/working_time.py)."""
    marked = properties(node).get("businessCalendar")
    if marked is None:
        return
    kinds = {TIMER_KINDS[str(local(part))] for part in parts}
    if kinds != {"duration"}:
        yield doc.diag("crmflow/timer", "businessCalendar counts working time for a timeDuration only; "
                       f"this timer is a {', '.join(sorted(kinds))}, so the calendar would be ignored", node,
                       hint="use a duration such as \"PT4H\", or drop the businessCalendar property",
                       at=marked[1])
        return
    [part] = parts
    text = text_of(part).strip()
    try:
        literal = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return  # an expression: its value is only known at run time
    if isinstance(literal, str) and DURATION.match(literal) and not re.fullmatch(r"(?i)PT[\d.,HMS]+", literal):
        yield doc.diag("crmflow/timer", f"a business-hours timer takes hours and minutes, not days: {literal!r}",
                       node, hint="write working hours, e.g. \"PT16H\" for two 8-hour days", at=part)


def _code(doc: Document, node: etree._Element, at: etree._Element, what: str, text: str,
          mode: str = "eval") -> Iterator[Diagnostic]:
    problems = expression_problems(text, mode)
    if problems:
        yield doc.diag("crmflow/expression", f"{what} does not compile or is refused by the sandbox: "
                       + "; ".join(problems), node, at=at,
                       hint=foreign_language_hint(text) or "fix the Python code; see the engine's sandbox rules")


def _scripts(doc: Document, node: etree._Element) -> Iterator[Diagnostic]:
    if local(node) == "scriptTask":
        for script in bpmn_children(node, "script"):
            language = (node.get("scriptFormat") or "python").strip().lower()
            if language not in ("", "python", "text/python", "text/x-python", "py"):
                yield doc.diag("crmflow/expression", f"script language {language!r} is not supported", node,
                               at=script, hint="crmflow runs Python scripts only")
                continue
            yield from _code(doc, node, script, "script", "".join(script.itertext()), "exec")
    for ext in bpmn_children(node, "extensionElements"):
        for tag, label in (("preScript", "pre-script"), ("postScript", "post-script")):
            for script in ext.findall(spiff(tag)):
                if local(node) == "scriptTask":
                    # SpiffWorkflow runs pre/post scripts on other tasks but never on a script task.
                    yield doc.diag("crmflow/script-task-prescript",
                                   f"a {label} on a script task never runs (SpiffWorkflow ignores it)", node,
                                   at=script, severity=WARNING,
                                   hint="move the code into the script task's own script")
                    continue
                yield from _code(doc, node, script, label, "".join(script.itertext()), "exec")


def _parameters(doc: Document, node: etree._Element) -> Iterator[Diagnostic]:
    for ext in bpmn_children(node, "extensionElements"):
        for param in ext.iter(spiff("parameter")):
            value = param.get("value")
            if value is not None and value.strip():
                yield from _code(doc, node, param, f"service parameter {param.get('id')!r}", value.strip())


def _task_properties(doc: Document, node: etree._Element) -> Iterator[Diagnostic]:
    props = properties(node)
    for name in EXPRESSION_PROPERTIES:
        if name not in props or not props[name][0].strip():
            continue
        value, el = props[name]
        if name in DATE_PROPERTIES:
            found = check_value_expression(value, "date-or-duration")
            if found:
                yield doc.diag("crmflow/expression", f"property {name}: {found[0]}", node, at=el, hint=found[1])
        else:
            yield from _code(doc, node, el, f"property {name}", value.strip())


def _loops(doc: Document, node: etree._Element) -> Iterator[Diagnostic]:
    for loop in bpmn_children(node, "multiInstanceLoopCharacteristics", "standardLoopCharacteristics"):
        for part in bpmn_children(loop, "loopCardinality", "completionCondition", "loopCondition"):
            if text_of(part):
                yield from _code(doc, node, part, str(local(part)), text_of(part))
    if local(node) == "adHocSubProcess":
        for part in bpmn_children(node, "completionCondition"):
            if text_of(part):
                yield from _code(doc, node, part, "completionCondition", text_of(part))


def _event_expressions(doc: Document, node: etree._Element) -> Iterator[Diagnostic]:
    for definition in event_definitions(node):
        if local(definition) == "conditionalEventDefinition":
            conditions = bpmn_children(definition, "condition")
            if not conditions or not text_of(conditions[0]):
                yield doc.diag("crmflow/expression", "conditional event has no condition", node,
                               hint="add a Python condition, e.g. amount > 100")
            else:
                yield from _code(doc, node, conditions[0], "condition", text_of(conditions[0]))
        for payload in definition.iter(spiff("messagePayload")):
            if text_of(payload):
                yield from _code(doc, node, payload, "message payload", text_of(payload))


def expressions(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    for _, node in doc.flow_nodes(executable_only=True):
        yield from _scripts(doc, node)
        yield from _parameters(doc, node)
        yield from _task_properties(doc, node)
        yield from _loops(doc, node)
        yield from _event_expressions(doc, node)
    for c in doc.containers():
        if not c.executable:
            continue
        for flow in c.flows:
            for condition in bpmn_children(flow, "conditionExpression"):
                text = text_of(condition)
                if not text:
                    yield doc.diag("crmflow/expression", "condition is empty", flow, at=condition,
                                   hint="write a Python condition, e.g. amount > 100, or remove the condition")
                    continue
                language = (condition.get("language") or "").strip().lower()
                if language and "python" not in language:
                    yield doc.diag("crmflow/expression", f"condition language {language!r} is not supported", flow,
                                   at=condition, hint="crmflow evaluates Python conditions")
                    continue
                yield from _code(doc, flow, condition, "condition", text)


def _dmn_child(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and c.tag.endswith("}" + name)]


def _dmn_text(el: etree._Element) -> tuple[str, etree._Element]:
    texts = _dmn_child(el, "text")
    return ("".join(texts[0].itertext()).strip(), texts[0]) if texts else ("", el)


def dmn_cells(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    """Input expressions, input entries (as SpiffWorkflow's DMN engine combines them) and output entries."""
    if doc.kind != "dmn":
        return
    for table in doc.root.iter():
        if not (isinstance(table.tag, str) and table.tag.endswith("}decisionTable")):
            continue
        decision = table.getparent()
        inputs = []
        for column in _dmn_child(table, "input"):
            expr = _dmn_child(column, "inputExpression")
            text, at = _dmn_text(expr[0]) if expr else ("", column)
            inputs.append(text)
            if text:
                yield from _dmn_code(doc, decision, at, f"input expression {column.get('label') or ''}".strip(), text)
        for number, rule in enumerate(_dmn_child(table, "rule"), start=1):
            for index, entry in enumerate(_dmn_child(rule, "inputEntry")):
                text, at = _dmn_text(entry)
                if not text or text == "-":
                    continue
                source = inputs[index] if index < len(inputs) else "x"
                yield from _dmn_input_entry(doc, decision, at, number, source or "x", text)
            for entry in _dmn_child(rule, "outputEntry"):
                text, at = _dmn_text(entry)
                if text and text != "-":
                    yield from _dmn_code(doc, decision, at, f"rule {number} output", text)


def _dmn_code(doc: Document, decision: etree._Element | None, at: etree._Element, what: str,
              text: str) -> Iterator[Diagnostic]:
    problems = expression_problems(text, "eval")
    if problems:
        yield doc.diag("crmflow/expression", f"DMN {what} does not compile or is refused by the sandbox: "
                       + "; ".join(problems), decision, at=at, hint=foreign_language_hint(text))


def _dmn_input_entry(doc: Document, decision: etree._Element | None, at: etree._Element, number: int,
                     source: str, text: str) -> Iterator[Diagnostic]:
    if re.search(r"\?", text):
        candidates = [re.sub(r"\?", "dmninputexpr", text)]
    else:
        candidates = [f"({source}) == ({text})", f"{source} {text}"]
    if any(not expression_problems(c, "eval") for c in candidates):
        return
    problems = expression_problems(candidates[0], "eval")
    yield doc.diag("crmflow/expression", f"DMN rule {number} input entry {text!r} does not compile: "
                   + "; ".join(problems), decision, at=at,
                   hint=foreign_language_hint(text) or 'write a value ("gold", 10), a comparison (> 100) or -')


RULES: list[tuple[str, Rule]] = [
    ("crmflow/timer", timers),
    ("crmflow/expression", expressions),
    ("crmflow/expression", dmn_cells),
]

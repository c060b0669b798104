"""crmflow's own rules: what no generic linter can know — which handlers exist, where lanes'
tasks go, whether form files are there, what the engine (SpiffWorkflow 3.2 behind crmflow's
facade) actually executes, and whether referenced processes, decisions and message catchers
exist in the set being validated or already deployed.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from lxml import etree

from engine.lanes import is_initiator_lane

from .context import Workspace
from .diagnostics import WARNING, Diagnostic
from .parsing import (
    CAMUNDA_NS,
    GLOBAL_KINDS,
    ZEEBE_NS,
    Document,
    bpmn,
    bpmn_children,
    definition_kinds,
    is_true,
    local,
    spiff,
    text_of,
)

Rule = Callable[[Document, Workspace], Iterator[Diagnostic]]
MAX_FORM_BYTES = 2 * 1024 * 1024
HUMAN_TASKS = ("userTask", "manualTask")


def closest(name: str, candidates: set[str] | frozenset[str] | list[str]) -> str | None:
    matches = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _suggest(name: str, candidates: set[str] | frozenset[str] | list[str], listing: str) -> str:
    best = closest(name, candidates)
    return f"did you mean {best!r}?" if best else listing


def _extension(node: etree._Element, tag: str) -> etree._Element | None:
    for ext in bpmn_children(node, "extensionElements"):
        found = ext.find(spiff(tag))
        if found is not None:
            return found
    return None


def properties(node: etree._Element) -> dict[str, tuple[str, etree._Element]]:
    """spiffworkflow:property name → (value, element)."""
    found: dict[str, tuple[str, etree._Element]] = {}
    for ext in bpmn_children(node, "extensionElements"):
        for prop in ext.iter(spiff("property")):
            if prop.get("name"):
                found[prop.get("name")] = (prop.get("value") or "", prop)  # type: ignore[index]
    return found


def _vendor_service_hint(node: etree._Element) -> str:
    """'camunda:class is Camunda-specific; ' when the task was configured for another engine."""
    camunda = [k.split("}")[1] for k in node.attrib if k.startswith(f"{{{CAMUNDA_NS}}}")]
    if camunda:
        return "camunda:" + "/".join(camunda) + " is Camunda-specific; "
    for ext in bpmn_children(node, "extensionElements"):
        for child in ext:
            if isinstance(child.tag, str) and child.tag.startswith(f"{{{ZEEBE_NS}}}"):
                return f"zeebe:{child.tag.split('}')[1]} is Camunda 8-specific; "
    return ""


# -- not executable / unsupported ------------------------------------------------------------------


def pool_label(doc: Document, process: etree._Element) -> str:
    """`pool 'Customer' (process doc)`: how analysts find a process in the modeler."""
    pid = process.get("id") or "?"
    for participant in doc.root.iter(bpmn("participant")):
        if participant.get("processRef") == pid and (participant.get("name") or "").strip():
            return f"pool {participant.get('name').strip()!r} (process {pid})"
    name = (process.get("name") or "").strip()
    return f"process {name!r} ({pid})" if name else f"process {pid}"


def not_executable(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    """One rule for validate and deploy: only a process marked isExecutable="true" is checked and run
    (SpiffWorkflow alone would run one without the attribute; deploy marks those not executable)."""
    processes = doc.processes()
    if not processes:
        yield doc.diag("crmflow/not-executable", "file contains no process: the engine has nothing to run",
                       doc.root, severity=WARNING, element_id="")
        return
    idle = [p for p in processes if not is_true(p.get("isExecutable")) and bpmn_children(p)]
    if len(idle) == len(processes) or not any(is_true(p.get("isExecutable")) for p in processes):
        labels = ", ".join(pool_label(doc, p) for p in processes)
        yield doc.diag("crmflow/not-executable",
                       f"no process in this file is executable ({labels}): the engine will not deploy it; "
                       "engine checks (handlers, expressions, forms, timers) were skipped",
                       processes[0], severity=WARNING, hint='set isExecutable="true" on the process to run it')
        return
    for process in idle:
        yield doc.diag("crmflow/not-executable",
                       f"{pool_label(doc, process)} is not executable (isExecutable is not \"true\"): the engine "
                       "neither checks nor runs it, and deploy leaves it out", process, severity=WARNING,
                       hint='fine for a documentation-only pool; set isExecutable="true" to run it')


def unsupported_elements(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    for _, node in doc.flow_nodes(executable_only=True):
        kind = local(node)
        kinds = definition_kinds(node)
        if kind == "complexGateway":
            yield doc.diag("crmflow/unsupported-element", "the engine cannot execute a complex gateway", node,
                           hint="use an inclusive gateway (conditions on the flows) or an exclusive one")
        if "compensate" in kinds or is_true(node.get("isForCompensation")):
            yield doc.diag("crmflow/unsupported-element", "the engine does not execute compensation", node,
                           hint="model the undo step explicitly, e.g. after an error boundary event")
        if "ref" in kinds:
            yield doc.diag("crmflow/unsupported-element",
                           "the engine ignores event definitions given by eventDefinitionRef", node,
                           hint="put the event definition inside the event")
        if kind == "adHocSubProcess" and (node.get("ordering") or "").strip() == "Sequential":
            yield doc.diag("crmflow/unsupported-element", "the engine cannot run a sequential ad-hoc sub-process",
                           node, hint='use ordering="Parallel" or a plain sub-process')
        if kind == "boundaryEvent" and not kinds:
            yield doc.diag("crmflow/unsupported-element", "a boundary event needs an event definition", node,
                           hint="make it a timer, message, signal, error or escalation boundary event")


# -- handlers, lanes, forms ------------------------------------------------------------------------


def unknown_handler(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    operations = ws.context.operations
    for _, node in doc.flow_nodes(executable_only=True):
        if local(node) != "serviceTask":
            continue
        operator = _extension(node, "serviceTaskOperator")
        name = (operator.get("id") or "").strip() if operator is not None else ""
        if not name:
            hint = _vendor_service_hint(node) + (
                'add <spiffworkflow:serviceTaskOperator id="area/action"> naming a registered handler'
            )
            yield doc.diag("crmflow/unknown-handler", "service task names no operation: the engine would not know "
                           "what to call", node, hint=hint)
            continue
        if operations is not None and name not in operations:
            yield doc.diag("crmflow/unknown-handler", f"operation {name!r} is not registered as a handler", node,
                           hint=_suggest(name, operations, "`crmflow handlers` lists the registered operations"))


def _lanes(process: etree._Element) -> Iterator[etree._Element]:
    yield from process.iter(bpmn("lane"))


def lane_unmapped(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    if ws.context.lanes is None:
        return
    for process in doc.processes():
        if not is_true(process.get("isExecutable")):
            continue
        for lane in _lanes(process):
            refs = [text_of(r) for r in bpmn_children(lane, "flowNodeRef")]
            human = [r for r in refs if (el := doc.by_id.get(r)) is not None and local(el) in HUMAN_TASKS]
            if human and ws.context.lane_route(lane) is None and not is_initiator_lane(lane.get("name")):
                label = (lane.get("name") or "").strip() or lane.get("id") or "?"
                known = sorted(ws.context.lanes)
                # A warning: the task still lands in the visible "unassigned" queue (admins work it),
                # so a diagram from spiff-arena with its own lanes deploys and runs unchanged.
                yield doc.diag("crmflow/lane-unmapped",
                               f"lane {label!r} has user tasks ({', '.join(human[:3])}) but no worklist in the "
                               "lane map: they will wait in the 'unassigned' queue, which only admins work", lane,
                               severity=WARNING,
                               hint=_suggest(label.casefold(), known, "add the lane to processes/lanes.json "
                                             "with its queue and groups"))


def _form_path(doc: Document, value: str) -> tuple[Path | None, str | None]:
    if not value.strip():
        return None, "is empty"
    candidate = Path(value.strip())
    if candidate.is_absolute():
        return None, "is an absolute path; forms are named relative to the diagram's folder"
    folder = doc.folder.resolve()
    full = (folder / candidate).resolve()
    if folder != full and folder not in full.parents:
        return None, "leaves the diagram's folder; forms live beside the diagram"
    return full, None


def _read_json(path: Path) -> tuple[object | None, str | None]:
    try:
        if path.stat().st_size > MAX_FORM_BYTES:
            return None, "is larger than 2 MB"
        return json.loads(path.read_bytes()), None
    except OSError as err:
        return None, f"cannot be read: {err.strerror}"
    except UnicodeDecodeError:
        return None, "is not UTF-8 text"
    except json.JSONDecodeError as err:
        return None, f"is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"


def forms(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    for _, node in doc.flow_nodes(executable_only=True):
        if local(node) not in HUMAN_TASKS:
            continue
        props = properties(node)
        for prop_name, is_schema in (("formJsonSchemaFilename", True), ("formUiSchemaFilename", False)):
            if prop_name not in props:
                continue
            value, _ = props[prop_name]
            path, problem = _form_path(doc, value)
            label = f"form file {value.strip()!r} ({prop_name})"
            if problem:
                yield doc.diag("crmflow/form", f"{label} {problem}", node)
                continue
            assert path is not None
            if not path.is_file():
                nearby = [p.name for p in doc.folder.glob("*.json")] if doc.folder.is_dir() else []
                yield doc.diag("crmflow/form", f"{label} does not exist (looked in {doc.folder})", node,
                               hint=_suggest(Path(value).name, nearby, "create it beside the diagram"))
                continue
            data, problem = _read_json(path)
            if problem:
                yield doc.diag("crmflow/form", f"{label} {problem}", node)
                continue
            if not isinstance(data, dict):
                yield doc.diag("crmflow/form", f"{label} must hold a JSON object, not {type(data).__name__}", node)
                continue
            if is_schema:
                try:
                    validator_for(data).check_schema(data)
                except SchemaError as err:
                    where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
                    yield doc.diag("crmflow/form", f"{label} is not a valid JSON Schema: at {where}: "
                                   f"{err.message}", node, hint="check it against json-schema.org")


# -- references across files -------------------------------------------------------------------------


def called_elements(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    known = set(ws.process_ids) | set(ws.context.deployed_processes)
    for _, node in doc.flow_nodes(executable_only=True):
        if local(node) != "callActivity":
            continue
        called = (node.get("calledElement") or "").strip()
        if not called:
            yield doc.diag("crmflow/called-element", "call activity names no process (calledElement is empty)",
                           node, hint="set calledElement to the id of the process to call")
        elif called not in known:
            yield doc.diag("crmflow/called-element",
                           f"called process {called!r} is not among the validated files nor deployed", node,
                           hint=_suggest(called, known, "validate it together with the file that defines it"))
        elif called in ws.process_ids and called not in ws.executable_process_ids \
                and called not in ws.context.deployed_processes:
            yield doc.diag("crmflow/called-element", f"called process {called!r} is not executable", node,
                           hint='set isExecutable="true" on it')


def called_decisions(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    for _, node in doc.flow_nodes(executable_only=True):
        if local(node) != "businessRuleTask":
            continue
        decision = text_of(_extension(node, "calledDecisionId"))
        if not decision:
            camunda = node.get(f"{{{CAMUNDA_NS}}}decisionRef")
            yield doc.diag("crmflow/called-decision", "business rule task names no decision", node,
                           hint=("camunda:decisionRef is Camunda-specific; " if camunda else "")
                           + "add <spiffworkflow:calledDecisionId> with the DMN decision id")
        elif decision not in ws.decision_ids and decision not in ws.context.deployed_decisions:
            yield doc.diag("crmflow/called-decision", f"decision {decision!r} is not in any validated .dmn file "
                           "nor deployed",
                           node, hint=_suggest(decision, ws.decision_ids,
                                               "validate the .dmn file together with this diagram"))


def _external_target(doc: Document, node_id: str) -> bool:
    """A message flow from this node to a pool that the engine does not run (an outside party)."""
    for flow in doc.root.iter(bpmn("messageFlow")):
        if flow.get("sourceRef") != node_id:
            continue
        target = doc.by_id.get(flow.get("targetRef") or "")
        if target is None:
            continue
        if local(target) == "participant":
            process = doc.by_id.get(target.get("processRef") or "")
            if process is None or not is_true(process.get("isExecutable")):
                return True
    return False


def message_catchers(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    for _, node in doc.flow_nodes(executable_only=True):
        kind = local(node)
        refs: list[str | None] = []
        if kind in ("intermediateThrowEvent", "endEvent", "sendTask"):
            refs = [d.get("messageRef") for d in bpmn_children(node, "messageEventDefinition")]
        if kind == "sendTask" and node.get("messageRef"):
            refs.append(node.get("messageRef"))
        for ref in refs:
            name = doc.message_name(ref)
            if name and name not in ws.caught_messages and not _external_target(doc, node.get("id") or ""):
                yield doc.diag("crmflow/message-no-catcher",
                               f"message {name!r} is thrown here but no validated or deployed process catches it",
                               node, severity=WARNING,
                               hint="the engine records it as unhandled; add the catching process to the "
                                    "validated set, or draw a message flow to the outside pool that receives it")


MESSAGE_TASKS = ("receiveTask", "sendTask")


def message_refs(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    """A message event or task must name its message: the engine correlates by that name, and
    without one it cannot subscribe, start or send (issue 22: it crashed at start)."""
    for _, node in doc.flow_nodes(executable_only=True):
        kind = local(node)
        definitions = bpmn_children(node, "messageEventDefinition")
        missing = any(not (d.get("messageRef") or "").strip() for d in definitions)
        if kind == "receiveTask" and not definitions and not (node.get("messageRef") or "").strip():
            missing = True
        if missing:
            what = "message task" if kind in MESSAGE_TASKS else "message event"
            yield doc.diag("crmflow/message-ref", f"{what} names no message (messageRef is missing): the engine "
                           "cannot tell which message it waits for or sends", node,
                           hint="pick or create the message in the modeler's properties panel "
                                '(<bpmn:message id="..." name="..."/> and messageRef="...")')


CAMUNDA_HINTS = {
    "camunda:formData": "crmflow shows JSON Schema forms; save this schema beside the diagram and name it with "
                        "a formJsonSchemaFilename property: {schema}",
    "camunda:formKey": "name a JSON Schema file with a formJsonSchemaFilename property instead",
    "camunda:class": "call a registered handler: <spiffworkflow:serviceTaskOperator id=\"area/action\">",
    "camunda:expression": "call a registered handler: <spiffworkflow:serviceTaskOperator id=\"area/action\">",
    "camunda:delegateExpression": "call a registered handler: <spiffworkflow:serviceTaskOperator ...>",
    "camunda:decisionRef": "name the decision with <spiffworkflow:calledDecisionId>",
    "camunda:inputOutput": "map data in a script task or with spiffworkflow:preScript/postScript",
    "camunda:executionListener": "model the listener's work as a task (script or service) in the flow",
    "camunda:taskListener": "model the listener's work as a task (script or service) in the flow",
    "camunda:in": "a call activity shares its data with the called process; map it in scripts",
    "camunda:out": "a call activity shares its data with the called process; map it in scripts",
}


def camunda_constructs(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    """Every Camunda construct crmflow does not run, per element and line (issue 22 item 8). The
    honoured user-task attributes are not listed: they become crmflow task properties."""
    from engine.camunda import form_schema, unsupported

    for _, node in doc.flow_nodes(executable_only=True):
        for construct, holder in unsupported(node):
            if construct == "camunda:decisionRef" and local(node) == "businessRuleTask":
                continue  # crmflow/called-decision already says what to do
            hint = CAMUNDA_HINTS.get(construct, "crmflow ignores it; model the behaviour with BPMN elements "
                                                "or spiffworkflow extensions")
            if construct == "camunda:formData":
                hint = hint.format(schema=json.dumps(form_schema(node), separators=(",", ":")))
            what = ("camunda:formData: crmflow serves Camunda's generated forms on user tasks only" if construct ==
                    "camunda:formData" else f"{construct} is a Camunda construct crmflow does not run")
            yield doc.diag("crmflow/camunda", what, node, severity=WARNING, hint=hint, at=holder)


def references(doc: Document, ws: Workspace) -> Iterator[Diagnostic]:
    """Ids that point nowhere: a modeler would not load such a file, SpiffWorkflow fails on it obscurely."""
    for c in doc.containers():
        node_ids = {n.get("id") for n in c.nodes}
        for flow in c.flows:
            for attr in ("sourceRef", "targetRef"):
                ref = (flow.get(attr) or "").strip()
                if not ref:
                    yield doc.diag("crmflow/reference", f"sequence flow has no {attr}", flow)
                elif ref not in node_ids:
                    where = "in this file" if ref not in doc.by_id else "in the same process or sub-process"
                    yield doc.diag("crmflow/reference", f"sequence flow {attr} {ref!r} names no flow node {where}",
                                   flow, hint="reconnect the flow in the modeler")
        flow_ids = {f.get("id") for f in c.flows}
        for node in c.nodes:
            if (default := node.get("default")) and default not in flow_ids:
                yield doc.diag("crmflow/reference", f"default flow {default!r} is not a sequence flow here", node)
            if local(node) == "boundaryEvent" and node.get("attachedToRef") not in node_ids:
                yield doc.diag("crmflow/reference", f"boundary event is attached to {node.get('attachedToRef')!r}, "
                               "which is not an activity here", node)
            for definition in bpmn_children(node):
                for kind, attr in GLOBAL_KINDS.items():
                    ref = definition.get(attr)
                    if ref and local(doc.by_id.get(ref, definition)) != kind:
                        yield doc.diag("crmflow/reference", f"{attr} {ref!r} names no {kind} in this file", node,
                                       hint=f"define <bpmn:{kind} id={ref!r} name=...> or pick an existing one")


RULES: list[tuple[str, Rule]] = [
    ("crmflow/reference", references),
    ("crmflow/not-executable", not_executable),
    ("crmflow/unsupported-element", unsupported_elements),
    ("crmflow/unknown-handler", unknown_handler),
    ("crmflow/lane-unmapped", lane_unmapped),
    ("crmflow/form", forms),
    ("crmflow/called-element", called_elements),
    ("crmflow/called-decision", called_decisions),
    ("crmflow/message-no-catcher", message_catchers),
    ("crmflow/message-ref", message_refs),
    ("crmflow/camunda", camunda_constructs),
]

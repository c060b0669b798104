"""Helpers for the worklist tests: seeded users, small diagrams with lanes (with BPMNDI, built
like tests/bpmn_builder), and starting a deal. Kept out of conftest.py so test modules can import them."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from bpmn_builder import Process

from engine import Engine

HERE = Path(__file__).parent
LANES_FILE = HERE / "lanes.json"
PERMISSIONS = HERE / "permissions.yml"  # the rules these tests were written under (see the file)
FORMS = HERE / "forms"

# name → groups; mia supervises sales, root is an admin
USERS = {
    "ann": ["sales"],
    "bob": ["sales"],
    "sam": ["service_agents"],
    "mia": ["sales_managers"],
    "carl": ["billing"],
    "root": ["admin"],
}


def user_task(task_id: str, name: str, props: dict[str, str] | None = None, instructions: str = "") -> str:
    """The body of a userTask with spiffworkflow properties (values are expressions)."""
    items = "".join(
        f"<spiffworkflow:property name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in (props or {}).items()
    )
    text = f"<spiffworkflow:instructionsForEndUser>{escape(instructions)}</spiffworkflow:instructionsForEndUser>"
    return (f"<bpmn:extensionElements>{text if instructions else ''}<spiffworkflow:properties>{items}"
            "</spiffworkflow:properties></bpmn:extensionElements>")


def lane_process(pid: str, tasks: list[tuple[str, str | None, dict[str, str]]], instructions: str = "") -> str:
    """start → each (task id, lane, properties) → end, as a diagram file; lanes via a laneSet."""
    p = Process(pid)
    p.node("start", "startEvent")
    for task_id, _, props in tasks:
        p.node(task_id, "userTask", task_id.replace("_", " ").title(), user_task(task_id, task_id, props, instructions))
    p.node("end", "endEvent")
    p.chain("start", *[t[0] for t in tasks], "end")
    lanes: dict[str, list[str]] = {}
    for i, (task_id, lane, _) in enumerate(tasks):
        if lane:
            members = lanes.setdefault(lane, [])
            if i == 0:
                members.append("start")
            members.append(task_id)
            if i == len(tasks) - 1:
                members.append("end")
    xml = p.xml()
    if lanes:
        lane_xml = "".join(
            f'<bpmn:lane id="lane_{i}" name={quoteattr(name)}>'
            + "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in nodes) + "</bpmn:lane>"
            for i, (name, nodes) in enumerate(lanes.items())
        )
        marker = 'isExecutable="true">'
        xml = xml.replace(marker, f'{marker}<bpmn:laneSet id="ls_{pid}">{lane_xml}</bpmn:laneSet>', 1)
        shapes = "".join(
            f'<bpmndi:BPMNShape id="lane_{i}_di" bpmnElement="lane_{i}" isHorizontal="true">'
            f'<dc:Bounds x="40" y="{40 + i * 200}" width="{200 + 150 * (len(tasks) + 2)}" height="200"/>'
            "</bpmndi:BPMNShape>"
            for i in range(len(lanes))
        )
        plane = f'<bpmndi:BPMNPlane id="plane_{pid}" bpmnElement="{pid}">'
        xml = xml.replace(plane, plane + shapes, 1)
    return xml


def start_deal(eng: Engine, key: str, prio: int = 3, due: str = "P2D", customer: str = "ACME") -> str:
    """Start a deal; returns its open 'qualify' task id."""
    inst = eng.start("deal", {"prio": prio, "due": due, "customer": customer, "topic": "pricing"}, business_key=key)
    return inst.open_tasks[0].id

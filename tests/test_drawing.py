"""Diagrams as pictures: `engine.drawing.render_svg` and the `crmflow draw`/`picture` commands.

Every fixture (hand-written exports in the styles of several modelers, the generated element
diagrams, and the shipped processes) must come out as well-formed SVG that contains a group for
every shape and edge of its BPMNDI plane, inside the viewBox. Marks become state classes; broken,
hostile and layout-less files give clear results, never a traceback.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from typer.testing import CliRunner, Result

from crmflow import cli
from engine import DefinitionError, Engine, HandlerRegistry, ManualClock
from engine.drawing import (
    NO_LAYOUT_MESSAGE,
    instance_marks,
    marks_from_history,
    render_svg,
    wrap_text,
)
from engine.xml import parse_bytes

REPO = Path(__file__).resolve().parents[1]
DIAGRAMS = Path(__file__).parent / "diagrams"
MODELERS = DIAGRAMS / "modelers"
SVG = "{http://www.w3.org/2000/svg}"

MODELER_FILES = sorted(MODELERS.glob("*.bpmn"))
ELEMENT_FILES = sorted((DIAGRAMS / "elements").glob("*.bpmn"))
PROCESS_FILES = sorted((REPO / "processes").glob("*.bpmn"))
ALL_FILES = MODELER_FILES + ELEMENT_FILES + PROCESS_FILES


# -- helpers ------------------------------------------------------------------------------------
def local(el: Any) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def planes(xml: bytes) -> list[Any]:
    root = parse_bytes(xml, "fixture").getroot()
    return [el for el in root.iter() if local(el) == "BPMNPlane"]


def di_ids(plane: Any) -> set[str]:
    return {el.get("bpmnElement") for el in plane.iter() if local(el) in ("BPMNShape", "BPMNEdge")}


def svg_tree(svg: str) -> Any:
    root = etree.fromstring(svg.encode("utf-8"))  # also proves the output is well-formed XML
    assert root.tag == f"{SVG}svg"
    return root


def groups(root: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for g in root.iter(f"{SVG}g"):
        element_id = g.get("data-element-id")
        if element_id is not None:
            assert element_id not in found, f"{element_id} drawn twice"
            found[element_id] = g
    return found


def classes(group: Any) -> set[str]:
    return set((group.get("class") or "").split())


def text_of(group: Any) -> str:
    """The visible label of an element: its text lines joined (the hover <title> is not a label)."""
    lines = [t.text or "" for text in group.iter(f"{SVG}text") for t in text.iter(f"{SVG}tspan")]
    return " ".join(" ".join(lines).split())


def view_box(root: Any) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in root.get("viewBox").split())
    return x, y, x + w, y + h


def numeric_geometry(plane: Any) -> list[tuple[float, float]]:
    """Corners of every shape and every waypoint with plain numbers (what must be visible)."""
    points: list[tuple[float, float]] = []
    for el in plane.iter():
        name = local(el)
        try:
            if name == "Bounds":
                x, y = float(el.get("x")), float(el.get("y"))
                w, h = float(el.get("width")), float(el.get("height"))
                if all(map(lambda v: v == v, (x, y, w, h))):  # skip NaN
                    points += [(x, y), (x + w, y + h)]
            elif name == "waypoint":
                points.append((float(el.get("x")), float(el.get("y"))))
        except (TypeError, ValueError):
            continue
    return points


def fixture(name: str) -> bytes:
    return (MODELERS / name).read_bytes()


# -- every shape of every diagram --------------------------------------------------------------
def test_the_fixture_sets_are_all_there() -> None:
    """Guards the parametrized test below against an empty glob passing vacuously."""
    assert len(ELEMENT_FILES) == 33
    names = {p.name for p in MODELER_FILES}
    assert {"camunda_modeler.bpmn", "signavio.bpmn", "collaboration.bpmn", "spiff_arena.bpmn",
            "subprocesses.bpmn", "artifacts.bpmn", "events_gateways.bpmn", "oddities.bpmn"} <= names  # fmt: skip


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shape_and_edge_of_every_plane_is_drawn_inside_the_view_box(path: Path) -> None:
    xml = path.read_bytes()
    for index, plane in enumerate(planes(xml)):
        target = plane.get("bpmnElement") if index else None  # the first plane is the default
        root = svg_tree(render_svg(xml, process_id=target, filename=path.name))
        expected = di_ids(plane)
        if not expected:  # an empty plane (e.g. a collapsed subprocess nobody opened) has nothing to draw
            assert NO_LAYOUT_MESSAGE in "".join(root.itertext())
            continue
        assert set(groups(root)) == expected
        x1, y1, x2, y2 = view_box(root)
        for x, y in numeric_geometry(plane):
            assert x1 <= x <= x2 and y1 <= y <= y2, (path.name, x, y, (x1, y1, x2, y2))


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_group_is_classed_by_its_bpmn_type(path: Path) -> None:
    xml = path.read_bytes()
    if not planes(xml):
        pytest.skip("no layout")
    root = parse_bytes(xml, path.name).getroot()
    di_names = {"BPMNDiagram", "BPMNPlane", "BPMNShape", "BPMNEdge", "BPMNLabel", "BPMNLabelStyle"}
    kinds: dict[str, str] = {}
    for el in root.iter():
        if isinstance(el.tag, str) and el.get("id") and local(el) not in di_names:
            kinds.setdefault(el.get("id"), local(el))
    for element_id, group in groups(svg_tree(render_svg(xml))).items():
        assert group.get("id", "").startswith("el-")
        assert group.get("data-element-type") == kinds.get(element_id, "unknown")
        assert f"bpmn-{kinds.get(element_id, 'unknown')}" in classes(group), (element_id, classes(group))


def test_the_document_is_accessible_and_self_contained() -> None:
    root = svg_tree(render_svg(fixture("camunda_modeler.bpmn")))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Invoice approval"
    assert root[0].tag == f"{SVG}title" and root[0].text == "Invoice approval"
    assert root.find(f"{SVG}style") is not None and ".state-active" in root.find(f"{SVG}style").text
    assert root.find(f"{SVG}script") is None
    assert not any(k.endswith("href") for el in root.iter() for k in el.attrib)  # nothing external
    titled = svg_tree(render_svg(fixture("camunda_modeler.bpmn"), title="Mine & <yours>"))
    assert titled.get("aria-label") == "Mine & <yours>"


# -- shapes and their details -------------------------------------------------------------------
def test_task_types_events_and_gateways_get_their_markers() -> None:
    drawn = groups(svg_tree(render_svg(fixture("subprocesses.bpmn"))))
    assert "container" in classes(drawn["Activity_check"])  # expanded: a container
    assert "container" not in classes(drawn["Activity_ship"])  # collapsed: a "+" marker
    assert len(drawn["Activity_ship"].findall(f"{SVG}rect")) == 2  # body + the "+" box
    assert "call" in classes(drawn["Activity_bill"])
    assert "event-subprocess" in classes(drawn["Activity_on_change"])
    assert "non-interrupting" in classes(drawn["Event_change"])
    mi_parallel = drawn["Activity_review_lines"].findall(f"{SVG}line")
    assert len({line.get("x1") for line in mi_parallel if line.get("x1") == line.get("x2")}) == 3  # upright bars
    mi_sequential = drawn["Activity_notify"].findall(f"{SVG}line")
    assert len({line.get("y1") for line in mi_sequential if line.get("y1") == line.get("y2")}) == 3  # lying bars

    gallery = groups(svg_tree(render_svg(fixture("events_gateways.bpmn"))))
    assert "event-end" in classes(gallery["endEvent_none"])
    assert "event-intermediate" in classes(gallery["intermediateCatchEvent_timer"])
    assert "non-interrupting" in classes(gallery["boundary_timer"])
    assert "non-interrupting" not in classes(gallery["boundary_error"])
    assert len(gallery["gateway_exclusive"].findall(f"{SVG}line")) == 2  # the X
    assert gallery["gateway_exclusive_no_marker"].findall(f"{SVG}line") == []
    assert gallery["endEvent_terminate"].find(f"{SVG}circle[@class='glyph filled']") is not None
    assert gallery["startEvent_none"].findall(f"{SVG}polygon") == []
    assert gallery["intermediateCatchEvent_message"].findall(f"{SVG}polygon")


def test_flows_get_arrowheads_defaults_conditions_and_message_styles() -> None:
    svg = render_svg(fixture("camunda_modeler.bpmn"))
    drawn = groups(svg_tree(svg))
    yes = drawn["Flow_yes"].find(f"{SVG}polyline")
    assert yes.get("marker-end", "").startswith("url(#")
    assert len(drawn["Flow_no"].findall(f"{SVG}line")) == 1  # the default-flow slash
    assert drawn["Flow_yes"].findall(f"{SVG}line") == []
    ids = {el.get("id") for el in svg_tree(svg).iter() if el.get("id")}
    assert yes.get("marker-end")[5:-1] in ids  # the marker it points at exists

    collab = groups(svg_tree(render_svg(fixture("collaboration.bpmn"))))
    message = collab["MessageFlow_order"]
    assert "flow-message" in classes(message)
    assert message.find(f"{SVG}polyline").get("marker-start")
    assert "flow-association" in classes(groups(svg_tree(render_svg(fixture("artifacts.bpmn"))))["Association_big"])


def test_pools_lanes_and_their_rotated_labels() -> None:
    drawn = groups(svg_tree(render_svg(fixture("collaboration.bpmn"))))
    for pool in ("Participant_customer", "Participant_supplier"):
        text = drawn[pool].find(f"{SVG}text")
        assert text is not None and text.get("transform", "").startswith("rotate(-90")
    assert text_of(drawn["Participant_customer"]) == "Customer"
    assert text_of(drawn["Lane_sales"]) == "Sales"
    assert text_of(drawn["Lane_billing"]).startswith("Billing &")
    black_box = drawn["Participant_bank"].find(f"{SVG}text")
    assert black_box is not None and black_box.get("transform") is None  # a collapsed pool reads across
    assert "lane" in classes(drawn["Lane_billing"]) and "participant" in classes(drawn["Participant_supplier"])


@pytest.mark.parametrize("name", ["camunda_modeler.bpmn", "spiff_arena.bpmn", "subprocesses.bpmn", "signavio.bpmn"])
def test_every_name_is_shown_as_a_label(name: str) -> None:
    xml = fixture(name)
    root = parse_bytes(xml, name).getroot()
    drawn = groups(svg_tree(render_svg(xml)))
    named = {el.get("id"): el.get("name") for el in root.iter() if isinstance(el.tag, str) and el.get("name")}
    checked = 0
    for element_id, group in drawn.items():
        if named.get(element_id):
            assert text_of(group) == " ".join(named[element_id].split()), element_id
            checked += 1
    assert checked >= 5


def test_annotations_groups_and_data_are_drawn_with_their_text() -> None:
    drawn = groups(svg_tree(render_svg(fixture("artifacts.bpmn"))))
    assert text_of(drawn["TextAnnotation_big"]) == "Orders above 10 000 need a second look <by a manager> & a note"
    assert text_of(drawn["Group_intake"]) == "Order intake"  # from the category value
    assert text_of(drawn["DataObjectReference_lines"]) == "Order lines"
    assert text_of(drawn["DataStoreReference_crm"]) == "CRM database"
    collection_bars = drawn["DataObjectReference_lines"].findall(f"{SVG}line")
    assert len(collection_bars) == 3 and drawn["DataObjectReference_form"].findall(f"{SVG}line") == []


def test_markup_in_names_stays_text() -> None:
    svg = render_svg(fixture("oddities.bpmn"))
    root = svg_tree(svg)
    assert root.find(f".//{SVG}script") is None and "<script>" not in svg
    assert "&lt;script&gt;" in svg
    label = text_of(groups(root)["odd_start"]).replace(" ", "")
    assert label == "<script>alert(1)</script>"
    assert text_of(groups(root)["odd_f1"]) == 'A & B "quoted"'
    assert root.get("aria-label") == "Odd <b>process</b>"


def test_long_names_wrap_inside_the_task_and_are_cut_with_an_ellipsis() -> None:
    drawn = groups(svg_tree(render_svg(fixture("oddities.bpmn"))))
    lines = [t.text for t in drawn["far_task"].iter(f"{SVG}tspan")]
    assert 2 <= len(lines) <= 5 and lines[-1].endswith("\u2026")
    assert wrap_text("alpha beta gamma", 60) == ["alpha", "beta", "gamma"]
    assert wrap_text("x" * 30, 60)[0] == "x" * 8  # an unbreakable word is cut, not overflowing
    assert wrap_text("one\ntwo", 500) == ["one", "two"]


# -- robustness ---------------------------------------------------------------------------------
def test_odd_exports_render_without_a_traceback() -> None:
    root = svg_tree(render_svg(fixture("oddities.bpmn")))
    drawn = groups(root)
    assert drawn["bad_bounds_task"].get("data-no-bounds") == "true"
    assert drawn["no_bounds_task"].get("data-no-bounds") == "true"
    assert drawn["odd_f3"].get("data-no-waypoints") == "true"
    assert "unknown" in classes(drawn["ghost_element"]) and "not in the model" in text_of(drawn["ghost_element"])
    assert "bpmn-customShape" in classes(drawn["vendor_shape"]) and "Vendor thing" in text_of(drawn["vendor_shape"])
    x1, y1, x2, y2 = view_box(root)
    assert x1 < -420 and y1 < -180 and x2 > 12100 and y2 > 8080


def test_every_di_attribute_removed_in_turn_still_renders() -> None:
    """A crude fuzz over one export: drop each DI attribute (and each label) in turn."""
    xml = fixture("camunda_modeler.bpmn")
    root = parse_bytes(xml, "f").getroot()
    di_nodes = [el for el in root.iter() if local(el) in ("BPMNShape", "BPMNEdge", "Bounds", "waypoint", "BPMNPlane")]
    variants = 0
    for i, node in enumerate(di_nodes):
        for attr in list(node.attrib):
            mutated = parse_bytes(xml, "f").getroot()
            target = [el for el in mutated.iter() if local(el) in ("BPMNShape", "BPMNEdge", "Bounds", "waypoint",
                                                                     "BPMNPlane")][i]  # fmt: skip
            del target.attrib[attr]
            svg_tree(render_svg(etree.tostring(mutated)))
            variants += 1
    assert variants > 100
    nameless = re.sub(rb' name="[^"]*"', b"", xml)
    assert text_of(svg_tree(render_svg(nameless))) == ""


@pytest.mark.parametrize(
    "xml",
    [
        b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="p"/></definitions>',
        fixture("no_layout.bpmn"),
        b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        b'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"><process id="p"/>'
        b'<bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="pl" bpmnElement="p"/></bpmndi:BPMNDiagram></definitions>',
    ],
    ids=["bare", "no_layout_file", "empty_plane"],
)
def test_a_diagram_without_layout_says_so(xml: bytes) -> None:
    svg = render_svg(xml)
    root = svg_tree(svg)
    assert NO_LAYOUT_MESSAGE in "".join(root.itertext())
    assert root.get("role") == "img" and NO_LAYOUT_MESSAGE in root.get("aria-label")
    assert groups(root) == {}


@pytest.mark.parametrize(
    "xml, reason",
    [
        (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>', "DOCTYPE"),
        (b'<!DOCTYPE lol [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><definitions>&b;</definitions>', "DOCTYPE"),
        (b"this is not XML at all", "not well-formed"),
        (b"<definitions><process></definitions>", "not well-formed"),
        (b'<dmn:definitions xmlns:dmn="https://www.omg.org/spec/DMN/20191111/MODEL/"/>'.replace(b"dmn:d", b"dmn:x"),
         "not a BPMN file"),  # fmt: skip
    ],
    ids=["xxe", "billion_laughs", "not_xml", "broken", "not_bpmn"],
)
def test_hostile_or_broken_xml_is_refused_with_a_definition_error(xml: bytes, reason: str) -> None:
    with pytest.raises(DefinitionError, match=reason):
        render_svg(xml, filename="evil.bpmn")


def test_process_selection_by_process_collaboration_or_subprocess() -> None:
    collab = fixture("collaboration.bpmn")
    by_pool = groups(svg_tree(render_svg(collab, process_id="supplier_process")))
    assert "Participant_supplier" in by_pool and "Lane_sales" in by_pool
    assert set(groups(svg_tree(render_svg(collab, process_id="Collaboration_orders")))) == set(by_pool)
    sub = groups(svg_tree(render_svg(fixture("subprocesses.bpmn"), process_id="Activity_ship")))
    assert set(sub) == {"Event_ship_start", "Activity_pack", "Event_ship_end", "Flow_s1", "Flow_s2"}
    with pytest.raises(DefinitionError, match="no process 'nope'.*customer_process, supplier_process"):
        render_svg(collab, process_id="nope")


# -- marks ----------------------------------------------------------------------------------------
MARKS = {
    "StartEvent_1": "done",
    "Activity_assign": "done",
    "Event_remind": "waiting",
    "Gateway_approved": "done",
    "Activity_pay": "failed",
    "Activity_reject": "cancelled",
    "Activity_remind": "active",
}


def test_marks_become_state_classes_with_a_badge_for_failures() -> None:
    drawn = groups(svg_tree(render_svg(fixture("camunda_modeler.bpmn"), MARKS)))
    for element_id, state in MARKS.items():
        assert f"state-{state}" in classes(drawn[element_id]), element_id
        assert drawn[element_id].get("data-state") == state
        assert f"({state})" in drawn[element_id].find(f"{SVG}title").text
    assert drawn["Activity_pay"].find(f"{SVG}g[@class='badge']") is not None
    assert drawn["Activity_assign"].find(f"{SVG}g[@class='badge']") is None
    unmarked = {"Event_paid", "Event_rejected", "Event_reminded"}
    assert all(not any(c.startswith("state-") for c in classes(drawn[i])) for i in unmarked)


def test_taken_flows_are_traced_from_done_elements_into_marked_ones() -> None:
    drawn = groups(svg_tree(render_svg(fixture("camunda_modeler.bpmn"), MARKS)))
    assert "state-done" in classes(drawn["Flow_0s1a2b3"])  # start (done) -> assign (done)
    assert "state-done" in classes(drawn["Flow_yes"])  # gateway (done) -> pay (failed)
    assert "state-done" in classes(drawn["Flow_no"])  # gateway (done) -> reject (cancelled)
    assert not any(c.startswith("state-") for c in classes(drawn["Flow_0p1q2r3"]))  # pay failed: not taken
    assert not any(c.startswith("state-") for c in classes(drawn["Flow_0r7m8n9"]))  # boundary only waiting
    plain = groups(svg_tree(render_svg(fixture("camunda_modeler.bpmn"), MARKS, trace_flows=False)))
    assert not any(c.startswith("state-") for c in classes(plain["Flow_0s1a2b3"]))


def test_a_mark_inside_a_collapsed_subprocess_shows_on_the_subprocess() -> None:
    xml = fixture("subprocesses.bpmn")
    main = groups(svg_tree(render_svg(xml, {"Activity_pack": "active", "Event_ship_start": "done"})))
    assert "state-active" in classes(main["Activity_ship"])  # the most urgent state wins
    own = groups(svg_tree(render_svg(xml, {"Activity_pack": "failed", "Activity_ship": "done"})))
    assert "state-done" in classes(own["Activity_ship"])  # its own mark is kept
    inner = groups(svg_tree(render_svg(xml, {"Activity_pack": "active"}, process_id="Activity_ship")))
    assert "state-active" in classes(inner["Activity_pack"])


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown mark state.*use one of done, active"):
        render_svg(fixture("camunda_modeler.bpmn"), {"StartEvent_1": "finished"})


def test_marks_from_history_rules() -> None:
    history = [
        {"event": "instance_started", "element_id": None},
        {"event": "completed", "element_id": "start"},
        {"event": "task_created", "element_id": "review"},
        {"event": "completed", "element_id": "timer_a"},
        {"event": "timer_cancelled", "element_id": "timer_b"},
        {"event": "timer_cancelled", "element_id": "timer_c"},
        {"event": "timer_fired", "element_id": "timer_c"},
        {"event": "completed", "element_id": "loop"},
        {"event": "cancelled", "element_id": "loop"},
        {"event": "completed", "element_id": "failing"},
    ]
    marks = marks_from_history(history, ["review"], ["timer_wait"], ["failing", None])  # type: ignore[list-item]
    assert marks == {
        "start": "done",
        "review": "active",
        "timer_a": "done",
        "timer_b": "cancelled",
        "loop": "cancelled",
        "failing": "failed",
        "timer_wait": "waiting",
    }  # timer_c: cancelled, then something happened -> no longer cancelled, never completed


# -- with the engine --------------------------------------------------------------------------------
def test_instance_marks_follow_a_running_instance(make_engine: Any, registry: HandlerRegistry,
                                                  clock: ManualClock) -> None:  # fmt: skip
    calls: list[int] = []

    def lookup(ctx: Any, account_id: int) -> dict[str, int]:
        calls.append(account_id)
        if len(calls) == 1:
            raise RuntimeError("accounts service down")
        return {"id": account_id}

    registry.register("accounts/lookup", lookup)
    eng: Engine = make_engine()
    eng.deploy([MODELERS / "spiff_arena.bpmn"], force=True)  # as saved by the modeler: no form files
    process = "Process_request_reply_x7k2m9q"
    inst = eng.start(process, {"amount": 3, "account_id": 5, "request_id": "R-1"})
    marks = instance_marks(eng.get_instance(inst.id))
    assert marks == {"StartEvent_1": "done", "Activity_collect": "active"}

    eng.complete_task(inst.open_tasks[0].id, data={})
    failed = eng.get_instance(inst.id)
    assert instance_marks(failed)["Activity_lookup"] == "failed"

    clock.advance(timedelta(minutes=5))
    eng.retry_incident(failed.incidents[0].id)
    waiting = eng.get_instance(inst.id)
    marks = instance_marks(waiting)
    assert marks["Activity_lookup"] == "done" and marks["Activity_score"] == "done"
    # The engine files an event-based gateway's timer and subscription under the gateway itself.
    assert {t.element_id for t in waiting.timers} | {s.element_id for s in waiting.subscriptions} == {"Gateway_wait"}
    assert marks["Gateway_wait"] == "waiting" and "Event_reply" not in marks
    drawn = groups(svg_tree(render_svg(eng.diagram_source(process, waiting.version), marks, process_id=process)))
    assert "state-waiting" in classes(drawn["Gateway_wait"])
    assert "state-done" in classes(drawn["Flow_1q8w7e6"]) and "state-done" in classes(drawn["Flow_1v5b4n3"])
    assert not any(c.startswith("state-") for c in classes(drawn["Flow_0reply"]))

    clock.advance(timedelta(days=3, minutes=1))
    eng.tick()
    timed_out = instance_marks(eng.get_instance(inst.id))
    assert timed_out["Event_timeout"] == "done" and timed_out["Event_escalate"] == "done"
    assert timed_out.get("Event_reply") in (None, "cancelled")


# -- the command line ---------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRMFLOW_DB", "CRMFLOW_DEBUG", "CRMFLOW_HANDLERS", "CRMFLOW_USER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/draw.db"


def run(db: str, *args: str) -> Result:
    return CliRunner().invoke(cli.app, ["--db", db, *args])


def assert_one_error_line(result: Result, contains: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert contains.lower() in lines[0].lower(), lines[0]


def test_cli_draw_from_a_file(cli_db: str, tmp_path: Path) -> None:
    out = tmp_path / "collab.svg"
    result = run(cli_db, "draw", str(MODELERS / "collaboration.bpmn"), "--svg", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    assert set(groups(svg_tree(out.read_text()))) == di_ids(planes(fixture("collaboration.bpmn"))[0])
    pool = tmp_path / "pool.svg"
    assert run(cli_db, "draw", str(MODELERS / "subprocesses.bpmn"), "--process", "Activity_ship",
               "--svg", str(pool)).exit_code == 0  # fmt: skip
    assert "Activity_pack" in groups(svg_tree(pool.read_text()))
    streamed = run(cli_db, "draw", str(MODELERS / "signavio.bpmn"), "--svg", "-")
    assert streamed.exit_code == 0 and svg_tree(streamed.stdout.strip()) is not None


def test_cli_draw_a_deployed_version_and_picture_an_instance(cli_db: str, tmp_path: Path) -> None:
    diagram = DIAGRAMS / "elements" / "timer_boundary_noninterrupting.bpmn"
    assert run(cli_db, "deploy", str(diagram)).exit_code == 0
    out = tmp_path / "deployed.svg"
    result = run(cli_db, "draw", "--process", "el_timer_bn", "--version", "1", "--svg", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert set(groups(svg_tree(out.read_text()))) == di_ids(planes(diagram.read_bytes())[0])

    started = run(cli_db, "start", "el_timer_bn", "--json")
    assert started.exit_code == 0, started.output
    instance_id = re.search(r'"id": (\d+)', started.stdout).group(1)
    pic = tmp_path / "instance.svg"
    result = run(cli_db, "picture", instance_id, "--svg", str(pic))
    assert result.exit_code == 0, result.output
    drawn = groups(svg_tree(pic.read_text()))
    assert "state-done" in classes(drawn["start"])
    assert "state-active" in classes(drawn["resolve_case"])
    assert "state-waiting" in classes(drawn["sla_warning"])
    assert "state-done" in classes(drawn["f1"])
    root = svg_tree(pic.read_text())
    assert root.get("aria-label") == f"el_timer_bn v1, instance {instance_id} (waiting)"

    shown = tmp_path / "shown.svg"
    result = run(cli_db, "show", instance_id, "--svg", str(shown))
    assert result.exit_code == 0, result.output
    assert "History" in result.stdout and f"wrote {shown}" in result.stderr
    assert set(groups(svg_tree(shown.read_text()))) == set(drawn)


@pytest.mark.parametrize(
    "args, contains",
    [
        (["draw", "missing.bpmn", "--svg", "{tmp}/x.svg"], "cannot read file"),
        (["draw", "{tmp}/evil.bpmn", "--svg", "{tmp}/x.svg"], "DOCTYPE"),
        (["draw", str(MODELERS / "signavio.bpmn"), "--svg", "{tmp}/no/such/dir/x.svg"], "cannot write"),
        (["draw", str(MODELERS / "signavio.bpmn"), "--process", "nope", "--svg", "{tmp}/x.svg"], "no process 'nope'"),
        (["draw", str(MODELERS / "signavio.bpmn"), "--version", "2", "--svg", "{tmp}/x.svg"], "--version"),
        (["draw", "--svg", "{tmp}/x.svg"], "give a diagram file"),
        (["draw", "--process", "ghost", "--svg", "{tmp}/x.svg"], "not deployed"),
        (["picture", "999", "--svg", "{tmp}/x.svg"], "instance 999 does not exist"),
        (["draw", "{tmp}", "--svg", "{tmp}/x.svg"], "is a directory"),
    ],
    ids=["missing", "hostile", "unwritable", "no_process", "version_with_file", "nothing", "not_deployed",
         "no_instance", "directory"],  # fmt: skip
)
def test_cli_errors_are_one_line(cli_db: str, tmp_path: Path, args: list[str], contains: str) -> None:
    (tmp_path / "evil.bpmn").write_bytes(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    result = run(cli_db, *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert_one_error_line(result, contains)
    assert not (tmp_path / "x.svg").exists()

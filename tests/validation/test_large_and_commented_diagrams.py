"""Diagram input bounds (issue 23 item 8): a comment that mentions `<!DOCTYPE` is not a DOCTYPE;
large diagrams are refused early (size) and validated without quadratic work."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from validation_helpers import check

from engine.validation import parsing
from engine.xml import MAX_BYTES, XmlRefused, parse_bytes

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n')
OPEN = ('<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'id="d" targetNamespace="x">')


def chain(n: int) -> str:
    """A process of n user tasks in a row, each with its shape, side by side."""
    flow, shapes, prev = ['<bpmn:startEvent id="s"/>'], [], "s"
    for i in range(n):
        flow.append(f'<bpmn:userTask id="t{i}" name="Task {i}"/>'
                    f'<bpmn:sequenceFlow id="f{i}" sourceRef="{prev}" targetRef="t{i}"/>')
        shapes.append(f'<bpmndi:BPMNShape id="t{i}_di" bpmnElement="t{i}">'
                      f'<dc:Bounds x="{i * 150}" y="100" width="100" height="80"/></bpmndi:BPMNShape>')
        prev = f"t{i}"
    flow.append(f'<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="fe" sourceRef="{prev}" targetRef="e"/>')
    return (HEAD + OPEN + '<bpmn:process id="big" isExecutable="true">' + "".join(flow) + "</bpmn:process>"
            '<bpmndi:BPMNDiagram id="dd"><bpmndi:BPMNPlane id="pl" bpmnElement="big">' + "".join(shapes)
            + "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>")


@pytest.mark.parametrize("mention", ["<!-- copied from <!DOCTYPE html> page -->",
                                     "<bpmn:documentation><![CDATA[<!DOCTYPE x> <!ENTITY y>]]></bpmn:documentation>"])
def test_a_doctype_mentioned_in_a_comment_or_cdata_is_not_a_doctype(mention: str) -> None:
    xml = HEAD + OPEN + f'<bpmn:process id="p">{mention}</bpmn:process></bpmn:definitions>'
    assert parse_bytes(xml.encode(), "note.bpmn").getroot() is not None


@pytest.mark.parametrize("prolog", ['<!-- a comment --><!DOCTYPE d [<!ENTITY a "x">]>',
                                    '<!-- <!DOCTYPE in a comment --> <!DOCTYPE d>'])
def test_a_real_doctype_beside_a_comment_is_still_refused(prolog: str) -> None:
    xml = HEAD + prolog + OPEN + '<bpmn:process id="p"/></bpmn:definitions>'
    with pytest.raises(XmlRefused) as err:
        parse_bytes(xml.encode(), "evil.bpmn")
    assert err.value.kind == "doctype"


def test_the_size_limit_is_low_and_refuses_before_parsing() -> None:
    assert MAX_BYTES <= 5 * 1024 * 1024
    started = time.monotonic()
    with pytest.raises(XmlRefused) as err:
        parse_bytes(b"<" * (MAX_BYTES + 1), "huge.bpmn")
    assert err.value.kind == "size" and time.monotonic() - started < 5  # generous: refused unread


def test_overlap_checks_of_a_large_diagram_are_not_quadratic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.bpmn"
    path.write_text(chain(2000))
    calls = 0
    collides = parsing.Bounds.collides

    def counted(self: parsing.Bounds, other: parsing.Bounds) -> bool:
        nonlocal calls
        calls += 1
        return collides(self, other)

    monkeypatch.setattr(parsing.Bounds, "collides", counted)
    check(path)
    assert calls < 10 * 2000  # all pairs would be two million

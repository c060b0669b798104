"""Whatever a modeler exports, the validator answers with a clean result or clear diagnostics,
never a traceback: fixtures in the styles of bpmn.io/Camunda 7 and 8, Signavio, ARIS,
Trisotech, Bonita and spiff-arena, collaborations, vendor extensions; and every diagram of the repo."""

from __future__ import annotations

from pathlib import Path

import pytest
from validation_helpers import FIXTURES, check, of_rule, rules

from engine.validation import Diagnostic, load_lane_map

REPO = Path(__file__).resolve().parents[2]
REPO_DIAGRAMS = sorted(
    p for folder in (REPO / "tests" / "diagrams", REPO / "processes") if folder.is_dir()
    for p in folder.rglob("*") if p.suffix in (".bpmn", ".dmn")
)
ELEMENT_DIAGRAMS = [p for p in REPO_DIAGRAMS if p.parent.name == "elements"]
FIXTURE_FILES = sorted(FIXTURES.glob("*.bpmn"))


def well_formed(diagnostics: list[Diagnostic]) -> None:
    for d in diagnostics:
        assert d.rule and d.message and d.severity in ("error", "warning"), d
        assert d.rule != "crmflow/internal", d.text()
        assert "Traceback" not in d.text()


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.name for p in FIXTURE_FILES])
def test_modeler_fixture_runs_clean_or_explains(path: Path) -> None:
    lanes, _ = load_lane_map(FIXTURES / "lanes.json")
    found = check(path, lanes=lanes)
    well_formed(found)
    assert "crmflow/parse" not in rules(found) and "crmflow/xml" not in rules(found)


@pytest.mark.parametrize(("name", "expected"), [
    ("signavio.bpmn", {"crmflow/not-executable"}),
    ("aris.bpmn", {"crmflow/not-executable"}),
    ("bonita.bpmn", {"crmflow/not-executable"}),
    ("vendor_extensions.bpmn", {"crmflow/not-executable"}),
    ("trisotech.bpmn", set()),
    ("collaboration_pools.bpmn", set()),
    ("spiff_arena.bpmn", set()),
    ("camunda7.bpmn", {"crmflow/unknown-handler", "crmflow/expression", "crmflow/camunda"}),
    ("camunda8.bpmn", {"crmflow/unknown-handler", "crmflow/timer"}),
])
def test_modeler_fixture_findings(name: str, expected: set[str]) -> None:
    lanes, _ = load_lane_map(FIXTURES / "lanes.json")
    assert rules(check(FIXTURES / name, lanes=lanes)) == expected


def test_camunda_findings_name_the_vendor() -> None:
    found = check(FIXTURES / "camunda7.bpmn")
    assert "camunda:class" in (of_rule(found, "crmflow/unknown-handler")[0].hint or "")
    assert "JUEL" in (of_rule(found, "crmflow/expression")[0].hint or "")
    found = check(FIXTURES / "camunda8.bpmn")
    assert "zeebe:taskDefinition" in (of_rule(found, "crmflow/unknown-handler")[0].hint or "")
    assert "FEEL" in (of_rule(found, "crmflow/timer")[0].hint or "")


def test_message_flow_to_an_outside_pool_counts_as_caught() -> None:
    assert "crmflow/message-no-catcher" not in rules(check(FIXTURES / "collaboration_pools.bpmn"))


def test_all_fixtures_together() -> None:
    well_formed(check(FIXTURES))


def test_repo_has_the_expected_diagrams() -> None:
    assert len(REPO_DIAGRAMS) >= 35 and len(ELEMENT_DIAGRAMS) >= 30


@pytest.mark.parametrize("path", REPO_DIAGRAMS, ids=[str(p.relative_to(REPO)) for p in REPO_DIAGRAMS])
def test_every_repo_diagram_validates_without_exception(path: Path) -> None:
    found = check(path, operations=None)
    well_formed(found)
    if path in ELEMENT_DIAGRAMS:
        assert "crmflow/parse" not in rules(found), [d.text() for d in of_rule(found, "crmflow/parse")]


def test_all_element_diagrams_together_pass_spiffworkflow() -> None:
    found = check(ELEMENT_DIAGRAMS, operations=None)
    well_formed(found)
    assert "crmflow/parse" not in rules(found)


def test_mutated_diagrams_never_crash_a_rule(tmp_path: Path) -> None:
    """Drop random elements and attributes from real diagrams (fixed seed): every result is
    diagnostics, never an exception and never a rule that failed (`crmflow/internal`)."""
    import random

    from lxml import etree

    rng = random.Random(20260105)
    sources = [p for p in FIXTURE_FILES + REPO_DIAGRAMS if p.suffix == ".bpmn"]
    for round_no in range(120):
        tree = etree.parse(str(rng.choice(sources)))
        elements = [e for e in tree.iter() if isinstance(e.tag, str) and e.getparent() is not None]
        for _ in range(rng.randint(1, 4)):
            victim = rng.choice(elements)
            if rng.random() < 0.5 and victim.attrib:
                del victim.attrib[rng.choice(list(victim.attrib))]
            elif victim.getparent() is not None:
                victim.getparent().remove(victim)
        path = tmp_path / f"m{round_no}.bpmn"
        tree.write(str(path))
        well_formed(check(path))

"""Territories: the analyst's DMN table (parses, deploys, exactly one rule for any input)
and `sales/assign_territory` recording its answer on the lead, in a diagram run by the engine."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from bpmn_builder import Process, service
from lxml import etree
from sqlalchemy import select

from engine import DefinitionError
from engine.definitions import parse_diagrams
from handlers.errors import DomainError, RecordNotFound
from handlers.models import Territory, TerritoryAssignment
from handlers.sales.leads import capture_lead
from handlers.territories import assign_territory, current_territory

ROOT = Path(__file__).resolve().parents[2]
DMN = ROOT / "processes" / "territories.dmn"
DMN_NS = {"d": "https://www.omg.org/spec/DMN/20191111/MODEL/"}


def territory_process(folder: Path) -> Path:
    """How lead_to_invoice would do it: capture → business rule task → record the answer."""
    p = Process("lead_territory", "Place a lead in its territory")
    p.node("start", "startEvent")
    p.node("capture", "serviceTask", "Capture lead", service(
        "sales/capture_lead", "lead", email='inquiry["email"]', region='inquiry.get("region")'))
    p.node("decide", "businessRuleTask", "Find territory",
           "<bpmn:extensionElements><spiffworkflow:calledDecisionId>territories</spiffworkflow:calledDecisionId>"
           "</bpmn:extensionElements>")
    p.node("assign", "serviceTask", "Assign territory", service(
        "sales/assign_territory", "territory_assignment", lead_id='lead["lead_id"]', territory="territory",
        queue="sales_queue", country='inquiry.get("country")', region='inquiry.get("region")'))
    p.node("end", "endEvent")
    return p.chain("start", "capture", "decide", "assign", "end").write(folder)


def test_the_dmn_parses_with_a_diagram_that_calls_it(tmp_path) -> None:  # noqa: ANN001
    [process] = parse_diagrams([territory_process(tmp_path), DMN])
    assert process.process_id == "lead_territory"
    broken = tmp_path / "broken" / "territories.dmn"
    broken.parent.mkdir()
    broken.write_text(DMN.read_text().replace("<decisionTable ", "<decisionTabel ", 1))
    with pytest.raises(DefinitionError, match="territories.dmn"):
        parse_diagrams([territory_process(tmp_path / "broken"), broken])


# -- the table itself: an analyst's check that the UNIQUE hit policy holds ---------------------
def _rules() -> list[tuple[str, list[str], list[str]]]:
    table = etree.parse(str(DMN)).find(".//d:decisionTable", DMN_NS)
    assert table.get("hitPolicy") == "UNIQUE"
    return [
        (rule.get("id"), [e.findtext("d:text", namespaces=DMN_NS) for e in rule.findall("d:inputEntry", DMN_NS)],
         [e.findtext("d:text", namespaces=DMN_NS) for e in rule.findall("d:outputEntry", DMN_NS)])
        for rule in table.findall("d:rule", DMN_NS)
    ]


def _matches(entry: str, value: str) -> bool:
    entry = entry.strip()
    if entry == "-":
        return True
    if "?" in entry:
        return bool(eval(entry.replace("?", "value"), {}, {"value": value}))  # noqa: S307 - our own test table
    return eval(entry, {}, {}) == value  # noqa: S307


COUNTRIES = ["DE", "AT", "CH", "GB", "UK", "IE", "FR", "BE", "NL", "LU", "US", "CA", "BR", "JP", "ZA", ""]
REGIONS = ["EMEA", "APAC", "AMERICAS", "LATAM", "", "NORDICS"]


def test_exactly_one_rule_matches_every_country_and_region() -> None:
    rules = _rules()
    for country, region in itertools.product(COUNTRIES, REGIONS):
        hits = [rid for rid, (c, r), _ in rules if _matches(c, country) and _matches(r, region)]
        assert len(hits) == 1, (country, region, hits)


# -- end to end ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("country", "region", "territory", "queue"),
    [
        ("DE", None, "DACH", "Sales DACH"),
        (" ch ", "APAC", "DACH", "Sales DACH"),  # the country wins over the region, any spelling
        ("gb", None, "UK and Ireland", "Sales UK and Ireland"),
        ("NL", "EMEA", "Western Europe", "Sales Western Europe"),
        ("US", "Americas", "North America", "Sales North America"),
        ("BR", "LATAM", "Americas", "Sales Americas"),
        ("JP", "apac", "Asia Pacific", "Sales APAC"),
        ("ZA", "EMEA", "EMEA", "Sales EMEA"),
        ("BR", None, "Unassigned", "Inside Sales"),
        (None, None, "Unassigned", "Inside Sales"),
    ],
)
def test_a_lead_is_placed_in_the_territory_the_table_names(crm_engine, tmp_path, country, region, territory, queue):  # noqa: ANN001, ANN201
    crm_engine.deploy([territory_process(tmp_path), DMN])
    inquiry = {"email": "lead@example.com", "country": country, "region": region}
    inst = crm_engine.start("lead_territory", {"inquiry": inquiry})
    assert inst.status == "completed"
    result = crm_engine.get_instance(inst.id).data["territory_assignment"]
    assert (result["territory"], result["queue"], result["changed"]) == (territory, queue, True)
    with crm_engine.db.read() as s:
        row = current_territory(s, result["lead_id"])
        assert (s.get(Territory, row.territory_id).name, row.queue) == (territory, queue)
        assert row.country == (country.strip().upper() if country else None)


def test_assign_territory_records_history(crm) -> None:  # noqa: ANN001
    lead = crm.call(capture_lead, email="x@example.com", region="EMEA")["lead_id"]
    first = crm.call(assign_territory, lead_id=lead, territory="EMEA", queue="Sales EMEA", country="za")
    assert (first["changed"], first["country"], first["region"]) == (True, "ZA", "EMEA"), "region from the lead"
    same = crm.call(assign_territory, lead_id=lead, territory="EMEA", queue="Sales EMEA", country="ZA")
    assert same["changed"] is False and same["assignment_id"] == first["assignment_id"]
    crm.advance(days=1)
    moved = crm.call(assign_territory, lead_id=lead, territory="DACH", queue="Sales DACH", country="DE")
    assert moved["changed"] is True and moved["assignment_id"] != first["assignment_id"]
    with crm.session() as s:
        rows = s.scalars(select(TerritoryAssignment).order_by(TerritoryAssignment.id)).all()
        assert [(r.queue, r.replaced_at) for r in rows] == [("Sales EMEA", crm.now), ("Sales DACH", None)]


def test_a_territory_follows_the_queue_the_table_now_names(crm) -> None:  # noqa: ANN001
    a = crm.call(capture_lead, email="a@example.com")["lead_id"]
    b = crm.call(capture_lead, email="b@example.com")["lead_id"]
    crm.call(assign_territory, lead_id=a, territory="DACH", queue="Sales DACH")
    crm.advance(hours=1)
    crm.call(assign_territory, lead_id=b, territory="DACH", queue="Sales Central Europe")
    with crm.session() as s:
        [territory] = s.scalars(select(Territory)).all()
        assert (territory.sales_queue, territory.updated_at) == ("Sales Central Europe", crm.now)
        assert current_territory(s, a).queue == "Sales DACH", "an earlier lead keeps the queue it was given"


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"territory": " "}, DomainError, "needs a territory"),
        ({"queue": None}, DomainError, "needs a queue"),
        ({"territory": 7}, DomainError, "must be text"),
        ({"lead_id": 999}, RecordNotFound, "lead 999"),
    ],
)
def test_assign_territory_refuses_bad_input(crm, params, error, message) -> None:  # noqa: ANN001
    lead = crm.call(capture_lead, email="x@example.com")["lead_id"]
    call = {"lead_id": lead, "territory": "DACH", "queue": "Sales DACH", **params}
    with pytest.raises(error, match=message):
        crm.call(assign_territory, **call)

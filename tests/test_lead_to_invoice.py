"""Lead to invoice, end to end: the real diagram, DMN tables and CRM handlers on a real database.

Every path of `processes/lead_to_invoice.bpmn` is driven through the engine facade only
(start, complete_task, correlate, fire_due_timers) with the manual clock, and each test
checks where the CRM records end up, which activities were logged and which elements ran.
The won path reloads the engine at every wait, as a restarted worker would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from crm_timers_support import seed_sales
from lxml import etree
from sqlalchemy import or_, select

from crmflow.settings import build_engine
from engine import Engine, ManualClock

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
FORMS = PROCESSES / "forms"
DIAGRAM = PROCESSES / "lead_to_invoice.bpmn"
FILES = [DIAGRAM, PROCESSES / "lead_scoring.dmn", PROCESSES / "discount_approval.dmn", PROCESSES / "territories.dmn"]
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
ISSUE_LANES = {"Sales", "Sales Manager", "Marketing", "Marketing Manager", "Service Agent", "Service Supervisor",
               "Billing"}

# Prices: CRM-PRO 480.00, CRM-ONB 3200.00 → 10 × 480 + 3200 = 8000.00 before discount and tax.
LINES = [{"product_number": "CRM-PRO", "quantity": 10}, {"product_number": "CRM-ONB", "quantity": 1}]


@dataclass
class Records:
    """Where one lead and everything grown from it stand (read back from the database)."""

    lead: tuple[str, str, int | None, str | None]
    opportunity: tuple[str, str, Decimal | None] | None
    quotes: list[tuple[str, int, str, str, Decimal, Decimal]]
    orders: list[tuple[str, str]]
    invoices: list[tuple[str, str, Decimal, Decimal]]
    activities: list[tuple[str, str, str, str]]
    account_name: str | None
    contact_email: str | None


class Story:
    """Drives one lead-to-invoice instance; `restart=True` makes a fresh Engine at every step."""

    def __init__(self, db_url: str, clock: ManualClock, price_list_id: int, restart: bool = False) -> None:
        self.db_url = db_url
        self.clock = clock
        self.price_list_id = price_list_id
        self.restart = restart
        self.engines: list[Engine] = []
        self.eng = self.new_engine()
        self.iid = 0
        self.email = ""
        self.key = ""

    def new_engine(self) -> Engine:
        eng = build_engine(self.db_url, self.clock)
        self.engines.append(eng)
        return eng

    def engine(self) -> Engine:
        if self.restart:
            self.eng = self.new_engine()
        return self.eng

    def close(self) -> None:
        for eng in self.engines:
            eng.close()

    # -- facade calls ---------------------------------------------------------------------
    def start(self, key: str = "L2I-1", **inquiry: Any) -> Any:
        data = {"email": "maria@northwind.example", "company_name": "Northwind", "topic": "CRM rollout",
                "lead_source": "Web", "budget": 60000, **inquiry}
        self.email, self.key = data["email"].strip().lower(), key
        inst = self.engine().start("lead_to_invoice", {"inquiry": data}, business_key=key, user="web")
        self.iid = inst.id
        return inst

    def task(self, element_id: str) -> Any:
        tasks = [t for t in self.engine().list_tasks(instance_id=self.iid) if t.element_id == element_id]
        assert len(tasks) == 1, f"expected one open {element_id}, open: {self.open_tasks()}"
        return tasks[0]

    def complete(self, element_id: str, user: str, **data: Any) -> Any:
        return self.engine().complete_task(self.task(element_id).id, user=user, data=data)

    def correlate(self, message: str, **payload: Any) -> Any:
        return self.engine().correlate(message, key=self.key, data=payload)

    def advance(self, delta: timedelta) -> list[Any]:
        self.clock.advance(delta)
        # the diagram's timers; a person's task may have due / follow-up reminders of its own
        people = {"qualify_task", "work_opportunity", "approve_discount"}
        return [f for f in self.engine().fire_due_timers() if f.instance_id == self.iid and f.element_id not in people]

    # -- reading --------------------------------------------------------------------------
    def instance(self) -> Any:
        return self.engine().get_instance(self.iid)

    def open_tasks(self) -> list[str]:
        return sorted(t.element_id for t in self.engine().list_tasks(instance_id=self.iid))

    def path(self) -> list[str]:
        return [h.element_id for h in self.engine().history(self.iid) if h.event == "completed"]

    def incidents(self) -> list[str]:
        return [i.message for i in self.engine().list_incidents(instance_id=self.iid)]

    def records(self) -> Records:
        from handlers.models import Account, Activity, Contact, Invoice, Lead, Opportunity, Quote, SalesOrder

        with self.engine().db.read() as s:
            lead = s.scalars(select(Lead).where(Lead.email_normalized == self.email).order_by(Lead.id.desc())).first()
            opp = s.get(Opportunity, lead.qualified_opportunity_id) if lead.qualified_opportunity_id else None
            opp_id = opp.id if opp else -1
            quotes = s.scalars(select(Quote).where(Quote.opportunity_id == opp_id).order_by(Quote.id))
            orders = s.scalars(select(SalesOrder).where(SalesOrder.opportunity_id == opp_id))
            invoices = s.scalars(select(Invoice).where(Invoice.opportunity_id == opp_id))
            regarding = or_(
                (Activity.regarding_type == "lead") & (Activity.regarding_id == lead.id),
                (Activity.regarding_type == "opportunity") & (Activity.regarding_id == opp_id),
            )
            activities = s.scalars(select(Activity).where(regarding).order_by(Activity.id))
            account = s.get(Account, lead.account_id) if lead.account_id else None
            contact = s.get(Contact, lead.contact_id) if lead.contact_id else None
            return Records(
                lead=(lead.state, lead.status, lead.score, lead.rating),
                opportunity=(opp.state, opp.status, opp.actual_value) if opp else None,
                quotes=[(q.number, q.revision, q.state, q.status, q.discount_percent, q.total_amount) for q in quotes],
                orders=[(o.state, o.status) for o in orders],
                invoices=[(i.state, i.status, i.amount_paid, i.total_amount) for i in invoices],
                activities=[(a.activity_type, a.state, a.subject, a.regarding_type) for a in activities],
                account_name=account.name if account else None,
                contact_email=contact.email if contact else None,
            )

    # -- common stretches of the road -----------------------------------------------------
    def qualify(self) -> Any:
        return self.complete("qualify_task", "ann", decision="qualify", price_list_id=self.price_list_id)

    def quote(self, discount: float = 5, **extra: Any) -> Any:
        return self.complete("work_opportunity", "ann", outcome="quote", quote_lines=LINES,
                             discount_percent=discount, tax_rate=20, **extra)

    def accept_and_pay_in_full(self) -> Any:
        self.advance(timedelta(days=1))
        self.correlate("quote_accepted", accepted_by="Maria")
        self.advance(timedelta(days=5))
        balance = self.instance().data["invoice"]["balance"]
        return self.correlate("payment_received", amount=balance, method="card", reference="P-1")


@pytest.fixture
def price_list_id(db_url: str, clock: ManualClock) -> int:
    """Products and a price list, seeded as an admin would (outside any process)."""
    return seed_sales(db_url, clock)


@pytest.fixture
def story(db_url: str, clock: ManualClock, price_list_id: int) -> Iterator[Story]:
    s = Story(db_url, clock, price_list_id)
    yield s
    s.close()


@pytest.fixture
def restarting_story(db_url: str, clock: ManualClock, price_list_id: int) -> Iterator[Story]:
    s = Story(db_url, clock, price_list_id, restart=True)
    yield s
    s.close()


def quote_total(discount: str) -> Decimal:
    """8000.00 less the discount, plus 20% tax, to the cent (as the handlers price it)."""
    net = (Decimal("8000.00") * (1 - Decimal(discount) / 100)).quantize(Decimal("0.01"))
    return (net * Decimal("1.2")).quantize(Decimal("0.01"))


# -- the diagram, forms and lanes ---------------------------------------------------------
def test_diagram_deploys_with_lanes_and_every_element_drawn(db_url: str, clock: ManualClock) -> None:
    eng = build_engine(db_url, clock)
    try:
        result = eng.deploy(FILES)
    finally:
        eng.close()
    assert [(v.process_id, v.version, v.changed) for v in result.versions] == [("lead_to_invoice", 1, True)]

    root = etree.parse(str(DIAGRAM)).getroot()
    process = root.find(f"{BPMN}process")
    assert process.get("id") == "lead_to_invoice" and process.get("isExecutable") == "true"
    lanes = {lane.get("name") for lane in root.iter(f"{BPMN}lane")}
    assert lanes == {"Sales", "Sales Manager", "Billing"}
    drawn = {shape.get("bpmnElement") for shape in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape")}
    drawn |= {edge.get("bpmnElement") for edge in root.iter("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNEdge")}
    elements = {el.get("id") for el in process if el.get("id") and not el.tag.endswith("laneSet")}
    assert elements - drawn == set()
    # SpiffWorkflow runs a cycle timer as non-interrupting whatever cancelActivity says, so the
    # diagram must say so too (a modeler would otherwise show an interrupting reminder)
    boundaries = {
        b.get("id"): (b.get("attachedToRef"), b.get("cancelActivity")) for b in root.iter(f"{BPMN}boundaryEvent")
    }
    assert boundaries == {"followup_timer": ("work_opportunity", "false"), "overdue_timer": ("await_payment", "false")}
    in_lanes = {ref.text for ref in root.iter(f"{BPMN}flowNodeRef")}
    assert {el.get("id") for el in process if not el.tag.endswith(("laneSet", "sequenceFlow"))} == in_lanes


def user_tasks() -> list[etree._Element]:
    return list(etree.parse(str(DIAGRAM)).getroot().iter(f"{BPMN}userTask"))


def test_every_user_task_has_a_valid_json_schema_form_and_instructions() -> None:
    tasks = user_tasks()
    assert {t.get("id") for t in tasks} == {"qualify_task", "work_opportunity", "approve_discount"}
    for task in tasks:
        props = {p.get("name"): p.get("value") for p in task.iter(f"{SPIFF}property")}
        form = PROCESSES / props["formJsonSchemaFilename"]  # named relative to the diagram's folder
        assert form.parent == FORMS
        assert form.is_file(), f"{task.get('id')}: missing form {form}"
        schema = json.loads(form.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["required"] and schema["title"] == task.get("name")
        instructions = task.find(f".//{SPIFF}instructionsForEndUser").text
        assert "{{" in instructions and "}}" in instructions
        assert props["candidateGroups"]


@pytest.mark.parametrize(
    ("form", "data", "valid"),
    [
        ("qualify_lead.json", {"decision": "qualify", "price_list_id": 1}, True),
        ("qualify_lead.json", {"decision": "disqualify", "disqualify_reason": "Lost"}, True),
        ("qualify_lead.json", {"decision": "disqualify"}, False),  # a reason is required
        ("qualify_lead.json", {"decision": "maybe"}, False),
        ("work_opportunity.json", {"outcome": "quote", "quote_lines": LINES, "discount_percent": 15}, True),
        ("work_opportunity.json", {"outcome": "quote", "quote_lines": []}, False),
        ("work_opportunity.json", {"outcome": "lost"}, False),  # why it was lost is required
        ("work_opportunity.json", {"outcome": "lost", "lost_reason": "Out-Sold", "competitor_id": 1}, True),
        ("work_opportunity.json", {"outcome": "lost", "lost_reason": "Out-Sold"}, False),  # who won it (crm18)
        ("approve_discount.json", {"approval": "approve"}, True),
        ("approve_discount.json", {"approval": "reject"}, False),  # the allowed discount is required
        ("approve_discount.json", {"approval": "reject", "revised_discount_percent": 10}, True),
    ],
)
def test_forms_accept_and_refuse_what_the_diagram_expects(form: str, data: dict[str, Any], valid: bool) -> None:
    validator = jsonschema.Draft202012Validator(json.loads((FORMS / form).read_text()))
    assert validator.is_valid(data) is valid


def test_lanes_json_names_every_lane_of_the_issue_and_the_diagram() -> None:
    lanes = json.loads((PROCESSES / "lanes.json").read_text())
    assert ISSUE_LANES <= set(lanes)
    diagram_lanes = {lane.get("name") for lane in etree.parse(str(DIAGRAM)).getroot().iter(f"{BPMN}lane")}
    assert diagram_lanes <= set(lanes)
    for name, spec in lanes.items():
        assert isinstance(spec["queue"], str) and spec["queue"], name
        assert spec["groups"] and all(isinstance(g, str) for g in spec["groups"]), name
    queues = [spec["queue"] for spec in lanes.values()]
    assert len(queues) == len(set(queues))
    # the groups a user task offers itself to are those of its lane
    for task in user_tasks():
        lane = next(la.get("name") for la in etree.parse(str(DIAGRAM)).getroot().iter(f"{BPMN}lane")
                    if task.get("id") in {r.text for r in la.iter(f"{BPMN}flowNodeRef")})
        groups = {p.get("name"): p.get("value") for p in task.iter(f"{SPIFF}property")}["candidateGroups"]
        assert json.loads(groups) in lanes[lane]["groups"]


# -- scoring ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("inquiry", "score", "rating", "priority", "due_in"),
    [
        ({"lead_source": "Referral", "budget": 80000}, 95, "Hot", 1, timedelta(hours=4)),
        ({"lead_source": "Web", "budget": 60000}, 80, "Hot", 1, timedelta(hours=4)),
        ({"lead_source": "Campaign", "budget": 20000}, 70, "Warm", 2, timedelta(days=1)),
        ({"lead_source": "Web", "budget": 10000}, 50, "Warm", 2, timedelta(days=1)),
        ({"lead_source": "Trade Show", "budget": 500}, 35, "Cold", 3, timedelta(days=3)),
        ({"lead_source": None, "budget": None}, 15, "Cold", 3, timedelta(days=3)),
    ],
)
def test_lead_scoring_sets_score_rating_and_qualify_task_urgency(
    story: Story, clock: ManualClock, inquiry: dict[str, Any], score: int, rating: str, priority: int,
    due_in: timedelta,
) -> None:
    inst = story.start(**inquiry)
    assert story.records().lead == ("Open", "New", score, rating)
    (task,) = inst.open_tasks
    assert (task.element_id, task.lane, task.candidate_groups) == ("qualify_task", "Sales", ["sales"])
    assert task.queue == "Inside Sales"  # no country or region given: the territory table's default
    assert (task.priority, task.due_at, task.form) == (priority, clock.now() + due_in, "forms/qualify_lead.json")


# -- territories --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "territory", "queue"),
    [
        ({"country": "de"}, "DACH", "Sales DACH"),
        ({"country": "US", "region": "EMEA"}, "North America", "Sales North America"),  # the country wins
        ({"country": "JP", "region": "APAC"}, "Asia Pacific", "Sales APAC"),
        ({"region": "Nordics"}, "Unassigned", "Inside Sales"),
    ],
)
def test_a_new_lead_lands_in_its_territorys_sales_queue(
    story: Story, where: dict[str, str], territory: str, queue: str,
) -> None:
    from handlers.models import Lead, Territory, TerritoryAssignment

    inst = story.start(**where)
    path = story.path()
    assert path[path.index("gw_duplicate"):path.index("record_score") + 1] == [
        "gw_duplicate", "find_territory", "assign_territory", "score_lead", "record_score"]
    (task,) = inst.open_tasks
    assert (task.element_id, task.queue, task.candidate_groups) == ("qualify_task", queue, ["sales"])
    lanes = json.loads((PROCESSES / "lanes.json").read_text())
    assert {"sales"} <= set(next(s["groups"] for s in lanes.values() if s["queue"] == queue)), "sales works it"
    with story.engine().db.read() as s:
        lead = s.scalars(select(Lead).where(Lead.email_normalized == story.email)).one()
        rows = s.execute(select(Territory.name, Territory.sales_queue, TerritoryAssignment.queue,
                                TerritoryAssignment.country, TerritoryAssignment.replaced_at)
                         .join(Territory, Territory.id == TerritoryAssignment.territory_id)
                         .where(TerritoryAssignment.lead_id == lead.id)).all()
    country = where.get("country")
    assert rows == [(territory, queue, queue, country.upper() if country else None, None)]


def test_a_repeat_inquiry_keeps_the_open_leads_territory(story: Story) -> None:
    story.start(key="L2I-1", country="FR")
    second = story.start(key="L2I-2", country="DE")
    history = [h.element_id for h in story.engine().history(second.id) if h.event == "completed"]
    assert "find_territory" not in history and history[-1] == "end_duplicate"
    from handlers.models import TerritoryAssignment

    with story.engine().db.read() as s:
        assert s.scalars(select(TerritoryAssignment.queue)).all() == ["Sales Western Europe"]


def test_every_sales_queue_of_the_territory_table_is_worked_by_sales() -> None:
    dmn = etree.parse(str(PROCESSES / "territories.dmn")).getroot()
    ns = {"d": "https://www.omg.org/spec/DMN/20191111/MODEL/"}
    decided = {json.loads(rule.findall("d:outputEntry", ns)[1].findtext("d:text", namespaces=ns))
               for rule in dmn.iterfind(".//d:rule", ns)}
    assert len(decided) == 8
    queues = {spec["queue"]: spec for spec in json.loads((PROCESSES / "lanes.json").read_text()).values()}
    for queue in decided:
        assert queues[queue]["groups"] == ["sales"] and queues[queue]["supervisors"] == ["sales_managers"], queue


# -- paths --------------------------------------------------------------------------------
def test_won_and_paid_in_full_surviving_a_restart_at_every_wait(restarting_story: Story) -> None:
    story = restarting_story
    story.start()
    story.qualify()
    inst = story.quote(discount=5)  # within the rep's limit: no approval
    assert inst.open_tasks == [] and {s.message_name for s in inst.subscriptions} == {
        "quote_accepted", "quote_rejected"}
    assert [t.element_id for t in inst.timers] == ["wait_customer"]  # the quote's validity
    inst = story.accept_and_pay_in_full()

    assert inst.status == "completed"
    assert story.incidents() == []
    path = story.path()
    assert "approve_discount" not in path and "send_reminder" not in path
    assert path[-3:] == ["record_payment", "gw_paid", "end_paid"]
    rec = story.records()
    total = quote_total("5")
    assert rec.lead[:2] == ("Qualified", "Qualified")
    assert (rec.account_name, rec.contact_email) == ("Northwind", "maria@northwind.example")
    assert rec.opportunity == ("Won", "Won", total)
    assert rec.quotes == [("Q-00001", 0, "Won", "Won", Decimal("5.00"), total)]
    assert rec.orders == [("Invoiced", "Invoiced")]
    assert rec.invoices == [("Paid", "Complete", total, total)]
    assert rec.activities == [("email", "Completed", "Quote Q-00001 revision 0 sent", "opportunity")]
    assert story.engine().list_timers() == []  # nothing left to fire


def test_the_whole_lifecycle_evaluates_in_process_without_a_sandbox_child(story: Story) -> None:
    """Issue 15: its expressions (``str(discount_percent)``, ``"P" + str(quote_valid_days) + "D"``,
    DMN cells, conditions) are provably cheap, so none forks a bounded child (~26 ms each)."""
    from engine import sandbox_worker

    before = sandbox_worker.child_runs
    story.start()
    story.qualify()
    story.quote(discount=5)
    assert story.accept_and_pay_in_full().status == "completed"
    assert sandbox_worker.child_runs == before


def test_partial_payment_then_overdue_reminder_then_paid(story: Story) -> None:
    story.start()
    story.qualify()
    story.quote(discount=0)
    story.correlate("quote_accepted")
    invoice = story.instance().data["invoice"]
    total = Decimal(invoice["total_amount"])
    assert invoice["due_date"] == "2026-02-04"  # 30 days after 2026-01-05

    story.advance(timedelta(days=2))
    inst = story.correlate("payment_received", amount="1000.00", method="bank transfer")
    assert inst.status == "waiting"
    assert [s.element_id for s in inst.subscriptions] == ["await_payment"]
    assert story.records().invoices == [("Paid", "Partial", Decimal("1000.00"), total)]

    # weekly checks from the partial payment (Jan 7): Jan 14, 21, 28, Feb 4 are not overdue yet
    for _ in range(4):
        assert [f.element_id for f in story.advance(timedelta(days=7))] == ["overdue_timer"]
    assert story.path().count("end_not_overdue") == 4
    assert [a for a in story.records().activities if "reminder" in a[2]] == []
    # Feb 11: a week overdue → reminder email logged, the wait for payment goes on
    assert [f.element_id for f in story.advance(timedelta(days=7))] == ["overdue_timer"]
    reminders = [a for a in story.records().activities if "reminder" in a[2]]
    assert reminders == [("email", "Completed", "Payment reminder: invoice INV-00001", "opportunity")]
    sent = story.instance().data["reminder"]
    assert (sent["reminders_sent"], sent["days_overdue"], sent["balance"]) == (1, 7, str(total - 1000))
    assert story.open_tasks() == [] and story.instance().status == "waiting"

    story.advance(timedelta(days=1))
    inst = story.correlate("payment_received", amount=str(total - Decimal("1000.00")))
    assert inst.status == "completed"
    assert story.records().invoices == [("Paid", "Complete", total, total)]
    path = story.path()
    assert path.count("record_payment") == 2 and path.count("send_reminder") == 1
    assert story.engine().list_timers() == []


def test_disqualified_lead(story: Story) -> None:
    story.start(lead_source="Web", budget=500)
    inst = story.complete("qualify_task", "ann", decision="disqualify", disqualify_reason="No Longer Interested")
    assert inst.status == "completed"
    assert story.path()[-3:] == ["gw_qualified", "disqualify_lead", "end_disqualified"]
    rec = story.records()
    assert rec.lead == ("Disqualified", "No Longer Interested", 15, "Cold")
    assert rec.opportunity is None and rec.account_name is None and rec.activities == []


def test_opportunity_lost_while_working_it(story: Story) -> None:
    story.start()
    story.qualify()
    inst = story.complete("work_opportunity", "ann", outcome="lost", lost_reason="Out-Sold",
                          lost_description="Went with a competitor")
    assert inst.status == "completed" and inst.timers == []
    assert story.path()[-3:] == ["gw_outcome", "close_lost_by_rep", "end_opportunity_lost"]
    rec = story.records()
    assert rec.lead[:2] == ("Qualified", "Qualified")
    assert rec.opportunity == ("Lost", "Out-Sold", Decimal("0.00"))
    assert rec.quotes == [] and rec.orders == [] and rec.activities == []


def test_follow_up_reminder_fires_while_the_opportunity_is_worked(story: Story, clock: ManualClock) -> None:
    story.start()
    story.qualify()
    work = story.task("work_opportunity")
    assert (work.lane, work.follow_up_at) == ("Sales", clock.now() + timedelta(days=3))

    assert story.advance(timedelta(days=3) - timedelta(seconds=1)) == []
    assert [f.element_id for f in story.advance(timedelta(seconds=1))] == ["followup_timer"]
    assert story.task("work_opportunity").id == work.id  # non-interrupting: the same task is still open
    assert [f.element_id for f in story.advance(timedelta(days=3))] == ["followup_timer"]
    calls = story.records().activities
    assert calls == [("phone_call", "Open", "Follow up: Northwind", "opportunity")] * 2

    story.quote(discount=0)  # working it ends the reminders
    assert [t.element_id for t in story.instance().timers] == ["wait_customer"]
    story.advance(timedelta(days=9))
    assert [a[0] for a in story.records().activities] == ["phone_call", "phone_call", "email"]
    assert story.path().count("log_followup") == 2


def test_discount_above_threshold_approved_by_a_manager(story: Story) -> None:
    story.start()
    story.qualify()
    inst = story.quote(discount=15)
    (task,) = inst.open_tasks
    assert (task.element_id, task.lane, task.candidate_groups, task.form) == (
        "approve_discount", "Sales Manager", ["sales_managers"], "forms/approve_discount.json")
    assert story.records().quotes == [("Q-00001", 0, "Active", "Open", Decimal("15.00"), quote_total("15"))]
    assert story.records().activities == []  # not sent before the manager says so

    story.complete("approve_discount", "bob", approval="approve", manager_comment="Strategic account")
    assert [a[2] for a in story.records().activities] == ["Quote Q-00001 revision 0 sent"]
    inst = story.accept_and_pay_in_full()

    assert inst.status == "completed"
    rec = story.records()
    assert rec.quotes == [("Q-00001", 0, "Won", "Won", Decimal("15.00"), quote_total("15"))]
    assert rec.opportunity == ("Won", "Won", quote_total("15"))
    assert rec.invoices == [("Paid", "Complete", quote_total("15"), quote_total("15"))]
    done = story.engine().list_tasks(state="completed", instance_id=story.iid)
    assert [(t.element_id, t.completed_by) for t in done if t.element_id == "approve_discount"] == [
        ("approve_discount", "bob")]


def test_discount_rejected_revises_the_quote_at_the_allowed_discount(story: Story) -> None:
    story.start()
    story.qualify()
    story.quote(discount=20)
    story.complete("approve_discount", "bob", approval="reject", revised_discount_percent=12)
    # 12% is still above the limit: the manager is asked again about the new revision
    assert story.open_tasks() == ["approve_discount"]
    story.complete("approve_discount", "bob", approval="reject", revised_discount_percent=10)
    inst = story.instance()
    assert inst.open_tasks == [] and {s.message_name for s in inst.subscriptions} == {
        "quote_accepted", "quote_rejected"}
    assert story.records().quotes == [
        ("Q-00001", 0, "Closed", "Revised", Decimal("20.00"), quote_total("20")),
        ("Q-00001", 1, "Closed", "Revised", Decimal("12.00"), quote_total("12")),
        ("Q-00001", 2, "Active", "Open", Decimal("10.00"), quote_total("10")),
    ]
    inst = story.accept_and_pay_in_full()

    assert inst.status == "completed"
    rec = story.records()
    assert rec.quotes[-1] == ("Q-00001", 2, "Won", "Won", Decimal("10.00"), quote_total("10"))
    assert rec.opportunity == ("Won", "Won", quote_total("10"))
    assert [a[2] for a in rec.activities] == ["Quote Q-00001 revision 2 sent"]
    assert story.path().count("revise_discount") == 2


def test_quote_rejected_and_revised_twice_then_accepted(story: Story) -> None:
    story.start()
    story.qualify()
    story.quote(discount=0)
    story.advance(timedelta(days=3))
    story.correlate("quote_rejected", revise=True)  # same lines, new revision
    story.advance(timedelta(days=3))
    inst = story.correlate("quote_rejected", revise=True, discount_percent=8)
    assert {s.message_name for s in inst.subscriptions} == {"quote_accepted", "quote_rejected"}
    story.advance(timedelta(days=1))
    inst = story.accept_and_pay_in_full()

    assert inst.status == "completed"
    rec = story.records()
    assert rec.quotes == [
        ("Q-00001", 0, "Closed", "Revised", Decimal("0.00"), quote_total("0")),
        ("Q-00001", 1, "Closed", "Revised", Decimal("0.00"), quote_total("0")),
        ("Q-00001", 2, "Won", "Won", Decimal("8.00"), quote_total("8")),
    ]
    assert rec.opportunity == ("Won", "Won", quote_total("8"))
    assert rec.invoices == [("Paid", "Complete", quote_total("8"), quote_total("8"))]
    assert [a[2] for a in rec.activities] == [f"Quote Q-00001 revision {n} sent" for n in range(3)]
    assert story.path().count("revise_on_request") == 2


def test_quote_rejected_without_revision_loses_the_opportunity(story: Story) -> None:
    story.start()
    story.qualify()
    story.quote(discount=0)
    inst = story.correlate("quote_rejected", revise=False, reason="Too expensive")
    assert inst.status == "completed" and inst.timers == []
    assert story.path()[-5:] == ["gw_revise", "merge_lost", "close_quote_lost", "close_lost_by_customer",
                                 "end_quote_lost"]
    rec = story.records()
    assert rec.quotes == [("Q-00001", 0, "Closed", "Lost", Decimal("0.00"), quote_total("0"))]
    assert rec.opportunity == ("Lost", "Canceled", Decimal("0.00"))
    assert rec.orders == [] and rec.invoices == []


def test_quote_validity_runs_out_without_an_answer(story: Story) -> None:
    story.start()
    story.qualify()
    story.quote(discount=0, quote_valid_days=14)
    assert story.advance(timedelta(days=14) - timedelta(seconds=1)) == []
    assert [f.element_id for f in story.advance(timedelta(seconds=1))] == ["wait_customer"]
    inst = story.instance()
    assert inst.status == "completed" and inst.subscriptions == []
    assert story.path()[-3:] == ["close_quote_lost", "close_lost_by_customer", "end_quote_lost"]
    rec = story.records()
    assert rec.quotes[0][2:4] == ("Closed", "Lost") and rec.opportunity[:2] == ("Lost", "Canceled")


def test_repeat_inquiry_while_the_lead_is_open_is_logged_on_that_lead(story: Story) -> None:
    first = story.start(key="L2I-1")
    second = story.start(key="L2I-2", email="MARIA@northwind.example", phone="+34 600")
    assert second.status == "completed"
    assert [h.element_id for h in story.engine().history(second.id) if h.event == "completed"][-3:] == [
        "gw_duplicate", "log_repeat_inquiry", "end_duplicate"]
    story.iid = first.id
    rec = story.records()
    assert rec.lead[:2] == ("Open", "New")
    assert rec.activities == [("task", "Open", "Repeat inquiry: CRM rollout", "lead")]
    assert story.open_tasks() == ["qualify_task"]  # the first instance goes on


# -- the demo -----------------------------------------------------------------------------
def test_demo_tells_the_story_twice_on_one_database(db_url: str) -> None:
    from crmflow import demo

    first: list[str] = []
    demo.run(db_url, echo=first.append)
    text = "\n".join(first)
    assert "business key LEAD-1: the campaign handed this lead to sales" in text and "(seeded now)" in text
    for expected in (
        "Find territory → territory Unassigned, sales queue Inside Sales",
        "Assign territory → lead #1 in territory Unassigned, queue Inside Sales",
        "task 'Qualify lead' waits in queue Inside Sales",
        "Qualify lead completed by ann (qualify)",
        "timer 'Every 3 days' fired",
        "'Work opportunity' is still open",
        "needs a sales manager (limit 10%)",
        "Approve discount completed by bob (approve)",
        "Paid/Partial",
        "Send payment reminder",
        "end: Invoice paid",
        "is completed",
    ):
        assert expected in text, expected
    final = text.split("Where every record stands:")[1]
    for expected in ("Qualified (Qualified)", "Won (Won)", "order ORD-00001: Invoiced (Invoiced)",
                     "invoice INV-00001: Paid (Complete)", "phone_call", "Payment reminder"):
        assert expected in final, expected

    second: list[str] = []
    demo.run(db_url, echo=second.append)
    text = "\n".join(second)
    assert "business key LEAD-2: the campaign handed this lead to sales" in text
    assert "already there from an earlier run, reused" in text
    assert "invoice INV-00002: Paid (Complete)" in text and "INCIDENT" not in text

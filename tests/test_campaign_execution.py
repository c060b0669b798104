"""Campaign execution and the quick campaign, end to end, on the real diagrams and handlers.

`processes/campaign_execution.bpmn` and `processes/quick_campaign.bpmn` are driven through
the engine facade only (start, complete_task, correlate, fire_due_timers, deliver_outbox)
with the manual clock. Emails leave through the outbox to a real SMTP server (aiosmtpd on
localhost) and are read back there. Each test checks where the campaign, its activities,
responses and leads end up, which elements ran and what arrived in the inbox.
"""

from __future__ import annotations

import itertools
import json
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiosmtpd.controller import Controller
from bpmn_builder import Process
from lxml import etree
from sqlalchemy import select
from typer.testing import CliRunner

from crmflow.mail import SmtpSender, message_id
from crmflow.settings import build_engine
from engine import Engine, ManualClock, NoSubscriber, ServiceContext

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
FORMS = PROCESSES / "forms"
CAMPAIGN = PROCESSES / "campaign_execution.bpmn"
QUICK = PROCESSES / "quick_campaign.bpmn"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
BPMNDI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
KEY = "CMP-SPRING-26"
FROM = "marketing@crmflow.test"
SUBJECT = "{{ member.first_name }}, wave {{ activity.wave }} of our spring offer"
BODY = "Hello {{ member.first_name }},\nspring prices for {{ campaign.name }} end soon.\n"
DYNAMIC_CRITERIA = {"region": "EU-South", "age_min": 25, "age_max": 35}


# -- an SMTP server on localhost -----------------------------------------------------------
@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    received: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(message_from_bytes(envelope.content, policy=default))
        return "250 Message accepted for delivery"

    def mails(self) -> list[tuple[str, str, str]]:
        """(To, Subject, Message-ID) of every message, in arrival order."""
        return [(m["To"], m["Subject"], m["Message-ID"]) for m in self.received]


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, Callable[[], SmtpSender]]]:
    box = Inbox()
    with socket.socket() as sock:  # a free port (aiosmtpd checks its server by connecting to it)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, lambda: SmtpSender("127.0.0.1", port, FROM, timeout=5)
    finally:
        controller.stop()


# -- the CRM data the marketer works with ---------------------------------------------------
@dataclass
class Seeded:
    contacts: dict[str, int]
    dynamic_list: int
    static_list: int
    empty_list: int


CONTACTS = [  # first name, birthdate, region, unsubscribed
    ("Ada", date(1995, 3, 1), "EU-South", False),     # 30: on the dynamic list
    ("Bruno", date(1992, 6, 15), "EU-South", False),  # 33: on the dynamic list
    ("Carla", date(1998, 1, 1), "EU-South", True),    # 28: on the dynamic list, unsubscribed
    ("Dora", date(1970, 1, 1), "EU-South", False),    # 56: too old for the dynamic list
    ("Emil", date(1996, 5, 5), "EU-North", False),    # 29: wrong region
]
_calls = itertools.count(1)


def crm(eng: Engine, func: Callable[..., Any], **params: Any) -> Any:
    """Call a handler as an admin tool would: its own transaction, a real ServiceContext."""
    with eng.db.write() as session:
        ctx = ServiceContext(session=session, instance_id=0, process_id="admin", business_key=None,
                             element_id="admin", task_id=f"admin-{next(_calls)}", now=eng.now())
        return func(ctx, **params)


def add_contact(eng: Engine, first: str, birthdate: date, region: str, unsubscribed: bool = False) -> int:
    from handlers import lifecycle as lc
    from handlers.models import Contact

    email = f"{first.lower()}@example.com"
    with eng.db.write() as session:
        contact = Contact(first_name=first, last_name="Example", email=email, email_normalized=email,
                          birthdate=birthdate, region=region, unsubscribed=unsubscribed)
        lc.CONTACT.start(contact, eng.now())
        session.add(contact)
        session.flush()
        return contact.id


def seed(eng: Engine) -> Seeded:
    from handlers.marketing.lists import create_list

    contacts = {first: add_contact(eng, first, born, region, unsub) for first, born, region, unsub in CONTACTS}
    dynamic = crm(eng, create_list, name="EU-South aged 25-35", member_type="contact", dynamic=True,
                  criteria=DYNAMIC_CRITERIA)
    static = crm(eng, create_list, name="Newsletter", member_type="contact",
                 member_ids=[contacts["Ada"], contacts["Bruno"], contacts["Carla"]])
    empty = crm(eng, create_list, name="Nobody yet", member_type="contact")
    return Seeded(contacts, dynamic["list_id"], static["list_id"], empty["list_id"])


@pytest.fixture
def seeded(db_url: str, clock: ManualClock) -> Seeded:
    eng = build_engine(db_url, clock)
    try:
        eng.deploy([CAMPAIGN, QUICK])
        return seed(eng)
    finally:
        eng.close()


# -- driving one campaign instance ------------------------------------------------------------
@dataclass
class CampaignRecords:
    campaign: tuple[str, str, bool, str]  # state, status, quick, campaign type
    activities: list[tuple[int, str, int, int]]  # wave, state, distributed, skipped
    responses: list[tuple[str | None, str, str, str, int | None]]  # email, code, state, status, lead
    leads: list[tuple[str, str, str | None, int | None]]  # email, state, lead source, source campaign
    member_emails: list[tuple[str, str, int, int]]  # subject, state, contact id, wave activity id
    response_logs: list[tuple[str, str, str | None]]  # activity type, state, regarding type


class Run:
    """One campaign instance driven through the facade; `restart=True` uses a fresh Engine per call."""

    def __init__(self, db_url: str, clock: ManualClock, restart: bool = False) -> None:
        self.db_url, self.clock, self.restart = db_url, clock, restart
        self.engines: list[Engine] = []
        self.eng = self.new_engine()
        self.iid = 0
        self.key = KEY

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

    def start(self, process_id: str = "campaign_execution", key: str = KEY) -> Any:
        inst = self.engine().start(process_id, business_key=key, user="mia")
        self.iid, self.key = inst.id, key
        return inst

    def task(self, element_id: str) -> Any:
        tasks = [t for t in self.engine().list_tasks(instance_id=self.iid) if t.element_id == element_id]
        assert len(tasks) == 1, f"expected one open {element_id}: {self.instance().open_tasks}"
        return tasks[0]

    def complete(self, element_id: str, user: str, **data: Any) -> Any:
        return self.engine().complete_task(self.task(element_id).id, user=user, data=data)

    def plan(self, list_id: int, **overrides: Any) -> Any:
        form = {"name": "Spring offer 2026", "budget": 2000, "list_id": list_id, "channel": "email", "waves": 1,
                "response_window_days": 7, "wave_cost": 250, "subject": SUBJECT, "body": BODY, **overrides}
        jsonschema.validate(form, json.loads((FORMS / "campaign_plan.json").read_text()))
        return self.complete("plan_campaign", "mia", **form)

    def approve(self) -> Any:
        return self.complete("approve_campaign", "max", approval="approve", manager_comment="Go")

    def respond(self, email: str | None, code: str = "Interested", **extra: Any) -> Any:
        return self.engine().correlate("campaign_response", key=self.key,
                                       data={"email": email, "response_code": code, **extra})

    def advance(self, delta: timedelta) -> list[str]:
        self.clock.advance(delta)
        return [f.element_id for f in self.engine().fire_due_timers() if f.instance_id == self.iid]

    def deliver(self, sender: SmtpSender) -> int:
        report = self.engine().deliver_outbox({"email": sender})
        assert report.errors == []
        return report.sent

    def instance(self) -> Any:
        return self.engine().get_instance(self.iid)

    def path(self) -> list[str]:
        return [h.element_id for h in self.engine().history(self.iid) if h.event == "completed"]

    def events(self, event: str) -> list[Any]:
        return [h for h in self.engine().history(self.iid) if h.event == event]

    def campaign_id(self) -> int:
        return self.instance().data["campaign"]["campaign_id"]

    def records(self) -> CampaignRecords:
        from handlers.models import Activity, Campaign, CampaignActivity, CampaignResponse, Lead

        cid = self.campaign_id()
        with self.engine().db.read() as s:
            campaign = s.get(Campaign, cid)
            waves = s.scalars(select(CampaignActivity).where(CampaignActivity.campaign_id == cid)
                              .order_by(CampaignActivity.id))
            responses = s.scalars(select(CampaignResponse).where(CampaignResponse.campaign_id == cid)
                                  .order_by(CampaignResponse.id))
            leads = s.scalars(select(Lead).where(Lead.source_campaign_id == cid).order_by(Lead.id))
            logged = [a for a in s.scalars(select(Activity).order_by(Activity.id))
                      if (a.details or {}).get("campaign_id") == cid]
            return CampaignRecords(
                campaign=(campaign.state, campaign.status, campaign.quick, campaign.campaign_type),
                activities=[(w.wave, w.state, w.distributed_count, w.skipped_count) for w in waves],
                responses=[(r.email, r.response_code, r.state, r.status, r.converted_lead_id) for r in responses],
                leads=[(lead.email, lead.state, lead.lead_source, lead.source_campaign_id) for lead in leads],
                member_emails=[(a.subject, a.state, a.regarding_id, a.details["campaign_activity_id"])
                               for a in logged if a.activity_type == "email"],
                response_logs=[(a.activity_type, a.state, a.regarding_type)
                               for a in logged if a.activity_type == "campaign_response"],
            )


@pytest.fixture
def run(db_url: str, clock: ManualClock, seeded: Seeded) -> Iterator[Run]:
    r = Run(db_url, clock)
    yield r
    r.close()


@pytest.fixture
def restarting_run(db_url: str, clock: ManualClock, seeded: Seeded) -> Iterator[Run]:
    r = Run(db_url, clock, restart=True)
    yield r
    r.close()


def mail_id(campaign_activity_id: int, contact_id: int) -> str:
    return message_id(f"campaign-activity-{campaign_activity_id}.contact-{contact_id}")


# -- the diagrams, forms and lanes --------------------------------------------------------------
def flow_elements(process: etree._Element) -> set[str]:
    return {el.get("id") for el in process if el.get("id") and not el.tag.endswith("laneSet")}


@pytest.mark.parametrize(("diagram", "lanes"), [(CAMPAIGN, {"Marketing", "Marketing Manager"}),
                                                (QUICK, {"Marketing"})])
def test_diagram_has_lanes_and_every_element_drawn(diagram: Path, lanes: set[str]) -> None:
    root = etree.parse(str(diagram)).getroot()
    process = root.find(f"{BPMN}process")
    assert process.get("id") == diagram.stem and process.get("isExecutable") == "true"
    assert {lane.get("name") for lane in root.iter(f"{BPMN}lane")} == lanes
    assert lanes <= set(json.loads((PROCESSES / "lanes.json").read_text()))
    drawn = {s.get("bpmnElement") for s in root.iter(f"{BPMNDI}BPMNShape")}
    drawn |= {e.get("bpmnElement") for e in root.iter(f"{BPMNDI}BPMNEdge")}
    assert flow_elements(process) - drawn == set()
    assert {lane.get("id") for lane in root.iter(f"{BPMN}lane")} <= drawn
    in_lanes = [ref.text for ref in root.iter(f"{BPMN}flowNodeRef")]
    nodes = {el.get("id") for el in process if not el.tag.endswith(("laneSet", "sequenceFlow"))}
    assert sorted(in_lanes) == sorted(nodes)  # every node in exactly one lane
    # the hand-over of converted leads is drawn as a message flow to the sales pool
    flows = [(f.get("sourceRef"), f.get("targetRef")) for f in root.iter(f"{BPMN}messageFlow")]
    assert flows == [("hand_over_lead", "sales_pool")]


def test_diagrams_deploy_and_pass_crmflow_validate(db_url: str, clock: ManualClock) -> None:
    from crmflow.cli import app

    eng = build_engine(db_url, clock)
    try:
        versions = eng.deploy([CAMPAIGN, QUICK]).versions
    finally:
        eng.close()
    assert [(v.process_id, v.version) for v in versions] == [("campaign_execution", 1), ("quick_campaign", 1)]
    result = CliRunner().invoke(app, ["--db", db_url, "validate", str(CAMPAIGN), str(QUICK),
                                      "--lanes", str(PROCESSES / "lanes.json")])
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output


def user_tasks() -> list[tuple[Path, etree._Element, str]]:
    found = []
    for diagram in (CAMPAIGN, QUICK):
        root = etree.parse(str(diagram)).getroot()
        lanes = {ref.text: lane.get("name") for lane in root.iter(f"{BPMN}lane") for ref in lane}
        found += [(diagram, task, lanes[task.get("id")]) for task in root.iter(f"{BPMN}userTask")]
    return found


def test_every_user_task_has_a_form_instructions_and_its_lanes_group() -> None:
    lanes = json.loads((PROCESSES / "lanes.json").read_text())
    tasks = user_tasks()
    assert {(d.stem, t.get("id"), lane) for d, t, lane in tasks} == {
        ("campaign_execution", "plan_campaign", "Marketing"),
        ("campaign_execution", "approve_campaign", "Marketing Manager"),
        ("quick_campaign", "set_up_quick", "Marketing"),
    }
    for _, task, lane in tasks:
        props = {p.get("name"): p.get("value") for p in task.iter(f"{SPIFF}property")}
        form = PROCESSES / props["formJsonSchemaFilename"]
        assert form.parent == FORMS and form.name.startswith("campaign_")
        schema = json.loads(form.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["title"] == task.get("name") and schema["required"]
        assert task.find(f".//{SPIFF}instructionsForEndUser").text.strip()
        assert json.loads(props["candidateGroups"]) in lanes[lane]["groups"]


PLAN = {"name": "Spring", "list_id": 1, "channel": "email", "waves": 2, "response_window_days": 7,
        "subject": "Hi {{ member.first_name }}"}


@pytest.mark.parametrize(
    ("form", "data", "valid"),
    [
        ("campaign_plan.json", PLAN, True),
        ("campaign_plan.json", {**PLAN, "budget": 1500.5, "wave_cost": 100, "body": None}, True),
        ("campaign_plan.json", {**PLAN, "waves": 0}, False),
        ("campaign_plan.json", {**PLAN, "channel": "social"}, False),  # cannot be distributed to members
        ("campaign_plan.json", {k: v for k, v in PLAN.items() if k != "list_id"}, False),
        ("campaign_plan.json", {**PLAN, "budget": -1}, False),
        ("campaign_approval.json", {"approval": "approve"}, True),
        ("campaign_approval.json", {"approval": "reject"}, False),  # say why
        ("campaign_approval.json", {"approval": "reject", "manager_comment": "Not this quarter"}, True),
        ("campaign_approval.json", {"approval": "maybe"}, False),
        ("campaign_quick.json", {"list_id": 3, "channel": "email", "subject": "Hi", "response_window_days": 14}, True),
        ("campaign_quick.json", {"list_id": 3, "channel": "email", "subject": "", "response_window_days": 14}, False),
        ("campaign_quick.json", {"list_id": 3, "channel": "email", "subject": "Hi"}, False),
    ],
)
def test_forms_accept_and_refuse_what_the_diagrams_expect(form: str, data: dict[str, Any], valid: bool) -> None:
    validator = jsonschema.Draft202012Validator(json.loads((FORMS / form).read_text()))
    assert validator.is_valid(data) is valid


# -- campaign execution paths -----------------------------------------------------------------
def test_two_waves_over_a_dynamic_list_surviving_a_restart_at_every_wait(
    restarting_run: Run, seeded: Seeded, inbox: tuple[Inbox, Callable[[], SmtpSender]], clock: ManualClock,
) -> None:
    run, (box, sender) = restarting_run, inbox
    c = seeded.contacts
    inst = run.start()
    (plan,) = inst.open_tasks
    assert (plan.element_id, plan.lane, plan.candidate_groups, plan.form) == (
        "plan_campaign", "Marketing", ["marketing"], "forms/campaign_plan.json")

    inst = run.plan(seeded.dynamic_list, waves=2)
    (approval,) = inst.open_tasks
    assert (approval.element_id, approval.lane, approval.candidate_groups, approval.due_at) == (
        "approve_campaign", "Marketing Manager", ["marketing_managers"], clock.now() + timedelta(days=1))
    assert inst.data["audience"]["member_count"] == 3  # Ada, Bruno, Carla today
    assert run.records().campaign == ("Proposed", "Proposed", False, "Advertisement")
    assert run.records().activities == []

    inst = run.approve()
    assert run.records().campaign[:2] == ("Launched", "Launched")
    assert {s.message_name for s in inst.subscriptions} == {"campaign_response", "stop_campaign"}
    assert [t.due_at for t in inst.timers] == [clock.now() + timedelta(days=7)]
    wave1 = inst.data["wave_activity"]["campaign_activity_id"]
    assert run.deliver(sender()) == 2
    assert box.mails() == [
        ("ada@example.com", "Ada, wave 1 of our spring offer", mail_id(wave1, c["Ada"])),
        ("bruno@example.com", "Bruno, wave 1 of our spring offer", mail_id(wave1, c["Bruno"])),
    ]
    assert "spring prices for Spring offer 2026 end soon" in box.received[0].get_content()

    # during wave 1: Bruno asks to hear no more, and a new contact comes to match the list's criteria
    clock.advance(timedelta(days=2))
    run.respond("bruno@example.com", "Do Not Send Marketing Materials", response_text="Please stop")
    fay = add_contact(run.engine(), "Fay", date(1999, 9, 9), "EU-South")

    assert run.advance(timedelta(days=5)) == ["wait_wave"]  # the response window ends: wave 2
    wave2 = run.instance().data["wave_activity"]["campaign_activity_id"]
    assert run.deliver(sender()) == 2
    assert box.mails()[2:] == [
        ("ada@example.com", "Ada, wave 2 of our spring offer", mail_id(wave2, c["Ada"])),
        ("fay@example.com", "Fay, wave 2 of our spring offer", mail_id(wave2, fay)),
    ]
    assert run.advance(timedelta(days=7) - timedelta(seconds=1)) == []
    assert run.advance(timedelta(seconds=1)) == ["wait_wave"]

    inst = run.instance()
    assert inst.status == "completed" and inst.incidents == []
    rec = run.records()
    assert rec.campaign[:2] == ("Completed", "Completed")
    # wave 1: Carla unsubscribed; wave 2: Carla and now Bruno unsubscribed, Fay new
    assert rec.activities == [(1, "Completed", 2, 1), (2, "Completed", 2, 2)]
    assert sorted((contact, act) for _, _, contact, act in rec.member_emails) == sorted(
        [(c["Ada"], wave1), (c["Bruno"], wave1), (c["Ada"], wave2), (fay, wave2)])
    assert {state for _, state, _, _ in rec.member_emails} == {"Completed"}
    assert rec.responses == [("bruno@example.com", "Do Not Send Marketing Materials", "Closed", "Closed", None)]
    assert rec.leads == []
    assert inst.data["roi"] | {"campaign_id": 0} == {
        "campaign_id": 0, "cost": "500.00", "budget": "2000.00", "revenue": "0.00", "roi": "-1.0000",
        "roi_percent": "-100.00", "won_opportunities": 0, "responses": 1, "leads": 0}
    path = run.path()
    assert path.count("distribute_wave") == 2 and path.count("next_wave") == 1
    assert path[-4:] == ["join", "complete_campaign", "compute_roi", "end_completed"]
    # exactly one email per reachable member per wave, even if the outbox is delivered again
    assert run.deliver(sender()) == 0
    per_member_wave = Counter((to, mid.split(".")[0]) for to, _, mid in box.mails())
    assert set(per_member_wave.values()) == {1} and len(box.received) == 4
    assert "carla@example.com" not in {to for to, _, _ in box.mails()}
    assert run.engine().list_timers() == []


def test_campaign_with_zero_members_sends_nothing_and_completes(
    run: Run, seeded: Seeded, inbox: tuple[Inbox, Callable[[], SmtpSender]],
) -> None:
    box, sender = inbox
    run.start()
    inst = run.plan(seeded.empty_list, wave_cost=0, budget=None)
    assert inst.data["audience"]["member_count"] == 0
    run.approve()
    dist = run.instance().data["distribution"]
    assert (dist["members"], dist["sent"], dist["skipped"], dist["lists"]) == (
        0, 0, 0, [{"list_id": seeded.empty_list, "member_count": 0}])
    assert run.advance(timedelta(days=7)) == ["wait_wave"]

    inst = run.instance()
    assert inst.status == "completed"
    rec = run.records()
    assert rec.campaign[:2] == ("Completed", "Completed")
    assert rec.activities == [(1, "Completed", 0, 0)]
    assert rec.member_emails == [] and rec.responses == []
    assert (inst.data["roi"]["cost"], inst.data["roi"]["roi"]) == ("0.00", None)  # no cost: ROI undefined
    assert run.deliver(sender()) == 0 and box.received == []


def win_opportunity(eng: Engine, lead_id: int, revenue: str) -> dict[str, Any]:
    """Sales qualifies the converted lead and wins the opportunity (the sales handlers, as an agent's tools)."""
    from handlers.sales import leads, opportunities

    opportunity = crm(eng, leads.qualify_lead, lead_id=lead_id)
    crm(eng, opportunities.close_opportunity, opportunity_id=opportunity["opportunity_id"], won=True,
        actual_revenue=revenue)
    return opportunity


def test_responses_recorded_and_interested_ones_converted_to_leads_then_roi_counts_won_revenue(
    run: Run, seeded: Seeded, inbox: tuple[Inbox, Callable[[], SmtpSender]], clock: ManualClock,
) -> None:
    box, sender = inbox
    run.start()
    run.plan(seeded.static_list, waves=1, response_window_days=14, wave_cost=300)
    inst = run.approve()
    wave = inst.data["wave_activity"]["campaign_activity_id"]
    cid = run.campaign_id()
    assert run.deliver(sender()) == 2  # Ada, Bruno (Carla unsubscribed)

    clock.advance(timedelta(days=1))
    inst = run.respond("ada@example.com", subject="Pricing for 20 seats", campaign_activity_id=wave)
    assert inst.data["converted_lead"]["source_campaign_id"] == cid
    ada_lead = inst.data["converted_lead"]["lead_id"]
    # someone the email was forwarded to: not in the CRM yet
    inst = run.respond("gina@newco.example", first_name="Gina", last_name="Novak", company_name="NewCo",
                       subject="Forwarded: spring offer", response_text="A colleague forwarded this")
    gina_lead = inst.data["converted_lead"]["lead_id"]
    run.respond("bruno@example.com", "Not Interested")
    inst = run.instance()
    assert inst.status == "waiting" and inst.incidents == []
    assert {s.message_name for s in inst.subscriptions} == {"campaign_response", "stop_campaign"}

    rec = run.records()
    assert rec.responses == [
        ("ada@example.com", "Interested", "Closed", "Converted", ada_lead),
        ("gina@newco.example", "Interested", "Closed", "Converted", gina_lead),
        ("bruno@example.com", "Not Interested", "Closed", "Closed", None),
    ]
    assert rec.leads == [("ada@example.com", "Open", "Campaign", cid), ("gina@newco.example", "Open", "Campaign", cid)]
    assert rec.response_logs == [("campaign_response", "Completed", "contact"),
                                 ("campaign_response", "Completed", None),
                                 ("campaign_response", "Completed", "contact")]
    path = run.path()
    assert path.count("record_response") == 3 and path.count("convert_lead") == 2
    assert path.count("close_response") == 1 and path.count("hand_over_lead") == 2
    # no process starts with campaign_lead here: the hand-over is recorded, not lost
    assert {e.data_delta["message"] for e in run.events("message_unhandled")} == {"campaign_lead"}

    # sales wins Gina's opportunity; it keeps the campaign as its source
    clock.advance(timedelta(days=5))
    opportunity = win_opportunity(run.engine(), gina_lead, "12000.00")
    assert opportunity["source_campaign_id"] == cid

    assert run.advance(timedelta(days=8)) == ["wait_wave"]
    inst = run.instance()
    assert inst.status == "completed"
    assert run.records().campaign[:2] == ("Completed", "Completed")
    roi = inst.data["roi"]
    assert (roi["cost"], roi["revenue"], roi["roi"], roi["roi_percent"]) == ("300.00", "12000.00", "39.0000", "3900.00")
    assert (roi["won_opportunities"], roi["responses"], roi["leads"]) == (1, 3, 2)
    assert box.mails() == [
        ("ada@example.com", "Ada, wave 1 of our spring offer", mail_id(wave, seeded.contacts["Ada"])),
        ("bruno@example.com", "Bruno, wave 1 of our spring offer", mail_id(wave, seeded.contacts["Bruno"])),
    ]


def test_manager_rejects_the_campaign_and_it_is_canceled(
    run: Run, seeded: Seeded, inbox: tuple[Inbox, Callable[[], SmtpSender]],
) -> None:
    box, sender = inbox
    run.start()
    run.plan(seeded.static_list, waves=3)
    inst = run.complete("approve_campaign", "max", approval="reject", manager_comment="Budget frozen")

    assert inst.status == "completed" and inst.timers == [] and inst.subscriptions == []
    assert run.path()[-4:] == ["approve_campaign", "gw_approved", "cancel_campaign", "end_canceled"]
    rec = run.records()
    assert rec.campaign[:2] == ("Canceled", "Canceled")
    assert rec.activities == [] and rec.member_emails == []
    assert run.deliver(sender()) == 0 and box.received == []
    done = run.engine().list_tasks(state="completed", instance_id=run.iid)
    assert {(t.element_id, t.completed_by) for t in done} == {("plan_campaign", "mia"), ("approve_campaign", "max")}
    with pytest.raises(NoSubscriber):
        run.respond("ada@example.com")


def test_stop_message_ends_the_campaign_before_the_remaining_waves(
    run: Run, seeded: Seeded, inbox: tuple[Inbox, Callable[[], SmtpSender]], clock: ManualClock,
) -> None:
    box, sender = inbox
    run.start()
    run.plan(seeded.static_list, waves=3, wave_cost=100)
    run.approve()
    clock.advance(timedelta(days=3))
    inst = run.engine().correlate("stop_campaign", key=KEY, data={"reason": "Product recall"})

    assert inst.status == "completed" and inst.timers == []
    assert inst.data["stop"] == {"reason": "Product recall"}
    path = run.path()
    assert path.count("create_wave") == 1 and "window_over" not in path
    # the close signal ends the response branch waiting at its event gateway, then both join
    assert path[-9:] == ["stop_received", "merge_closing", "close_responses", "wait_response", "responses_closed",
                         "join", "complete_campaign", "compute_roi", "end_completed"]
    rec = run.records()
    assert rec.campaign[:2] == ("Completed", "Completed")
    assert rec.activities == [(1, "Completed", 2, 1)]
    assert inst.data["roi"]["cost"] == "100.00"
    assert run.events("timer_cancelled")[0].element_id == "wait_wave"
    assert run.advance(timedelta(days=30)) == []
    assert run.deliver(sender()) == 2 and len(box.received) == 2  # wave 1 only


# -- quick campaign ---------------------------------------------------------------------------
def test_quick_campaign_sends_one_activity_collects_responses_and_computes_roi(
    run: Run, seeded: Seeded, inbox: tuple[Inbox, Callable[[], SmtpSender]], clock: ManualClock,
) -> None:
    box, sender = inbox
    inst = run.start("quick_campaign", key="QC-1")
    (task,) = inst.open_tasks
    assert (task.element_id, task.lane, task.form) == ("set_up_quick", "Marketing", "forms/campaign_quick.json")
    form = {"list_id": seeded.static_list, "channel": "email", "subject": "{{ member.first_name }}: 48h flash sale",
            "cost": 80, "response_window_days": 3}
    jsonschema.validate(form, json.loads((FORMS / "campaign_quick.json").read_text()))
    inst = run.complete("set_up_quick", "mia", **form)

    quick = inst.data["campaign"]
    assert (quick["state"], quick["sent"], quick["skipped_unsubscribed"]) == ("Launched", 2, 1)
    assert [t.due_at for t in inst.timers] == [clock.now() + timedelta(days=3)]
    assert run.deliver(sender()) == 2
    wave = quick["campaign_activity_id"]
    assert box.mails() == [
        ("ada@example.com", "Ada: 48h flash sale", mail_id(wave, seeded.contacts["Ada"])),
        ("bruno@example.com", "Bruno: 48h flash sale", mail_id(wave, seeded.contacts["Bruno"])),
    ]
    assert "This message is part of our campaign Quick campaign:" in box.received[0].get_content()

    clock.advance(timedelta(days=1))
    inst = run.respond("bruno@example.com", subject="Flash sale: 10 seats please")
    lead = inst.data["converted_lead"]
    assert run.advance(timedelta(days=2)) == ["window_over"]

    inst = run.instance()
    assert inst.status == "completed" and inst.incidents == []
    rec = run.records()
    assert rec.campaign == ("Completed", "Completed", True, "Quick Campaign")
    assert rec.activities == [(1, "Completed", 2, 1)]
    assert rec.responses == [("bruno@example.com", "Interested", "Closed", "Converted", lead["lead_id"])]
    assert rec.leads == [("bruno@example.com", "Open", "Campaign", quick["campaign_id"])]
    roi = inst.data["roi"]
    assert (roi["cost"], roi["revenue"], roi["roi"], roi["responses"], roi["leads"]) == (
        "80.00", "0.00", "-1.0000", 1, 1)
    assert run.path()[-7:] == ["close_responses", "wait_response", "responses_closed", "join", "complete_campaign",
                               "compute_roi", "end_completed"]
    assert run.deliver(sender()) == 0


# -- handing converted leads to sales -----------------------------------------------------------
def lead_intake_process() -> Process:
    """What lead-to-invoice's campaign entry would be: a process that starts with `campaign_lead`."""
    p = Process("campaign_lead_intake", "Campaign lead intake")
    p.root_elements = '<bpmn:message id="msg_campaign_lead" name="campaign_lead"/>'
    p.node("lead_in", "startEvent", "Campaign lead", '<bpmn:messageEventDefinition messageRef="msg_campaign_lead"/>')
    p.node("follow_up", "userTask", "Follow up campaign lead")
    p.node("end", "endEvent")
    return p.chain("lead_in", "follow_up", "end")


def test_each_converted_lead_starts_one_process_that_starts_with_campaign_lead(
    run: Run, seeded: Seeded, tmp_path: Path,
) -> None:
    run.engine().deploy([lead_intake_process().write(tmp_path)])
    run.start()
    run.plan(seeded.static_list)
    run.approve()
    inst = run.respond("ada@example.com", subject="Pricing please")
    lead_id = inst.data["converted_lead"]["lead_id"]
    run.respond("bruno@example.com", "Not Interested")  # a later step of the campaign
    run.advance(timedelta(days=7))

    intakes = run.engine().list_instances(process_id="campaign_lead_intake")
    assert len(intakes) == 1
    data = run.engine().get_instance(intakes[0].id).data
    assert (data["lead_id"], data["email"], data["campaign_id"]) == (lead_id, "ada@example.com", run.campaign_id())


def test_a_converted_lead_continues_in_lead_to_invoice(run: Run, seeded: Seeded) -> None:
    run.engine().deploy([PROCESSES / "lead_to_invoice.bpmn", PROCESSES / "lead_scoring.dmn",
                         PROCESSES / "discount_approval.dmn", PROCESSES / "territories.dmn"])
    run.start()
    run.plan(seeded.static_list)
    run.approve()
    inst = run.respond("ada@example.com", subject="Pricing please")
    inquiry = {"email": "ada@example.com", "lead_source": "Campaign", "topic": "Pricing please",
               "source_campaign_id": inst.data["converted_lead"]["source_campaign_id"]}

    sale = run.engine().start("lead_to_invoice", {"inquiry": inquiry}, business_key="L2I-ADA")

    assert [t.element_id for t in sale.open_tasks] == ["qualify_task"]


# -- the demo chapter -------------------------------------------------------------------------
def test_campaign_demo_chapter_tells_its_story_twice_on_one_database(db_url: str) -> None:
    from crmflow import demo_campaign

    first: list[str] = []
    outcome = demo_campaign.run(db_url, echo=first.append)
    text = "\n".join(first)
    assert outcome.business_key == "DEMO-CMP-0001" and len(outcome.lead_ids) == 1
    for expected in ("(seeded now)", "Count audience → 3 member(s) today", "Approve campaign completed by max",
                     "Distribute wave → 3 sent, 0 skipped", "Convert response to lead → lead #",
                     "Distribute wave → 2 sent, 1 skipped (1 unsubscribed)", "end: Campaign completed",
                     "is completed"):
        assert expected in text, expected
    final = text.split("Where the campaign stands:")[1]
    for expected in (": Completed (Completed)", "wave 2 (email): Completed, 2 sent, 1 skipped",
                     "Interested, Closed (Converted)", "ROI: cost 400.00, won revenue 0.00, ROI -100.00%"):
        assert expected in final, expected
    assert "INCIDENT" not in text

    second: list[str] = []
    again = demo_campaign.run(db_url, echo=second.append)
    text = "\n".join(second)
    assert again.business_key == "DEMO-CMP-0002" and "reused" in text and "INCIDENT" not in text
    assert again.lead_ids == outcome.lead_ids  # the open lead from the first run is reused, not duplicated

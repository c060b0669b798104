"""Case resolution, end to end: the real diagram, triage DMN and service handlers on a real database.

Every path of `processes/case_resolution.bpmn` is driven through the engine facade only
(start, complete_task, correlate, fire_due_timers) on the manual clock. Each test checks
where the case and its SLA KPIs end up (states and exact times), the activities logged,
the timer rows and the elements that ran. Form data is checked against the task's JSON
Schema before it is submitted, as the worklists do. The on-hold path reloads the engine
at every wait, as a restarted worker would.

SLA arithmetic used below (warning fraction 0.75): an entitled Problem by email is High,
first response within 2 h, resolve within 16 h, counted in the working hours of the "support"
calendar (Mon–Fri 09:00–17:00 UTC). Opened Mon 2026-01-05 09:00 → first-response warning
10:30, failure 11:00; resolve-by warning Tue 13:00, failure Tue 17:00. Time on hold or
resolved pushes a KPI's times by the working time that passed meanwhile (the working time
left is kept), and `paused_seconds` counts working seconds.

Work is routed to a free agent of the resource group named like the triaged queue
("Technical Support": ann, then bob; "Customer Care": cid; "Paid Support": dan); the work
task is assigned to that agent, and the agent is freed when the case is resolved or canceled.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from lxml import etree
from sqlalchemy import select

from crmflow.settings import build_engine
from engine import Engine, ManualClock, NoSubscriber

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
FORMS = PROCESSES / "forms"
DIAGRAM = PROCESSES / "case_resolution.bpmn"
FILES = [DIAGRAM, PROCESSES / "case_triage.dmn"]
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
BPMNDI = "{http://www.omg.org/spec/BPMN/20100524/DI}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # the clock fixture's start: the case opens then
FR_WARN, FR_FAIL = T0 + timedelta(hours=1, minutes=30), T0 + timedelta(hours=2)
RS_WARN, RS_FAIL = datetime(2026, 1, 6, 13, 0, tzinfo=UTC), datetime(2026, 1, 6, 17, 0, tzinfo=UTC)
WORK_DAY = (9, 17)  # the "support" calendar: Mon–Fri, these hours, UTC
TO_WORK = ["merge_work", "refresh_sla", "route_case", "merge_routed"]
HUMAN_TASKS = {"offer_paid_support", "work_case", "supervise_case", "review_breach"}
SECOND = timedelta(seconds=1)
PROBLEM = {"title": "Cannot reset my password", "origin": "Email", "customer_email": "ada@example.com",
           "case_type": "Problem", "description": "The password reset link says the token expired."}
RESOLVE = {"first_response_given": True, "outcome": "resolve", "resolution_type": "Problem Solved",
           "resolution_summary": "Sent a fresh reset link", "time_spent_minutes": 20}


def working(start: datetime, hours: float) -> datetime:
    """`start` plus `hours` of the support calendar's working time, minute by minute (independent
    of the handlers' arithmetic)."""
    left, at = round(hours * 60), start
    while left:
        if at.weekday() < 5 and WORK_DAY[0] <= at.hour < WORK_DAY[1]:
            left -= 1
        at += timedelta(minutes=1)
    return at


def working_between(start: datetime, end: datetime) -> float:
    """Hours of the support calendar's working time from `start` to `end`, minute by minute."""
    minutes, at = 0, start
    while at < end:
        if at.weekday() < 5 and WORK_DAY[0] <= at.hour < WORK_DAY[1]:
            minutes += 1
        at += timedelta(minutes=1)
    return minutes / 60


@dataclass
class Records:
    """Where one case stands (read back from the database)."""

    case: tuple[str, str, str, str | None]  # state, status, priority, queue
    first_response_by: datetime | None
    resolve_by: datetime | None
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopened_count: int
    kpis: dict[str, tuple[str, str, datetime, datetime, int]]  # state, status, warning, failure, paused s
    activities: list[tuple[str, str, str, str]]  # type, state, status, subject
    resolutions: list[tuple[str, str]]
    articles: list[tuple[str, int]]
    remaining_terms: Decimal | None
    assignments: list[tuple[str, str, bool]]  # agent, group, still held


class Story:
    """Drives one case_resolution instance; `restart=True` makes a fresh Engine at every step."""

    def __init__(self, db_url: str, clock: ManualClock, restart: bool = False) -> None:
        self.db_url, self.clock, self.restart = db_url, clock, restart
        self.engines: list[Engine] = []
        self.eng = self.new_engine()
        self.iid = 0
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
    def start(self, key: str = "CASE-1", **request: Any) -> Any:
        self.key = key
        inst = self.engine().start("case_resolution", {"request": {**PROBLEM, **request}}, business_key=key,
                                   user="email-to-case")
        self.iid = inst.id
        return inst

    def task(self, element_id: str) -> Any:
        tasks = [t for t in self.engine().list_tasks(instance_id=self.iid) if t.element_id == element_id]
        assert len(tasks) == 1, f"expected one open {element_id}, open: {self.open_tasks()}"
        return tasks[0]

    def complete(self, element_id: str, user: str, **data: Any) -> Any:
        task = self.task(element_id)
        jsonschema.validate(data, json.loads((PROCESSES / task.form).read_text()))  # what the worklist checks
        return self.engine().complete_task(task.id, user=user, data=data)

    def reply(self, **payload: Any) -> Any:
        return self.engine().correlate("case_reply", key=self.key, data=payload or {"text": "Any news?"})

    def advance(self, delta: timedelta) -> list[str]:
        self.clock.advance(delta)
        fired = self.engine().fire_due_timers()
        # the diagram's timers; a person's task may have due / follow-up reminders of its own
        return [f.element_id for f in fired if f.instance_id == self.iid and f.element_id not in HUMAN_TASKS]

    def advance_to(self, when: datetime) -> list[str]:
        return self.advance(when - self.clock.now())

    # -- reading --------------------------------------------------------------------------
    def instance(self) -> Any:
        return self.engine().get_instance(self.iid)

    def open_tasks(self) -> list[str]:
        return sorted(t.element_id for t in self.engine().list_tasks(instance_id=self.iid))

    def path(self) -> list[str]:
        return [h.element_id for h in self.engine().history(self.iid) if h.event == "completed"]

    def timers(self, state: str = "pending") -> list[tuple[str, datetime, str]]:
        rows = [t for t in self.engine().list_timers(state=state) if t.instance_id == self.iid
                and not t.kind.startswith("task_")]  # the diagram's timers, not a task's due / follow-up dates
        return sorted((t.element_id, t.due_at, t.state) for t in rows)

    def incidents(self) -> list[str]:
        return [i.message for i in self.engine().list_incidents(instance_id=self.iid)]

    def outbox(self) -> list[tuple[str, str]]:
        from engine.models import OutboxMessage

        with self.engine().db.read() as s:
            rows = s.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == self.iid)
                             .order_by(OutboxMessage.id))
            return [(r.payload["to"], r.payload["subject"]) for r in rows]

    def records(self) -> Records:
        from handlers.models import (
            Activity,
            Case,
            CaseArticle,
            CaseResolution,
            Entitlement,
            KnowledgeArticle,
            Resource,
            ResourceAssignment,
            ResourceGroup,
            SlaKpiInstance,
        )

        case_id = self.instance().data["case"]["case_id"]
        with self.engine().db.read() as s:
            case = s.get(Case, case_id)
            kpis = s.scalars(select(SlaKpiInstance).where(SlaKpiInstance.case_id == case_id))
            acts = s.scalars(select(Activity).where(Activity.regarding_type == "case", Activity.regarding_id == case_id)
                             .order_by(Activity.id))
            res = s.scalars(select(CaseResolution).where(CaseResolution.case_id == case_id)
                            .order_by(CaseResolution.id))
            links = s.execute(select(KnowledgeArticle.number, CaseArticle.rank)
                              .join(CaseArticle, CaseArticle.article_id == KnowledgeArticle.id)
                              .where(CaseArticle.case_id == case_id).order_by(CaseArticle.rank))
            ent = s.get(Entitlement, case.entitlement_id) if case.entitlement_id else None
            held = s.execute(select(Resource.user_name, ResourceGroup.name, ResourceAssignment.released_at)
                             .join(Resource, Resource.id == ResourceAssignment.resource_id)
                             .join(ResourceGroup, ResourceGroup.id == ResourceAssignment.group_id)
                             .where(ResourceAssignment.regarding_type == "case",
                                    ResourceAssignment.regarding_id == case_id)
                             .order_by(ResourceAssignment.id))
            return Records(
                case=(case.state, case.status, case.priority, case.queue),
                first_response_by=case.first_response_by,
                resolve_by=case.resolve_by,
                first_responded_at=case.first_responded_at,
                resolved_at=case.resolved_at,
                closed_at=case.closed_at,
                reopened_count=case.reopened_count,
                kpis={k.kpi: (k.state, k.status, k.warning_at, k.failure_at, k.paused_seconds) for k in kpis},
                activities=[(a.activity_type, a.state, a.status, a.subject) for a in acts],
                resolutions=[(r.resolution_type, r.subject) for r in res],
                articles=[(number, rank) for number, rank in links],
                remaining_terms=ent.remaining_terms if ent else None,
                assignments=[(user, group, released is None) for user, group, released in held],
            )


def seed(db_url: str, clock: ManualClock, terms: str | None = "5", capacity: int = 2) -> None:
    """Ada (ada@example.com) at Analytical Ltd, an entitlement of `terms` cases (None: none at
    all), three knowledge articles, two of them about passwords, the "support" calendar and
    the agents: ann (English and German, `capacity` cases at once) and bob (English, one case)
    in Technical Support, cid in Customer Care, dan in Paid Support."""
    from handlers import catalog
    from handlers import lifecycle as lc
    from handlers.calendars import save_calendar
    from handlers.models import Entitlement, KnowledgeArticle
    from handlers.resources import add_group, add_resource

    eng = build_engine(db_url, clock)
    try:
        eng.deploy(FILES)
        with eng.db.write() as session:
            now = clock.now()
            account = catalog.add_account(session, now, "Analytical Ltd")
            catalog.add_contact(session, now, "Lovelace", "Ada", email="ada@example.com", account_id=account.id)
            day = [[f"{WORK_DAY[0]:02d}:00", f"{WORK_DAY[1]:02d}:00"]]
            save_calendar(session, "support", "UTC", dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), day), now=now)
            for group in ("Technical Support", "Customer Care", "Paid Support"):
                add_group(session, group, now)
            add_resource(session, "Ann", now, capacity=capacity, user_name="ann", skills=["en", "de"],
                         groups=["Technical Support"])
            add_resource(session, "Bob", now, capacity=1, user_name="bob", skills=["en"], groups=["Technical Support"])
            add_resource(session, "Cid", now, user_name="cid", skills=["en"], groups=["Customer Care"])
            add_resource(session, "Dan", now, user_name="dan", skills=["en"], groups=["Paid Support"])
            if terms is not None:
                ent = Entitlement(name="Gold support", account_id=account.id, allocation_type="cases",
                                  decrease_on="creation", total_terms=Decimal(terms), remaining_terms=Decimal(terms),
                                  start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), sla_name="Gold")
                lc.ENTITLEMENT.start(ent, now, "Active")
                session.add(ent)
            for number, title, content, keywords, published in (
                ("KA-1", "Reset your password", "A password reset link expires after an hour; request a new token.",
                 "password reset token expired", True),
                ("KA-2", "Printer setup", "Install the printer driver before adding a printer.", "printer", True),
                ("KA-3", "Password rules", "A password needs twelve characters.", "password", True),
                ("KA-4", "Password reset (draft)", "Not reviewed yet: reset token expired.", "password reset", False),
            ):
                article = KnowledgeArticle(number=number, title=title, content=content, keywords=keywords)
                lc.ARTICLE.start(article, now, "Published" if published else None)
                article.published_at = now if published else None
                session.add(article)
    finally:
        eng.close()


@pytest.fixture
def story(db_url: str, clock: ManualClock) -> Iterator[Story]:
    seed(db_url, clock)
    s = Story(db_url, clock)
    yield s
    s.close()


@pytest.fixture
def restarting_story(db_url: str, clock: ManualClock) -> Iterator[Story]:
    seed(db_url, clock)
    s = Story(db_url, clock, restart=True)
    yield s
    s.close()


# -- the diagram, DMN, forms and lanes ----------------------------------------------------
def test_diagram_deploys_passes_validate_and_draws_every_element(db_url: str, clock: ManualClock) -> None:
    eng = build_engine(db_url, clock)
    try:
        result = eng.deploy(FILES)
    finally:
        eng.close()
    assert [(v.process_id, v.version, v.changed) for v in result.versions] == [("case_resolution", 1, True)]
    checked = subprocess.run(
        [sys.executable, "-m", "crmflow", "validate", str(DIAGRAM), str(FILES[1])],
        cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}, capture_output=True, text=True, check=False,
    )
    assert checked.returncode == 0 and "0 errors, 0 warnings" in checked.stdout, checked.stdout + checked.stderr

    root = etree.parse(str(DIAGRAM)).getroot()
    process = root.find(f"{BPMN}process")
    assert process.get("id") == "case_resolution" and process.get("isExecutable") == "true"
    assert {lane.get("name") for lane in root.iter(f"{BPMN}lane")} == {"Service Agent", "Service Supervisor"}
    drawn = {el.get("bpmnElement") for tag in ("BPMNShape", "BPMNEdge") for el in root.iter(f"{BPMNDI}{tag}")}
    elements = {el.get("id") for el in process if el.get("id") and not el.tag.endswith("laneSet")}
    assert elements - drawn == set()
    in_lanes = {ref.text for ref in root.iter(f"{BPMN}flowNodeRef")}
    assert {el.get("id") for el in process if not el.tag.endswith(("laneSet", "sequenceFlow"))} == in_lanes
    boundaries = {b.get("id"): (b.get("attachedToRef"), b.get("cancelActivity", "true"))
                  for b in root.iter(f"{BPMN}boundaryEvent")}
    assert boundaries == {
        "no_entitlement": ("check_entitlement", "true"), "entitlement_exhausted": ("check_entitlement", "true"),
        "sla_warning": ("work_case", "false"), "sla_failure": ("work_case", "false"),
        "no_resource": ("route_case", "true"),
    }
    lanes = lane_map(root)
    assert lanes["work_case"] == "Service Agent"
    assert lanes["supervise_case"] == lanes["review_breach"] == "Service Supervisor"


def lane_map(root: etree._Element) -> dict[str, str]:
    """Element id → the name of the lane it sits in."""
    return {ref.text: lane.get("name") for lane in root.iter(f"{BPMN}lane") for ref in lane.iter(f"{BPMN}flowNodeRef")}


def user_tasks() -> list[etree._Element]:
    return list(etree.parse(str(DIAGRAM)).getroot().iter(f"{BPMN}userTask"))


def test_every_user_task_has_a_form_instructions_and_its_lane_groups() -> None:
    lanes_json = json.loads((PROCESSES / "lanes.json").read_text())
    root = etree.parse(str(DIAGRAM)).getroot()
    lane_of = lane_map(root)
    tasks = user_tasks()
    assert {t.get("id") for t in tasks} == {"offer_paid_support", "work_case", "supervise_case", "review_breach"}
    for task in tasks:
        props = {p.get("name"): p.get("value") for p in task.iter(f"{SPIFF}property")}
        form = PROCESSES / props["formJsonSchemaFilename"]
        assert form.parent == FORMS and form.name.startswith("case_") and form.is_file()
        schema = json.loads(form.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["required"] and schema["title"] == task.get("name")
        instructions = task.find(f".//{SPIFF}instructionsForEndUser").text
        assert "{{ case.number }}" in instructions
        assert json.loads(props["candidateGroups"]) in lanes_json[lane_of[task.get("id")]]["groups"]


@pytest.mark.parametrize(
    ("form", "data", "valid"),
    [
        ("case_work.json", RESOLVE, True),
        ("case_work.json", {"first_response_given": True, "outcome": "resolve"}, False),  # a summary is needed
        ("case_work.json", {"first_response_given": False, "outcome": "hold", "hold_reason": "Waiting"}, True),
        ("case_work.json", {"first_response_given": True, "outcome": "more_info"}, False),  # ask what?
        ("case_work.json", {"first_response_given": True, "outcome": "more_info", "info_request": "Logs?"}, True),
        ("case_work.json", {"first_response_given": False, "outcome": "cancel"}, True),
        ("case_work.json", {"first_response_given": False, "outcome": "cancel", "cancel_reason": "Merged"}, False),
        ("case_work.json", {"outcome": "resolve", "resolution_summary": "x"}, False),  # first response unsaid
        ("case_work.json", {"first_response_given": True, "outcome": "escalate"}, False),
        ("case_paid_support.json", {"decision": "accept", "paid_support_note": "PO 77"}, True),
        ("case_paid_support.json", {"decision": "maybe"}, False),
        ("case_supervise.json", {"supervisor_action": "coach agent"}, True),
        ("case_supervise.json", {}, False),
        ("case_breach_review.json", {"breach_action": "service credit", "breach_note": "10%"}, True),
        ("case_breach_review.json", {"breach_action": "shrug"}, False),
    ],
)
def test_forms_accept_and_refuse_what_the_diagram_expects(form: str, data: dict[str, Any], valid: bool) -> None:
    validator = jsonschema.Draft202012Validator(json.loads((FORMS / form).read_text()))
    assert validator.is_valid(data) is valid


# -- triage -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("request_", "priority", "queue", "first_hours", "resolve_hours", "task_priority"),
    [
        ({"case_type": "Problem", "origin": "Phone"}, "High", "Technical Support", 1, 8, 1),
        ({"case_type": "Problem", "origin": "Web"}, "High", "Technical Support", 2, 16, 1),
        ({"case_type": "Request", "origin": "Email"}, "Normal", "Customer Care", 4, 48, 2),
        ({"case_type": "Question", "origin": "Phone"}, "Normal", "Customer Care", 4, 24, 2),
        ({"case_type": None, "origin": "Web"}, "Normal", "Customer Care", 4, 24, 2),
    ],
)
def test_triage_sets_priority_queue_sla_targets_and_the_agent_task(
    story: Story, request_: dict[str, Any], priority: str, queue: str, first_hours: int, resolve_hours: int,
    task_priority: int,
) -> None:
    inst = story.start(**request_)
    assert story.incidents() == []
    rec = story.records()
    assert rec.case == ("Active", "In Progress", priority, queue)
    # working hours only: 48 h of a 9–17 team are six working days, Monday 17:00 a week later
    assert (rec.first_response_by, rec.resolve_by) == (working(T0, first_hours), working(T0, resolve_hours))
    (task,) = inst.open_tasks
    assert (task.element_id, task.lane, task.queue, task.candidate_groups, task.form) == (
        "work_case", "Service Agent", "service", ["service_agents"], "forms/case_work.json")
    assert task.assignee == {"Technical Support": "ann", "Customer Care": "cid"}[queue]
    assert (task.priority, task.due_at, task.follow_up_at) == (task_priority, rec.resolve_by, rec.first_response_by)
    assert story.timers() == [
        ("sla_failure", rec.resolve_by, "pending"),
        ("sla_warning", working(T0, first_hours * 0.75), "pending"),
    ]
    assert rec.assignments == [(task.assignee, queue, True)]


# -- paths --------------------------------------------------------------------------------
def test_resolved_within_sla_with_survey_and_kb_suggestions(story: Story) -> None:
    inst = story.start()
    assert inst.status == "waiting" and story.open_tasks() == ["work_case"]
    assert story.path() == ["start", "open_case", "check_entitlement", "merge_entitled", "triage_rules",
                            "triage_case", "start_sla", "suggest_articles", *TO_WORK]
    assert story.task("work_case").assignee == "ann" and story.records().assignments == [
        ("ann", "Technical Support", True)]
    # knowledge articles: the published password articles, best first, linked to the case
    suggestions = inst.data["suggestions"]["articles"]
    assert [a["number"] for a in suggestions] == ["KA-1", "KA-3"]
    assert story.records().articles == [("KA-1", 1), ("KA-3", 2)]
    assert story.records().remaining_terms == Decimal("4.000")  # one case charged on creation

    assert story.advance(timedelta(hours=1)) == []
    inst = story.complete("work_case", "ann", **RESOLVE)
    resolved_at = T0 + timedelta(hours=1)
    assert inst.status == "waiting" and inst.open_tasks == []
    assert [s.message_name for s in inst.subscriptions] == ["case_reply"]
    # the SLA timers went with the work task; the 7-day auto-close waits
    assert story.timers() == [("wait_after_resolution", resolved_at + timedelta(days=7), "pending")]
    assert story.timers("cancelled") == [("sla_failure", RS_FAIL, "cancelled"), ("sla_warning", FR_WARN, "cancelled")]
    rec = story.records()
    assert rec.case == ("Resolved", "Problem Solved", "High", "Technical Support")
    assert (rec.first_responded_at, rec.resolved_at, rec.closed_at) == (resolved_at, resolved_at, None)
    assert rec.kpis == {
        "first_response": ("Closed", "Succeeded", FR_WARN, FR_FAIL, 0),
        "resolve": ("Closed", "Succeeded", RS_WARN, RS_FAIL, 0),
    }
    assert rec.resolutions == [("Problem Solved", "Sent a fresh reset link")]
    assert rec.activities == [
        ("email", "Completed", "Received", "Email: Cannot reset my password"),
        ("email", "Completed", "Sent", "How did we do? Your case CAS-00001"),
    ]
    assert story.outbox() == [("ada@example.com", "How did we do? Your case CAS-00001")]
    path = story.path()
    assert path[path.index("work_case"):] == ["work_case", "gw_first_response", "record_first_response",
                                              "merge_responded", "gw_outcome", "resolve_case", "release_resolved",
                                              "send_survey"]
    assert rec.assignments == [("ann", "Technical Support", False)], "the resolved case frees its agent"
    assert story.incidents() == []


def test_auto_closed_seven_days_after_resolution_without_a_reply(story: Story) -> None:
    story.start()
    assert story.advance(timedelta(hours=3)) == ["sla_warning"]  # 10:30: nobody answered yet
    story.complete("work_case", "ann", **{**RESOLVE, "resolution_type": "Information Provided"})
    resolved_at = T0 + timedelta(hours=3)
    assert story.open_tasks() == ["supervise_case"]  # the supervisor has not got to it
    assert story.advance(timedelta(days=7) - SECOND) == []
    assert story.records().closed_at is None
    assert story.advance(SECOND) == ["wait_after_resolution"]

    inst = story.instance()
    assert inst.status == "completed" and inst.subscriptions == [] and story.timers() == []
    assert story.path()[-4:] == ["wait_after_resolution", "auto_close_timer", "close_case", "end_closed"]
    # closing ends everything about the case: the stale supervisor task is cancelled
    cancelled = story.engine().list_tasks(state="cancelled", instance_id=story.iid)
    assert [t.element_id for t in cancelled] == ["supervise_case"] and story.open_tasks() == []
    assert inst.data["closure"]["closed"] is True
    rec = story.records()
    assert rec.case[:2] == ("Resolved", "Information Provided")
    assert (rec.resolved_at, rec.closed_at) == (resolved_at, resolved_at + timedelta(days=7))
    # 3 h after opening is past the 2 h first response: the resolution answered it, late
    assert rec.kpis["first_response"][:2] == ("Closed", "Noncompliant")
    assert rec.kpis["resolve"][:2] == ("Closed", "Succeeded")
    with pytest.raises(NoSubscriber):  # a reply to a closed case reaches no instance
        story.reply(text="Thanks!")


def test_reply_within_seven_days_reopens_the_case_then_it_closes(story: Story) -> None:
    story.start()
    story.advance(timedelta(hours=1))
    story.complete("work_case", "ann", **RESOLVE)
    first_resolution = T0 + timedelta(hours=1)
    assert story.advance(timedelta(days=3)) == []

    inst = story.reply(text="The new link does not work either")
    reopened_at = first_resolution + timedelta(days=3)
    assert inst.data["reply"] == {"text": "The new link does not work either"}
    assert story.open_tasks() == ["work_case"]
    rec = story.records()
    assert rec.case[:2] == ("Active", "In Progress") and rec.reopened_count == 1 and rec.resolved_at is None
    # the resolve-by KPI is back on the clock, pushed by the working time of the 3 days the case
    # sat resolved (Mon 10-17, Tue, Wed, Thu 9-10: 24 h); the first response stays answered
    pushed = working_between(first_resolution, reopened_at)
    assert pushed == 24
    new_fail = working(RS_FAIL, pushed)
    assert rec.kpis == {
        "first_response": ("Closed", "Succeeded", FR_WARN, FR_FAIL, 0),
        "resolve": ("Active", "In Progress", working(RS_WARN, pushed), new_fail, round(pushed * 3600)),
    }
    assert rec.resolve_by == new_fail == datetime(2026, 1, 9, 17, 0, tzinfo=UTC)
    # the auto-close timer is gone; the SLA timers are back on the work task. The first-response
    # warning time is long past: it fires at once and finds nothing to escalate
    assert story.timers() == [("sla_failure", new_fail, "pending")]
    assert ("wait_after_resolution", first_resolution + timedelta(days=7), "cancelled") in story.timers("cancelled")
    path = story.path()
    assert path[path.index("reply_after_resolution"):] == [
        "reply_after_resolution", "reopen_case", *TO_WORK, "sla_warning", "check_warning",
        "gw_escalate", "end_no_escalation"]
    assert story.open_tasks() == ["work_case"]
    # the reopened case is routed again: both agents are free, and least-busy prefers bob, who
    # has waited longest for work (never assigned yet)
    assert story.task("work_case").assignee == "bob"
    assert story.records().assignments == [("ann", "Technical Support", False), ("bob", "Technical Support", True)]

    story.advance(timedelta(hours=2))
    story.complete("work_case", "bob", **{**RESOLVE, "resolution_summary": "Cleared the browser cache"})
    second_resolution = reopened_at + timedelta(hours=2)
    assert story.timers() == [("wait_after_resolution", second_resolution + timedelta(days=7), "pending")]
    assert story.advance(timedelta(days=7)) == ["wait_after_resolution"]
    assert story.instance().status == "completed"
    rec = story.records()
    assert rec.case[:2] == ("Resolved", "Problem Solved") and rec.closed_at == second_resolution + timedelta(days=7)
    assert rec.resolutions == [("Problem Solved", "Sent a fresh reset link"),
                               ("Problem Solved", "Cleared the browser cache")]
    assert rec.kpis["resolve"][:2] == ("Closed", "Succeeded")
    assert story.outbox() == [("ada@example.com", "How did we do? Your case CAS-00001")] * 2
    assert story.path().count("reopen_case") == 1 and story.path().count("send_survey") == 2


def test_first_response_warning_escalates_to_the_supervisor_and_the_case_is_still_resolved(
    story: Story, clock: ManualClock,
) -> None:
    story.start()
    work = story.task("work_case")
    assert story.advance_to(FR_WARN - SECOND) == []
    assert story.advance(SECOND) == ["sla_warning"]

    assert story.open_tasks() == ["supervise_case", "work_case"]
    assert story.task("work_case").id == work.id  # non-interrupting: the agent's task is untouched
    sup = story.task("supervise_case")
    assert (sup.lane, sup.candidate_groups, sup.priority, sup.due_at, sup.form) == (
        "Service Supervisor", ["service_supervisors"], 1, FR_FAIL, "forms/case_supervise.json")
    rec = story.records()
    assert rec.kpis["first_response"][:2] == ("Active", "Nearing Noncompliance")
    assert rec.kpis["resolve"][:2] == ("Active", "In Progress")
    assert story.timers() == [("sla_failure", RS_FAIL, "pending")]
    assert story.timers("fired") == [("sla_warning", FR_WARN, "fired")]

    story.advance(timedelta(minutes=5))
    story.complete("supervise_case", "sam", supervisor_action="coach agent", supervisor_note="Call her now")
    story.advance(timedelta(minutes=10))
    inst = story.complete("work_case", "ann", **RESOLVE)  # 09:00 + 1:45, inside the 2 h

    assert inst.status == "waiting" and inst.open_tasks == []
    rec = story.records()
    assert rec.case[:2] == ("Resolved", "Problem Solved")
    assert rec.first_responded_at == FR_WARN + timedelta(minutes=15)
    assert rec.kpis["first_response"][:2] == ("Closed", "Succeeded")
    assert rec.kpis["resolve"][:2] == ("Closed", "Succeeded")
    assert ("service_activity", "Completed", "Completed", "SLA warning on CAS-00001: supervisor chose coach agent"
            ) in rec.activities
    path = story.path()
    assert path[path.index("check_warning"):path.index("end_supervised") + 1] == [
        "check_warning", "gw_escalate", "supervise_case", "log_supervision", "end_supervised"]
    done = story.engine().list_tasks(state="completed", instance_id=story.iid)
    assert sorted((t.element_id, t.completed_by) for t in done) == [("supervise_case", "sam"), ("work_case", "ann")]


def test_resolve_by_breach_marks_noncompliant_and_notifies_the_supervisor(story: Story) -> None:
    story.start()
    assert story.advance_to(FR_WARN) == ["sla_warning"]
    story.complete("supervise_case", "sam", supervisor_action="reassign")
    assert story.advance_to(RS_FAIL - SECOND) == []
    assert story.records().kpis["resolve"][:2] == ("Active", "In Progress")  # nobody looked since 10:30
    assert story.advance(SECOND) == ["sla_failure"]

    assert story.open_tasks() == ["review_breach", "work_case"]
    review = story.task("review_breach")
    assert (review.lane, review.candidate_groups, review.priority) == (
        "Service Supervisor", ["service_supervisors"], 1)
    rec = story.records()
    assert rec.kpis["resolve"][:2] == ("Closed", "Noncompliant")
    assert rec.kpis["first_response"][:2] == ("Closed", "Noncompliant")
    assert story.timers() == [] and story.timers("fired") == [("sla_failure", RS_FAIL, "fired"),
                                                               ("sla_warning", FR_WARN, "fired")]
    story.complete("review_breach", "sam", breach_action="service credit", breach_note="10% off next renewal")

    # back to work after asking for details: the failure time is past, so the boundary timer
    # fires again at once, but the breach is already known and nobody is told twice
    story.advance(timedelta(minutes=30))
    before = len(story.path())
    story.complete("work_case", "ann", first_response_given=True, outcome="more_info", info_request="Screenshot?")
    after_work = story.path()[before:]
    assert after_work[:7] == ["work_case", "gw_first_response", "record_first_response", "merge_responded",
                              "gw_outcome", "request_details", "merge_work"]
    # both past-due boundary timers fire again (branches interleave); neither tells anyone
    assert after_work[7:10] == ["refresh_sla", "route_case", "merge_routed"]
    assert sorted(after_work[10:]) == sorted(["sla_warning", "check_warning", "gw_escalate", "end_no_escalation",
                                             "sla_failure", "check_breach", "gw_breach", "end_breach_known"])
    assert story.open_tasks() == ["work_case"]
    story.advance(timedelta(minutes=30))
    story.complete("work_case", "ann", **RESOLVE)
    rec = story.records()
    assert rec.case[:2] == ("Resolved", "Problem Solved")
    assert rec.kpis["resolve"][:2] == ("Closed", "Noncompliant")  # resolving late does not undo the breach
    assert [a[3] for a in rec.activities if a[0] == "service_activity"] == [
        "SLA warning on CAS-00001: supervisor chose reassign",
        "SLA breach on CAS-00001: supervisor chose service credit",
    ]
    assert story.path().count("review_breach") == 1 and story.incidents() == []
    assert rec.first_responded_at == RS_FAIL + timedelta(minutes=30)  # answered only with the details request


def test_warning_escalates_once_even_when_the_case_comes_back_from_hold_unanswered(story: Story) -> None:
    story.start()
    assert story.advance_to(FR_WARN) == ["sla_warning"]
    assert story.open_tasks() == ["supervise_case", "work_case"]
    story.advance(timedelta(minutes=10))
    story.complete("work_case", "ann", first_response_given=False, outcome="hold", hold_reason="Need the account id")
    assert story.records().kpis["first_response"] == ("Active", "Paused", FR_WARN, FR_FAIL, 0)

    story.advance(timedelta(hours=1))
    story.reply(text="It is 4711")
    # both KPIs pushed by the working hour on hold; the pushed warning time (11:30) is already past
    # at 11:40, so the boundary timer fires at once, finds the warning known and escalates nothing.
    # The resolve-by failure (Tue 17:00) moves one working hour on: Wednesday 10:00, not Tue 18:00
    rec = story.records()
    assert rec.kpis["first_response"] == ("Active", "Nearing Noncompliance", working(FR_WARN, 1), working(FR_FAIL, 1),
                                          3600)
    assert rec.kpis["resolve"] == ("Active", "In Progress", working(RS_WARN, 1), working(RS_FAIL, 1), 3600)
    assert working(RS_FAIL, 1) == datetime(2026, 1, 7, 10, 0, tzinfo=UTC)
    assert rec.first_response_by == working(FR_FAIL, 1)
    assert story.path()[-4:] == ["sla_warning", "check_warning", "gw_escalate", "end_no_escalation"]
    assert story.open_tasks() == ["supervise_case", "work_case"]  # still the one supervisor task
    assert story.path().count("supervise_case") == 0
    assert story.timers() == [("sla_failure", working(RS_FAIL, 1), "pending")]

    story.advance(timedelta(minutes=15))  # 11:55, before the pushed 12:00
    story.complete("work_case", "ann", **RESOLVE)
    assert story.records().kpis["first_response"][:2] == ("Closed", "Succeeded")


def test_kpi_breach_time_after_downtime_is_the_failure_time(story: Story) -> None:
    story.start()
    # the scheduler was down from 09:00 until the resolve-by failure time: both timers fire late
    assert sorted(story.advance_to(RS_FAIL)) == ["sla_failure", "sla_warning"]
    assert story.open_tasks() == ["review_breach", "supervise_case", "work_case"]
    from handlers.models import SlaKpiInstance

    with story.engine().db.read() as s:
        kpi = s.scalars(select(SlaKpiInstance).where(SlaKpiInstance.kpi == "first_response")).one()
        assert (kpi.status, kpi.failure_at) == ("Noncompliant", FR_FAIL)
        assert kpi.failed_at == FR_FAIL  # it failed at 11:00, not at 01:00 when it was checked


def test_on_hold_pauses_the_sla_clock_across_restarts(restarting_story: Story) -> None:
    story = restarting_story
    story.start()
    story.advance(timedelta(minutes=30))
    inst = story.complete("work_case", "ann", first_response_given=True, outcome="hold",
                          hold_reason="Waiting for the customer's logs")
    held_at = T0 + timedelta(minutes=30)
    assert inst.open_tasks == [] and [s.element_id for s in inst.subscriptions] == ["wait_reply_on_hold"]
    assert story.timers() == []  # no SLA timer runs while the clock is stopped
    rec = story.records()
    assert rec.case[:2] == ("Active", "On Hold") and rec.first_responded_at == held_at
    assert rec.kpis["first_response"][:2] == ("Closed", "Succeeded")
    assert rec.kpis["resolve"] == ("Active", "Paused", RS_WARN, RS_FAIL, 0)

    # 32 hours on hold: past the original resolve-by (Tue 17:00), yet nothing fires or breaches
    assert story.advance(timedelta(hours=32)) == []
    story.reply(text="Here are the logs")
    resumed_at = held_at + timedelta(hours=32)
    # the times move by the working time on hold (Mon 09:30-17:00, Tue 09:00-17:00: 15.5 h), so the
    # 15.5 working hours left at the hold are left again, from Tuesday 17:30: due Thursday 16:30
    paused = working_between(held_at, resumed_at)
    assert paused == 15.5
    new_fail = working(RS_FAIL, paused)
    rec = story.records()
    assert rec.case[:2] == ("Active", "In Progress")
    assert rec.kpis["resolve"] == ("Active", "In Progress", working(RS_WARN, paused), new_fail, round(paused * 3600))
    assert rec.resolve_by == new_fail == datetime(2026, 1, 8, 16, 30, tzinfo=UTC)
    assert working_between(resumed_at, new_fail) == working_between(held_at, RS_FAIL)
    assert story.timers() == [("sla_failure", datetime(2026, 1, 8, 16, 30, tzinfo=UTC), "pending")]
    assert story.task("work_case").due_at == new_fail
    path = story.path()
    assert path[path.index("pause_sla"):path.index("merge_routed", path.index("pause_sla")) + 1] == [
        "pause_sla", "wait_reply_on_hold", "resume_sla", *TO_WORK]
    assert story.records().assignments == [("ann", "Technical Support", True)], "on hold, the agent keeps it"

    # resolved 1 s before the pushed failure time: within SLA thanks to the pause
    assert story.advance_to(new_fail - SECOND) == []
    inst = story.complete("work_case", "ann", first_response_given=True, outcome="resolve",
                          resolution_type="Problem Solved", resolution_summary="Fixed the SSO mapping")
    assert inst.status == "waiting"
    assert story.records().kpis["resolve"][:2] == ("Closed", "Succeeded")
    assert story.records().first_responded_at == held_at  # the first answer's time is kept
    assert "review_breach" not in story.path() and story.incidents() == []


def test_more_information_requested_then_resolved(story: Story) -> None:
    story.start()
    first = story.task("work_case")
    story.advance(timedelta(minutes=20))
    story.complete("work_case", "ann", first_response_given=True, outcome="more_info",
                   info_request="Which browser do you use?")
    second = story.task("work_case")
    assert second.id != first.id
    # the SLA keeps running: same timers (the first response is answered, so no warning escalates)
    assert story.timers() == [("sla_failure", RS_FAIL, "pending"), ("sla_warning", FR_WARN, "pending")]
    rec = story.records()
    assert rec.case[:2] == ("Active", "In Progress")
    assert rec.activities[-1] == ("email", "Completed", "Completed", "More information needed on case CAS-00001")
    assert story.advance_to(FR_WARN) == ["sla_warning"]
    assert story.open_tasks() == ["work_case"]  # answered in time: no supervisor task
    assert story.path()[-3:] == ["check_warning", "gw_escalate", "end_no_escalation"]
    story.complete("work_case", "ann", **{**RESOLVE, "first_response_given": False})
    assert story.records().case[:2] == ("Resolved", "Problem Solved")
    assert story.records().first_responded_at == T0 + timedelta(minutes=20)


def test_case_canceled_from_the_work_form(story: Story) -> None:
    story.start()
    inst = story.complete("work_case", "ann", first_response_given=False, outcome="cancel")
    assert inst.status == "completed" and story.timers() == []
    assert story.path()[-6:] == ["gw_first_response", "merge_responded", "gw_outcome", "cancel_case",
                                 "release_canceled", "end_canceled"]
    rec = story.records()
    assert rec.case[:2] == ("Canceled", "Canceled")
    assert {k: v[:2] for k, v in rec.kpis.items()} == {"first_response": ("Closed", "Canceled"),
                                                       "resolve": ("Closed", "Canceled")}
    assert story.outbox() == []
    assert rec.assignments == [("ann", "Technical Support", False)], "the canceled case frees its agent"


# -- entitlement ----------------------------------------------------------------------------
def test_no_entitlement_offers_paid_support_and_goes_on_as_paid(db_url: str, clock: ManualClock) -> None:
    seed(db_url, clock, terms=None)
    story = Story(db_url, clock)
    try:
        inst = story.start()
        (task,) = inst.open_tasks
        assert (task.element_id, task.lane, task.form) == (
            "offer_paid_support", "Service Agent", "forms/case_paid_support.json")
        assert [h.event for h in story.engine().history(story.iid)].count("error_thrown") == 1
        assert story.path()[-4:] == ["start", "open_case", "no_entitlement", "merge_unentitled"]
        assert story.records().kpis == {}  # no SLA before triage

        story.advance(timedelta(minutes=15))
        inst = story.complete("offer_paid_support", "ann", decision="accept", paid_support_note="PO-4711")
        assert story.open_tasks() == ["work_case"]
        assert inst.data["entitlement"] is None
        rec = story.records()
        opened = T0  # the targets count from the case's creation, not from the agent's answer
        assert rec.case == ("Active", "In Progress", "Low", "Paid Support")
        assert (rec.first_response_by, rec.resolve_by) == (working(opened, 8), working(opened, 72))
        assert rec.first_response_by == datetime(2026, 1, 5, 17, 0, tzinfo=UTC)  # one working day
        assert story.task("work_case").assignee == "dan"
        assert rec.remaining_terms is None
        assert rec.activities[-1] == ("service_activity", "Completed", "Completed", "Paid support accepted: CAS-00001")
        path = story.path()
        assert path[path.index("offer_paid_support"):] == [
            "offer_paid_support", "gw_paid_support", "log_paid_support", "merge_entitled", "triage_rules",
            "triage_case", "start_sla", "suggest_articles", *TO_WORK]
    finally:
        story.close()


def test_the_paid_support_offer_is_due_in_working_hours(db_url: str, clock: ManualClock) -> None:
    """Offer paid support is due 4 working hours after the case comes in: Friday 15:00 → Monday 11:00."""
    seed(db_url, clock, terms=None)
    friday = datetime(2026, 1, 9, 15, 0, tzinfo=UTC)
    clock.set(friday)
    story = Story(db_url, clock)
    try:
        (task,) = story.start().open_tasks
        assert task.element_id == "offer_paid_support"
        assert task.due_at == working(friday, 4) == datetime(2026, 1, 12, 11, 0, tzinfo=UTC)
        clock.set(datetime(2026, 1, 12, 10, 59, tzinfo=UTC))
        assert story.engine().fire_due_timers() == [], "not overdue over the weekend"
        clock.set(datetime(2026, 1, 12, 11, 0, tzinfo=UTC))
        assert [f.element_id for f in story.engine().fire_due_timers()] == ["offer_paid_support"]
    finally:
        story.close()


def test_exhausted_entitlement_declined_cancels_the_case(db_url: str, clock: ManualClock) -> None:
    seed(db_url, clock, terms="0")
    story = Story(db_url, clock)
    try:
        story.start()
        assert story.path() == ["start", "open_case", "entitlement_exhausted", "merge_unentitled"]
        inst = story.complete("offer_paid_support", "ann", decision="decline")
        assert inst.status == "completed" and story.timers() == []
        assert story.path()[-3:] == ["gw_paid_support", "cancel_unentitled", "end_declined"]
        rec = story.records()
        assert rec.case[:2] == ("Canceled", "Canceled") and rec.kpis == {}
        assert "triage_rules" not in story.path()
    finally:
        story.close()


# -- the demo chapter -------------------------------------------------------------------------
def test_case_demo_tells_the_story(db_url: str) -> None:
    from crmflow import demo_case

    lines: list[str] = []
    demo_case.run(db_url, echo=lines.append)
    text = "\n".join(lines)
    for expected in (
        "case CAS-", "Technical Support", "'support' working time", "routed to Sue (sue) of Technical Support",
        "waits in queue service, assigned to sue", "Free the agent", "timer 'First response nearly due' fired",
        "Supervise case",
        "on hold", "Customer · message case_reply", "Resolve case", "How did we do?", "reopen",
        "timer 'Reply within 7 days?' fired", "end: Case closed",
    ):
        assert expected in text, expected
    final = text.split("Where the case stands:")[1]
    assert "Resolved (Problem Solved), closed" in final and "resolve: Closed (Succeeded)" in final
    # the demo's calendar works 08:00-18:00: a day on hold from Mon 10:50 (10 working hours) plus the
    # 2 days it sat resolved before the reopen (20 working hours): 30 h off the resolve-by clock
    assert "SLA KPI resolve: Closed (Succeeded)" in final and "paused 30 working h" in final
    assert "agent Sue (sue): assigned" in final and "still working it" not in final
    assert "INCIDENT" not in text


# -- business hours and routing to agents ------------------------------------------------------
def test_a_friday_afternoon_request_is_due_its_first_response_on_monday(db_url: str, clock: ManualClock) -> None:
    clock.set(datetime(2026, 1, 9, 16, 0, tzinfo=UTC))  # Friday 16:00, one working hour left
    seed(db_url, clock)
    story = Story(db_url, clock)
    try:
        story.start(case_type="Request", title="Please add a user")  # Normal: 4 h first response, 48 h resolve
        rec = story.records()
        monday_noon = datetime(2026, 1, 12, 12, 0, tzinfo=UTC)
        assert rec.first_response_by == monday_noon == working(clock.now(), 4)
        assert rec.kpis["first_response"][2:4] == (datetime(2026, 1, 12, 11, 0, tzinfo=UTC), monday_noon)
        assert rec.resolve_by == working(clock.now(), 48) == datetime(2026, 1, 19, 16, 0, tzinfo=UTC)
        assert story.task("work_case").follow_up_at == monday_noon and story.task("work_case").assignee == "cid"
        # the weekend passes without a warning: it is due Monday 11:00, three working hours in
        assert story.advance_to(datetime(2026, 1, 12, 10, 59, tzinfo=UTC)) == []
        assert story.advance(timedelta(minutes=1)) == ["sla_warning"]
        assert story.open_tasks() == ["supervise_case", "work_case"]
    finally:
        story.close()


def test_a_hold_over_the_weekend_keeps_the_working_time_left(db_url: str, clock: ManualClock) -> None:
    opened = datetime(2026, 1, 9, 15, 0, tzinfo=UTC)  # Friday 15:00, two working hours left
    clock.set(opened)
    seed(db_url, clock)
    story = Story(db_url, clock)
    try:
        story.start()  # High: 2 h first response, 16 h resolve
        resolve_by = story.records().resolve_by
        assert resolve_by == working(opened, 16) == datetime(2026, 1, 13, 15, 0, tzinfo=UTC)
        story.advance(timedelta(hours=1))
        story.complete("work_case", "ann", first_response_given=True, outcome="hold", hold_reason="Need the logs")
        held_at = clock.now()
        left = working_between(held_at, resolve_by)  # Fri 1 h, Mon 8 h, Tue 6 h
        assert story.advance_to(datetime(2026, 1, 12, 10, 0, tzinfo=UTC)) == []  # Monday 10:00
        story.reply(text="Here are the logs")
        pushed = working_between(held_at, clock.now())
        assert (left, pushed) == (15, 2)  # of the 66 h on hold, two were working hours
        rec = story.records()
        new_fail = working(clock.now(), left)
        assert rec.resolve_by == new_fail == working(resolve_by, pushed) == datetime(2026, 1, 13, 17, 0, tzinfo=UTC)
        assert rec.kpis["resolve"] == ("Active", "In Progress", working(opened, 12 + pushed), new_fail, 7200)
        assert story.timers() == [("sla_failure", new_fail, "pending")]
        assert story.task("work_case").due_at == new_fail
        assert story.advance_to(new_fail - SECOND) == []
        assert story.advance(SECOND) == ["sla_failure"]
        assert story.records().kpis["resolve"][:2] == ("Closed", "Noncompliant")
    finally:
        story.close()


def test_cases_go_to_the_least_busy_agent_with_the_skill_and_free_them_again(db_url: str, clock: ManualClock) -> None:
    seed(db_url, clock)
    stories = [Story(db_url, clock) for _ in range(3)]
    try:
        stories[0].start("CASE-1")
        stories[1].start("CASE-2")
        stories[2].start("CASE-3", language="de", title="Passwort vergessen")  # only ann speaks German
        assert [s.task("work_case").assignee for s in stories] == ["ann", "bob", "ann"]
        assert stories[2].records().assignments == [("ann", "Technical Support", True)]

        stories[0].complete("work_case", "ann", **RESOLVE)
        assert stories[0].records().assignments == [("ann", "Technical Support", False)]
        with pytest.raises(Exception, match="picked by bob"):  # the task is bob's
            stories[1].complete("work_case", "ann", **RESOLVE)
        stories[1].complete("work_case", "bob", first_response_given=False, outcome="cancel")
        assert stories[1].records().assignments == [("bob", "Technical Support", False)]
    finally:
        for s in stories:
            s.close()


def test_with_every_agent_busy_the_case_waits_unassigned_and_is_routed_when_it_comes_back(
    db_url: str, clock: ManualClock,
) -> None:
    seed(db_url, clock, capacity=1)  # Technical Support: ann and bob, one case each
    first, second, third = (Story(db_url, clock) for _ in range(3))
    try:
        first.start("CASE-1")
        second.start("CASE-2")
        third.start("CASE-3")
        assert [s.task("work_case").assignee for s in (first, second)] == ["ann", "bob"]
        waiting = third.task("work_case")
        assert (waiting.assignee, waiting.queue, waiting.candidate_groups) == (None, "service", ["service_agents"])
        # the routing raised no_resource: its boundary event took the case to the queue unassigned
        assert third.path()[-4:] == ["refresh_sla", "no_resource", "log_no_resource", "merge_routed"]
        assert [h.event for h in third.engine().history(third.iid)].count("error_thrown") == 1
        assert third.instance().data["routing"] is None and third.incidents() == []
        rec = third.records()
        assert rec.assignments == []
        assert rec.activities[-1] == ("service_activity", "Completed", "Completed",
                                      "No free agent in Technical Support for CAS-00003: it waits in the queue")

        first.complete("work_case", "ann", **RESOLVE)  # ann is free again
        # anyone of the queue may work the waiting case; asking for details routes it on the way back
        third.complete("work_case", "cid", first_response_given=True, outcome="more_info", info_request="Logs?")
        assert third.task("work_case").assignee == "ann"
        assert third.records().assignments == [("ann", "Technical Support", True)]
        assert third.path()[-2:] == ["route_case", "merge_routed"]
    finally:
        for s in (first, second, third):
            s.close()

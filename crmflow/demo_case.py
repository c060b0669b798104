"""The case-resolution chapter of `crmflow demo`, told through the engine facade on a manual clock.

A customer emails about a problem; the case is opened, checked against her entitlement,
triaged by the DMN table (priority, queue, SLA targets counted in the support team's working
hours) and put under SLA, with knowledge articles suggested, and routed to a free agent of
the team (the work task is assigned to her). Nobody answers in time, so the first-response
warning fires and the supervisor steps in; the agent answers and puts the case on hold (the
SLA clock stops) until the customer replies a day later; the case is resolved and surveyed
(the agent is freed), reopened by a second reply, resolved again, and closed when a week
passes without another reply.

Every choice is a facade call (`start`, `complete_task`, `correlate`, `fire_due_timers`)
and time passes by advancing the clock. `tell()` is the chapter, to be called by the main
demo with its engine and clock after the lead-to-invoice story; `run()` tells it alone.
Reference data (a customer, her entitlement, knowledge articles, the "support" calendar and
the service teams) is seeded once and reused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Engine, ManualClock
from engine.xml import parse_bytes

from .narration import Narration
from .settings import build_engine, lane_map, processes_folder

Echo = Callable[[str], None]

PROCESS_ID = "case_resolution"
KEY_PREFIX = "DEMO-CASE-"
BPMN_NS = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
PROCESSES = Path(__file__).resolve().parent.parent / "processes"
ENTITLEMENT = "Fabrikam Gold support"
CUSTOMER_EMAIL = "ines.garcia@fabrikam.example"
ARTICLES = [  # number, title, content, keywords
    ("KB-101", "Outlook sync fails after an update",
     "After a client update the Outlook add-in may lose its token: sign out, clear the cache, sign in again.",
     "outlook sync update add-in token"),
    ("KB-102", "Exporting contacts to CSV", "Use Export on the contact list to download a CSV file.", "export csv"),
    ("KB-103", "Collecting client log files",
     "Logs help support with sync problems: zip the logs folder and attach it to your reply.", "logs sync"),
]
REQUEST = {
    "title": "Outlook sync fails after the update",
    "origin": "Email",
    "customer_email": CUSTOMER_EMAIL,
    "case_type": "Problem",
    "description": "Since yesterday's update Outlook does not sync contacts any more.",
}
SHOWN_TYPES = {"ServiceTask", "BusinessRuleTask", "UserTask", "EndEvent", "IntermediateCatchEvent"}
#: the support team's working hours: SLA targets count only these (Mon–Fri, UTC)
CALENDAR = "support"
WORKING_DAY = [["08:00", "18:00"]]
#: one resource group per queue of the triage table; the agents who work them
TEAMS = ("Technical Support", "Customer Care", "Paid Support")
AGENTS = [  # name, login, capacity, skills, groups
    ("Sue", "sue", 5, ["en", "es"], TEAMS),
]


def run(db_url: str | None = None, echo: Echo = print, processes: Path | None = None) -> int:
    """Tell the case chapter on its own (fresh engine, manual clock at today 09:00 UTC)."""
    clock = ManualClock(datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0))
    folder = processes_folder(processes)
    eng = build_engine(db_url, clock, lanes=lane_map(folder))
    try:
        return tell(eng, clock, echo, folder)
    finally:
        eng.close()


def tell(eng: Engine, clock: ManualClock, echo: Echo = print, processes: Path | None = None,
         deploy: bool = True) -> int:
    """The chapter on an engine the caller owns; returns the case instance's id.

    The main demo passes its own engine and clock (and `deploy=False` once it has deployed
    `processes/`), so the case story follows the sales story on the same timeline.
    """
    story = CaseStory(eng, clock, echo, processes_folder(processes))
    story.tell(deploy)
    return story.instance_id


# -- reference data -----------------------------------------------------------------------
def seed_service_teams(session: Session, now: datetime) -> None:
    """The "support" calendar, a resource group per triage queue and their agents (missing ones only)."""
    from handlers.calendars import save_calendar
    from handlers.models import BusinessCalendar, Resource, ResourceGroup
    from handlers.resources import add_group, add_resource

    if session.scalars(select(BusinessCalendar).where(BusinessCalendar.name == CALENDAR)).first() is None:
        weekdays = ("mon", "tue", "wed", "thu", "fri")
        save_calendar(session, CALENDAR, "UTC", dict.fromkeys(weekdays, WORKING_DAY), now=now)
    for team in TEAMS:
        if session.scalars(select(ResourceGroup).where(ResourceGroup.name == team)).first() is None:
            add_group(session, team, now)
    for name, login, capacity, skills, groups in AGENTS:
        if session.scalars(select(Resource).where(Resource.name == name)).first() is None:
            add_resource(session, name, now, capacity=capacity, user_name=login, skills=skills, groups=groups)


def seed(eng: Engine, now: datetime) -> bool:
    """A customer with an entitlement in force, published articles, the support calendar and
    teams; True when created now."""
    from handlers import catalog
    from handlers import lifecycle as lc
    from handlers.models import Entitlement, KnowledgeArticle

    today = now.date()
    with eng.db.write() as session:
        seed_service_teams(session, now)
        existing = session.scalars(select(Entitlement).where(Entitlement.name == ENTITLEMENT)).first()
        if existing is not None:
            if existing.end_date < today:  # an old demo database: keep the customer covered
                existing.end_date = today + timedelta(days=365)
            if existing.remaining_terms < 1:
                existing.remaining_terms += Decimal(10)
            return False
        account = catalog.add_account(session, now, "Fabrikam Inc", region="EU-South")
        catalog.add_contact(session, now, "Garcia", "Ines", CUSTOMER_EMAIL, account_id=account.id)
        entitlement = Entitlement(
            name=ENTITLEMENT, account_id=account.id, allocation_type="cases", decrease_on="creation",
            total_terms=Decimal(10), remaining_terms=Decimal(10), start_date=date(today.year, 1, 1),
            end_date=today + timedelta(days=365), sla_name="Gold",
        )
        lc.ENTITLEMENT.start(entitlement, now, "Active")
        session.add(entitlement)
        for number, title, content, keywords in ARTICLES:
            if session.scalars(select(KnowledgeArticle).where(KnowledgeArticle.number == number)).first():
                continue
            article = KnowledgeArticle(number=number, title=title, content=content, keywords=keywords)
            lc.ARTICLE.start(article, now, "Published")
            article.published_at = now
            session.add(article)
        return True


# -- the story ----------------------------------------------------------------------------
@dataclass
class CaseStory(Narration):
    eng: Engine
    clock: ManualClock
    echo: Echo
    processes: Path
    instance_id: int = 0
    key: str = ""
    seen_history: int = 0
    lanes: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    day: str = ""

    # -- what describe() shows (crmflow.narration) -------------------------------------------
    shown_types = frozenset(SHOWN_TYPES)

    def choice_of(self, delta: dict[str, Any]) -> str:
        return choice_of(delta)

    def summarize(self, delta: dict[str, Any]) -> str:
        return summarize(delta)

    def tell(self, deploy: bool = True) -> None:
        self.echo("")
        self.echo("crmflow demo: a customer case under SLA")
        created = seed(self.eng, self.clock.now())
        self.echo(f"reference data: Fabrikam Inc, contact {CUSTOMER_EMAIL}, entitlement {ENTITLEMENT!r}, "
                  f"{len(ARTICLES)} knowledge articles, calendar {CALENDAR!r} (Mon-Fri "
                  f"{WORKING_DAY[0][0]}-{WORKING_DAY[0][1]} UTC), teams {', '.join(TEAMS)}"
                  + (" (seeded now)" if created else " (reused)"))
        if deploy:
            for v in self.eng.deploy([self.processes]).versions:
                if v.process_id == PROCESS_ID:
                    self.echo(f"deployed {v.process_id} v{v.version} ({'new version' if v.changed else 'unchanged'})")
        self.lanes = lanes_of(self.eng.diagram_source(PROCESS_ID))
        self.queues = {name: route.queue for name, route in lane_map(self.processes).lanes.items()}
        self.key = self.next_key()
        self.echo(f"business key {self.key}")
        self.chapter_open()
        self.chapter_hold()
        self.chapter_resolve_and_reopen()
        self.final_states()

    def next_key(self) -> str:
        keys = [i.business_key or "" for i in self.eng.list_instances(process_id=PROCESS_ID, limit=100_000)]
        numbers = [int(k[len(KEY_PREFIX):]) for k in keys if k.startswith(KEY_PREFIX) and k[len(KEY_PREFIX):].isdigit()]
        return f"{KEY_PREFIX}{max(numbers, default=0) + 1:04d}"

    # -- chapters -------------------------------------------------------------------------
    def chapter_open(self) -> None:
        self.say("Customer", f"email from {CUSTOMER_EMAIL}: {REQUEST['title']!r}")
        inst = self.eng.start(PROCESS_ID, {"request": REQUEST}, business_key=self.key, user="email-to-case")
        self.instance_id = inst.id
        self.narrate()
        data = self.variables()
        sla = data["sla"]
        self.say("Engine", f"SLA ({data['sla_calendar']} working hours): first response by "
                           f"{short(sla['first_response_by'])}, resolve by {short(sla['resolve_by'])}")
        articles = data["suggestions"]["articles"]
        self.say("Engine", "suggested articles: " + ("; ".join(f"{a['number']} {a['title']}" for a in articles)
                                                     or "none"))
        routing = data.get("routing")
        self.say("Engine", f"routed to {routing['resource']} ({routing['assignee']}) of {routing['group']}"
                 if routing else "nobody free in the team: the case waits in the queue unassigned")
        # nobody answers in time: the first-response warning fires (in working hours)
        warning = datetime.fromisoformat(sla["kpis"]["first_response"]["warning_at"])
        self.pass_time(max(warning - self.clock.now(), timedelta(0)), fire=True)
        self.pass_time(timedelta(minutes=10))
        self.complete("supervise_case", "sam", {"supervisor_action": "coach agent",
                                                "supervisor_note": "Answer Ines now, then look at the sync logs"})

    def chapter_hold(self) -> None:
        self.pass_time(timedelta(minutes=10))
        self.complete("work_case", self.agent(), {"first_response_given": True, "outcome": "hold",
                                           "hold_reason": "Waiting for the customer's log files"})
        self.say("Service Agent", "case on hold: the SLA clock stops until the customer replies")
        self.pass_time(timedelta(days=1), fire=True)
        self.send({"text": "Here are the log files"})
        self.say("Engine", f"SLA clock resumed; resolve by is now {short(self.variables()['sla']['resolve_by'])}")

    def chapter_resolve_and_reopen(self) -> None:
        self.pass_time(timedelta(hours=2), fire=True)
        self.complete("work_case", self.agent(), {
            "first_response_given": False, "outcome": "resolve", "resolution_type": "Problem Solved",
            "resolution_summary": "Reset the add-in token (KB-101)", "time_spent_minutes": 45,
        })
        self.pass_time(timedelta(days=2), fire=True)
        self.send({"text": "It works on my PC but not on my laptop"})
        self.say("Engine", "the reply on a resolved case reopens it")
        self.pass_time(timedelta(hours=1), fire=True)
        self.complete("work_case", self.agent(), {
            "first_response_given": False, "outcome": "resolve", "resolution_type": "Problem Solved",
            "resolution_summary": "Same fix on the laptop", "time_spent_minutes": 15,
        })
        self.pass_time(timedelta(days=7), fire=True)
        inst = self.eng.get_instance(self.instance_id, with_history=False)
        self.echo(f"instance {inst.id} ({inst.business_key}) is {inst.status}")

    # -- facade calls beyond the shared ones (crmflow.narration) ------------------------------
    def agent(self) -> str:
        """Who works the case: the agent it was routed to, else one from the queue."""
        return self.open_task("work_case").assignee or AGENTS[0][1]

    def send(self, payload: dict[str, Any]) -> None:
        self.correlate("case_reply", self.key, payload, f"message case_reply {json.dumps(payload)}")

    # -- the end --------------------------------------------------------------------------
    def final_states(self) -> None:
        self.echo("")
        self.echo("Where the case stands:")
        case_id = self.variables()["case"]["case_id"]
        with self.eng.db.read() as session:
            for line in case_lines(session, case_id, self.instance_id):
                self.echo("  " + line)


def lanes_of(source: bytes) -> dict[str, str]:
    """Element id → lane name, read from the deployed diagram."""
    tree = parse_bytes(source, f"{PROCESS_ID}.bpmn")
    return {
        (ref.text or "").strip(): lane.get("name", "")
        for lane in tree.getroot().iter(f"{BPMN_NS}lane")
        for ref in lane.iter(f"{BPMN_NS}flowNodeRef")
    }


def short(iso: str | None) -> str:
    return "-" if not iso else datetime.fromisoformat(iso).strftime("%a %d %b %H:%M")


def choice_of(delta: dict[str, Any]) -> str:
    """The deciding field of a case form and what was chosen."""
    for field_name in ("outcome", "decision", "supervisor_action", "breach_action"):
        if field_name in delta:
            return str(delta[field_name])
    return json.dumps(delta, default=str)


def summarize(delta: dict[str, Any]) -> str:
    """One short phrase for what a service, rule or catch event produced."""
    if "priority" in delta and "queue" in delta:
        return (f"{delta['priority']} priority, queue {delta['queue']}, first response within "
                f"{delta.get('first_response_hours')} h, resolve within {delta.get('resolve_hours')} h"
                + (f" of {delta['sla_calendar']!r} working time" if delta.get("sla_calendar") else ""))
    for value in delta.values():
        if isinstance(value, dict):
            return describe_record(value)
    return ""


def describe_record(view: dict[str, Any]) -> str:
    if "assignee" in view and "resource" in view:
        return f"{view['resource']} ({view['assignee']}) of {view['group']} has it, {view['open_items']} open item(s)"
    if "released" in view:
        return f"agent freed ({view['released']} assignment(s) closed)"
    if "kpis" in view:
        kpis = ", ".join(f"{name} {kpi['status']}" for name, kpi in view["kpis"].items())
        text = f"case {view['number']} {view['state']}/{view['status']}" + (f"; SLA {kpis}" if kpis else "")
        if view.get("reopened_count"):
            text += f"; reopened {view['reopened_count']} time(s)"
        return text
    if "origin" in view and "activity_id" in view:
        return f"case {view['number']} opened from {view['origin']} ({view['activity_type']} logged on it)"
    if "closed" in view:
        return f"case {view['number']} " + ("closed for good" if view["closed"] else "left open")
    if "outbox_key" in view:
        return f"survey email to {view['to']}: {view['subject']!r}"
    if "articles" in view:
        return f"{len(view['articles'])} article(s) linked to the case"
    if "entitlement_id" in view and "remaining_terms" in view:
        return f"entitlement {view['name']!r}, {view['remaining_terms']} term(s) left"
    if "activity_id" in view:
        return f"{view['activity_type']} activity #{view['activity_id']} {view['state']}"
    if "case_id" in view and "number" in view:
        return f"case {view['number']} {view['state']}/{view['status']}"
    if "text" in view:
        return f"reply: {view['text']!r}"
    return json.dumps(view, default=str)


def case_lines(session: Session, case_id: int, instance_id: int) -> list[str]:
    """The case and everything about it, one line per record."""
    from engine.read_model import OutboxMessage
    from handlers.models import (
        Activity,
        Case,
        CaseArticle,
        CaseResolution,
        KnowledgeArticle,
        Resource,
        ResourceAssignment,
        SlaKpiInstance,
    )

    case = session.get(Case, case_id)
    closed = f", closed {case.closed_at:%a %d %b %H:%M}" if case.closed_at else ""
    lines = [f"case {case.number} {case.title!r}: {case.state} ({case.status}){closed}, {case.priority} priority, "
             f"queue {case.queue}, reopened {case.reopened_count} time(s)"]
    for kpi in session.scalars(select(SlaKpiInstance).where(SlaKpiInstance.case_id == case_id)
                               .order_by(SlaKpiInstance.kpi)):
        lines.append(f"SLA KPI {kpi.kpi}: {kpi.state} ({kpi.status}), failure time {kpi.failure_at:%a %d %b %H:%M}, "
                     f"paused {kpi.paused_seconds // 3600} {'working ' if kpi.calendar else ''}h")
    for res in session.scalars(select(CaseResolution).where(CaseResolution.case_id == case_id)
                               .order_by(CaseResolution.id)):
        lines.append(f"resolution {res.resolution_type}: {res.subject!r} at {res.resolved_at:%a %d %b %H:%M}")
    links = session.execute(select(KnowledgeArticle.number, KnowledgeArticle.title, CaseArticle.rank)
                            .join(CaseArticle, CaseArticle.article_id == KnowledgeArticle.id)
                            .where(CaseArticle.case_id == case_id).order_by(CaseArticle.rank))
    for number, title, rank in links:
        lines.append(f"suggested article #{rank}: {number} {title!r}")
    for a in session.scalars(select(Activity).where(Activity.regarding_type == "case", Activity.regarding_id == case_id)
                             .order_by(Activity.id)):
        lines.append(f"activity #{a.id} {a.activity_type}: {a.subject!r}, {a.state} ({a.status})")
    held = session.execute(select(Resource.name, Resource.user_name, ResourceAssignment.assigned_at,
                                  ResourceAssignment.released_at)
                           .join(Resource, Resource.id == ResourceAssignment.resource_id)
                           .where(ResourceAssignment.regarding_type == "case",
                                  ResourceAssignment.regarding_id == case_id)
                           .order_by(ResourceAssignment.id))
    for name, login, assigned, released in held:
        until = f", freed {released:%a %d %b %H:%M}" if released else ", still working it"
        lines.append(f"agent {name} ({login}): assigned {assigned:%a %d %b %H:%M}{until}")
    for msg in session.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == instance_id)
                               .order_by(OutboxMessage.id)):
        lines.append(f"outbox {msg.channel} to {msg.payload.get('to')}: {msg.payload.get('subject')!r} ({msg.state})")
    return lines

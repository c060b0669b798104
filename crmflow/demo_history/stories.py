"""The demo history's stories: a `Timeline` that resumes them in time order on a manual clock
(firing due timers on the way), and `History`, whose lead, campaign, case and supervisor
stories drive the processes through the engine facade as the plans say.

Split from `crmflow.demo_history`.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine import Engine, EngineError, ManualClock
from engine.clock import ensure_utc

from .plans import (
    DAYS,
    DISQUALIFY_REASONS,
    MARKETER,
    MARKETING_MANAGER,
    QUOTAS,
    SALES_MANAGER,
    SEED,
    STALLED,
    SUPERVISOR,
    WORKER,
    CampaignPlan,
    CasePlan,
    LeadPlan,
    Reference,
    campaign_plans,
    case_plans,
    lead_plans,
    make_lead_plan,
    on_duty,
    quarter_of,
    work_hours_after,
)
from .reference import seed_reference

Echo = Callable[[str], None]
#: a story acts, then yields when it wants to act next
Story = Generator[datetime, None, None]


class Timeline:
    """Resumes stories in time order on a manual clock, firing due timers on the way."""

    def __init__(self, eng: Engine, clock: ManualClock, start: datetime, end: datetime, echo: Echo,
                 progress: Callable[[], str]) -> None:
        self.eng, self.clock, self.start, self.end, self.echo = eng, clock, start, end, echo
        self.progress = progress
        self.queue: list[tuple[datetime, int, str, Story]] = []
        self.order = itertools.count()
        self.notes: list[str] = []
        self.shown_day = 0

    def spawn(self, at: datetime, label: str, story: Story) -> None:
        heapq.heappush(self.queue, (at, next(self.order), label, story))

    def run(self) -> None:
        while self.queue:
            at, _, label, story = heapq.heappop(self.queue)
            if at > self.end:
                continue  # what would happen after now has not happened: it stays open
            self.advance(max(at, self.clock.now()))
            try:
                following = next(story)
            except StopIteration:
                continue
            except EngineError as err:  # one story that cannot go on stops; the others go on
                self.notes.append(f"{label} stopped at {self.clock.now():%Y-%m-%d %H:%M}: {err}")
                continue
            self.spawn(max(following, self.clock.now()), label, story)
        self.advance(self.end)

    def advance(self, to: datetime) -> None:
        """Move the clock to `to`, firing each timer at the time it falls due."""
        while True:
            due = self.eng.next_due_at()
            if due is None or due > to:
                break
            self.clock.set(max(due, self.clock.now()))
            done = self.eng.tick(worker=WORKER)
            if not (done.timers_fired or done.incidents_retried or done.jobs_run):
                break
        self.clock.set(max(to, self.clock.now()))
        day = (self.clock.now() - self.start).days
        if day >= self.shown_day + 20:
            self.shown_day = day - day % 20
            self.echo(f"  history: day {day} of {(self.end - self.start).days} ({self.clock.now():%Y-%m-%d}), "
                      f"{self.progress()}")


@dataclass
class HistoryReport:
    created: bool
    leads: int = 0
    campaign_leads: int = 0
    campaigns: int = 0
    cases: int = 0
    quotas: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not self.created:
            return ["history already there (business keys HIST-...), nothing added"]
        return [f"history of {DAYS} days: {self.leads} leads (+{self.campaign_leads} from campaigns), "
                f"{self.campaigns} campaigns, {self.cases} cases, {self.quotas} quotas in {self.seconds:.1f} s",
                *(f"note: {n}" for n in self.notes)]


class History:
    """The stories of the simulated past and the facade calls they make."""

    def __init__(self, eng: Engine, clock: ManualClock, start: datetime, end: datetime, echo: Echo) -> None:
        self.eng, self.clock, self.start, self.end, self.echo = eng, clock, start, end, echo
        self.rng = random.Random(SEED)
        self.report = HistoryReport(created=True)
        self.timeline = Timeline(eng, clock, start, end, echo, self.progress)
        self.reference: Reference | None = None

    def progress(self) -> str:
        r = self.report
        return f"{r.leads + r.campaign_leads} leads, {r.campaigns} campaigns, {r.cases} cases so far"

    def run(self) -> HistoryReport:
        self.echo(f"demo history: {DAYS} days up to {self.end:%Y-%m-%d %H:%M} UTC (once per database)")
        self.reference = seed_reference(self.eng, self.start, self.rng)
        for plan in lead_plans(self.rng, self.end):
            self.timeline.spawn(plan.at, plan.key, self.lead_story(plan))
        for cplan in campaign_plans(self.reference):
            self.timeline.spawn(self.end - timedelta(days=cplan.age_days), cplan.key, self.campaign_story(cplan))
        for case in case_plans(self.rng, self.end, self.reference):
            self.timeline.spawn(case.at, case.key, self.case_story(case))
        self.timeline.spawn(on_duty(self.start), "supervisor", self.supervisor_story())
        self.timeline.run()
        self.report.quotas = self.set_quotas()
        self.report.notes += self.timeline.notes
        return self.report

    # -- facade calls ---------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def task(self, instance_id: int, element_id: str) -> Any:
        return next((t for t in self.eng.list_tasks(instance_id=instance_id) if t.element_id == element_id), None)

    def expect(self, instance_id: int, element_id: str, label: str) -> Any:
        task = self.task(instance_id, element_id)
        if task is None:
            open_now = [t.element_id for t in self.eng.list_tasks(instance_id=instance_id)]
            status = self.eng.get_instance(instance_id, with_history=False).status
            if status == "waiting" or open_now:
                self.timeline.notes.append(f"{label}: expected task {element_id}, open are {open_now or 'none'}")
        return task

    def complete(self, task: Any, user: str, data: dict[str, Any]) -> None:
        self.eng.complete_task(task.id, user=task.assignee or user, data=data)

    # -- sales ------------------------------------------------------------------------------
    def lead_story(self, plan: LeadPlan) -> Story:
        inst = self.eng.start("lead_to_invoice", {"inquiry": plan.inquiry}, business_key=plan.key,
                              user=plan.inquiry["lead_source"].lower().replace(" ", "-"))
        self.report.leads += 1
        yield from self.sell(inst.id, plan.key, plan)

    def sell(self, instance_id: int, key: str, plan: LeadPlan) -> Story:
        """One deal from "Qualify lead" on, as its fate has it."""
        rng = random.Random(plan.seed)
        yield work_hours_after(self.now(), rng.uniform(0.5, 16))
        task = self.expect(instance_id, "qualify_task", key)
        if task is None:
            return
        if plan.fate == "disqualify":
            reason = rng.choice(DISQUALIFY_REASONS)
            self.complete(task, plan.rep, {"decision": "disqualify", "disqualify_reason": reason})
            return
        work_days = rng.uniform(2, 10)
        answer_days = rng.uniform(2, 8)
        close = self.now() + timedelta(days=work_days + answer_days + rng.uniform(0, 10))
        if plan.fate in STALLED:  # open at the end: expected to close over the next two quarters
            close = self.end + timedelta(days=rng.uniform(5, 175))
        self.complete(task, plan.rep, {
            "decision": "qualify", "price_list_id": self.reference.price_list_id, "estimated_value": plan.value,
            "estimated_close_date": close.date().isoformat(),
            "probability": {"Hot": 40, "Warm": 25}.get(self.rating_of(plan.email), 10),
        })
        opportunity = self.opportunity_of(plan.email)
        if plan.fate == "stall_work":
            return  # still being worked: the follow-up reminder fires every few days
        yield work_hours_after(self.now() + timedelta(days=work_days), rng.uniform(0, 6))
        task = self.expect(instance_id, "work_opportunity", key)
        if task is None:
            return
        if plan.fate == "lost":
            self.complete(task, plan.rep, {"outcome": "lost", "lost_reason": rng.choice(("Out-Sold", "Canceled")),
                                           "lost_description": rng.choice(("Went with a competitor", "No budget",
                                                                           "Project postponed"))})
            return
        valid = {"expire": 14, "stall_quote": 90}.get(plan.fate, 30)
        self.complete(task, plan.rep, {"outcome": "quote", "quote_lines": plan.lines, "discount_percent": plan.discount,
                                       "tax_rate": 20, "quote_valid_days": valid, "probability": 60})
        if self.task(instance_id, "approve_discount") is not None:
            yield work_hours_after(self.now(), rng.uniform(1, 12))
            task = self.expect(instance_id, "approve_discount", key)
            if task is None:
                return
            if plan.discount > 15:
                self.complete(task, SALES_MANAGER, {"approval": "reject", "revised_discount_percent": 10,
                                                    "manager_comment": "10% is the most we give"})
            else:
                self.complete(task, SALES_MANAGER, {"approval": "approve", "manager_comment": "Fine for this account"})
        if plan.fate in ("expire", "stall_quote"):
            return  # no answer: the quote's validity runs out (or has not yet)
        yield self.now() + timedelta(days=answer_days)
        if plan.fate == "reject":
            self.eng.correlate("quote_rejected", key=key, data={"revise": False, "reason": "Too expensive"})
            return
        if plan.fate == "revise":
            self.eng.correlate("quote_rejected", key=key, data={"revise": True, "discount_percent": 8})
            yield self.now() + timedelta(days=rng.uniform(2, 5))
        self.eng.correlate("quote_accepted", key=key, data={"accepted_by": plan.inquiry["last_name"]})
        yield from self.pay(key, plan, opportunity, rng)

    def pay(self, key: str, plan: LeadPlan, opportunity: int | None, rng: random.Random) -> Story:
        if plan.fate == "unpaid":
            return  # the invoice goes overdue and the weekly reminder keeps firing
        reference = f"{plan.inquiry['company_name'][:3].upper()}-{rng.randint(1000, 9999)}"
        if plan.fate == "partial":
            yield self.now() + timedelta(days=rng.uniform(8, 20))
            part = (self.balance(opportunity) * Decimal("0.4")).quantize(Decimal("0.01"))
            self.eng.correlate("payment_received", key=key, data={"amount": str(part), "method": "bank transfer",
                                                                  "reference": reference})
            yield self.now() + timedelta(days=rng.uniform(25, 40))
        elif plan.fate == "late":
            yield self.now() + timedelta(days=rng.uniform(38, 55))
        else:
            yield self.now() + timedelta(days=rng.uniform(5, 26))
        amount = self.balance(opportunity)
        if plan.fate == "overpaid":  # paid twice by mistake: refused, an incident for billing to sort out
            amount += Decimal("250.00")
        self.eng.correlate("payment_received", key=key, data={"amount": str(amount), "method": "bank transfer",
                                                              "reference": reference})

    # -- records the stories read ----------------------------------------------------------
    def opportunity_of(self, email: str) -> int | None:
        from handlers.models import Lead

        with self.eng.db.read() as session:
            return session.scalars(select(Lead.qualified_opportunity_id).where(Lead.email_normalized == email.lower())
                                   .order_by(Lead.id.desc())).first()

    def rating_of(self, email: str) -> str | None:
        from handlers.models import Lead

        with self.eng.db.read() as session:
            return session.scalars(select(Lead.rating).where(Lead.email_normalized == email.lower())
                                   .order_by(Lead.id.desc())).first()

    def balance(self, opportunity: int | None) -> Decimal:
        from handlers.models import Invoice

        with self.eng.db.read() as session:
            invoice = session.scalars(select(Invoice).where(Invoice.opportunity_id == opportunity)
                                      .order_by(Invoice.id.desc())).first()
            return invoice.balance if invoice is not None else Decimal("0")

    # -- marketing --------------------------------------------------------------------------
    def campaign_story(self, plan: CampaignPlan) -> Story:
        rng = random.Random(f"{SEED}:{plan.key}")
        list_id = self.reference.lists[plan.list_name]
        inst = self.eng.start(plan.process, business_key=plan.key, user=MARKETER)
        self.report.campaigns += 1
        yield work_hours_after(self.now(), rng.uniform(1, 4))
        subject = "{{ member.first_name }}, " + plan.name.lower()
        body = "Hello {{ member.first_name }},\n\nour " + plan.name.lower() + " is on: see what crmflow can do.\n"
        if plan.process == "quick_campaign":
            task = self.expect(inst.id, "set_up_quick", plan.key)
            if task is None:
                return
            self.complete(task, MARKETER, {"name": plan.name, "list_id": list_id, "subject": subject, "body": body,
                                           **plan.plan})
        else:
            task = self.expect(inst.id, "plan_campaign", plan.key)
            if task is None:
                return
            self.complete(task, MARKETER, {"name": plan.name, "list_id": list_id, "subject": subject, "body": body,
                                           **plan.plan})
            yield work_hours_after(self.now(), rng.uniform(2, 10))
            task = self.expect(inst.id, "approve_campaign", plan.key)
            if task is None:
                return
            decision = {"approval": "approve", "manager_comment": "Go ahead"} if plan.approve else \
                {"approval": "reject", "manager_comment": "No budget for fairs this year"}
            self.complete(task, MARKETING_MANAGER, decision)
        launched = self.now()
        for response in sorted(plan.responses, key=lambda r: r.after_days):
            yield launched + timedelta(days=response.after_days, hours=rng.uniform(0, 8))
            person = response.person
            self.eng.correlate("campaign_response", key=plan.key, data={
                "email": person["email"], "response_code": response.code, "first_name": person["first_name"],
                "last_name": person["last_name"], "company_name": person["company_name"],
                "subject": f"Re: {plan.name}",
            })
            if response.code == "Interested":
                self.hand_over(person, response.fate, rng)

    def hand_over(self, person: dict[str, str], fate: str, rng: random.Random) -> None:
        """The response became a lead and campaign_handover runs lead-to-invoice for it: sell it."""
        from handlers.models import Lead

        with self.eng.db.read() as session:
            lead_id = session.scalars(select(Lead.id).where(Lead.email_normalized == person["email"])
                                      .order_by(Lead.id.desc())).first()
        handed = self.eng.list_instances(process_id="campaign_handover", business_key=f"LEAD-{lead_id}", limit=1)
        if not handed:  # a hand-over keyed otherwise: find it by the lead it carries
            handed = [i for i in self.eng.list_instances(process_id="campaign_handover", limit=5)
                      if self.eng.get_instance(i.id, with_history=False).data.get("lead_id") == lead_id]
        if not handed:
            self.timeline.notes.append(f"campaign lead {person['email']}: no campaign_handover instance")
            return
        plan = make_lead_plan(rng, self.now(), fate, person)
        plan.key = handed[0].business_key or ""
        plan.seed = f"{SEED}:{plan.key}:{lead_id}"
        self.report.campaign_leads += 1
        self.timeline.spawn(self.now(), f"campaign lead {lead_id}", self.sell(handed[0].id, plan.key, plan))

    # -- service ----------------------------------------------------------------------------
    def case_story(self, plan: CasePlan) -> Story:
        rng = random.Random(plan.seed)
        origin_user = {"Email": "email-to-case", "Phone": plan.agent, "Web": "web-form"}[plan.request["origin"]]
        inst = self.eng.start("case_resolution", {"request": plan.request}, business_key=plan.key, user=origin_user)
        self.report.cases += 1
        iid = inst.id
        if self.task(iid, "offer_paid_support") is not None:
            yield work_hours_after(self.now(), rng.uniform(0.3, 3))
            task = self.expect(iid, "offer_paid_support", plan.key)
            if task is None:
                return
            accept = rng.random() < 0.7
            self.complete(task, plan.agent, {"decision": "accept" if accept else "decline",
                                             "paid_support_note": f"PO-{rng.randint(1000, 9999)}" if accept else None})
            if not accept:
                return
        if plan.fate == "untouched":
            return  # nobody has picked it up yet
        yield self.first_touch(iid, plan, rng)
        task = self.expect(iid, "work_case", plan.key)
        if task is None:
            return
        summary = {"first_response_given": True, "outcome": "resolve", "resolution_type": "Problem Solved",
                   "resolution_summary": "Fixed with the customer on the phone",
                   "time_spent_minutes": rng.choice((15, 20, 30, 45, 60, 90))}
        if plan.request["case_type"] == "Question":
            summary.update(resolution_type="Information Provided", resolution_summary="Sent the how-to article")
        if plan.fate == "cancel":
            self.complete(task, plan.agent, {"first_response_given": True, "outcome": "cancel"})
            return
        if plan.fate in ("hold", "hold_open"):
            self.complete(task, plan.agent, {"first_response_given": True, "outcome": "hold",
                                             "hold_reason": "Waiting for the customer's log files"})
            if plan.fate == "hold_open":
                return
            yield self.now() + timedelta(days=rng.uniform(0.5, 3))
            self.eng.correlate("case_reply", key=plan.key, data={"text": "Here are the log files"})
            yield work_hours_after(self.now(), rng.uniform(1, 6))
        elif plan.fate in ("more_info", "more_info_open"):
            self.complete(task, plan.agent, {"first_response_given": True, "outcome": "more_info",
                                             "info_request": "Which version do you use?"})
            if plan.fate == "more_info_open":
                return
            yield work_hours_after(self.now(), rng.uniform(2, 8))
        task = self.expect(iid, "work_case", plan.key)
        if task is None:
            return
        self.complete(task, plan.agent, summary)
        if plan.fate != "reopen":
            return
        yield self.now() + timedelta(days=rng.uniform(1, 5))
        self.eng.correlate("case_reply", key=plan.key, data={"text": "It is broken again"})
        yield work_hours_after(self.now(), rng.uniform(1, 5))
        task = self.expect(iid, "work_case", plan.key)
        if task is not None:
            self.complete(task, plan.agent, {**summary, "first_response_given": False,
                                             "resolution_summary": "Fixed for good this time"})

    def first_touch(self, instance_id: int, plan: CasePlan, rng: random.Random) -> datetime:
        """When the agent first works the case: before the first-response warning, just after
        it (the supervisor has been called), or only after the resolve-by time has passed."""
        from handlers.models import Case, SlaKpiInstance

        now = self.now()
        data = self.eng.get_instance(instance_id, with_history=False).data
        case_id = (data.get("case") or {}).get("case_id")
        with self.eng.db.read() as session:
            case = session.get(Case, case_id) if case_id else None
            kpis = {k.kpi: k for k in session.scalars(select(SlaKpiInstance).where(SlaKpiInstance.case_id == case_id))}
            first = kpis.get("first_response")
            if case is None or first is None:
                return work_hours_after(now, rng.uniform(0.5, 4))
            warning, failure = ensure_utc(first.warning_at), ensure_utc(first.failure_at)
            resolve_by = ensure_utc(case.resolve_by) if case.resolve_by else failure
        if plan.fate == "warned":
            return warning + (failure - warning) * rng.uniform(0.2, 0.7)
        if plan.fate == "breached":
            return resolve_by + timedelta(hours=rng.uniform(1, 6))
        base = min(on_duty(now), warning)
        return base + (warning - base) * rng.uniform(0.15, 0.8)

    def supervisor_story(self) -> Story:
        """The supervisor looks at the supervisors' queue a few times a day."""
        while True:
            for task in self.eng.list_tasks(process_id="case_resolution", limit=1000):
                if ensure_utc(task.created_at) > self.now() - timedelta(minutes=15):
                    continue
                if task.element_id == "supervise_case":
                    self.complete(task, SUPERVISOR, {"supervisor_action": "coach agent",
                                                     "supervisor_note": "Answer the customer now"})
                elif task.element_id == "review_breach":
                    self.complete(task, SUPERVISOR, {"breach_action": "apology",
                                                     "breach_note": "Apologise and explain the delay"})
            yield work_hours_after(self.now(), 2)

    # -- quotas -----------------------------------------------------------------------------
    def set_quotas(self) -> int:
        try:
            from handlers.quotas import set_quota
        except ImportError:
            self.report.notes.append("no quotas: handlers.quotas is not there yet")
            return 0
        this_start, this_end = quarter_of(self.end.date())
        last_start, last_end = quarter_of(this_start - timedelta(days=1))
        count = 0
        with self.eng.db.write() as session:
            for rep, target in QUOTAS.items():
                for start, end_day, factor in ((last_start, last_end, Decimal("0.9")), (this_start, this_end, 1)):
                    set_quota(session, rep, start, end_day, Decimal(target) * factor, self.end, team="sales")
                    count += 1
        return count

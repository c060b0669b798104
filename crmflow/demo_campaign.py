"""The campaign chapter of `crmflow demo`: a two-wave email campaign told through the facade.

A marketer plans a campaign over a dynamic list (contacts aged 25–35 in EU-South), a
marketing manager approves it, wave 1 goes out, one contact answers "Interested" (the
response becomes a lead that keeps the campaign as its source) and another asks to hear no
more; wave 2 is resolved again and skips them; after the last response window the
campaign is completed and its ROI computed. Emails are delivered over SMTP when
`CRMFLOW_SMTP_HOST` is set, else they wait in the outbox.

Call it on an engine whose `processes/` are deployed, sharing the demo's clock:
`tell_campaign(eng, clock, echo)`; `run(db_url)` tells it on its own. Reference data is
seeded once and reused, each run takes a new business key (`DEMO-CMP-0001`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine import Engine, ManualClock, ServiceContext

from .mail import senders_from_env
from .settings import build_engine, lane_map, processes_folder

Echo = Callable[[str], None]

PROCESS_ID = "campaign_execution"
KEY_PREFIX = "DEMO-CMP-"
LIST_NAME = "Demo: EU-South contacts aged 25-35"
CRITERIA = {"region": "EU-South", "age_min": 25, "age_max": 35}
PROCESSES = Path(__file__).resolve().parent.parent / "processes"
#: first, last, age in years today, region — the first three match the list's criteria
CONTACTS = [
    ("Lucia", "Ferrari", 29, "EU-South"),
    ("Marco", "Bianchi", 34, "EU-South"),
    ("Sofia", "Costa", 27, "EU-South"),
    ("Pedro", "Alves", 52, "EU-South"),
    ("Hanna", "Berg", 31, "EU-North"),
]
PLAN = {
    "budget": 1500,
    "channel": "email",
    "waves": 2,
    "response_window_days": 7,
    "wave_cost": 200,
    "subject": "{{ member.first_name }}, spring offer (wave {{ activity.wave }})",
    "body": "Hello {{ member.first_name }},\n\nour spring prices for {{ campaign.name }} end soon.\n",
}


@dataclass
class CampaignOutcome:
    """What the chapter leaves for the rest of the demo (e.g. a lead-to-invoice story)."""

    business_key: str
    instance_id: int
    campaign_id: int
    lead_ids: list[int]
    roi: dict[str, Any]


def run(db_url: str | None = None, echo: Echo = print, processes: Path | None = None) -> CampaignOutcome:
    """Deploy `processes/` and tell the campaign chapter on its own."""
    clock = ManualClock(datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0))
    folder = processes_folder(processes)
    eng = build_engine(db_url, clock, lanes=lane_map(folder))
    try:
        eng.deploy([folder])
        return tell_campaign(eng, clock, echo)
    finally:
        eng.close()


def tell_campaign(eng: Engine, clock: ManualClock, echo: Echo) -> CampaignOutcome:
    """Seed (once), run one campaign from plan to ROI, print each step and where the records stand."""
    return CampaignStory(eng, clock, echo).tell()


def _years_ago(today: date, years: int) -> date:
    """A birthdate making someone `years` old today (29 February → 28 February)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def seed(eng: Engine) -> tuple[int, dict[str, str], bool]:
    """The demo contacts and the dynamic list; reused when an earlier run made them."""
    from handlers import catalog
    from handlers.marketing.lists import create_list
    from handlers.models import Contact, MarketingList

    now = eng.now()
    emails = {}
    with eng.db.write() as session:
        created = False
        for first, last, age, region in CONTACTS:
            email = f"{first.lower()}.{last.lower()}@demo.example"
            emails[first] = email
            if session.scalars(select(Contact.id).where(Contact.email_normalized == email)).first() is None:
                catalog.add_contact(session, now, last, first, email, _years_ago(now.date(), age) - timedelta(days=30),
                                    region)
                created = True
        existing = session.scalars(select(MarketingList.id).where(MarketingList.name == LIST_NAME)).first()
        if existing is not None:
            return existing, emails, created
        ctx = ServiceContext(session=session, instance_id=0, process_id="demo", business_key=None,
                             element_id="seed", task_id=f"demo-seed-{now.isoformat()}", now=now)
        mlist = create_list(ctx, name=LIST_NAME, member_type="contact", dynamic=True, criteria=CRITERIA)
        return mlist["list_id"], emails, True


@dataclass
class CampaignStory:
    eng: Engine
    clock: ManualClock
    echo: Echo
    instance_id: int = 0
    seen: int = 0
    sent: int = 0

    def tell(self) -> CampaignOutcome:
        self.echo("crmflow demo: campaign execution")
        list_id, emails, created = seed(self.eng)
        self.echo(f"reference data: {len(CONTACTS)} contacts, dynamic list {LIST_NAME!r} "
                  + ("(seeded now)" if created else "(already there from an earlier run, reused)"))
        key = self.next_key()
        inst = self.eng.start(PROCESS_ID, business_key=key, user="mia")
        self.instance_id = inst.id
        self.echo(f"business key {key}")
        self.narrate()
        self.complete("plan_campaign", "mia", {"name": f"Spring offer ({key})", "list_id": list_id, **PLAN})
        self.clock.advance(timedelta(hours=3))
        self.complete("approve_campaign", "max", {"approval": "approve", "manager_comment": "Go ahead"})
        self.deliver()
        self.clock.advance(timedelta(days=2))
        wave = self.data()["wave_activity"]["campaign_activity_id"]
        self.respond(emails["Lucia"], "Interested", subject="Spring offer: a quote for 12 seats, please",
                     campaign_activity_id=wave)
        self.respond(emails["Sofia"], "Do Not Send Marketing Materials", response_text="Please remove me")
        for _ in range(2):  # the end of each response window
            self.clock.set(self.window_end())
            self.eng.fire_due_timers()
            self.narrate()
            self.deliver()
        return self.finish(key)

    # -- facade calls ---------------------------------------------------------------------
    def next_key(self) -> str:
        keys = [i.business_key or "" for i in self.eng.list_instances(process_id=PROCESS_ID, limit=100_000)]
        numbers = [int(k[len(KEY_PREFIX):]) for k in keys if k.startswith(KEY_PREFIX) and k[len(KEY_PREFIX):].isdigit()]
        return f"{KEY_PREFIX}{max(numbers, default=0) + 1:04d}"

    def complete(self, element_id: str, user: str, data: dict[str, Any]) -> None:
        task = next(t for t in self.eng.list_tasks(instance_id=self.instance_id) if t.element_id == element_id)
        self.eng.complete_task(task.id, user=user, data=data)
        self.narrate()

    def respond(self, email: str, code: str, **extra: Any) -> None:
        key = self.eng.get_instance(self.instance_id, with_history=False).business_key
        self.say("Customer", f"{email} answers: {code}")
        self.eng.correlate("campaign_response", key=key, data={"email": email, "response_code": code, **extra})
        self.narrate()

    def window_end(self) -> datetime:
        timers = self.eng.get_instance(self.instance_id, with_history=False).timers
        return timers[0].due_at if timers else self.clock.now()

    def deliver(self) -> None:
        senders = senders_from_env()
        if senders:
            report = self.eng.deliver_outbox(senders)
            self.say("Mail", f"{report.sent} email(s) delivered over SMTP"
                     + (f", {report.failed} failed: {report.errors[0]}" if report.failed else ""))
            return
        from engine.read_model import OutboxMessage

        with self.eng.db.read() as session:
            pending = len(list(session.scalars(
                select(OutboxMessage.id).where(OutboxMessage.instance_id == self.instance_id,
                                               OutboxMessage.state == "pending"))))
        if pending > self.sent:
            self.say("Mail", f"{pending - self.sent} email(s) queued in the outbox "
                             "(set CRMFLOW_SMTP_HOST to deliver them)")
        self.sent = pending

    def data(self) -> dict[str, Any]:
        return self.eng.get_instance(self.instance_id, with_history=False).data

    # -- printing -------------------------------------------------------------------------
    def say(self, who: str, text: str, at: datetime | None = None) -> None:
        self.echo(f"{(at or self.clock.now()):%a %d %b %H:%M} {who} · {text}")

    def narrate(self) -> None:
        for entry in self.eng.history(self.instance_id):
            if entry.id <= self.seen:
                continue
            self.seen = entry.id
            line = describe(entry)
            if line:
                self.say("Engine", line, entry.at)

    def finish(self, key: str) -> CampaignOutcome:
        from handlers.models import Campaign, CampaignActivity, CampaignResponse, Lead

        inst = self.eng.get_instance(self.instance_id, with_history=False)
        data = inst.data
        campaign_id = data["campaign"]["campaign_id"]
        self.echo(f"instance {inst.id} ({key}) is {inst.status}")
        self.echo("")
        self.echo("Where the campaign stands:")
        with self.eng.db.read() as s:
            c = s.get(Campaign, campaign_id)
            self.echo(f"  campaign {c.number} {c.name!r}: {c.state} ({c.status})")
            for a in s.scalars(select(CampaignActivity).where(CampaignActivity.campaign_id == campaign_id)
                               .order_by(CampaignActivity.wave)):
                self.echo(f"  wave {a.wave} ({a.channel}): {a.state}, {a.distributed_count} sent, "
                          f"{a.skipped_count} skipped, cost {a.cost}")
            responses = list(s.scalars(select(CampaignResponse).where(CampaignResponse.campaign_id == campaign_id)
                                       .order_by(CampaignResponse.id)))
            for r in responses:
                self.echo(f"  response #{r.id} from {r.email}: {r.response_code}, {r.state} ({r.status})")
            lead_ids = [r.converted_lead_id for r in responses if r.converted_lead_id is not None]
            for lead in s.scalars(select(Lead).where(Lead.id.in_(lead_ids)).order_by(Lead.id)):
                source = s.get(Campaign, lead.source_campaign_id) if lead.source_campaign_id else None
                self.echo(f"  lead #{lead.id} {lead.email}: {lead.state} ({lead.status}), "
                          f"source campaign {source.number if source else 'none'}")
        roi = data.get("roi", {})
        self.echo(f"  ROI: cost {roi.get('cost')}, won revenue {roi.get('revenue')}, ROI {roi.get('roi_percent')}%")
        return CampaignOutcome(key, inst.id, campaign_id, lead_ids, roi)


def describe(entry: Any) -> str | None:
    """One line for the history entries a reader cares about."""
    name = entry.element_name or entry.element_id
    delta = (entry.data_delta or {}).get("set", {}) if isinstance(entry.data_delta, dict) else {}
    if entry.event == "task_created":
        return f"task {name!r} waits"
    if entry.event == "timer_fired":
        return "a response window is over"
    if entry.event == "incident":
        return f"INCIDENT at {name!r}: {(entry.data_delta or {}).get('error')}"
    if entry.event == "message_unhandled":
        return None  # the campaign_lead hand-over, until lead_to_invoice starts with it
    if entry.event != "completed" or entry.element_type not in ("UserTask", "ServiceTask", "EndEvent"):
        return None
    if entry.element_type == "UserTask":
        return f"{name} completed by {entry.user}"
    if entry.element_type == "EndEvent":
        return f"end: {name}"
    return f"{name}" + (f" → {summary(delta)}" if summary(delta) else "")


def summary(delta: dict[str, Any]) -> str:
    if isinstance(delta.get("distribution"), dict):
        d = delta["distribution"]
        return f"{d.get('sent')} sent, {d.get('skipped')} skipped ({d.get('skipped_unsubscribed')} unsubscribed)"
    if isinstance(delta.get("converted_lead"), dict):
        lead = delta["converted_lead"]
        return f"lead #{lead['lead_id']} (source campaign #{lead['source_campaign_id']})"
    if isinstance(delta.get("roi"), dict):
        return f"ROI {delta['roi'].get('roi_percent')}%"
    if isinstance(delta.get("audience"), dict):
        return f"{delta['audience']['member_count']} member(s) today"
    for value in delta.values():
        if isinstance(value, dict) and "state" in value:
            return f"{value['state']}"
    return ""

"""`crmflow demo`: the lead-to-invoice story, told through the engine facade on a manual clock.

A web inquiry becomes a lead, is placed in its sales territory (the queue that qualifies
it), scored and qualified; the opportunity is worked while a
follow-up reminder fires; a 15% quote needs a sales manager's approval; the customer accepts;
the order is fulfilled and invoiced; a partial payment arrives, the overdue reminder fires,
the rest is paid. Every agent's choice is a facade call (`start`, `complete_task`,
`correlate`, `fire_due_timers`) and time passes by advancing the clock, so it takes seconds.

Reference data (products, a price list, an account and contacts) is seeded once and reused;
each run starts a new instance under a new business key, so the story can be told again on
the same database and earlier runs stay there to look at (`crmflow instances`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine import Engine, ManualClock
from engine.xml import parse_bytes

from .narration import Narration
from .settings import build_engine, lane_map, processes_folder

Echo = Callable[[str], None]

PROCESS_ID = "lead_to_invoice"
HANDOVER_ID = "campaign_handover"
KEY_PREFIX = "DEMO-L2I-"
BPMN_NS = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
PROCESSES = Path(__file__).resolve().parent.parent / "processes"

PRICE_LIST = "Standard EUR 2026"
PRODUCTS = [  # number, name, unit, price
    ("CRM-PRO", "crmflow Professional, per user and year", "user/year", "480.00"),
    ("CRM-ONB", "Onboarding workshop (2 days)", "workshop", "3200.00"),
    ("CRM-SUP", "Premium support, per year", "year", "2400.00"),
]
INQUIRY = {
    "email": "maria.lopez@northwind.example",
    "first_name": "Maria",
    "last_name": "Lopez",
    "company_name": "Northwind Traders",
    "topic": "CRM for 40 sales reps",
    "phone": "+34 91 555 0142",
    "lead_source": "Web",
    "region": "EU-South",
    "budget": 60000,
}
QUOTE_LINES = [
    {"product_number": "CRM-PRO", "quantity": 40},
    {"product_number": "CRM-ONB", "quantity": 1},
    {"product_number": "CRM-SUP", "quantity": 1},
]
SHOWN_TYPES = {"ServiceTask", "BusinessRuleTask", "UserTask", "ReceiveTask", "EndEvent"}


def run(db_url: str | None = None, echo: Echo = print, processes: Path | None = None) -> None:
    """Seed (once), deploy `processes/`, tell the story, print where every record stands."""
    clock = ManualClock(story_start())
    folder = default_processes(processes)
    eng = build_engine(db_url, clock, lanes=lane_map(folder))
    try:
        Story(eng, clock, echo, folder).tell_all()
    finally:
        eng.close()


def story_start() -> datetime:
    """Today at 09:00 UTC: "now", rounded so the printed times read like a working day."""
    return datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)


def default_processes(explicit: Path | None = None) -> Path:
    """The processes folder every component uses (`crmflow.settings.processes_folder`)."""
    return processes_folder(explicit)


# -- reference data -----------------------------------------------------------------------
@dataclass
class Seed:
    price_list_id: int
    created: bool


def seed(eng: Engine, now: datetime) -> Seed:
    """Products, a price list, an account and contacts; reused when an earlier run made them."""
    from handlers import catalog
    from handlers.models import PriceList, Product

    with eng.db.write() as session:
        existing = session.scalars(select(PriceList).where(PriceList.name == PRICE_LIST)).first()
        if existing is not None:
            return Seed(existing.id, created=False)
        price_list = catalog.add_price_list(session, now, PRICE_LIST, currency="EUR")
        for number, name, unit, price in PRODUCTS:
            product = session.scalars(select(Product).where(Product.number == number)).first()
            product = product or catalog.add_product(session, now, number, name, unit=unit)
            catalog.set_price(session, price_list, product, price)
        account = catalog.add_account(session, now, "Contoso Ltd", region="EU-West")
        catalog.add_contact(session, now, "Meyer", "Paul", "paul.meyer@contoso.example", account_id=account.id)
        catalog.add_contact(session, now, "Okafor", "Ada", "ada.okafor@contoso.example", account_id=account.id)
        return Seed(price_list.id, created=True)


# -- the story ----------------------------------------------------------------------------
@dataclass
class Story(Narration):
    eng: Engine
    clock: ManualClock
    echo: Echo
    processes: Path
    instance_id: int = 0
    seen_history: int = 0
    lanes: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    day: str = ""
    inquiry: dict[str, Any] = field(default_factory=lambda: dict(INQUIRY))
    source: str = "Web"

    # -- what describe() shows (crmflow.narration) -------------------------------------------
    shown_types = frozenset(SHOWN_TYPES)

    def choice_of(self, delta: dict[str, Any]) -> str:
        return choice_of(delta)

    def summarize(self, delta: dict[str, Any]) -> str:
        return summarize(delta)

    def tell_all(self) -> None:
        """The whole demo: a campaign wave whose response becomes a lead, that lead driven
        to a paid invoice, then a customer case resolved under SLA — one timeline."""
        from . import demo_campaign, demo_case

        self.deploy()
        campaign = demo_campaign.tell_campaign(self.eng, self.clock, self.echo)
        if campaign.lead_ids:
            self.inquiry = self.campaign_inquiry(campaign.lead_ids[0])
            self.source = "Campaign"
            # The campaign threw `campaign_lead`; the campaign_handover process caught it and
            # runs lead-to-invoice for this lead: the sales story continues that instance.
            handed = self.eng.list_instances(process_id=HANDOVER_ID, business_key=f"LEAD-{campaign.lead_ids[0]}")
            if handed:
                self.instance_id = handed[0].id
        self.echo("")
        self.tell()
        demo_case.tell(self.eng, self.clock, self.echo, self.processes, deploy=False)

    def campaign_inquiry(self, lead_id: int) -> dict[str, Any]:
        """The campaign's converted lead as the inquiry lead-to-invoice starts from."""
        from handlers.models import Contact, Lead

        with self.eng.db.read() as session:
            lead = session.get(Lead, lead_id)
            contact = session.scalars(select(Contact).where(Contact.email_normalized == lead.email.lower())).first()
            first = lead.first_name or (contact.first_name if contact else None) or INQUIRY["first_name"]
            last = lead.last_name or (contact.last_name if contact else None) or INQUIRY["last_name"]
            return {
                **INQUIRY, "email": lead.email, "first_name": first, "last_name": last,
                "company_name": lead.company_name or INQUIRY["company_name"], "lead_source": "Campaign",
            }

    def tell(self) -> None:
        self.echo(f"crmflow demo: lead to invoice (database {self.eng.db.url})")
        reference = seed(self.eng, self.clock.now())
        self.echo(
            f"reference data: {len(PRODUCTS)} products on price list {PRICE_LIST!r}, account Contoso Ltd, 2 contacts"
            + (" (seeded now)" if reference.created else " (already there from an earlier run, reused)")
        )
        self.deploy()
        if self.instance_id:
            key = self.eng.get_instance(self.instance_id, with_history=False).business_key or ""
            self.echo(f"business key {key}: the campaign handed this lead to sales (instance {self.instance_id})")
        else:
            key = self.next_key()
            self.echo(f"business key {key}: every run starts a new instance; earlier runs stay in the database")
        self.chapter_lead(key, reference.price_list_id)
        self.chapter_opportunity()
        self.chapter_quote()
        self.chapter_invoice()
        self.final_states()

    def deploy(self) -> None:
        result = self.eng.deploy([self.processes])
        for v in result.versions:
            state = "new version" if v.changed else "unchanged"
            self.echo(f"deployed {v.process_id} v{v.version} ({state}) from {v.file}")
        self.lanes = lanes_of(self.eng.diagram_source(PROCESS_ID))
        self.queues = {name: route.queue for name, route in lane_map(self.processes).lanes.items()}

    def next_key(self) -> str:
        keys = [i.business_key or "" for i in self.eng.list_instances(process_id=PROCESS_ID, limit=100_000)]
        numbers = [int(k[len(KEY_PREFIX):]) for k in keys if k.startswith(KEY_PREFIX) and k[len(KEY_PREFIX):].isdigit()]
        return f"{KEY_PREFIX}{max(numbers, default=0) + 1:04d}"

    # -- chapters -------------------------------------------------------------------------
    def chapter_lead(self, key: str, price_list_id: int) -> None:
        q = self.variables().get("inquiry", self.inquiry) if self.instance_id else self.inquiry
        who = " ".join(n for n in (q.get("first_name"), q.get("last_name")) if n) or q.get("email", "?")
        company = f", {q['company_name']}" if q.get("company_name") else ""
        self.say(self.source, f"inquiry from {who}{company}: {q['topic']!r}, budget {q.get('budget') or 'not given'}")
        if not self.instance_id:
            inst = self.eng.start(PROCESS_ID, {"inquiry": q}, business_key=key, user=f"{self.source.lower()}-form")
            self.instance_id = inst.id
        self.narrate()
        self.pass_time(timedelta(minutes=30))
        self.complete("qualify_task", "ann", {"decision": "qualify", "price_list_id": price_list_id})

    def chapter_opportunity(self) -> None:
        self.pass_time(timedelta(days=3), fire=True)
        task = self.open_task("work_opportunity")
        self.say(task.lane or "", f"{task.name!r} is still open for ann: the reminder did not interrupt it")
        self.pass_time(timedelta(hours=2))
        self.complete("work_opportunity", "ann", {
            "outcome": "quote", "quote_lines": QUOTE_LINES, "discount_percent": 15, "tax_rate": 20,
            "quote_valid_days": 30,
        })

    def chapter_quote(self) -> None:
        self.pass_time(timedelta(hours=1))
        self.complete("approve_discount", "bob", {"approval": "approve", "manager_comment": "Strategic account"})
        self.pass_time(timedelta(days=2))
        self.send("quote_accepted", {"accepted_by": "Maria Lopez"})

    def chapter_invoice(self) -> None:
        self.pass_time(timedelta(days=10))
        total = Decimal(self.variables()["invoice"]["total_amount"])
        first = (total * Decimal("0.4")).quantize(Decimal("0.01"))
        self.send("payment_received", {"amount": str(first), "method": "bank transfer", "reference": "NW-2231"})
        for _ in range(8):  # weekly reminder checks until one finds the invoice overdue
            self.pass_time(timedelta(days=7), fire=True)
            if self.variables().get("overdue_check", {}).get("overdue"):
                break
        self.pass_time(timedelta(days=2))
        rest = self.variables()["invoice"]["balance"]
        self.send("payment_received", {"amount": rest, "method": "bank transfer", "reference": "NW-2290"})
        inst = self.eng.get_instance(self.instance_id, with_history=False)
        self.echo(f"instance {inst.id} ({inst.business_key}) is {inst.status}")

    # -- facade calls beyond the shared ones (crmflow.narration) ------------------------------
    def send(self, message: str, payload: dict[str, Any]) -> None:
        key = self.eng.get_instance(self.instance_id, with_history=False).business_key
        self.correlate(message, key, payload, f"message {message} {compact(payload)}")

    # -- the end --------------------------------------------------------------------------
    def final_states(self) -> None:
        self.echo("")
        self.echo("Where every record stands:")
        lead_id = self.variables()["lead"]["lead_id"]
        with self.eng.db.read() as session:
            for line in record_lines(session, lead_id):
                self.echo("  " + line)


def lanes_of(source: bytes) -> dict[str, str]:
    """Element id → lane name, read from the deployed diagram."""
    tree = parse_bytes(source, f"{PROCESS_ID}.bpmn")
    lanes = {}
    for lane in tree.getroot().iter(f"{BPMN_NS}lane"):
        for ref in lane.iter(f"{BPMN_NS}flowNodeRef"):
            lanes[(ref.text or "").strip()] = lane.get("name", "")
    return lanes


def compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), default=str)


def choice_of(delta: dict[str, Any]) -> str:
    """The deciding field of a form (decision, outcome, approval) and what was chosen."""
    for field_name in ("decision", "outcome", "approval"):
        if field_name in delta:
            return str(delta[field_name])
    return compact(delta)


def summarize(delta: dict[str, Any]) -> str:
    """One short phrase for what a service or rule task produced."""
    if "sales_queue" in delta:
        return f"territory {delta.get('territory')}, sales queue {delta['sales_queue']}"
    if "lead_score" in delta:
        return f"score {delta['lead_score']}, rating {delta.get('lead_rating')}"
    if isinstance(delta.get("payment"), dict):
        payment = delta["payment"]
        return f"{payment.get('amount')} received ({payment.get('method') or 'no method given'})"
    if "needs_approval" in delta:
        verdict = "needs a sales manager" if delta["needs_approval"] else "within the rep's limit"
        return f"{verdict} (limit {delta.get('approval_threshold')}%)"
    for value in delta.values():
        if isinstance(value, dict):
            return describe_record(value)
    return ""


def describe_record(view: dict[str, Any]) -> str:
    if "territory_id" in view:
        return f"lead #{view['lead_id']} in territory {view['territory']}, queue {view['queue']}"
    if "reminders_sent" in view:
        return (f"payment reminder #{view['reminders_sent']} for invoice {view['number']} emailed to {view['to']}, "
                f"{view['balance']} open, {view['days_overdue']} day(s) overdue")
    if "activity_id" in view:
        return f"{view['activity_type']} activity #{view['activity_id']} {view['state']}"
    if "invoice_id" in view:
        text = (f"invoice {view['number']} {view['state']}/{view['status']}, "
                f"paid {view['amount_paid']} of {view['total_amount']}")
        if "overdue" in view:
            late = view["overdue"]
            text += f"; overdue {view['days_overdue']} day(s)" if late else f"; not overdue (due {view['due_date']})"
        return text
    if "order_id" in view:
        return f"order {view['number']} {view['state']}/{view['status']}, total {view['total_amount']}"
    if "quote_id" in view:
        return (f"quote {view['number']} rev {view['revision']} {view['state']}/{view['status']}, "
                f"{view['max_discount_percent']}% off, total {view['total_amount']}")
    if "account_id" in view and "opportunity_id" in view:
        return f"account #{view['account_id']}, contact #{view['contact_id']}, opportunity #{view['opportunity_id']}"
    if "opportunity_id" in view:
        return (f"opportunity #{view['opportunity_id']} {view['state']}/{view['status']}, "
                f"revenue {view['actual_revenue']}")
    if "score" in view:
        return f"lead #{view['lead_id']} scored {view['score']} ({view['rating']})"
    if "lead_id" in view:
        duplicate = " (an open lead with this email already existed)" if view.get("duplicate") else ""
        return f"lead #{view['lead_id']} {view['state']}/{view['status']}{duplicate}"
    return compact(view)


def record_lines(session: Session, lead_id: int) -> list[str]:
    """The lead and everything that grew from it, one line per record."""
    from handlers.models import Account, Activity, Contact, Invoice, Lead, Opportunity, Quote, SalesOrder

    lead = session.get(Lead, lead_id)
    lines = [f"lead #{lead.id} {lead.email}: {lead.state} ({lead.status}), score {lead.score} {lead.rating}"]
    if lead.account_id:
        account = session.get(Account, lead.account_id)
        lines.append(f"account #{account.id} {account.name}: {account.state}")
    if lead.contact_id:
        contact = session.get(Contact, lead.contact_id)
        lines.append(f"contact #{contact.id} {contact.full_name}: {contact.state}")
    opp_id = lead.qualified_opportunity_id
    if opp_id:
        opp = session.get(Opportunity, opp_id)
        lines.append(f"opportunity #{opp.id} {opp.name!r}: {opp.state} ({opp.status}), revenue {opp.actual_value}")
        for q in session.scalars(select(Quote).where(Quote.opportunity_id == opp_id).order_by(Quote.id)):
            lines.append(f"quote {q.number} rev {q.revision}: {q.state} ({q.status}), {q.discount_percent}% off, "
                         f"total {q.total_amount}")
        for o in session.scalars(select(SalesOrder).where(SalesOrder.opportunity_id == opp_id)):
            lines.append(f"order {o.number}: {o.state} ({o.status}), total {o.total_amount}")
        for i in session.scalars(select(Invoice).where(Invoice.opportunity_id == opp_id)):
            paid = ", ".join(f"{p.amount} on {p.paid_at:%d %b}" for p in i.payments) or "none"
            lines.append(f"invoice {i.number}: {i.state} ({i.status}), total {i.total_amount}, payments: {paid}")
    regarding = [(Activity.regarding_type == "lead") & (Activity.regarding_id == lead.id)]
    if opp_id:
        regarding.append((Activity.regarding_type == "opportunity") & (Activity.regarding_id == opp_id))
    for a in session.scalars(select(Activity).where(or_(*regarding)).order_by(Activity.id)):
        lines.append(f"activity #{a.id} {a.activity_type}: {a.subject!r}, {a.state} ({a.status})")
    return lines

"""A simulated past for the demo: 120 days of sales, marketing and service work, so the
managers' dashboards open filled after `crmflow serve --demo`.

Everything happens through the engine facade (`start`, `complete_task`, `correlate`, and
`tick` to fire due timers) on an engine whose ManualClock walks from 120 days ago to now:
each story (a lead, a case, a campaign) is a generator that does one thing with the
facade and says when it acts next; the timeline resumes stories in time order and, on the
way, fires every timer when it falls due (follow-up calls, payment reminders, SLA warnings
and breaches, auto-close, response windows), so records carry the times they would have
had. Whatever a story has not done by now stays open, as real work would: leads to
qualify, opportunities being worked, quotes out, invoices unpaid, cases in queues.

What the processes do not capture is written as reference data, clearly apart: customers,
entitlements and marketing lists before the story, and sales quotas after it. Win
probabilities come from the reps' forms (Qualify lead, then Work opportunity as the quote goes out).

It is deterministic (`random.Random(SEED)`, times relative to the end) and runs once per
database: the business keys start with `HIST-`, and a database that has one is left alone.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine import Engine, EngineError, ManualClock, ServiceContext
from engine.clock import ensure_utc
from engine.read_model import Instance

Echo = Callable[[str], None]
#: a story acts, then yields when it wants to act next
Story = Generator[datetime, None, None]

SEED = 20260105
DAYS = 120
KEY_PREFIX = "HIST-"
WORKER = "demo-history"
REPS = ("ann", "dan", "eve")
AGENTS = ("sue", "tom", "uma")
SALES_MANAGER, SUPERVISOR, MARKETER, MARKETING_MANAGER = "bob", "sam", "mia", "max"
#: demo users beside one per lane group (crmflow.demo_seed creates them): more reps and agents
EXTRA_USERS = {"dan": ["sales"], "eve": ["sales"], "tom": ["service_agents"], "uma": ["service_agents"]}
#: quarterly revenue targets per rep, this quarter and the one before
QUOTAS = {"ann": 60000, "dan": 40000, "eve": 90000}
OPEN_HOUR, CLOSE_HOUR = 8, 17  # UTC working hours of the simulated people

# -- small helpers ----------------------------------------------------------------------------


def on_duty(at: datetime) -> datetime:
    """`at` if it falls in working hours (Mon–Fri 08–17 UTC), else the next opening."""
    while True:
        opening = at.replace(hour=OPEN_HOUR, minute=0, second=0, microsecond=0)
        if at.weekday() >= 5 or at.hour >= CLOSE_HOUR:
            at = opening + timedelta(days=1)
        elif at < opening:
            return opening
        else:
            return at


def work_hours_after(at: datetime, hours: float) -> datetime:
    """`hours` of working time after `at`."""
    at, left = on_duty(at), timedelta(hours=hours)
    while True:
        closing = at.replace(hour=CLOSE_HOUR, minute=0, second=0, microsecond=0)
        if at + left <= closing:
            return at + left
        left -= closing - at
        at = on_duty(closing)


def quarter_of(day: date) -> tuple[date, date]:
    """First and last day of the quarter `day` falls in."""
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    following = date(first.year + 1, 1, 1) if first.month == 10 else date(first.year, first.month + 3, 1)
    return first, following - timedelta(days=1)


def slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


# -- reference data -----------------------------------------------------------------------------
FIRST_NAMES = ("Alice", "Bruno", "Chloe", "Diego", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Karin",
               "Luca", "Mara", "Nils", "Olga", "Paul", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wim", "Yara", "Zoe",
               "Aiko", "Ben", "Carla", "Dev", "Emma", "Finn", "Gina", "Hank", "Ivy", "Jack", "Kim", "Leo")
LAST_NAMES = ("Adler", "Brandt", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ito", "Jansen",
              "Keller", "Larsen", "Moreau", "Novak", "Olsen", "Petit", "Quinn", "Rossi", "Schmidt", "Tanaka",
              "Ulrich", "Vogel", "Weber", "Young", "Zimmer", "Berg", "Klein", "Lopez", "Meyer", "Silva")
COMPANIES = ("Alpine Logistics", "Blue Harbor Foods", "Cedar Health", "Delta Robotics", "Evergreen Energy",
             "Fjord Shipping", "Granite Insurance", "Helix Pharma", "Iris Optics", "Juniper Retail",
             "Kestrel Aviation", "Lumen Media", "Maple Finance", "Nimbus Cloud", "Orchid Hotels", "Pioneer Tools",
             "Quartz Labs", "Redwood Builders", "Summit Legal", "Tidal Water", "Umbra Security", "Vertex Motors",
             "Willow Schools", "Xenon Chemicals", "Yellowstone Travel", "Zenith Telecom", "Aurora Textiles",
             "Beacon Consulting", "Coral Dental", "Dune Mining", "Ember Games", "Falcon Freight", "Glacier Water",
             "Harvest Farms", "Indigo Print", "Jade Gardens", "Kite Sports", "Lotus Spa", "Meridian Bank",
             "Nova Clinics", "Oak Furniture", "Prism Design", "Raven Studios", "Sage Software", "Terra Cement",
             "Urban Bikes", "Vista Realty", "Wave Audio", "Yukon Outdoor", "Zephyr Airlines")
#: country, region, the rep who covers it
COUNTRIES = (("DE", "EMEA", "ann"), ("AT", "EMEA", "ann"), ("CH", "EMEA", "ann"), ("NL", "EMEA", "ann"),
             ("FR", "EMEA", "ann"), ("GB", "EMEA", "dan"), ("IE", "EMEA", "dan"), ("US", "AMERICAS", "dan"),
             ("CA", "AMERICAS", "dan"), ("ES", "EMEA", "eve"), ("IT", "EMEA", "eve"), ("SE", "EMEA", "eve"),
             ("JP", "APAC", "eve"), ("AU", "APAC", "eve"), ("BR", "LATAM", "eve"), ("SG", "APAC", "eve"))
TOPICS = ("CRM for {n} sales reps", "Service desk for {n} agents", "Marketing automation, {n} seats",
          "Replace spreadsheets for {n} users", "Customer portal and {n} licences", "Field sales app, {n} users")
SOURCES = ("Web", "Web", "Phone", "Referral", "Partner", "Trade Show", "Email")
DISQUALIFY_REASONS = ("Lost", "Cannot Contact", "No Longer Interested", "Canceled")
#: account, entitlement (None: no support contract), allocation, terms, SLA
SUPPORT_CUSTOMERS = (
    ("Adatum Corporation", "Adatum Gold support", "cases", 20, "Gold"),
    ("Litware Inc", "Litware Silver support", "cases", 14, "Silver"),
    ("Proseware Ltd", "Proseware support hours", "hours", 40, "Gold"),
    ("Wingtip Toys", "Wingtip Bronze support", "cases", 4, "Bronze"),
    ("Woodgrove Bank", None, None, 0, None),
)
CASE_TOPICS = (  # title, case type, description (words the knowledge articles know)
    ("Outlook sync stopped", "Problem", "Outlook does not sync contacts since the update; the add-in token expired."),
    ("Export to CSV is empty", "Problem", "The contact export downloads an empty csv file."),
    ("Sync fails on the laptop", "Problem", "Sync fails on one laptop; log files attached."),
    ("Login loop after password change", "Problem", "After changing the password the login page reloads."),
    ("Add ten users to our plan", "Request", "Please add ten more users to our subscription."),
    ("New sandbox environment", "Request", "We need a sandbox for training next month."),
    ("How do I export contacts?", "Question", "Where do I find the csv export for contacts?"),
    ("Which browsers are supported?", "Question", "Is the web app supported on Safari?"),
)
CAMPAIGN_CONTACTS = 40


@dataclass
class Reference:
    price_list_id: int
    support_emails: dict[str, list[str]]
    lists: dict[str, int]
    people: list[dict[str, str]]


def seed_reference(eng: Engine, now: datetime, rng: random.Random) -> Reference:
    """Customers with support entitlements, campaign contacts and their marketing lists."""
    from handlers import catalog, marketing
    from handlers import lifecycle as lc
    from handlers.models import Account, Contact, Entitlement, MarketingList

    from . import demo, demo_case

    price_list_id = demo.seed(eng, now).price_list_id
    demo_case.seed(eng, now)  # the support calendar, resource groups and agents the case process routes to
    with eng.db.write() as session:
        add_agents(session, now, getattr(demo_case, "TEAMS", ()))
        support: dict[str, list[str]] = {}
        for name, entitlement, allocation, terms, sla in SUPPORT_CUSTOMERS:
            emails = [f"{first.lower()}.{last.lower()}@{slug(name)}.example"
                      for first, last in ((rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)) for _ in range(2))]
            support[name] = emails
            account = session.scalars(select(Account).where(Account.name == name)).first()
            if account is not None:
                support[name] = list(session.scalars(select(Contact.email).where(Contact.account_id == account.id)
                                                     .order_by(Contact.id)))
                continue
            account = catalog.add_account(session, now, name, region="EMEA")
            for email in emails:
                first, last = email.split("@")[0].split(".")
                catalog.add_contact(session, now, last.capitalize(), first.capitalize(), email, account_id=account.id)
            if entitlement is not None:
                row = Entitlement(
                    name=entitlement, account_id=account.id, allocation_type=allocation, decrease_on=(
                        "creation" if allocation == "cases" else "resolution"),
                    total_terms=Decimal(terms), remaining_terms=Decimal(terms),
                    start_date=now.date() - timedelta(days=60), end_date=now.date() + timedelta(days=365),
                    sla_name=sla,
                )
                lc.ENTITLEMENT.start(row, now, "Active")
                session.add(row)
        people = []
        for i in range(CAMPAIGN_CONTACTS):
            first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i * 7) % len(LAST_NAMES)]
            company = COMPANIES[(i * 3 + 11) % len(COMPANIES)]
            country, region, _ = COUNTRIES[i % len(COUNTRIES)]
            email = f"{first.lower()}.{last.lower()}@{slug(company)}.example"
            people.append({"email": email, "first_name": first, "last_name": last, "company_name": company,
                           "country": country})
            if session.scalars(select(Contact.id).where(Contact.email_normalized == email)).first() is None:
                catalog.add_contact(session, now, last, first, email, region=region)
        ids = dict(session.execute(select(Contact.email_normalized, Contact.id)
                                   .where(Contact.email_normalized.in_([p["email"] for p in people]))).all())
        lists = {}
        for name, members in (("Newsletter subscribers", people[:24]), ("Webinar attendees", people[18:32]),
                              ("EU prospects", people[8:30]), ("Partner contacts", people[26:40])):
            found = session.scalars(select(MarketingList.id).where(MarketingList.name == name)).first()
            ctx = ServiceContext(session=session, instance_id=0, process_id="demo-history", business_key=None,
                                 element_id="seed", task_id=f"demo-history-list-{slug(name)}", now=now)
            lists[name] = found or marketing.create_list(
                ctx, name=name, member_type="contact", member_ids=[ids[p["email"]] for p in members])["list_id"]
    return Reference(price_list_id, support, lists, people)


def add_agents(session: Any, now: datetime, teams: tuple[str, ...]) -> None:
    """The history's service agents as resources of the support teams, so cases are routed to them too."""
    from handlers.models import Resource, ResourceGroup
    from handlers.resources import add_resource

    groups = [t for t in teams if session.scalars(select(ResourceGroup.id).where(ResourceGroup.name == t)).first()]
    if not groups:
        return
    for login in AGENTS:
        if session.scalars(select(Resource.id).where(Resource.user_name == login)).first() is None:
            add_resource(session, login.capitalize(), now, capacity=4, user_name=login, skills=["en"], groups=groups)


# -- the timeline -----------------------------------------------------------------------------
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


# -- plans ------------------------------------------------------------------------------------
@dataclass
class LeadPlan:
    """One inquiry and what will become of it."""

    key: str
    at: datetime
    rep: str
    fate: str
    inquiry: dict[str, Any]
    lines: list[dict[str, Any]]
    discount: int
    value: int
    seed: str

    @property
    def email(self) -> str:
        return self.inquiry["email"]


#: fates by how long ago the inquiry came: old ones have run their course, recent ones are under way
OLD_FATES = ("disqualify", "disqualify", "disqualify", "lost", "lost", "lost", "reject", "reject", "expire",
             "revise", "paid", "paid", "paid", "paid", "paid", "paid", "late", "late", "partial", "partial",
             "unpaid", "unpaid")
MID_FATES = ("disqualify", "disqualify", "lost", "lost", "reject", "paid", "paid", "paid", "overpaid", "partial",
             "stall_work", "stall_work", "stall_quote", "stall_quote")
NEW_FATES = ("disqualify", "lost", "paid", "paid", "paid", "stall_work", "stall_work", "stall_work",
             "stall_quote", "stall_quote", "stall_quote", "paid")
STALLED = ("stall_work", "stall_quote")


def quote_lines(rng: random.Random) -> tuple[list[dict[str, Any]], int]:
    """Quote lines for a deal and their list value (prices of crmflow.demo's price list)."""
    seats = rng.choice((5, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60))
    lines = [{"product_number": "CRM-PRO", "quantity": seats}]
    value = seats * 480
    if rng.random() < 0.7:
        lines.append({"product_number": "CRM-ONB", "quantity": 1})
        value += 3200
    if rng.random() < 0.5:
        lines.append({"product_number": "CRM-SUP", "quantity": 1})
        value += 2400
    return lines, value


def lead_plans(rng: random.Random, end: datetime) -> list[LeadPlan]:
    plans = []
    buckets = ((OLD_FATES, 118, 60), (MID_FATES, 60, 20), (NEW_FATES, 20, 0.5))
    for fates, oldest, newest in buckets:
        fates = list(fates)
        rng.shuffle(fates)
        for i, fate in enumerate(fates):
            age = oldest - (oldest - newest) * (i + rng.random()) / len(fates)
            at = end - timedelta(days=age)
            at = at.replace(hour=rng.randint(7, 19), minute=rng.randint(0, 59), second=0, microsecond=0)
            at = min(at, end - timedelta(hours=2))
            plans.append(_lead_plan(rng, at, fate))
    plans.sort(key=lambda p: p.at)
    for n, plan in enumerate(plans, 1):
        plan.key = f"{KEY_PREFIX}L2I-{n:03d}"
        plan.seed = f"{SEED}:{plan.key}"
    return plans


def _lead_plan(rng: random.Random, at: datetime, fate: str, person: dict[str, str] | None = None) -> LeadPlan:
    lines, value = quote_lines(rng)
    if person is None:
        first, last, company = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), rng.choice(COMPANIES)
        country, region, rep = rng.choice(COUNTRIES)
        email = f"{first.lower()}.{last.lower()}.{rng.randint(10, 99)}@{slug(company)}.example"
    else:
        first, last, company, email = person["first_name"], person["last_name"], person["company_name"], person["email"]
        country, region, rep = next(c for c in COUNTRIES if c[0] == person["country"])
    seats = lines[0]["quantity"]
    inquiry = {
        "email": email, "first_name": first, "last_name": last, "company_name": company,
        "topic": rng.choice(TOPICS).format(n=seats), "lead_source": rng.choice(SOURCES), "country": country,
        "region": region, "budget": int(value * rng.uniform(0.8, 1.3)) // 100 * 100,
    }
    discount = rng.choice((0, 0, 0, 5, 5, 10, 12, 15, 20))
    return LeadPlan("", at, rep, fate, inquiry, lines, discount, value, "")


@dataclass
class CasePlan:
    key: str
    at: datetime
    customer: str
    email: str
    agent: str
    fate: str
    request: dict[str, Any]
    seed: str


CASE_FATES = ("quick",) * 14 + ("warned",) * 5 + ("breached",) * 4 + ("hold",) * 4 + ("more_info",) * 3 \
    + ("reopen",) * 4 + ("cancel",)
#: the last few days' cases, still in the queues now
OPEN_CASE_FATES = ("untouched", "untouched", "untouched", "hold_open", "more_info_open", "quick", "warned")
CASE_OPEN_FATES = ("untouched", "hold_open", "more_info_open")


def case_plans(rng: random.Random, end: datetime, reference: Reference) -> list[CasePlan]:
    fates = list(CASE_FATES)
    rng.shuffle(fates)
    recent = list(OPEN_CASE_FATES)
    rng.shuffle(recent)
    customers = [c[0] for c in SUPPORT_CUSTOMERS]
    weights = (5, 4, 3, 3, 2)
    plans = []
    ages = [116 - 111 * (i + rng.random()) / len(fates) for i in range(len(fates))]
    ages += [4 - 4 * (i + rng.random()) / len(recent) for i in range(len(recent))]
    for age, fate in zip(ages, fates + recent, strict=True):
        day = end - timedelta(days=age)
        at = day.replace(hour=rng.randint(6, 18), minute=rng.randint(0, 59), second=0, microsecond=0)
        if at.weekday() >= 5 and rng.random() < 0.7:
            at = on_duty(at)
        at = min(at, end - timedelta(hours=1))
        customer = rng.choices(customers, weights)[0]
        title, case_type, description = rng.choice(CASE_TOPICS)
        origin = rng.choice(("Email", "Email", "Phone", "Web"))
        email = rng.choice(reference.support_emails[customer])
        request = {"title": title, "origin": origin, "customer_email": email, "case_type": case_type,
                   "description": description}
        plans.append(CasePlan("", at, customer, email, rng.choice(AGENTS), fate, request, ""))
    plans.sort(key=lambda p: p.at)
    for n, plan in enumerate(plans, 1):
        plan.key = f"{KEY_PREFIX}CASE-{n:03d}"
        plan.seed = f"{SEED}:{plan.key}"
    return plans


@dataclass
class Response:
    after_days: float
    person: dict[str, str]
    code: str
    fate: str = "paid"


@dataclass
class CampaignPlan:
    key: str
    process: str
    age_days: float
    name: str
    list_name: str
    plan: dict[str, Any]
    responses: list[Response]
    approve: bool = True


def campaign_plans(reference: Reference) -> list[CampaignPlan]:
    p = reference.people
    return [
        CampaignPlan(f"{KEY_PREFIX}CMP-001", "campaign_execution", 112, "Spring product launch",
                     "Newsletter subscribers",
                     {"budget": 1500, "channel": "email", "waves": 2, "response_window_days": 10, "wave_cost": 450,
                      "expected_revenue": 40000},
                     [Response(2, p[1], "Interested"), Response(3, p[4], "Not Interested"),
                      Response(4, p[6], "Interested", "late"), Response(6, p[9], "Do Not Send Marketing Materials"),
                      Response(12, p[12], "Interested", "lost"), Response(15, p[15], "Interested")]),
        CampaignPlan(f"{KEY_PREFIX}QC-001", "quick_campaign", 84, "Webinar follow-up", "Webinar attendees",
                     {"channel": "email", "cost": 250, "response_window_days": 7},
                     [Response(1, p[19], "Interested"), Response(2, p[21], "Not Interested"),
                      Response(3, p[24], "Interested", "disqualify")]),
        CampaignPlan(f"{KEY_PREFIX}CMP-002", "campaign_execution", 63, "Summer upgrade offer", "EU prospects",
                     {"budget": 2000, "channel": "email", "waves": 3, "response_window_days": 7, "wave_cost": 350,
                      "expected_revenue": 30000},
                     [Response(1, p[10], "Interested", "stall_quote"), Response(2, p[13], "Not Interested"),
                      Response(5, p[16], "Interested"), Response(9, p[20], "Interested", "stall_work"),
                      Response(10, p[27], "Do Not Send Marketing Materials"), Response(16, p[29], "Interested")]),
        CampaignPlan(f"{KEY_PREFIX}CMP-003", "campaign_execution", 41, "Trade fair invitations", "Partner contacts",
                     {"budget": 5000, "channel": "email", "waves": 1, "response_window_days": 14, "wave_cost": 3000},
                     [], approve=False),
        CampaignPlan(f"{KEY_PREFIX}CMP-004", "campaign_execution", 12, "Autumn webinar series",
                     "Newsletter subscribers",
                     {"budget": 1200, "channel": "email", "waves": 3, "response_window_days": 7, "wave_cost": 300,
                      "expected_revenue": 20000},
                     [Response(2, p[2], "Interested", "stall_work"), Response(4, p[5], "Not Interested"),
                      Response(8, p[22], "Interested", "stall_work")]),
    ]


# -- the history ------------------------------------------------------------------------------
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


def has_history(eng: Engine) -> bool:
    with eng.db.read() as session:
        found = session.scalars(select(Instance.id).where(Instance.business_key.like(f"{KEY_PREFIX}%")).limit(1))
        return found.first() is not None


def seed_history(eng: Engine, echo: Echo = print, end: datetime | None = None, days: int = DAYS) -> HistoryReport:
    """Run the simulated past on `eng`'s database (processes deployed) unless it is there already.

    A second engine on the same database, with the same handlers and task router, runs on a
    manual clock from `end - days` to `end` (default: `eng`'s now); `eng` itself is not touched.
    """
    if has_history(eng):
        return HistoryReport(created=False)
    began = time.monotonic()
    end = end or eng.now()
    start = (end - timedelta(days=days)).replace(hour=7, minute=0, second=0, microsecond=0)
    clock = ManualClock(start)
    sim = Engine(eng.db.url, registry=eng.registry, clock=clock, auto_migrate=False, task_router=eng.task_router)
    try:
        history = History(sim, clock, start, end, echo)
        report = history.run()
    finally:
        sim.close()
    report.seconds = time.monotonic() - began
    return report


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
        plan = _lead_plan(rng, self.now(), fate, person)
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

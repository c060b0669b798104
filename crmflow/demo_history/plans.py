"""The demo history's plans: who takes part (reps, agents, managers, their quotas), the
reference data stories draw from (names, companies, countries, topics, support customers),
and each lead's, case's and campaign's plan — its time, its people and its fate — drawn from
`random.Random(SEED)` relative to the end, so the history is the same every time.

Split from `crmflow.demo_history`; pure data and arithmetic, no engine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

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


Plan = TypeVar("Plan", "LeadPlan", "CasePlan")


def _numbered(plans: list[Plan], kind: str) -> list[Plan]:
    """The plans in time order, keyed `HIST-<kind>-001`, ... and each seeded from its key."""
    plans.sort(key=lambda p: p.at)
    for n, plan in enumerate(plans, 1):
        plan.key = f"{KEY_PREFIX}{kind}-{n:03d}"
        plan.seed = f"{SEED}:{plan.key}"
    return plans


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
            plans.append(make_lead_plan(rng, at, fate))
    return _numbered(plans, "L2I")


def make_lead_plan(rng: random.Random, at: datetime, fate: str, person: dict[str, str] | None = None) -> LeadPlan:
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
    return _numbered(plans, "CASE")


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


"""Demo data for `crmflow serve --demo`: one user per lane group, processes deployed, work waiting.

Users (password "demo", plus a fresh API token each run) come from the lane map, one per group
that works or supervises a queue, two more sales reps and service agents, and an `admin`. The
processes in `processes/` are deployed, 120 days of simulated history are run through them
(`crmflow.demo_history`, skipped with `history=False`, i.e. `serve --demo --no-history`) so the
managers' dashboards have figures, and a few instances are started so every queue has
something fresh in it: leads to qualify (sales), a customer case (service) and a campaign to
plan (marketing), when those processes deploy.

Running it again changes nothing but the tokens: existing users are kept, the history is run
once per database, and an instance is started only if its demo business key is not taken yet.
The short demo password bypasses the 8-character rule on purpose: it is printed on the screen
for a local demo, never for real users.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine import Engine, EngineError
from worklists.auth import hash_secret
from worklists.models import User
from worklists.service import Worklist

from . import demo_history
from .demo_history.plans import EXTRA_USERS

DEMO_PASSWORD = "demo"
TOKEN_LABEL = "crmflow serve --demo"
ADMIN = ("admin", "admin")
#: the roles that work no queue but have a permission-file entry (processes/permissions.yml)
ROLE_USERS = {"ada": ["analysts"], "olga": ["operators"]}
# Who works each group in the demo (groups not listed get a user named after the group).
NAMES = {
    "sales": "ann", "sales_managers": "bob", "marketing": "mia", "marketing_managers": "max",
    "service_agents": "sue", "service_supervisors": "sam", "billing": "carl",
}
KEY_PREFIX = "WORK-"
LEADS = [
    ("WORK-L2I-1", {"email": "maria.lopez@northwind.example", "first_name": "Maria", "last_name": "Lopez",
                    "company_name": "Northwind Traders", "topic": "CRM for 40 sales reps", "lead_source": "Web",
                    "region": "EU-South", "budget": 60000}),
    ("WORK-L2I-2", {"email": "kenji.sato@tailspin.example", "first_name": "Kenji", "last_name": "Sato",
                    "company_name": "Tailspin Toys", "topic": "Service desk for 8 agents", "lead_source": "Phone",
                    "region": "APAC", "budget": 12000}),
    ("WORK-L2I-3", {"email": "lena.berg@fourthcoffee.example", "first_name": "Lena", "last_name": "Berg",
                    "company_name": "Fourth Coffee", "topic": "Newsletter tooling", "lead_source": "Web",
                    "region": "EU-North", "budget": 3000}),
]
CASE_KEY = "WORK-CASE-1"
CAMPAIGN_KEY = "WORK-CMP-1"

Echo = Callable[[str], None]


@dataclass
class DemoLogin:
    user: str
    groups: list[str]
    token: str


@dataclass
class DemoReport:
    logins: list[DemoLogin] = field(default_factory=list)
    deployed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)


def demo_users(worklist: Worklist) -> dict[str, list[str]]:
    """user → groups: one user per group of the lane map (workers and supervisors), the history's
    other reps and agents (when their groups work a queue), an analyst, an operator and an admin."""
    users: dict[str, list[str]] = {}
    for info in worklist.lane_map.queues().values():
        for group in (*info.groups, *info.supervisors):
            users.setdefault(NAMES.get(group, group.replace("_", "-")), []).append(group)
    known = {group for groups in users.values() for group in groups}
    for name, groups in EXTRA_USERS.items():
        if set(groups) <= known:
            users.setdefault(name, []).extend(groups)
    for name, groups in ROLE_USERS.items():
        users.setdefault(name, []).extend(groups)
    users.setdefault(ADMIN[0], []).append(ADMIN[1])
    return {name: list(dict.fromkeys(groups)) for name, groups in users.items()}


def seed_users(engine: Engine, worklist: Worklist) -> list[DemoLogin]:
    """Create missing demo users (password "demo"); each gets a fresh token, older demo tokens are revoked."""
    accounts = worklist.accounts
    logins = []
    for name, groups in demo_users(worklist).items():
        if accounts.find_user(name) is None:
            accounts.add_user(name, groups, display_name=name.capitalize(), token_label=None)
        with engine.db.write() as session:
            user = session.scalars(select(User).where(User.name == name)).one()
            user.password_hash = hash_secret(DEMO_PASSWORD)
            user.active = True
        for old in accounts.list_tokens(name):
            if old.label == TOKEN_LABEL and old.revoked_at is None:
                accounts.revoke_token(old.lookup)
        issued = accounts.issue_token(name, TOKEN_LABEL)
        logins.append(DemoLogin(name, accounts.get_user(name).groups, issued.token))
    return logins


def deploy_processes(engine: Engine, processes: Path, report: DemoReport) -> None:
    """Deploy the folder; if one file fails, deploy the others one by one (with every DMN table)."""
    try:
        report.deployed = sorted({v.process_id for v in engine.deploy([processes]).versions})
        return
    except EngineError as err:
        report.skipped.append(f"deploying {processes} as a whole: {err}")
    tables = sorted(processes.glob("*.dmn"))
    for diagram in sorted(processes.glob("*.bpmn")):
        try:
            report.deployed += [v.process_id for v in engine.deploy([diagram, *tables]).versions]
        except EngineError as err:
            report.skipped.append(f"{diagram.name}: {err}")
    report.deployed = sorted(set(report.deployed))


def start_work(engine: Engine, report: DemoReport) -> None:
    """Start the demo instances whose business keys are still free."""
    deployed = set(report.deployed)
    starts: list[tuple[str, str, dict[str, Any], Callable[[], dict[str, Any]] | None]] = []
    if "lead_to_invoice" in deployed:
        starts += [("lead_to_invoice", key, {"inquiry": inquiry}, None) for key, inquiry in LEADS]
    if "case_resolution" in deployed:
        starts.append(("case_resolution", CASE_KEY, {}, lambda: _case_data(engine)))
    if "campaign_execution" in deployed:
        starts.append(("campaign_execution", CAMPAIGN_KEY, {}, None))
    for process_id, key, data, prepare in starts:
        if engine.list_instances(business_key=key, limit=1):
            report.kept.append(f"{process_id} {key}")
            continue
        try:
            payload = {**data, **(prepare() if prepare else {})}
            inst = engine.start(process_id, payload, business_key=key, user="demo")
            report.started.append(f"{process_id} {key} (instance {inst.id}, {inst.status})")
        except Exception as err:  # noqa: BLE001 - a demo record that cannot start must not stop the server
            report.skipped.append(f"{process_id} {key}: {type(err).__name__}: {err}")


def _case_data(engine: Engine) -> dict[str, Any]:
    from . import demo_case

    demo_case.seed(engine, engine.now())
    return {"request": dict(demo_case.REQUEST)}


def seed(engine: Engine, worklist: Worklist, processes: Path, history: bool = True, echo: Echo = print) -> DemoReport:
    """Users, deployed processes, reference data, the simulated history and waiting work; safe to run again."""
    report = DemoReport()
    report.logins = seed_users(engine, worklist)
    deploy_processes(engine, processes, report)
    if "lead_to_invoice" in report.deployed:
        try:
            from . import demo

            demo.seed(engine, engine.now())
        except Exception as err:  # noqa: BLE001 - reference data is nice to have for the demo
            report.skipped.append(f"reference data: {type(err).__name__}: {err}")
    if history:
        seed_history(engine, report, echo)
    start_work(engine, report)
    return report


HISTORY_PROCESSES = {"lead_to_invoice", "case_resolution", "campaign_execution", "quick_campaign", "campaign_handover"}


def seed_history(engine: Engine, report: DemoReport, echo: Echo) -> None:
    """The simulated past (once per database), when every process it drives is deployed."""
    missing = HISTORY_PROCESSES - set(report.deployed)
    if missing:
        report.skipped.append(f"demo history: {', '.join(sorted(missing))} not deployed")
        return
    try:
        report.history = demo_history.seed_history(engine, echo=echo).lines()
    except Exception as err:  # noqa: BLE001 - the demo serves without its history rather than not at all
        report.skipped.append(f"demo history: {type(err).__name__}: {err}")


def print_report(report: DemoReport, url: str, echo: Echo = print) -> None:
    echo(f"crmflow demo data: {len(report.logins)} users, processes {', '.join(report.deployed) or 'none'}")
    for line in report.history:
        echo(f"  {line}")
    for line in report.started:
        echo(f"  started {line}")
    for line in report.kept:
        echo(f"  already there: {line}")
    for line in report.skipped:
        echo(f"  skipped: {line}")
    echo("")
    echo(f"Open {url}/login and log in with password {DEMO_PASSWORD!r} as:")
    width = max((len(x.user) for x in report.logins), default=4)
    for login in report.logins:
        echo(f"  {login.user.ljust(width)}  {', '.join(login.groups)}")
    echo("")
    echo(f"API ({url}/api/v1/docs), one token per user, new on every start:")
    for login in report.logins:
        echo(f"  {login.user.ljust(width)}  Authorization: Bearer {login.token}")

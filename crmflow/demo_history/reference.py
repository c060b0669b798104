"""The demo history's reference data, written before the story: customers with support
entitlements, the campaign contacts and their marketing lists, and the history's agents as
resources of the support teams.

Split from `crmflow.demo_history`; what the processes do not capture, kept apart from them.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine import Engine, ServiceContext

from .plans import (
    AGENTS,
    CAMPAIGN_CONTACTS,
    COMPANIES,
    COUNTRIES,
    FIRST_NAMES,
    LAST_NAMES,
    SUPPORT_CUSTOMERS,
    Reference,
    slug,
)


def seed_reference(eng: Engine, now: datetime, rng: random.Random) -> Reference:
    """Customers with support entitlements, campaign contacts and their marketing lists."""
    from handlers import catalog
    from handlers import lifecycle as lc
    from handlers.marketing.lists import create_list
    from handlers.models import Account, Contact, Entitlement, MarketingList

    from .. import demo, demo_case

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
            lists[name] = found or create_list(
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


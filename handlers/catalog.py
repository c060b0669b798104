"""Reference data set up outside processes (seeding, admin, tests): products, price
lists, accounts, contacts, competitors. Plain functions on a session, not operations."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from . import lifecycle as lc
from .errors import DomainError
from .models import Account, Competitor, Contact, PriceList, PriceListItem, Product
from .support import normalize_email, to_decimal


def add_product(session: Session, now: datetime, number: str, name: str, unit: str = "each") -> Product:
    product = Product(number=number, name=name, unit=unit)
    lc.PRODUCT.start(product, now)
    session.add(product)
    session.flush()
    return product


def add_price_list(session: Session, now: datetime, name: str, currency: str = "EUR") -> PriceList:
    price_list = PriceList(name=name, currency=currency)
    lc.PRICE_LIST.start(price_list, now)
    session.add(price_list)
    session.flush()
    return price_list


def set_price(session: Session, price_list: PriceList, product: Product, amount: str | Decimal) -> PriceListItem:
    value = to_decimal(amount, "price", minimum=Decimal("0"))
    if value != value.quantize(Decimal("0.01")):
        raise DomainError(f"price {value} has more than two decimals")
    item = PriceListItem(price_list_id=price_list.id, product_id=product.id, amount=value)
    session.add(item)
    session.flush()
    return item


def add_account(session: Session, now: datetime, name: str, region: str | None = None) -> Account:
    account = Account(name=name, region=region)
    lc.ACCOUNT.start(account, now)
    session.add(account)
    session.flush()
    return account


def add_contact(
    session: Session,
    now: datetime,
    last_name: str,
    first_name: str | None = None,
    email: str | None = None,
    birthdate: date | None = None,
    region: str | None = None,
    account_id: int | None = None,
    unsubscribed: bool = False,
) -> Contact:
    contact = Contact(
        first_name=first_name,
        last_name=last_name,
        email=email,
        email_normalized=normalize_email(email) if email else None,
        birthdate=birthdate,
        region=region,
        account_id=account_id,
        unsubscribed=unsubscribed,
    )
    lc.CONTACT.start(contact, now)
    session.add(contact)
    session.flush()
    return contact


def add_competitor(session: Session, now: datetime, name: str) -> Competitor:
    competitor = Competitor(name=name)
    lc.COMPETITOR.start(competitor, now)
    session.add(competitor)
    session.flush()
    return competitor

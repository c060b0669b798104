"""Who a customer-facing email goes to: the record's contact, else its account."""

from __future__ import annotations

from sqlalchemy.orm import Session

from .errors import DomainError
from .models import Account, Contact


def customer_address(session: Session, contact_id: int | None, account_id: int | None, missing: str) -> tuple[str, str]:
    """(email, name) of the contact when it has an address, else of the account; `missing`
    is the refusal when neither has one (it names the record and what was to be sent)."""
    contact = session.get(Contact, contact_id) if contact_id else None
    if contact is not None and contact.email:
        return contact.email, contact.full_name
    account = session.get(Account, account_id) if account_id else None
    if account is not None and account.email:
        return account.email, account.name
    raise DomainError(missing)

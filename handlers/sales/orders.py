"""Sales orders, invoices and payments: a won quote's order, fulfilment, the invoice,
payments, and reminders for overdue invoices (the lead-to-invoice process's tail).

Split from the sales module; `is_overdue` is also the sales reports' rule for an overdue
invoice.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import ServiceContext

from .. import lifecycle as lc
from ..activities import new_activity
from ..customers import customer_address
from ..errors import DomainError
from ..models import Invoice, InvoiceLine, OrderLine, Payment, Quote, SalesOrder
from ..pricing import ZERO, copy_line, sum_lines
from ..support import cents, choose, fetch, money, next_number, operation, to_decimal
from .quotes import carried_header

T = TypeVar("T")


def _follow_on(ctx: ServiceContext, source: Any, model: type[T], line_model: type, series: tuple[str, str],
               **fields: Any) -> T:
    """The next document of the chain (a quote's order, an order's invoice): a new number in
    `series`, the header `source` carries, its lines copied and the totals summed again."""
    document = model(number=next_number(ctx.session, *series), **carried_header(source), **fields)
    document.lines = [copy_line(line, line_model) for line in source.lines]
    sum_lines(document, document.lines)
    return document


def order_view(order: SalesOrder) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "number": order.number,
        "state": order.state,
        "status": order.status,
        "total_amount": money(order.total_amount),
    }


@operation("sales/convert_quote_to_order")
def convert_quote_to_order(ctx: ServiceContext, quote_id: int) -> dict[str, Any]:
    """A won quote becomes an order with the same lines and totals."""
    quote = fetch(ctx.session, Quote, quote_id)
    lc.QUOTE.require(quote, ["Won"], "converted to an order")
    existing = ctx.session.scalars(select(SalesOrder).where(SalesOrder.quote_id == quote.id)).first()
    if existing is not None:
        raise DomainError(f"quote {quote.label} was already converted to order {existing.number}")
    order = _follow_on(ctx, quote, SalesOrder, OrderLine, ("order", "ORD"), quote_id=quote.id)
    lc.ORDER.start(order, ctx.now)
    ctx.session.add(order)
    ctx.session.flush()
    return order_view(order)


@operation("sales/submit_order")
def submit_order(ctx: ServiceContext, order_id: int) -> dict[str, Any]:
    order = fetch(ctx.session, SalesOrder, order_id)
    lc.ORDER.require(order, ["Active"], "submitted")
    lc.ORDER.move(order, "Submitted", "In Progress", ctx.now)
    ctx.session.flush()
    return order_view(order)


@operation("sales/fulfil_order")
def fulfil_order(ctx: ServiceContext, order_id: int, partial: bool = False) -> dict[str, Any]:
    """Mark delivered (Complete) or partly delivered (Partial; can complete later)."""
    order = fetch(ctx.session, SalesOrder, order_id)
    if order.state == "Fulfilled" and order.status == "Partial" and not partial:
        lc.ORDER.move(order, "Fulfilled", "Complete", ctx.now)
    else:
        lc.ORDER.require(order, ["Active", "Submitted"], "fulfilled")
        lc.ORDER.move(order, "Fulfilled", "Partial" if partial else "Complete", ctx.now)
    order.fulfilled_at = ctx.now
    ctx.session.flush()
    return order_view(order)


@operation("sales/cancel_order")
def cancel_order(ctx: ServiceContext, order_id: int, reason: str = "Canceled") -> dict[str, Any]:
    order = fetch(ctx.session, SalesOrder, order_id)
    choose(reason, lc.ORDER.statuses["Canceled"], "order cancel reason")
    lc.ORDER.require(order, ["Active", "Submitted"], "canceled")
    lc.ORDER.move(order, "Canceled", reason, ctx.now)
    ctx.session.flush()
    return order_view(order)


def invoice_view(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "state": invoice.state,
        "status": invoice.status,
        "total_amount": money(invoice.total_amount),
        "amount_paid": money(invoice.amount_paid),
        "balance": money(invoice.balance),
        "due_date": invoice.due_date.isoformat(),
    }


@operation("sales/create_invoice")
def create_invoice(ctx: ServiceContext, order_id: int, payment_terms_days: int = 30) -> dict[str, Any]:
    """Invoice a fulfilled order (lines and totals copied); the order becomes Invoiced."""
    if isinstance(payment_terms_days, bool) or not isinstance(payment_terms_days, int) or payment_terms_days < 0:
        raise DomainError(f"payment_terms_days must be a whole number of days ≥ 0, not {payment_terms_days!r}")
    order = fetch(ctx.session, SalesOrder, order_id)
    lc.ORDER.require(order, ["Fulfilled"], "invoiced")
    invoice = _follow_on(ctx, order, Invoice, InvoiceLine, ("invoice", "INV"), order_id=order.id, amount_paid=ZERO,
                         due_date=ctx.now.date() + timedelta(days=payment_terms_days))
    lc.INVOICE.start(invoice, ctx.now)
    ctx.session.add(invoice)
    lc.ORDER.move(order, "Invoiced", "Invoiced", ctx.now)
    ctx.session.flush()
    return invoice_view(invoice)


@operation("sales/record_payment")
def record_payment(
    ctx: ServiceContext,
    invoice_id: int,
    amount: str,
    method: str | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    """Record a payment: Paid/Partial while a balance remains, Paid/Complete when settled.

    Overpaying is refused (it would need a refund process we do not model).
    """
    invoice = fetch(ctx.session, Invoice, invoice_id)
    paid = cents(to_decimal(amount, "payment amount", minimum=Decimal("0.01")))
    if invoice.state == "Paid" and invoice.status == "Complete" or invoice.state == "Canceled":
        raise DomainError(
            f"invoice {invoice.label} is {invoice.state} ({invoice.status}); only an Active or partly paid "
            "invoice can take a payment"
        )
    if paid > invoice.balance:
        raise DomainError(f"payment {paid} exceeds the balance {money(invoice.balance)} of invoice {invoice.label}")
    payment = Payment(invoice_id=invoice.id, amount=paid, paid_at=ctx.now, method=method, reference=reference)
    ctx.session.add(payment)
    invoice.amount_paid = invoice.amount_paid + paid
    complete = invoice.balance == ZERO
    lc.INVOICE.move(invoice, "Paid", "Complete" if complete else "Partial", ctx.now)
    if complete:
        invoice.paid_at = ctx.now
    ctx.session.flush()
    view = invoice_view(invoice)
    view.update(payment_id=payment.id, paid_in_full=complete)
    return view


@operation("sales/cancel_invoice")
def cancel_invoice(ctx: ServiceContext, invoice_id: int) -> dict[str, Any]:
    invoice = fetch(ctx.session, Invoice, invoice_id)
    lc.INVOICE.require(invoice, ["Active"], "canceled")
    lc.INVOICE.move(invoice, "Canceled", "Canceled", ctx.now)
    ctx.session.flush()
    return invoice_view(invoice)


def is_overdue(invoice: Invoice, today: date) -> bool:
    """Unpaid (fully or partly) and past its due date."""
    open_balance = invoice.state == "Active" or (invoice.state == "Paid" and invoice.status == "Partial")
    return open_balance and invoice.balance > ZERO and invoice.due_date < today


def overdue_invoices(session: Session, today: date) -> list[Invoice]:
    """Every overdue invoice, oldest due first (for a reminder sweep)."""
    candidates = session.scalars(
        select(Invoice)
        .where(Invoice.state.in_(("Active", "Paid")), Invoice.due_date < today)
        .order_by(Invoice.due_date, Invoice.id)
    )
    return [invoice for invoice in candidates if is_overdue(invoice, today)]


@operation("sales/check_invoice_overdue")
def check_invoice_overdue(ctx: ServiceContext, invoice_id: int) -> dict[str, Any]:
    """For a reminder loop's gateway: is the invoice overdue, by how many days, what is owed."""
    invoice = fetch(ctx.session, Invoice, invoice_id)
    today = ctx.now.date()
    overdue = is_overdue(invoice, today)
    view = invoice_view(invoice)
    view.update(overdue=overdue, days_overdue=(today - invoice.due_date).days if overdue else 0)
    return view


@operation("sales/send_payment_reminder")
def send_payment_reminder(ctx: ServiceContext, invoice_id: int) -> dict[str, Any]:
    """Email the customer a reminder for an overdue invoice (through the outbox), count it on
    the invoice and log the email on the opportunity (or the account)."""
    invoice = fetch(ctx.session, Invoice, invoice_id)
    today = ctx.now.date()
    if not is_overdue(invoice, today):
        raise DomainError(
            f"invoice {invoice.number} is not overdue (state {invoice.state}/{invoice.status}, "
            f"balance {money(invoice.balance)}, due {invoice.due_date.isoformat()}); no reminder sent"
        )
    to, name = customer_address(ctx.session, invoice.contact_id, invoice.account_id,
                                f"invoice {invoice.number} has no contact or account email to send a reminder to")
    days = (today - invoice.due_date).days
    subject = f"Payment reminder: invoice {invoice.number}"
    body = (
        f"Hello {name},\n\nour invoice {invoice.number} of {money(invoice.total_amount)} was due on "
        f"{invoice.due_date.isoformat()} ({days} day(s) ago); {money(invoice.balance)} is still open.\n"
        "Please pay at your earliest convenience, or reply if something is wrong with it.\n\n"
        "Thank you,\nAccounts Receivable\n"
    )
    key = ctx.send("email", {"to": to, "subject": subject, "body": body})
    invoice.reminders_sent = (invoice.reminders_sent or 0) + 1
    invoice.last_reminder_at = ctx.now
    regarding: tuple[str | None, int | None] = (
        ("opportunity", invoice.opportunity_id) if invoice.opportunity_id
        else ("account", invoice.account_id) if invoice.account_id else (None, None)
    )
    activity = new_activity(ctx, "email", subject, regarding[0], regarding[1], body, "outgoing",
                            details={"to": to, "outbox_key": key, "invoice_id": invoice.id}, flush=False)
    lc.ACTIVITY.move(activity, "Completed", "Sent", ctx.now)
    activity.completed_at = ctx.now
    ctx.session.flush()
    view = invoice_view(invoice)
    view.update(reminders_sent=invoice.reminders_sent, days_overdue=days, to=to, outbox_key=key,
                activity_id=activity.id)
    return view

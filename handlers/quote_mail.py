"""Send a quote to the customer: an email with the quote as HTML (lines, totals, validity) and a
plain-text part, through the outbox, and the email logged on the opportunity.

The lead-to-invoice diagram's "Send quote" step calls `sales/send_quote`. The outbox delivers
after the step commits, once per idempotency key, so a retried step never sends twice. A
quote whose customer has no email address is logged as not sent (the rep sees why on the
timeline) rather than stopping the deal.
"""

from __future__ import annotations

from datetime import timedelta
from html import escape
from typing import Any

from sqlalchemy import select

from engine.services import ServiceContext

from . import lifecycle as lc
from .activities import activity_view, new_activity
from .customers import customer_address
from .errors import DomainError
from .models import Product, Quote
from .support import fetch, money, operation


def render_quote(quote: Quote, names: dict[int, str], valid_days: int, greeting: str) -> tuple[str, str]:
    """(plain text, HTML) of a quote as the customer reads it."""
    rows = [(line.description or names.get(line.product_id or -1, ""), line.quantity, money(line.unit_price),
             f"{line.discount_percent} %", money(line.total_amount)) for line in quote.lines]
    until = (quote.created_at + timedelta(days=valid_days)).date().isoformat()
    head = f"Quote {quote.number} (revision {quote.revision}): {quote.name}"
    text = "\n".join([f"Hello {greeting},", "", f"please find our {head}.", "",
                      *(f"- {d}: {q} × {p}, discount {dp} = {t}" for d, q, p, dp, t in rows), "",
                      f"Subtotal {money(quote.subtotal)}, discount {money(quote.discount_amount)}, "
                      f"tax {money(quote.tax_amount)}, total {money(quote.total_amount)} {quote.currency}.",
                      f"The quote is valid until {until}.", "", "Kind regards,", "Sales"])
    cells = "".join(f"<tr><td>{escape(str(d))}</td><td>{q}</td><td>{escape(str(p))}</td><td>{escape(dp)}</td>"
                    f"<td>{escape(str(t))}</td></tr>" for d, q, p, dp, t in rows)
    html = (f"<p>Hello {escape(greeting)},</p><p>please find our {escape(head)}.</p>"
            "<table border='1' cellpadding='4'><tr><th>Item</th><th>Quantity</th><th>Price</th><th>Discount</th>"
            f"<th>Amount</th></tr>{cells}</table>"
            f"<p>Subtotal {money(quote.subtotal)}, discount {money(quote.discount_amount)}, tax "
            f"{money(quote.tax_amount)}, <strong>total {money(quote.total_amount)} {escape(quote.currency)}</strong>."
            f"</p><p>The quote is valid until {until}.</p><p>Kind regards,<br>Sales</p>")
    return text, html


@operation("sales/send_quote")
def send_quote(ctx: ServiceContext, quote_id: int, valid_days: int = 30) -> dict[str, Any]:
    """Email the quote to the customer through the outbox and log the email on the opportunity."""
    quote = fetch(ctx.session, Quote, quote_id)
    lc.QUOTE.require(quote, ["Draft", "Active"], "sent")
    ids = [line.product_id for line in quote.lines if line.product_id and not line.description]  # names fill gaps
    names = {p.id: p.name for p in ctx.session.scalars(select(Product).where(Product.id.in_(ids)))} if ids else {}
    subject = f"Quote {quote.number} revision {quote.revision} sent"
    try:
        to, name = customer_address(ctx.session, quote.contact_id, quote.account_id,
                                    f"quote {quote.number} has no contact or account email to send it to")
    except DomainError as err:
        to, name, problem = None, "", str(err)
    else:
        problem = None
    text, html = render_quote(quote, names, int(valid_days), name or "")
    key = None
    if to:
        key = ctx.send("email", {"to": to, "subject": f"Your quote {quote.number} ({quote.name})", "body": text,
                                 "html": html})
    regarding = ("opportunity", quote.opportunity_id) if quote.opportunity_id else (
        ("account", quote.account_id) if quote.account_id else (None, None))
    activity = new_activity(ctx, "email", subject if to else f"Quote {quote.number} not sent: no email address",
                            regarding[0], regarding[1],
                            f"Total {money(quote.total_amount)}, valid {valid_days} days" + (
                                f"; {problem}" if problem else ""),
                            "outgoing", details={"to": to, "outbox_key": key, "quote_id": quote.id}, flush=False)
    lc.ACTIVITY.move(activity, "Completed", "Sent" if to else "Completed", ctx.now)
    activity.completed_at = ctx.now
    ctx.session.flush()
    return {**activity_view(activity), "quote_id": quote.id, "to": to, "outbox_key": key, "sent": bool(to)}

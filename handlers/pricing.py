"""Quote / order / invoice arithmetic in Decimal, rounded to cents half-up per line.

Per line: amount = unit price × quantity; discount = amount × discount% ; net = amount −
discount; tax = net × tax% ; total = net + tax — each rounded to cents as it is computed,
so the header totals are exact sums of what the customer sees on the lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .support import HUNDRED, cents

ZERO = Decimal("0")


@dataclass(frozen=True)
class LineAmounts:
    amount: Decimal
    discount_amount: Decimal
    net_amount: Decimal
    tax_amount: Decimal
    total_amount: Decimal


def price_line(unit_price: Decimal, quantity: Decimal, discount_percent: Decimal, tax_rate: Decimal) -> LineAmounts:
    amount = cents(unit_price * quantity)
    discount = cents(amount * discount_percent / HUNDRED)
    net = amount - discount
    tax = cents(net * tax_rate / HUNDRED)
    return LineAmounts(amount, discount, net, tax, net + tax)


def sum_lines(target: object, lines: list) -> None:
    """Set a header's totals (`subtotal`, `discount_amount`, ...) from its lines."""
    target.subtotal = sum((line.amount for line in lines), ZERO)
    target.discount_amount = sum((line.discount_amount for line in lines), ZERO)
    target.net_amount = sum((line.net_amount for line in lines), ZERO)
    target.tax_amount = sum((line.tax_amount for line in lines), ZERO)
    target.total_amount = sum((line.total_amount for line in lines), ZERO)


LINE_FIELDS = (
    "line_number",
    "product_id",
    "description",
    "quantity",
    "unit_price",
    "discount_percent",
    "tax_rate",
    "amount",
    "discount_amount",
    "net_amount",
    "tax_amount",
    "total_amount",
)


def copy_line(line: object, cls: type) -> object:
    """A line of another document (quote → order → invoice) with the same figures."""
    return cls(**{name: getattr(line, name) for name in LINE_FIELDS})

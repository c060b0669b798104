"""Sales reports against figures computed here from the seed lists."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import report_seed as seed
from reports_support import NOW

from handlers.reports import ReportError

T0 = datetime(2026, 1, 2, 9, 0, tzinfo=NOW.tzinfo)


def cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# status, estimated value, probability, expected close date
OPEN = [
    ("In Progress", "1000.00", 50, date(2026, 5, 20)),
    ("In Progress", "2500.50", 30, date(2026, 8, 1)),
    ("In Progress", "333.33", 33, date(2026, 12, 31)),
    ("On Hold", "800.00", None, date(2027, 2, 1)),
    ("On Hold", "120.10", 75, date(2027, 4, 1)),
    ("In Progress", "99.99", 10, date(2026, 3, 31)),
    ("In Progress", None, 40, None),
    ("In Progress", "10.05", 5, date(2026, 4, 1)),
]
# state, status, estimated value, actual value, closed at, lead created at (None: no lead)
CLOSED = [
    ("Won", "Won", "4000.00", "5000.00", datetime(2026, 4, 10, 9, tzinfo=NOW.tzinfo),
     datetime(2026, 3, 1, 9, tzinfo=NOW.tzinfo)),
    ("Won", "Won", "1000.00", "1234.56", datetime(2026, 5, 1, 21, tzinfo=NOW.tzinfo),
     datetime(2026, 4, 20, 9, tzinfo=NOW.tzinfo)),
    ("Won", "Won", "700.00", "700.00", datetime(2026, 2, 1, 9, tzinfo=NOW.tzinfo), None),
    ("Lost", "Canceled", "900.00", "0", datetime(2026, 4, 15, 9, tzinfo=NOW.tzinfo), None),
    ("Lost", "Out-Sold", "100.00", "0", datetime(2026, 1, 20, 9, tzinfo=NOW.tzinfo),
     datetime(2026, 1, 3, 9, tzinfo=NOW.tzinfo)),
]


@pytest.fixture
def sales(rdb):
    with rdb.seed() as s:
        for status, value, probability, close in OPEN:
            seed.opportunity(s, T0, status=status, value=value, probability=probability, close=close)
        for state, status, value, actual, closed, lead_at in CLOSED:
            lead_id = seed.lead(s, lead_at, state="Qualified", status="Qualified").id if lead_at else None
            seed.opportunity(s, T0, state=state, status=status, value=value, actual=actual, changed=closed,
                             lead_id=lead_id)
    return rdb


def weight(value: str | None, probability: int | None) -> Decimal:
    return Decimal(value) * probability / 100 if value is not None and probability is not None else Decimal(0)


def test_pipeline_sums_open_opportunities_by_status(sales):
    expected = defaultdict(lambda: [0, Decimal(0), Decimal(0), 0])
    for status, value, probability, _ in OPEN:
        e = expected[status]
        e[0] += 1
        e[1] += Decimal(value or 0)
        e[2] += weight(value, probability)
        e[3] += probability is None
    rows = sales.rows("pipeline")
    assert [r["status"] for r in rows] == ["In Progress", "On Hold"]
    for row in rows:
        count, total, weighted, unknown = expected[row["status"]]
        assert row == {"status": row["status"], "opportunities": count, "total_value": cents(total),
                       "weighted_value": cents(weighted), "without_probability": unknown}
    # hand check of one figure: On Hold = 800.00 (no probability → 0) + 120.10 × 75 % = 90.075 → 90.08
    assert rows[1]["weighted_value"] == "90.08"


def test_win_rate_overall_and_in_a_window(sales):
    won = [c for c in CLOSED if c[0] == "Won"]
    lost = [c for c in CLOSED if c[0] == "Lost"]
    [row] = sales.rows("win-rate")
    assert row["won"] == 3 and row["lost"] == 2
    assert row["win_rate_percent"] == "60.00"
    assert row["won_revenue"] == cents(sum(Decimal(c[3]) for c in won))
    assert row["lost_value"] == cents(sum(Decimal(c[2]) for c in lost))

    since = datetime(2026, 4, 1, tzinfo=NOW.tzinfo)
    in_window = [c for c in CLOSED if c[4] >= since]
    [row] = sales.rows("win-rate", since=since.isoformat())
    n_won = sum(1 for c in in_window if c[0] == "Won")
    assert (row["won"], row["lost"]) == (n_won, len(in_window) - n_won) == (2, 1)
    assert row["win_rate_percent"] == "66.67"
    assert sales.rows("win-rate", until="2026-01-01") == []


def test_cycle_time_days_from_lead_created_to_won(sales):
    spans = [Decimal(int((c[4] - c[5]).total_seconds())) / 86400 for c in CLOSED if c[0] == "Won" and c[5]]
    [row] = sales.rows("cycle-time")
    assert row["won"] == len(spans) == 2
    assert row["average_days"] == cents(sum(spans) / len(spans)) == "25.75"  # (40 + 11.5) / 2
    assert (row["min_days"], row["max_days"]) == ("11.50", "40.00")


def quarter(d: date) -> tuple[int, int]:
    return d.year, (d.month - 1) // 3 + 1


def test_forecast_next_four_quarters_by_expected_close(sales):
    first = quarter(NOW.date())
    labels = []
    y, q = first
    for _ in range(4):
        labels.append((y, q))
        y, q = (y + 1, 1) if q == 4 else (y, q + 1)
    buckets = defaultdict(list)
    for _, value, probability, close in OPEN:
        if close is None:
            key = "undated"
        elif quarter(close) < labels[0]:
            key = "earlier"
        elif quarter(close) > labels[-1]:
            key = "later"
        else:
            key = "{}-Q{}".format(*quarter(close))
        buckets[key].append((value, probability))
    rows = sales.rows("forecast")
    assert [r["period"] for r in rows] == ["2026-Q2", "2026-Q3", "2026-Q4", "2027-Q1", "earlier", "later", "undated"]
    for row in rows:
        items = buckets[row["period"]]
        assert row["opportunities"] == len(items)
        assert row["total_value"] == cents(sum((Decimal(v or 0) for v, _ in items), Decimal(0)))
        assert row["weighted_value"] == cents(sum((weight(v, p) for v, p in items), Decimal(0)))
    assert rows[0]["start"] == "2026-04-01" and rows[0]["end"] == "2026-07-01"
    # 2026-Q2 holds 1000.00 × 50 % and 10.05 × 5 % = 500.5025 → 500.50
    assert rows[0]["weighted_value"] == "500.50"
    assert [r["period"] for r in sales.rows("forecast", quarters="2")][:2] == ["2026-Q2", "2026-Q3"]


def test_forecast_rejects_a_bad_quarter_count(sales):
    with pytest.raises(ReportError, match="quarters"):
        sales.rows("forecast", quarters="many")


def test_outstanding_quotes_orders_and_overdue_invoices(rdb):
    today = NOW.date()
    quotes = [("Active", "Open", "100.00", today - timedelta(days=1)), ("Active", "In Progress", "250.00", None),
              ("Draft", "In Progress", "999.00", None), ("Won", "Won", "50.00", None)]
    orders = [("Active", "New", "10.00"), ("Submitted", "In Progress", "20.00"), ("Fulfilled", "Complete", "30.00"),
              ("Invoiced", "Invoiced", "40.00"), ("Canceled", "Canceled", "50.00")]
    invoices = [  # state, status, total, paid, due
        ("Active", "New", "1000.00", "0.00", date(2026, 5, 1)),
        ("Paid", "Partial", "500.00", "200.00", date(2026, 4, 13)),
        ("Paid", "Complete", "300.00", "300.00", date(2026, 4, 1)),
        ("Active", "Billed", "80.00", "0.00", today),
        ("Canceled", "Canceled", "70.00", "0.00", date(2026, 1, 1)),
        ("Active", "New", "60.00", "0.00", date(2026, 6, 1)),
    ]
    with rdb.seed() as s:
        acme = seed.account(s, "Acme", T0)
        for i, (state, status, total, valid) in enumerate(quotes):
            seed.quote(s, T0 + timedelta(days=i), state, status, total, account_id=acme.id, effective_to=valid)
        for i, (state, status, total) in enumerate(orders):
            seed.order(s, T0 + timedelta(days=i), state, status, total)
        for state, status, total, paid, due in invoices:
            seed.invoice(s, T0, state, status, total, paid, due)

    q_rows = rdb.rows("quotes-outstanding")
    assert [r["total_amount"] for r in q_rows] == [q[2] for q in quotes if q[0] == "Active"]
    assert [r["expired"] for r in q_rows] == [True, False]
    assert q_rows[0]["account"] == "Acme" and q_rows[0]["age_days"] == (NOW - T0).days

    o_rows = rdb.rows("orders-outstanding")
    assert [r["total_amount"] for r in o_rows] == [o[2] for o in orders if o[0] not in ("Invoiced", "Canceled")]

    expected = sorted(
        ((due, Decimal(total) - Decimal(paid)) for state, status, total, paid, due in invoices
         if (state == "Active" or (state, status) == ("Paid", "Partial")) and due < today
         and Decimal(total) > Decimal(paid)),
    )
    i_rows = rdb.rows("invoices-overdue")
    assert [(r["due_date"], r["balance"], r["days_overdue"]) for r in i_rows] == [
        (due.isoformat(), cents(balance), (today - due).days) for due, balance in expected
    ]
    assert [r["days_overdue"] for r in i_rows] == [30, 12]

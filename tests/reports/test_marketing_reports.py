"""Campaign and funnel figures against counts made here from the seed."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
import report_seed as seed
from reports_support import NOW

from handlers.models import Activity
from handlers.reports import ReportError

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=NOW.tzinfo)


def pct(part: Decimal | int, whole: Decimal | int) -> str:
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# per campaign: activity costs (cost, state), other cost, lists, reached per wave, outbox states,
# responses, leads (state, won revenue or None)
A = {
    "activities": [("200.00", "Completed"), ("100.00", "Canceled"), ("25.50", "Open")],
    "other_cost": "50.00",
    "waves": [[1, 2, 3], [1, 3]],
    "outbox": ["sent", "sent", "sent", "pending", "pending", "failed"],
    "responses": 3,
    "leads": [("Qualified", "1000.00"), ("Qualified", None), ("Open", None), ("Qualified", "325.25")],
}
B = {
    "activities": [],
    "other_cost": "0",
    "waves": [[3]],
    "outbox": ["pending"],
    "responses": 1,
    "leads": [("Disqualified", None)],
}
LISTS = [([1, 2, 3], "A"), ([3, 4], "AB")]


@pytest.fixture
def marketing(rdb):
    made = {}
    with rdb.seed() as s:
        for name, spec in (("A", A), ("B", B)):
            c = seed.campaign(s, T0, other_cost=spec["other_cost"])
            made[name] = c
            for cost, state in spec["activities"]:
                seed.campaign_activity(s, c, T0, cost, state)
            for members in spec["waves"]:
                wave = seed.campaign_activity(s, c, T0, "0")
                for member in members:
                    seed.reach(s, c, wave, member, T0)
            for state in spec["outbox"]:
                seed.outbox_email(s, c.id, state, T0)
            for i in range(spec["responses"]):
                seed.response(s, c, T0 + timedelta(hours=i))
            for state, won in spec["leads"]:
                lead = seed.lead(s, T0, state=state, status=state if state != "Open" else "New", campaign=c)
                if state == "Qualified":
                    seed.opportunity(s, T0, state="Won" if won else "Lost", status="Won" if won else "Canceled",
                                     actual=won or "0", lead_id=lead.id)
        for members, targets in LISTS:
            seed.marketing_list(s, T0, members, [made[t] for t in targets])
        # noise that must not count: a response's incoming activity, mail of no campaign, another channel
        s.add(Activity(activity_type="campaign_response", subject="re", regarding_type="contact", regarding_id=4,
                       direction="incoming", state="Completed", status="Received", created_at=T0,
                       details={"campaign_id": made["A"].id}))
        seed.outbox_email(s, None, "sent", T0)
        seed.add(s, seed.OutboxMessage(channel="notification", idempotency_key="n1",
                                       payload={"campaign_id": made["A"].id}, state="sent", attempts=0,
                                       created_at=T0, next_attempt_at=T0))
    rdb.campaigns = made
    return rdb


def expected_row(spec: dict, lists: set[int]) -> dict:
    cost = sum((Decimal(c) for c, state in spec["activities"] if state != "Canceled"), Decimal(0))
    cost += Decimal(spec["other_cost"])
    revenue = sum((Decimal(w) for _, w in spec["leads"] if w), Decimal(0))
    return {
        "list_members": len(lists),
        "reached": len({m for wave in spec["waves"] for m in wave}),
        "emails_queued": len(spec["outbox"]),
        "emails_delivered": spec["outbox"].count("sent"),
        "responses": spec["responses"],
        "leads": len(spec["leads"]),
        "won_opportunities": sum(1 for _, w in spec["leads"] if w),
        "won_revenue": str(revenue.quantize(Decimal("0.01"))),
        "cost": str(cost.quantize(Decimal("0.01"))),
        "roi_percent": pct(revenue - cost, cost) if cost else None,
    }


def members_of(name: str) -> set[int]:
    return {m for members, targets in LISTS if name in targets for m in members}


def test_campaign_figures(marketing):
    rows = marketing.rows("campaigns")
    assert [r["number"] for r in rows] == [marketing.campaigns["A"].number, marketing.campaigns["B"].number]
    for row, (name, spec) in zip(rows, (("A", A), ("B", B)), strict=True):
        figures = {k: row[k] for k in expected_row(spec, set()) if k in row}
        assert figures == expected_row(spec, members_of(name)), name
    # by hand: A costs 200.00 + 25.50 + 50.00 = 275.50 and won 1325.25 → ROI 381.03 %
    assert (rows[0]["cost"], rows[0]["won_revenue"], rows[0]["roi_percent"]) == ("275.50", "1325.25", "381.03")
    assert rows[1]["roi_percent"] is None  # no cost: ROI undefined, not 0


def test_funnel_over_all_campaigns_and_one(marketing):
    specs = {"A": A, "B": B}
    stages = {
        "list members": sum(len(members_of(n)) for n in specs),
        "reached": sum(len({m for w in s["waves"] for m in w}) for s in specs.values()),
        "responses": sum(s["responses"] for s in specs.values()),
        "leads": sum(len(s["leads"]) for s in specs.values()),
        "qualified": sum(1 for s in specs.values() for state, _ in s["leads"] if state == "Qualified"),
        "won": sum(1 for s in specs.values() for _, w in s["leads"] if w),
    }
    rows = marketing.rows("funnel")
    assert [(r["stage"], r["count"]) for r in rows] == list(stages.items())
    counts = list(stages.values())
    assert [r["conversion_percent"] for r in rows] == [None] + [
        pct(b, a) if a else None for a, b in zip(counts, counts[1:], strict=False)
    ]
    assert rows[-1]["value"] == "1325.25" and all(r["value"] is None for r in rows[:-1])

    only_b = marketing.rows("funnel", campaign=marketing.campaigns["B"].number)
    assert [r["count"] for r in only_b] == [len(members_of("B")), 1, 1, 1, 0, 0]
    assert only_b[-1]["value"] == "0.00"


def test_unknown_campaign_is_a_clear_error(marketing):
    with pytest.raises(ReportError, match="no campaign 'CMP-nope'"):
        marketing.rows("campaigns", campaign="CMP-nope")

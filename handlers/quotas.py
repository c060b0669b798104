"""Sales quotas: a revenue target per salesperson (and optionally their team) per period.

Managers set them from the CLI (`crmflow quota set`) or the demo; the `quota-attainment`
report compares them with the revenue the owner won in the period. Periods are inclusive
dates (`2026-01-01` to `2026-03-31` is Q1). One owner's periods never overlap, so a won
opportunity counts towards exactly one of their quotas; setting a quota again with the same
start day changes it (an upsert), anything else that overlaps is refused with the quota it
would collide with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import DomainError
from .models.sales import SalesQuota
from .support import to_decimal

NAME_LENGTH = 150
#: Numeric(14, 2): twelve digits before the point
TARGET_MAX = Decimal("999999999999.99")
_PERIOD = re.compile(r"^(\d{4})(?:-(?:Q([1-4])|(\d{2})))?$", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def label(self) -> str:
        return period_label(self.start, self.end)


def parse_period(text: str) -> Period:
    """`2026-Q1`, `2026-03` or `2026` as inclusive start and end dates."""
    match = _PERIOD.match(text.strip())
    if not match:
        raise DomainError(f"period {text!r} must look like 2026-Q1 (a quarter), 2026-03 (a month) or 2026 (a year)")
    year, quarter, month = int(match.group(1)), match.group(2), match.group(3)
    if quarter:
        first = 3 * (int(quarter) - 1) + 1
        return Period(date(year, first, 1), _month_end(year, first + 2))
    if month:
        m = int(month)
        if not 1 <= m <= 12:
            raise DomainError(f"period {text!r}: month {m} is not 01 to 12")
        return Period(date(year, m, 1), _month_end(year, m))
    return Period(date(year, 1, 1), date(year, 12, 31))


def _month_end(year: int, month: int) -> date:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return nxt - timedelta(days=1)


def period_label(start: date, end: date) -> str:
    """`2026-Q1`, `2026-03` or `2026` when the period is exactly one, else `start..end`."""
    if start.day == 1 and end == _month_end(end.year, end.month) and start.year == end.year:
        if start.month == end.month:
            return f"{start.year}-{start.month:02d}"
        if end.month - start.month == 2 and start.month % 3 == 1:
            return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
        if (start.month, end.month) == (1, 12):
            return str(start.year)
    return f"{start.isoformat()}..{end.isoformat()}"


def _name(value: Any, field: str, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise DomainError(f"a quota needs an {field} (a user name)")
        return None
    if not isinstance(value, str):
        raise DomainError(f"quota {field} must be text, not {value!r}")
    name = value.strip()
    if len(name) > NAME_LENGTH:
        raise DomainError(f"quota {field} {name[:40]!r}… is longer than {NAME_LENGTH} characters")
    return name


def _day(value: Any, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise DomainError(f"quota {field} must be a date (YYYY-MM-DD), not {value!r}") from None


def _target(value: Any) -> Decimal:
    target = to_decimal(value, "quota target", minimum=Decimal("0"), maximum=TARGET_MAX)
    if target != target.quantize(Decimal("0.01")):
        raise DomainError(f"quota target {value!r} has more than two decimal places (it is money)")
    return target


def set_quota(
    session: Session,
    owner: str,
    period_start: date,
    period_end: date,
    target: Decimal | str | int,
    now: datetime,
    team: str | None = None,
) -> SalesQuota:
    """Create or change `owner`'s quota starting `period_start` (end inclusive).

    The same owner and start day updates the end, target and team; a period that overlaps
    another quota of the owner is refused, naming that quota.
    """
    who = _name(owner, "owner", required=True) or ""
    team_name = _name(team, "team", required=False)
    start, end = _day(period_start, "period start"), _day(period_end, "period end")
    if end <= start:
        raise DomainError(f"quota period end {end.isoformat()} must be after its start {start.isoformat()}")
    amount = _target(target)
    existing = session.scalars(select(SalesQuota).where(SalesQuota.owner == who)).all()
    same = next((q for q in existing if q.period_start == start), None)
    for other in existing:
        if other is not same and other.period_start <= end and start <= other.period_end:
            raise DomainError(
                f"{who} already has a quota for {period_label(other.period_start, other.period_end)} "
                f"({other.period_start.isoformat()} to {other.period_end.isoformat()}), which overlaps "
                f"{start.isoformat()} to {end.isoformat()}; change that one (same start) or pick another period"
            )
    if same is None:
        same = SalesQuota(owner=who, team=team_name, period_start=start, period_end=end, target=amount,
                          created_at=now)
        session.add(same)
    else:
        same.team, same.period_end, same.target, same.updated_at = team_name, end, amount, now
    session.flush()
    return same


def list_quotas(
    session: Session, owner: str | None = None, team: str | None = None, on: date | None = None,
) -> list[SalesQuota]:
    """Quotas by period, team (the teamless last) and owner; optionally one owner's, one team's,
    or those whose period holds the day `on`."""
    query = select(SalesQuota)
    if owner:
        query = query.where(SalesQuota.owner == owner.strip())
    if team:
        query = query.where(SalesQuota.team == team.strip())
    if on is not None:
        query = query.where(SalesQuota.period_start <= on, SalesQuota.period_end >= on)
    rows = session.scalars(query).all()
    return sorted(rows, key=lambda q: (q.period_start, q.period_end, q.team is None, q.team or "", q.owner))


def quota_view(quota: SalesQuota) -> dict[str, Any]:
    """A quota as JSON-ready figures (target as a money string)."""
    return {
        "id": quota.id,
        "owner": quota.owner,
        "team": quota.team,
        "period": period_label(quota.period_start, quota.period_end),
        "period_start": quota.period_start.isoformat(),
        "period_end": quota.period_end.isoformat(),
        "target": str(quota.target.quantize(Decimal("0.01"))),
        "created_at": quota.created_at.isoformat(),
        "updated_at": quota.updated_at.isoformat() if quota.updated_at else None,
    }

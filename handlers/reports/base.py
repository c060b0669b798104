"""What every report shares: its description, its parameters and how figures are written.

Figures leave a report JSON-ready: counts as ints, money / percentages / averages as Decimal
strings (`"1234.50"`), so the CLI, the CSV export, the API and the charts show the same digits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.orm import Session

Params = Mapping[str, Any]
Row = dict[str, Any]
Compute = Callable[[Session, datetime, Params], list[Row]]

CENT = Decimal("0.01")
ZERO = Decimal("0")
#: the parameters of a report that counts events in a time window
WINDOW = ("since", "until")
#: the kinds a column can have, so a table or a chart knows what it shows
KINDS = ("text", "int", "money", "percent", "number", "date", "datetime")


class ReportError(ValueError):
    """A report cannot run as asked (unknown name, bad parameter); the message says which."""


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    kind: str = "text"

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "title": self.title, "kind": self.kind}


@dataclass(frozen=True)
class Report:
    """A named table of figures: `rows(session, now, params)` computes it from the records."""

    name: str
    title: str
    area: str
    description: str
    columns: tuple[Column, ...]
    compute: Compute = field(repr=False)
    #: the parameters it reads (`WINDOW` for `since` / `until`); a report without them is a snapshot at `now`
    params: tuple[str, ...] = ()

    def rows(self, session: Session, now: datetime, params: Params | None = None) -> list[Row]:
        return self.compute(session, utc(now), params or {})

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "area": self.area, "description": self.description,
                "columns": [c.to_dict() for c in self.columns], "params": list(self.params)}


def cols(*spec: tuple[str, str] | tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*s) for s in spec)


# -- parameters -------------------------------------------------------------------------------
def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def param_time(params: Params, key: str) -> datetime | None:
    """`since` / `until` as an aware UTC datetime; accepts datetimes, dates and ISO strings."""
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        return utc(datetime.fromisoformat(str(value).strip()))
    except ValueError:
        raise ReportError(f"{key} {value!r} is not an ISO 8601 time (e.g. 2026-01-05 or 2026-01-05T09:00Z)") from None


def param_int(params: Params, key: str, default: int, minimum: int = 1, maximum: int = 1000) -> int:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ReportError(f"{key} must be a whole number, not {value!r}") from None
    if not minimum <= number <= maximum:
        raise ReportError(f"{key} must be between {minimum} and {maximum}, not {number}")
    return number


def window(params: Params) -> tuple[datetime | None, datetime | None]:
    """The `[since, until)` window a report counts events in; either end may be open."""
    since, until = param_time(params, "since"), param_time(params, "until")
    if since is not None and until is not None and until <= since:
        raise ReportError(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    return since, until


def within(at: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    """Whether `at` falls in `[since, until)` (an open end lets everything through)."""
    if at is None:
        return False
    return (since is None or at >= since) and (until is None or at < until)


# -- figures ----------------------------------------------------------------------------------
def money(value: Decimal | int | None) -> str | None:
    """Money to the cent as a string; None stays None (unknown is not zero)."""
    if value is None:
        return None
    return str(Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))


def number(value: Decimal | int | None) -> str | None:
    """Any non-money figure (days, hours, terms) to two places."""
    return money(value)


def percent(part: int | Decimal, whole: int | Decimal) -> str | None:
    """`part / whole` as a percentage to two places; None when `whole` is zero (undefined, not 0 %)."""
    if not whole:
        return None
    return money(Decimal(part) * 100 / Decimal(whole))


def hours(delta: timedelta) -> Decimal:
    return Decimal(int(delta.total_seconds())) / 3600


def days(delta: timedelta) -> Decimal:
    return Decimal(int(delta.total_seconds())) / 86400


def average(values: Iterable[Decimal]) -> Decimal | None:
    items = list(values)
    return sum(items, ZERO) / len(items) if items else None


def age_days(since: datetime | date | None, now: datetime) -> int | None:
    """Whole days from `since` to `now` (dates count from midnight UTC)."""
    if since is None:
        return None
    if not isinstance(since, datetime):
        return (now.date() - since).days
    return (now - utc(since)).days


def iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()

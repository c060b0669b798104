"""Business-hours calendars: working-time arithmetic for SLAs and "business hours" timers.

The arithmetic is pure (`WorkCalendar`, `add_business_time`, `business_time_between`) so
it can be tested without a database; `save_calendar` / `load_calendar` keep calendars in
`crm_business_calendar` and its holiday / exception tables.

Working time is counted in real elapsed time inside the open intervals, and the intervals
are wall-clock times in the calendar's own IANA zone. So a Mon–Fri 9–17 team's day is
eight hours on either side of a DST change, and a 24-hour day across the spring-forward
night holds 23 hours. Interval bounds that fall into a DST gap move to the first instant
after the gap; bounds that fall into the repeated hour take its first occurrence for a
start and its second for an end (the interval covers the whole wall-clock stretch).

`add_business_time(cal, start, d)` is the earliest instant `t >= start` with
`business_time_between(cal, start, t) == d`: a zero duration returns `start` itself, and
one hour from Friday 16:00 is Friday 17:00, not Monday 09:00.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.services import ServiceContext

from .errors import DomainError, RecordNotFound
from .models.planning import BusinessCalendar, CalendarException, CalendarHoliday
from .support import fetch, operation, to_decimal

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
#: `add_business_time` gives up after this many closed days in a row (a calendar that never opens)
MAX_CLOSED_DAYS = 3 * 366

#: open intervals of one day as (start minute, end minute) of the local wall clock, end ≤ 1440
Hours = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class WorkCalendar:
    """A calendar ready for arithmetic; build it with `make_calendar` (which validates)."""

    name: str
    zone: ZoneInfo
    weekly: tuple[Hours, ...]  # Monday first, 7 entries
    holidays: frozenset[date] = frozenset()
    exceptions: Mapping[date, Hours] = field(default_factory=dict)

    def hours_on(self, day: date) -> Hours:
        """The open intervals of `day`: its exception, else nothing on a holiday, else its weekday's."""
        if day in self.exceptions:
            return self.exceptions[day]
        if day in self.holidays:
            return ()
        return self.weekly[day.weekday()]


# -- building and validating -------------------------------------------------------------
def _zone(time_zone: Any) -> ZoneInfo:
    if not isinstance(time_zone, str) or not time_zone.strip():
        raise DomainError(f"a calendar needs an IANA time zone such as 'Europe/Berlin', not {time_zone!r}")
    try:
        return ZoneInfo(time_zone.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(f"unknown time zone {time_zone!r} (use an IANA name such as 'Europe/Berlin')") from None


def _minute(text: Any, where: str) -> int:
    """'09:30' → 570; '24:00' is the end of the day."""
    if not isinstance(text, str):
        raise DomainError(f"{where}: a time must be text 'HH:MM', not {text!r}")
    hh, sep, mm = text.strip().partition(":")
    if not sep or not hh.isdigit() or not mm.isdigit() or len(mm) != 2:
        raise DomainError(f"{where}: {text!r} is not a time 'HH:MM'")
    minute = int(hh) * 60 + int(mm)
    if int(mm) > 59 or minute > DAY_MINUTES:
        raise DomainError(f"{where}: {text!r} is not a time of day (00:00 to 24:00)")
    return minute


def parse_hours(intervals: Any, where: str) -> Hours:
    """`[["09:00", "12:00"], ["13:00", "17:00"]]` → sorted minute intervals; touching ones merge."""
    if intervals is None:
        return ()
    if not isinstance(intervals, (list, tuple)):
        raise DomainError(f"{where}: hours must be a list of [start, end] pairs, not {intervals!r}")
    parsed = []
    for pair in intervals:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise DomainError(f"{where}: {pair!r} is not a [start, end] pair")
        start, end = _minute(pair[0], where), _minute(pair[1], where)
        if start >= end:
            raise DomainError(f"{where}: interval {pair[0]}–{pair[1]} must end after it starts")
        parsed.append((start, end))
    parsed.sort()
    merged: list[tuple[int, int]] = []
    for start, end in parsed:
        if merged and start < merged[-1][1]:
            raise DomainError(f"{where}: intervals overlap around {_hhmm(start)}")
        if merged and start == merged[-1][1]:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _day(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        raise DomainError(f"{where}: {value!r} is a date and time; give a date")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise DomainError(f"{where}: {value!r} is not a date YYYY-MM-DD") from None


def _holiday_names(holidays: Iterable[Any] | Mapping[Any, Any] | None) -> dict[date, str | None]:
    if holidays is None:
        return {}
    if isinstance(holidays, Mapping):
        return {_day(k, "holidays"): (None if v is None else str(v)) for k, v in holidays.items()}
    return {_day(k, "holidays"): None for k in holidays}


def make_calendar(
    name: str,
    time_zone: str,
    weekly_hours: Mapping[str, Any],
    holidays: Iterable[Any] | Mapping[Any, Any] | None = None,
    exceptions: Mapping[Any, Any] | None = None,
) -> WorkCalendar:
    """Validate a calendar given as plain data (the shape `save_calendar` stores)."""
    if not isinstance(weekly_hours, Mapping):
        raise DomainError(f"weekly_hours must map weekdays ({', '.join(WEEKDAYS)}) to hours")
    unknown = set(weekly_hours) - set(WEEKDAYS)
    if unknown:
        raise DomainError(f"unknown weekday(s) {', '.join(sorted(map(str, unknown)))}; use {', '.join(WEEKDAYS)}")
    weekly = tuple(parse_hours(weekly_hours.get(day), f"{name} {day}") for day in WEEKDAYS)
    days = {}
    for key, hours in (exceptions or {}).items():
        day = _day(key, f"{name} exceptions")
        days[day] = parse_hours(hours, f"{name} exception {day}")
    return WorkCalendar(name, _zone(time_zone), weekly, frozenset(_holiday_names(holidays)), days)


# -- arithmetic ----------------------------------------------------------------------------
def _aware(value: Any, field_name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise DomainError(f"{field_name} must be a timezone-aware datetime, not {value!r}")
    return value


def _instant(zone: ZoneInfo, day: date, minute: int, fold: int) -> datetime:
    """The UTC instant of wall-clock `minute` on `day` in `zone` (see the module notes on DST)."""
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    for _ in range(DAY_MINUTES):  # walk out of a DST gap, minute by minute
        local = naive.replace(tzinfo=zone, fold=fold)
        instant = local.astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == naive:
            return instant
        naive += timedelta(minutes=1)
    raise DomainError(f"{zone.key}: no valid local time near {day} {_hhmm(minute)}")  # pragma: no cover


def _spans(cal: WorkCalendar, start: datetime, until: datetime | None = None) -> Iterator[tuple[datetime, datetime]]:
    """Open spans (UTC) from `start` on, the first clipped to `start`; up to `until` if given."""
    start = start.astimezone(UTC)
    day = start.astimezone(cal.zone).date() - timedelta(days=1)
    closed = 0
    while True:
        if until is not None and _instant(cal.zone, day, 0, 0) > until:
            return
        opened = False
        for first, last in cal.hours_on(day):
            s, e = _instant(cal.zone, day, first, 0), _instant(cal.zone, day, last, 1)
            if e > start and e > s:
                opened = True
                yield max(s, start), e
        closed = 0 if opened else closed + 1
        if until is None and closed > MAX_CLOSED_DAYS:
            raise DomainError(f"calendar {cal.name!r} has no working hours in the {MAX_CLOSED_DAYS} days after {day}")
        day += timedelta(days=1)


def add_business_time(cal: WorkCalendar, start: datetime, duration: timedelta) -> datetime:
    """`start` plus `duration` of working time, in the calendar's zone.

    Raises `DomainError` for a naive `start`, a negative duration, or a calendar that
    never opens again.
    """
    _aware(start, "start")
    if duration < timedelta(0):
        raise DomainError(f"a business-time duration cannot be negative ({duration})")
    if duration == timedelta(0):
        return start.astimezone(cal.zone)
    left = duration
    for s, e in _spans(cal, start):
        if e - s >= left:
            return (s + left).astimezone(cal.zone)
        left -= e - s
    raise AssertionError("unreachable: _spans is endless or raises")  # pragma: no cover


def business_time_between(cal: WorkCalendar, a: datetime, b: datetime) -> timedelta:
    """Working time from `a` to `b` (negative when `b` is before `a`)."""
    _aware(a, "a")
    _aware(b, "b")
    if b < a:
        return -business_time_between(cal, b, a)
    total = timedelta(0)
    b_utc = b.astimezone(UTC)
    for s, e in _spans(cal, a, until=b_utc):
        if s >= b_utc:
            break
        total += min(e, b_utc) - s
    return total


def is_open(cal: WorkCalendar, at: datetime) -> bool:
    """Whether `at` falls inside working hours."""
    _aware(at, "at")
    at_utc = at.astimezone(UTC)
    return any(s <= at_utc < e for s, e in _spans(cal, at, until=at_utc))


def next_opening(cal: WorkCalendar, at: datetime) -> datetime:
    """`at` itself when open, else when the calendar next opens (in its zone)."""
    _aware(at, "at")
    s, _ = next(_spans(cal, at))
    return s.astimezone(cal.zone)


# -- stored calendars ----------------------------------------------------------------------
def save_calendar(
    session: Session,
    name: str,
    time_zone: str,
    weekly_hours: Mapping[str, Any],
    holidays: Iterable[Any] | Mapping[Any, Any] | None = None,
    exceptions: Mapping[Any, Any] | None = None,
    now: datetime | None = None,
) -> BusinessCalendar:
    """Create or replace the calendar `name` (its holidays and exceptions replaced as a whole)."""
    if not isinstance(name, str) or not name.strip():
        raise DomainError("a calendar needs a name")
    name = name.strip()
    checked = make_calendar(name, time_zone, weekly_hours, holidays, exceptions)
    row = session.scalars(select(BusinessCalendar).where(BusinessCalendar.name == name)).first()
    if row is None:
        row = BusinessCalendar(name=name, created_at=now or datetime.now(UTC))
        session.add(row)
    row.time_zone = checked.zone.key
    row.weekly_hours = {day: _as_text(hours) for day, hours in zip(WEEKDAYS, checked.weekly, strict=True) if hours}
    session.flush()
    session.execute(delete(CalendarHoliday).where(CalendarHoliday.calendar_id == row.id))
    session.execute(delete(CalendarException).where(CalendarException.calendar_id == row.id))
    for day, label in sorted(_holiday_names(holidays).items()):
        session.add(CalendarHoliday(calendar_id=row.id, day=day, name=label))
    for day, hours in sorted(checked.exceptions.items()):
        session.add(CalendarException(calendar_id=row.id, day=day, hours=_as_text(hours)))
    session.flush()
    return row


def _as_text(hours: Hours) -> list[list[str]]:
    return [[_hhmm(start), _hhmm(end)] for start, end in hours]


def load_calendar(session: Session, name: str) -> WorkCalendar:
    """The stored calendar `name` ready for arithmetic; `RecordNotFound` if there is none."""
    row = session.scalars(select(BusinessCalendar).where(BusinessCalendar.name == name)).first()
    if row is None:
        raise RecordNotFound(f"business calendar {name!r} does not exist")
    holidays = session.scalars(select(CalendarHoliday.day).where(CalendarHoliday.calendar_id == row.id))
    exceptions = session.scalars(select(CalendarException).where(CalendarException.calendar_id == row.id))
    days = {e.day: e.hours for e in exceptions}
    return make_calendar(row.name, row.time_zone, row.weekly_hours, list(holidays), days)


def hours_delta(hours: Any, field_name: str = "hours") -> timedelta:
    """A number of hours (int, float, Decimal or numeric text) ≥ 0 as a timedelta."""
    value = to_decimal(hours, field_name, minimum=Decimal(0))
    return timedelta(seconds=float(value * 3600))


def business_target(session: Session, calendar_name: str | None, start: datetime, duration: timedelta) -> datetime:
    """`start + duration`, in working time when a calendar is named (for SLA targets)."""
    if calendar_name is None:
        return start + duration
    return add_business_time(load_calendar(session, calendar_name), start, duration)


def sla_due(session: Session, case: Any, hours: Any, calendar_name: str) -> datetime:
    """When an SLA target of `hours` working hours, counted from the case's creation, falls due.

    `case` is a `Case` or its id.
    """
    from .models.service import Case

    record = case if isinstance(case, Case) else fetch(session, Case, case)
    return add_business_time(load_calendar(session, calendar_name), record.created_at, hours_delta(hours))


def _parse_start(start_iso: Any, now: datetime) -> datetime:
    if start_iso is None or start_iso == "":
        return now
    if isinstance(start_iso, datetime):
        return _aware(start_iso, "start_iso")
    try:
        start = datetime.fromisoformat(str(start_iso).strip())
    except ValueError:
        raise DomainError(f"start_iso {start_iso!r} is not an ISO date-time") from None
    if start.tzinfo is None:
        raise DomainError(f"start_iso {start_iso!r} needs a UTC offset (e.g. +00:00 or Z)")
    return start


@operation("service/business_due")
def business_due(
    ctx: ServiceContext,
    calendar: str,
    hours: float | int | str,
    start_iso: str | None = None,
    warning_fraction: float | None = None,
) -> dict[str, Any]:
    """When `hours` working hours of `calendar` after `start_iso` (None: now) are over.

    `due_at` is UTC ISO, ready for a timer's `timeDate` expression (`due["due_at"]`);
    `due_local` is the same instant on the calendar's wall clock. With `warning_fraction`,
    `warning_at` is that fraction of the working time in (an SLA warning).
    """
    cal = load_calendar(ctx.session, calendar)
    start = _parse_start(start_iso, ctx.now)
    duration = hours_delta(hours)
    due = add_business_time(cal, start, duration)
    result: dict[str, Any] = {
        "calendar": cal.name,
        "time_zone": cal.zone.key,
        "start": start.astimezone(UTC).isoformat(),
        "hours": str(to_decimal(hours, "hours")),
        "due_at": due.astimezone(UTC).isoformat(),
        "due_local": due.isoformat(),
    }
    if warning_fraction is not None:
        if isinstance(warning_fraction, bool) or not isinstance(warning_fraction, (int, float)):
            raise DomainError(f"warning_fraction must be a number between 0 and 1, not {warning_fraction!r}")
        if not 0 < warning_fraction < 1:
            raise DomainError(f"warning_fraction must be between 0 and 1 (exclusive), not {warning_fraction!r}")
        warning = add_business_time(cal, start, duration * warning_fraction)
        result["warning_at"] = warning.astimezone(UTC).isoformat()
    return result

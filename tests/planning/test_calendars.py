"""Business-hours arithmetic: weekends, holidays, exceptions, DST in both directions, year end.

Expected times are written out by hand as wall-clock times in the calendar's zone (and,
where DST matters, also as UTC), never computed with the code under test.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from handlers.calendars import (
    add_business_time,
    business_time_between,
    is_open,
    make_calendar,
    next_opening,
)
from handlers.errors import DomainError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)
WEEKDAYS_9_TO_17 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def new_york(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


TEAM = make_calendar("Support Berlin", "Europe/Berlin", WEEKDAYS_9_TO_17)
TEAM_NY = make_calendar("Support New York", "America/New_York", WEEKDAYS_9_TO_17)
ALWAYS = make_calendar("24/7", "Europe/Berlin", {d: [["00:00", "24:00"]] for d in
                                                 ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
YEAR_END = make_calendar(
    "Support Berlin",
    "Europe/Berlin",
    WEEKDAYS_9_TO_17,
    holidays={"2026-12-24": "Christmas Eve", "2026-12-25": "Christmas", "2026-12-31": "New Year's Eve",
              "2027-01-01": "New Year"},
)


# -- the example and the plain cases ----------------------------------------------------
def test_four_business_hours_from_friday_1600_is_monday_1200() -> None:
    due = add_business_time(TEAM, berlin(2026, 1, 9, 16, 0), 4 * H)
    assert due == berlin(2026, 1, 12, 12, 0)
    assert due.tzinfo == BERLIN and (due.hour, due.minute) == (12, 0), "returned on the calendar's wall clock"


def test_a_start_in_another_zone_is_the_same_instant() -> None:
    friday_16_berlin = datetime(2026, 1, 9, 15, 0, tzinfo=UTC)
    assert add_business_time(TEAM, friday_16_berlin, 4 * H) == datetime(2026, 1, 12, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (berlin(2026, 1, 10, 10, 0), 1, berlin(2026, 1, 12, 10, 0)),  # Saturday: counts from Monday 09:00
        (berlin(2026, 1, 11, 23, 59), 8, berlin(2026, 1, 12, 17, 0)),  # Sunday night: all of Monday
        (berlin(2026, 1, 12, 7, 0), 2, berlin(2026, 1, 12, 11, 0)),  # before opening
        (berlin(2026, 1, 12, 18, 0), 1, berlin(2026, 1, 13, 10, 0)),  # after closing
        (berlin(2026, 1, 12, 9, 0), 40, berlin(2026, 1, 16, 17, 0)),  # a full week ends Friday at closing
        (berlin(2026, 1, 12, 9, 0), 41, berlin(2026, 1, 19, 10, 0)),
        (berlin(2026, 1, 12, 10, 30), 0.5, berlin(2026, 1, 12, 11, 0)),
    ],
)
def test_counts_only_open_hours(start: datetime, hours: float, due: datetime) -> None:
    assert add_business_time(TEAM, start, timedelta(hours=hours)) == due


def test_zero_duration_is_the_start_itself_even_outside_hours() -> None:
    saturday = berlin(2026, 1, 10, 10, 0)
    assert add_business_time(TEAM, saturday, timedelta(0)) == saturday
    assert add_business_time(TEAM, berlin(2026, 1, 12, 11, 0), timedelta(0)) == berlin(2026, 1, 12, 11, 0)


def test_start_exactly_at_closing() -> None:
    closing = berlin(2026, 1, 9, 17, 0)
    assert add_business_time(TEAM, closing, H) == berlin(2026, 1, 12, 10, 0)
    assert add_business_time(TEAM, closing, timedelta(0)) == closing
    assert not is_open(TEAM, closing), "closing time is not open any more"
    assert next_opening(TEAM, closing) == berlin(2026, 1, 12, 9, 0)


def test_work_that_ends_at_closing_is_due_at_closing_not_next_morning() -> None:
    assert add_business_time(TEAM, berlin(2026, 1, 9, 16, 0), H) == berlin(2026, 1, 9, 17, 0)


def test_several_intervals_a_day() -> None:
    split = make_calendar("Split", "Europe/Berlin", {"mon": [["13:00", "17:00"], ["09:00", "12:00"]]})
    assert add_business_time(split, berlin(2026, 1, 12, 11, 0), 2 * H) == berlin(2026, 1, 12, 14, 0)
    assert add_business_time(split, berlin(2026, 1, 12, 12, 30), H) == berlin(2026, 1, 12, 14, 0)
    assert business_time_between(split, berlin(2026, 1, 12, 0, 0), berlin(2026, 1, 13, 0, 0)) == 7 * H
    assert add_business_time(split, berlin(2026, 1, 12, 16, 0), 2 * H) == berlin(2026, 1, 19, 10, 0)


# -- holidays, exceptions, year end --------------------------------------------------------------
def test_holidays_are_skipped_like_weekends() -> None:
    # Wed 23 Dec 16:00: one hour that day; 24 and 25 are holidays, 26/27 the weekend
    assert add_business_time(YEAR_END, berlin(2026, 12, 23, 16, 0), 4 * H) == berlin(2026, 12, 28, 12, 0)
    assert add_business_time(TEAM, berlin(2026, 12, 23, 16, 0), 4 * H) == berlin(2026, 12, 24, 12, 0)


def test_across_the_year_end() -> None:
    # Wed 30 Dec 15:00: two hours; 31 Dec and 1 Jan are holidays, 2/3 Jan the weekend; six hours on Mon 4 Jan 2027
    start = berlin(2026, 12, 30, 15, 0)
    assert add_business_time(YEAR_END, start, 8 * H) == berlin(2027, 1, 4, 15, 0)
    assert business_time_between(YEAR_END, start, berlin(2027, 1, 4, 15, 0)) == 8 * H
    assert business_time_between(YEAR_END, berlin(2026, 12, 21, 0, 0), berlin(2027, 1, 11, 0, 0)) == 11 * 8 * H


def test_exceptions_change_one_date() -> None:
    cal = make_calendar(
        "Store",
        "Europe/Berlin",
        WEEKDAYS_9_TO_17,
        holidays=["2026-12-24"],
        exceptions={
            "2026-12-23": [["09:00", "12:00"]],  # short day
            "2026-12-22": [],  # closed (inventory)
            "2026-12-19": [["10:00", "14:00"]],  # open on a Saturday
            date(2026, 12, 24): [["09:00", "11:00"]],  # the exception wins over the holiday
        },
    )
    assert add_business_time(cal, berlin(2026, 12, 21, 16, 0), 2 * H) == berlin(2026, 12, 23, 10, 0)
    assert add_business_time(cal, berlin(2026, 12, 23, 11, 0), 2 * H) == berlin(2026, 12, 24, 10, 0)
    assert add_business_time(cal, berlin(2026, 12, 18, 16, 0), 3 * H) == berlin(2026, 12, 19, 12, 0)
    assert business_time_between(cal, berlin(2026, 12, 21, 0, 0), berlin(2026, 12, 26, 0, 0)) == (8 + 0 + 3 + 2 + 8) * H


# -- DST -----------------------------------------------------------------------------------------
def test_berlin_spring_forward_keeps_wall_clock_hours() -> None:
    # 2026-03-29: 02:00 CET → 03:00 CEST
    due = add_business_time(TEAM, berlin(2026, 3, 27, 16, 0), 4 * H)
    assert due == berlin(2026, 3, 30, 12, 0)
    assert due.utcoffset() == 2 * H and due.astimezone(UTC) == datetime(2026, 3, 30, 10, 0, tzinfo=UTC)
    assert business_time_between(TEAM, berlin(2026, 3, 27, 16, 0), due) == 4 * H


def test_berlin_fall_back_keeps_wall_clock_hours() -> None:
    # 2026-10-25: 03:00 CEST → 02:00 CET
    due = add_business_time(TEAM, berlin(2026, 10, 23, 16, 0), 4 * H)
    assert due == berlin(2026, 10, 26, 12, 0)
    assert due.utcoffset() == H and due.astimezone(UTC) == datetime(2026, 10, 26, 11, 0, tzinfo=UTC)


def test_new_york_both_changes() -> None:
    # 2026-03-08 spring forward, 2026-11-01 fall back
    spring = add_business_time(TEAM_NY, new_york(2026, 3, 6, 16, 0), 4 * H)
    assert spring == new_york(2026, 3, 9, 12, 0)
    assert spring.astimezone(UTC) == datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
    fall = add_business_time(TEAM_NY, new_york(2026, 10, 30, 16, 0), 4 * H)
    assert fall == new_york(2026, 11, 2, 12, 0)
    assert fall.astimezone(UTC) == datetime(2026, 11, 2, 17, 0, tzinfo=UTC)


def test_a_round_the_clock_calendar_counts_real_hours_on_dst_days() -> None:
    assert business_time_between(ALWAYS, berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0)) == 23 * H
    assert business_time_between(ALWAYS, berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0)) == 25 * H
    assert add_business_time(ALWAYS, berlin(2026, 3, 28, 12, 0), 24 * H) == berlin(2026, 3, 29, 13, 0)
    assert add_business_time(ALWAYS, berlin(2026, 10, 24, 12, 0), 24 * H) == berlin(2026, 10, 25, 11, 0)


def test_interval_bounds_inside_the_dst_gap_and_the_repeated_hour() -> None:
    sundays = make_calendar("Night shift", "Europe/Berlin", {"sun": [["01:00", "04:00"]]})
    # spring: 02:00–03:00 does not exist, the shift is two real hours
    assert business_time_between(sundays, berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 30, 0, 0)) == 2 * H
    assert add_business_time(sundays, berlin(2026, 3, 29, 1, 0), 2 * H) == berlin(2026, 3, 29, 4, 0)
    # fall: 02:00–03:00 happens twice, the shift is four real hours
    assert business_time_between(sundays, berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0)) == 4 * H
    gap_start = make_calendar("Gap", "Europe/Berlin", {"sun": [["02:30", "05:00"]]})
    assert next_opening(gap_start, berlin(2026, 3, 29, 0, 0)) == berlin(2026, 3, 29, 3, 0), "opens after the gap"
    twice = make_calendar("Twice", "Europe/Berlin", {"sun": [["02:30", "05:00"]]})
    first_0230 = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first of the two
    # (compared in UTC: by PEP 495 a time in the repeated hour never equals one in another zone)
    assert next_opening(twice, berlin(2026, 10, 25, 0, 0)).astimezone(UTC) == first_0230
    assert business_time_between(twice, berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 26, 0, 0)) == 3.5 * H


# -- between, and add/between agree ------------------------------------------------------------
def test_between_is_signed_and_ignores_closed_time() -> None:
    fri, mon = berlin(2026, 1, 9, 16, 0), berlin(2026, 1, 12, 12, 0)
    assert business_time_between(TEAM, fri, mon) == 4 * H
    assert business_time_between(TEAM, mon, fri) == -4 * H
    assert business_time_between(TEAM, berlin(2026, 1, 10, 8, 0), berlin(2026, 1, 11, 20, 0)) == timedelta(0)
    assert business_time_between(TEAM, fri, fri) == timedelta(0)


@pytest.mark.parametrize("cal", [TEAM, TEAM_NY, YEAR_END], ids=lambda c: c.name)
def test_between_undoes_add_for_random_starts(cal) -> None:  # noqa: ANN001
    rng = random.Random(20261)
    zone = cal.zone
    for _ in range(200):
        start = datetime(2026, 1, 1, tzinfo=zone) + timedelta(minutes=rng.randrange(0, 370 * 24 * 60))
        duration = timedelta(minutes=rng.randrange(1, 60 * 60))
        due = add_business_time(cal, start, duration)
        assert business_time_between(cal, start, due) == duration, (start, duration, due)
        assert is_open(cal, due - timedelta(minutes=1)) or is_open(cal, due), "due inside (or at the end of) hours"


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"time_zone": ""}, "IANA time zone"),
        ({"weekly_hours": {"monday": [["09:00", "17:00"]]}}, "unknown weekday"),
        ({"weekly_hours": {"mon": [["9am", "17:00"]]}}, "not a time"),
        ({"weekly_hours": {"mon": [["17:00", "09:00"]]}}, "must end after"),
        ({"weekly_hours": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}}, "overlap"),
        ({"weekly_hours": {"mon": [["09:00", "24:30"]]}}, "not a time of day"),
        ({"holidays": ["2026-02-30"]}, "not a date"),
    ],
)
def test_bad_calendars_are_refused_with_the_reason(kwargs: dict, message: str) -> None:
    spec = {"name": "x", "time_zone": "Europe/Berlin", "weekly_hours": WEEKDAYS_9_TO_17, **kwargs}
    with pytest.raises(DomainError, match=message):
        make_calendar(**spec)


def test_bad_arguments() -> None:
    with pytest.raises(DomainError, match="timezone-aware"):
        add_business_time(TEAM, datetime(2026, 1, 9, 16, 0), H)
    with pytest.raises(DomainError, match="negative"):
        add_business_time(TEAM, berlin(2026, 1, 9, 16, 0), -H)
    never = make_calendar("Never", "Europe/Berlin", {})
    with pytest.raises(DomainError, match="no working hours"):
        add_business_time(never, berlin(2026, 1, 9, 16, 0), H)
    assert business_time_between(never, berlin(2026, 1, 1, 0, 0), berlin(2027, 1, 1, 0, 0)) == timedelta(0)

"""SLA clocks that only run during business hours, skipping public holidays."""

import zoneinfo
from collections.abc import Container
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays as holiday_calendars


def add_business_hours(
    start: datetime,
    hours: float,
    tz: zoneinfo.ZoneInfo,
    *,
    open_hour: int = 9,
    close_hour: int = 17,
    workdays: frozenset[int] = frozenset(range(5)),
    holidays: Container[date] = frozenset(),
) -> datetime:
    """The moment ``hours`` of business time after ``start`` (aware), as aware UTC. Business
    time runs from open_hour to close_hour local time on ``workdays`` (Monday=0) that are not
    ``holidays``; a message that arrives at night, on a weekend or a holiday starts the clock at
    the next opening. Durations are real time: a 0-24 day on which clocks change is 23 or 25
    hours long (arithmetic on aware datetimes of one zone would count it as 24)."""
    if not workdays or close_hour <= open_hour:
        raise ValueError("Business hours need at least one workday and close after open.")
    remaining = timedelta(hours=hours)
    moment = start.astimezone(UTC)
    day = start.astimezone(tz).date()
    for _ in range(3660):  # ten years of days without an opening: the calendar closes everything
        opens = datetime.combine(day, time(open_hour), tzinfo=tz).astimezone(UTC)
        closes = (
            datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
            if close_hour >= 24
            else datetime.combine(day, time(close_hour), tzinfo=tz)
        ).astimezone(UTC)
        if day.weekday() in workdays and day not in holidays and moment < closes:
            moment = max(moment, opens)
            available = closes - moment
            if remaining <= available:
                return moment + remaining
            remaining -= available
        day += timedelta(days=1)
    raise ValueError("No business hours in the next ten years: check the workdays and holidays.")


@lru_cache(maxsize=8)
def public_holidays(country: str, subdivision: str = "") -> Container[date]:
    """The public holidays of a country (and subdivision) from the ``holidays`` package, every
    year on demand; an empty country means none. Raises ValueError for an unknown code."""
    if not country:
        return frozenset()
    try:
        return holiday_calendars.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from None


WEEKDAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def parse_workdays(text: str) -> frozenset[int]:
    """'mon-fri', 'mon,tue,thu', 'sun-thu' -> weekday numbers (Monday=0)."""
    days: set[int] = set()
    for chunk in text.replace(" ", "").lower().split(","):
        if not chunk:
            continue
        first, _, last = chunk.partition("-")
        first, last = first[:3], (last or first)[:3]
        if first not in WEEKDAY_NAMES or last not in WEEKDAY_NAMES:
            raise ValueError(f"Unknown weekday in {chunk!r}; use mon, tue, ... or a range like mon-fri")
        day, end = WEEKDAY_NAMES.index(first), WEEKDAY_NAMES.index(last)
        days.add(day)
        while day != end:
            day = (day + 1) % 7
            days.add(day)
    if not days:
        raise ValueError("No workdays given")
    return frozenset(days)

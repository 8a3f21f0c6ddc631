"""SLA clocks that only run during business hours."""

import zoneinfo
from datetime import UTC, datetime, time, timedelta


def add_business_hours(
    start: datetime,
    hours: float,
    tz: zoneinfo.ZoneInfo,
    *,
    open_hour: int = 9,
    close_hour: int = 17,
    workdays: frozenset[int] = frozenset(range(5)),
) -> datetime:
    """The moment ``hours`` of business time after ``start`` (aware), as aware UTC. Business
    time runs from open_hour to close_hour local time on ``workdays`` (Monday=0); a message
    that arrives at night or on a weekend starts the clock at the next opening."""
    if not workdays or close_hour <= open_hour:
        raise ValueError("Business hours need at least one workday and close after open.")
    remaining = timedelta(hours=hours)
    local = start.astimezone(tz)
    while True:
        day = local.date()
        opens = datetime.combine(day, time(open_hour), tzinfo=tz)
        closes = (
            datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
            if close_hour >= 24
            else datetime.combine(day, time(close_hour), tzinfo=tz)
        )
        if day.weekday() in workdays and local < closes:
            local = max(local, opens)
            available = closes - local
            if remaining <= available:
                return (local + remaining).astimezone(UTC)
            remaining -= available
        local = datetime.combine(day + timedelta(days=1), time(open_hour), tzinfo=tz)


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

"""US business days, for the 10-business-day deadline of a revocation (47 CFR 64.1200(a)(10)):
weekends and the US federal holidays (5 U.S.C. 6103) do not count.

The holidays are computed by their statutory rule, so no calendar needs updating: fixed dates
(New Year's Day, Juneteenth, Independence Day, Veterans Day, Christmas) move to the Friday
before when they fall on a Saturday and to the Monday after on a Sunday (as OPM observes them);
the others are the nth (or last) weekday of their month. Pure Python, no database."""

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

# Deadlines are reckoned on the Eastern calendar, where the rule's "business day" is the
# federal government's; a conservative choice (it never ends a day later than Pacific time).
BUSINESS_TZ = ZoneInfo("America/New_York")

_MON, _THU = 0, 3


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = (date(year, month + 1, 1) if month < 12 else date(year + 1, 1, 1)) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


@lru_cache(maxsize=64)
def federal_holidays(year: int) -> frozenset[date]:
    """The days federal offices close for a holiday in ``year`` (observed dates)."""
    days = {
        _observed(date(year, 1, 1)),  # New Year's Day
        _nth_weekday(year, 1, _MON, 3),  # Birthday of Martin Luther King, Jr.
        _nth_weekday(year, 2, _MON, 3),  # Washington's Birthday
        _last_weekday(year, 5, _MON),  # Memorial Day
        _observed(date(year, 6, 19)),  # Juneteenth National Independence Day
        _observed(date(year, 7, 4)),  # Independence Day
        _nth_weekday(year, 9, _MON, 1),  # Labor Day
        _nth_weekday(year, 10, _MON, 2),  # Columbus Day
        _observed(date(year, 11, 11)),  # Veterans Day
        _nth_weekday(year, 11, _THU, 4),  # Thanksgiving Day
        _observed(date(year, 12, 25)),  # Christmas Day
    }
    # New Year's Day of next year observed on this year's December 31.
    if date(year + 1, 1, 1).weekday() == 5:
        days.add(date(year, 12, 31))
    return frozenset(day for day in days if day.year == year)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in federal_holidays(day.year)


def add_business_days(start: datetime, days: int) -> datetime:
    """The end of the ``days``-th business day after ``start``'s day (midnight Eastern that ends
    it): a revocation that arrives on a Monday with 10 business days is due by the end of the
    Monday two weeks later (one holiday between: the Tuesday)."""
    day = start.astimezone(BUSINESS_TZ).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_business_day(day):
            counted += 1
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=BUSINESS_TZ)


def subtract_business_days(end: datetime, days: int) -> datetime:
    """``end`` moved back by ``days`` business days (weekends and holidays skipped): when a
    deadline has that many business days left."""
    moment = end.astimezone(BUSINESS_TZ)
    day = moment.date()
    counted = 0
    while counted < days:
        day -= timedelta(days=1)
        if is_business_day(day):
            counted += 1
    return datetime.combine(day, moment.timetz())

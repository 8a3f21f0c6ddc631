import zoneinfo
from datetime import UTC, datetime

import pytest

from sms.inbox.business_hours import add_business_hours, parse_workdays

NY = zoneinfo.ZoneInfo("America/New_York")


def ny(*args):
    return datetime(*args, tzinfo=NY)


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (ny(2026, 11, 24, 10, 0), 1, ny(2026, 11, 24, 11, 0)),  # Tuesday morning
        (ny(2026, 11, 24, 16, 30), 1, ny(2026, 11, 25, 9, 30)),  # spills into the next morning
        (ny(2026, 11, 24, 7, 0), 1, ny(2026, 11, 24, 10, 0)),  # before opening: clock starts at 9
        (ny(2026, 11, 24, 20, 0), 4, ny(2026, 11, 25, 13, 0)),  # evening: next day
        (ny(2026, 11, 27, 16, 0), 4, ny(2026, 11, 30, 12, 0)),  # Friday 4pm -> Monday noon
        (ny(2026, 11, 28, 12, 0), 1, ny(2026, 11, 30, 10, 0)),  # Saturday -> Monday
        (ny(2026, 11, 24, 9, 0), 16, ny(2026, 11, 25, 17, 0)),  # two full days
        (ny(2026, 3, 6, 16, 0), 2, ny(2026, 3, 9, 10, 0)),  # over the DST weekend: local hours
    ],
)
def test_sla_due_counts_only_business_hours(start, hours, due):
    assert add_business_hours(start, hours, NY) == due.astimezone(UTC)


def test_custom_days_and_hours():
    # A Sunday-Thursday team working 8-16: Friday message waits for Sunday 8:00.
    due = add_business_hours(
        ny(2026, 11, 27, 10, 0), 1, NY, open_hour=8, close_hour=16, workdays=parse_workdays("sun-thu")
    )
    assert due == ny(2026, 11, 29, 9, 0).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "days"),
    [("mon-fri", {0, 1, 2, 3, 4}), ("sun-thu", {6, 0, 1, 2, 3}), ("Mon, Wed,fri", {0, 2, 4}), ("sat", {5})],
)
def test_parse_workdays(text, days):
    assert parse_workdays(text) == days


@pytest.mark.parametrize("text", ["", "mon-funday", "weekdays"])
def test_parse_workdays_rejects_nonsense(text):
    with pytest.raises(ValueError):
        parse_workdays(text)


def test_round_the_clock_hours():
    start = ny(2026, 11, 28, 23, 30)  # a Saturday night
    assert add_business_hours(start, 1, NY, open_hour=0, close_hour=24, workdays=frozenset(range(7))) == ny(
        2026, 11, 29, 0, 30
    ).astimezone(UTC)

import zoneinfo
from datetime import UTC, date, datetime

import pytest

from sms.inbox.deferral_dates import deferral_until

NY = zoneinfo.ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday, Nov 24 2026, 10:00 in New York


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("not now, next month", date(2026, 12, 1)),
        ("Reach out after the holidays", date(2027, 1, 2)),
        ("ping me in January", date(2027, 1, 1)),
        ("can we talk in march?", date(2027, 3, 1)),
        ("busy this week, try next week", date(2026, 11, 30)),
        ("in 2 weeks please", date(2026, 12, 8)),
        ("in a couple of weeks", date(2026, 12, 8)),
        ("in 3 days", date(2026, 11, 27)),
        ("in a month", date(2026, 12, 24)),
        ("tomorrow works", date(2026, 11, 25)),
        ("let's revisit next quarter", date(2027, 1, 1)),
        ("after Q1", date(2027, 4, 1)),
        ("maybe next year", date(2027, 1, 2)),
        ("circle back in the summer", date(2027, 6, 1)),
        ("on Friday", date(2026, 11, 27)),
        ("call me Tuesday", date(2026, 12, 1)),  # today is Tuesday: the next one
        ("after Jan 15th", date(2027, 1, 15)),
        ("try 12/3", date(2026, 12, 3)),
        ("try 3/1", date(2027, 3, 1)),
    ],
)
def test_named_dates(text, day):
    until, found = deferral_until(text, NOW, NY)
    assert found is True
    assert until == datetime(day.year, day.month, day.day, 9, 0, tzinfo=NY).astimezone(UTC)


@pytest.mark.parametrize("text", ["not now", "we're slammed", "", "maybe later 🙏", "try 13/45"])
def test_no_date_defaults_to_30_days(text):
    until, found = deferral_until(text, NOW, NY)
    assert found is False
    assert until == datetime(2026, 12, 24, 9, 0, tzinfo=NY).astimezone(UTC)

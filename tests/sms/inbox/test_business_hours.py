import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest

from sms.inbox.business_hours import add_business_hours, parse_workdays, public_holidays

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


# --- Round-the-clock schedules across clock changes, and public holidays -----------------------

ALL_WEEK = frozenset(range(7))


@pytest.mark.parametrize(
    ("start", "hours", "due_utc"),
    [
        # Spring forward (2026-03-08 has 23 hours): 24 real hours after midnight is 01:00 EDT.
        (ny(2026, 3, 8, 0, 0), 24, datetime(2026, 3, 9, 5, 0, tzinfo=UTC)),
        (ny(2026, 3, 7, 12, 0), 24, datetime(2026, 3, 8, 17, 0, tzinfo=UTC)),
        (ny(2026, 3, 8, 1, 30), 1, datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),  # 01:30 EST -> 03:30 EDT
        # Fall back (2026-11-01 has 25 hours): 24 real hours after midnight is 23:00 EST.
        (ny(2026, 11, 1, 0, 0), 24, datetime(2026, 11, 2, 4, 0, tzinfo=UTC)),
        (ny(2026, 10, 31, 12, 0), 4, datetime(2026, 10, 31, 20, 0, tzinfo=UTC)),
    ],
)
def test_round_the_clock_sla_counts_real_hours_across_clock_changes(start, hours, due_utc):
    due = add_business_hours(start, hours, NY, open_hour=0, close_hour=24, workdays=ALL_WEEK)
    assert due == due_utc
    assert due - start.astimezone(UTC) == timedelta(hours=hours)


def test_public_holidays_stop_the_clock():
    us = public_holidays("US")
    # Friday 2026-07-03 is Independence Day (observed): Thursday 4pm + 2h -> Monday 10am.
    assert add_business_hours(ny(2026, 7, 2, 16, 0), 2, NY, holidays=us) == ny(2026, 7, 6, 10, 0).astimezone(
        UTC
    )
    assert add_business_hours(ny(2026, 7, 2, 16, 0), 2, NY) == ny(2026, 7, 3, 10, 0).astimezone(UTC)
    # A subdivision adds its own: Cesar Chavez Day is a California holiday, not a federal one.
    assert date(2026, 3, 31) in public_holidays("US", "CA") and date(2026, 3, 31) not in us
    assert public_holidays("", "") == frozenset()
    with pytest.raises(ValueError):
        public_holidays("XX")


@pytest.mark.django_db
def test_sla_due_uses_the_configured_country(settings):
    from sms.inbox.services import sla_due

    settings.INBOX_TIMEZONE = "America/New_York"
    settings.INBOX_BUSINESS_HOURS_START, settings.INBOX_BUSINESS_HOURS_END = 9, 17
    settings.INBOX_BUSINESS_DAYS = "mon-fri"
    settings.INBOX_SLA_HOURS = {"help": 2.0}
    settings.INBOX_HOLIDAYS_COUNTRY, settings.INBOX_HOLIDAYS_SUBDIVISION = "US", ""
    assert sla_due("help", ny(2026, 12, 24, 16, 0)) == ny(2026, 12, 28, 10, 0).astimezone(UTC)
    settings.INBOX_HOLIDAYS_COUNTRY = ""
    assert sla_due("help", ny(2026, 12, 24, 16, 0)) == ny(2026, 12, 25, 10, 0).astimezone(UTC)


def test_an_unknown_holiday_country_is_a_configuration_error():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **__import__("os").environ,
            "DJANGO_SETTINGS_MODULE": "config.test_settings",
            "INBOX_HOLIDAYS_COUNTRY": "XX",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "INBOX_HOLIDAYS_COUNTRY" in result.stderr

import zoneinfo
from datetime import UTC, datetime

import pytest

from sms.quiet_hours import next_send_time, resolve_timezone

NY = zoneinfo.ZoneInfo("America/New_York")
LA = zoneinfo.ZoneInfo("America/Los_Angeles")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "tz", "expected"),
    [
        (utc(2026, 6, 10, 16, 0), NY, utc(2026, 6, 10, 16, 0)),  # 12:00 EDT: inside
        (utc(2026, 6, 10, 11, 0), NY, utc(2026, 6, 10, 12, 0)),  # 07:00 EDT -> 08:00 EDT today
        (utc(2026, 6, 11, 1, 30), NY, utc(2026, 6, 11, 12, 0)),  # 21:30 EDT -> 08:00 tomorrow
        (utc(2026, 6, 11, 1, 0), NY, utc(2026, 6, 11, 12, 0)),  # exactly 21:00: closed
        (utc(2026, 6, 11, 0, 59), NY, utc(2026, 6, 11, 0, 59)),  # 20:59: open
        (utc(2026, 6, 11, 1, 30), LA, utc(2026, 6, 11, 1, 30)),  # same instant, 18:30 PDT: open
        (utc(2026, 6, 10, 13, 0), TOKYO, utc(2026, 6, 10, 23, 0)),  # 22:00 JST -> 08:00 JST
        # DST: US spring forward on 2026-03-08. 22:00 EST on the 7th -> 08:00 EDT (12:00 UTC).
        (utc(2026, 3, 8, 3, 0), NY, utc(2026, 3, 8, 12, 0)),
        # Fall back on 2026-11-01. 23:00 EDT Oct 31 -> 08:00 EST (13:00 UTC).
        (utc(2026, 11, 1, 3, 0), NY, utc(2026, 11, 1, 13, 0)),
        # 01:30 local on the fall-back night (ambiguous hour) -> 08:00 EST.
        (utc(2026, 11, 1, 6, 30), NY, utc(2026, 11, 1, 13, 0)),
    ],
)
def test_next_send_time(now, tz, expected):
    assert next_send_time(now, tz, 8, 21) == expected


def test_window_ending_at_midnight():
    assert next_send_time(utc(2026, 6, 11, 3, 59), NY, 8, 24) == utc(2026, 6, 11, 3, 59)  # 23:59


def test_resolve_timezone_falls_back_in_order():
    assert resolve_timezone("", "Nowhere/Land", "America/Chicago").key == "America/Chicago"
    assert resolve_timezone().key == "UTC"

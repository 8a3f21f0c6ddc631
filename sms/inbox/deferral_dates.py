"""Read the date a customer names when they ask us to wait ("next month", "after the holidays")."""

import re
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

DEFAULT_DAYS = 30
MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
WEEKDAYS = {
    name: number
    for number, names in enumerate(
        [
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        ]
    )
    for name in names
}
NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "couple": 2,
    "few": 3,
}
SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}
MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))


def _next_month_start(today: date, month: int) -> date:
    year = today.year if month > today.month else today.year + 1
    return date(year, month, 1)


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, 1)


def _resolve(text: str, today: date) -> date | None:
    if m := re.search(rf"\b({MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b", text):
        month, day = MONTHS[m.group(1)], int(m.group(2))
        for year in (today.year, today.year + 1):
            try:
                candidate = date(year, month, day)
            except ValueError:
                return None
            if candidate > today:
                return candidate
    if m := re.search(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b", text):
        month, day = int(m.group(1)), int(m.group(2))
        year = int(m.group(3)) if m.group(3) else today.year
        year = year + 2000 if year < 100 else year
        try:
            candidate = date(year, month, day)
        except ValueError:
            candidate = None
        if candidate and not m.group(3) and candidate <= today:
            candidate = date(year + 1, month, day)
        if candidate and candidate > today:
            return candidate
    if m := re.search(r"\bin\s+(\d+|a|an|one|two|three|four|five|six|a couple of|a few|couple of|few)\s+"
                      r"(day|week|month)s?\b", text):  # fmt: skip
        word = m.group(1).replace(" of", "").replace("a couple", "couple").replace("a few", "few")
        count = int(word) if word.isdigit() else NUMBERS.get(word, 1)
        unit = m.group(2)
        if unit == "day":
            return today + timedelta(days=count)
        if unit == "week":
            return today + timedelta(weeks=count)
        return today + timedelta(days=30 * count)
    if re.search(r"\btomorrow\b", text):
        return today + timedelta(days=1)
    if re.search(r"\bnext\s+week\b", text):
        return today + timedelta(days=7 - today.weekday())
    if re.search(r"\bnext\s+month\b", text):
        return _add_months(today, 1)
    if re.search(r"\bnext\s+(quarter|q)\b", text):
        return _add_months(today.replace(day=1), 3 - (today.month - 1) % 3)
    if m := re.search(r"\b(?:after|end of)\s+q([1-4])\b", text):
        return _next_month_start(today, (int(m.group(1)) * 3) % 12 + 1)
    if re.search(r"\bnext\s+year\b|\bnew year\b", text):
        return date(today.year + 1, 1, 2)
    if re.search(r"\bholidays?\b|\bchristmas\b|\bxmas\b", text):
        return date(today.year + 1, 1, 2) if today.month >= 11 else today + timedelta(days=DEFAULT_DAYS)
    if m := re.search(r"\b(spring|summer|fall|autumn|winter)\b", text):
        return _next_month_start(today, SEASONS[m.group(1)])
    if m := re.search(rf"\b(?:in|until|till|after|around|early|mid|late)\s+({MONTH_RE})\b", text):
        return _next_month_start(today, MONTHS[m.group(1)])
    if m := re.search(
        r"\b(?:next\s+|on\s+|after\s+)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", text
    ):
        ahead = (WEEKDAYS[m.group(1)] - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    if re.search(r"\bend of (?:the )?month\b", text):
        return _add_months(today, 1)
    return None


def deferral_until(
    text: str, now: datetime, tz: zoneinfo.ZoneInfo, *, at_hour: int = 9
) -> tuple[datetime, bool]:
    """When to get back in touch, at ``at_hour`` local time on the day named in ``text``.
    Returns (moment in UTC, whether a date was found); without one, ``DEFAULT_DAYS`` from now."""
    today = now.astimezone(tz).date()
    named = _resolve((text or "").lower(), today)
    day = named or today + timedelta(days=DEFAULT_DAYS)
    return datetime.combine(day, time(at_hour), tzinfo=tz).astimezone(UTC), named is not None

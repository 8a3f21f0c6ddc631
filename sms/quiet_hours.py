"""When a text may go out: a daily window in the recipient's local time. The one place send
windows are computed: the send service, delivery, governance and the inbox all ask here."""

import zoneinfo
from datetime import UTC, datetime, time, timedelta

from django.conf import settings


def recipient_tz(contact_timezone: str, account_timezone: str = "") -> zoneinfo.ZoneInfo:
    """The timezone quiet hours use for a recipient: the contact's own, its account's, or the
    default (settings.SMS_DEFAULT_TIMEZONE)."""
    return resolve_timezone(contact_timezone, account_timezone, settings.SMS_DEFAULT_TIMEZONE)


def contact_tz(contact) -> zoneinfo.ZoneInfo:
    """``recipient_tz`` of a Contact (its account loaded when it has one)."""
    return recipient_tz(contact.timezone, contact.account.timezone if contact.account_id else "")


def window_opens(now: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """``now`` inside the send window (settings.SMS_QUIET_HOURS_START to _END local time), else
    when it next opens."""
    return next_send_time(now, tz, settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END)


def contact_window_opens(contact, now: datetime) -> datetime:
    return window_opens(now, contact_tz(contact))


def resolve_timezone(*names: str) -> zoneinfo.ZoneInfo:
    """The first of ``names`` that is a known IANA zone (contact, account, default)."""
    for name in names:
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def next_send_time(now: datetime, tz: zoneinfo.ZoneInfo, start_hour: int, end_hour: int) -> datetime:
    """``now`` if it falls inside [start_hour, end_hour) local time, else the next opening of
    the window, as an aware UTC datetime. Local wall-clock times go through zoneinfo, so the
    window opens at 08:00 local on both sides of a DST change."""
    local = now.astimezone(tz)
    start, end = _at(local, start_hour, tz), _at(local, end_hour, tz)
    if start <= local < end:
        return now
    day = local.date() if local < start else local.date() + timedelta(days=1)
    opening = datetime.combine(day, time(start_hour), tzinfo=tz)
    return opening.astimezone(UTC)


def _at(local: datetime, hour: int, tz: zoneinfo.ZoneInfo) -> datetime:
    if hour >= 24:
        return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)
    return datetime.combine(local.date(), time(hour), tzinfo=tz)

"""When a text may go out: a daily window in the recipient's local time. The one place send
windows are computed: the send service, delivery, governance and the inbox all ask here.

The window is the configured one (settings.SMS_QUIET_HOURS_START to _END), narrowed by the
recipient's state's telephone-solicitation law when it has one (``state_rules``): Florida's
8 a.m.-8 p.m. and a configured 8-21 give 8-20, in the recipient's own timezone."""

import zoneinfo
from datetime import UTC, datetime, time, timedelta

from django.conf import settings

from sms import state_rules

QUIET_HOURS = "quiet_hours"  # the deferral reason when the configured window is closed


def recipient_tz(contact_timezone: str, account_timezone: str = "") -> zoneinfo.ZoneInfo:
    """The timezone quiet hours use for a recipient: the contact's own, its account's, or the
    default (settings.SMS_DEFAULT_TIMEZONE)."""
    return resolve_timezone(contact_timezone, account_timezone, settings.SMS_DEFAULT_TIMEZONE)


def contact_tz(contact) -> zoneinfo.ZoneInfo:
    """``recipient_tz`` of a Contact (its account loaded when it has one)."""
    return recipient_tz(contact.timezone, contact.account.timezone if contact.account_id else "")


def window_opens(now: datetime, tz: zoneinfo.ZoneInfo, state: str | None = None) -> datetime:
    """``now`` inside the send window, else when it next opens."""
    return window_opens_why(now, tz, state)[0]


def window_opens_why(now: datetime, tz: zoneinfo.ZoneInfo, state: str | None = None) -> tuple[datetime, str]:
    """When a text may go: ``(now, "")`` inside the window, else its next opening and why it
    waits: "quiet_hours" when the configured window is closed, "state:FL_quiet_hours" when only
    the state's law keeps it closed."""
    start, end = settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END
    configured = next_send_time(now, tz, start, end)
    rule = state_rules.rule_for(state)
    if rule is None:
        return configured, "" if configured <= now else QUIET_HOURS
    opens = next_send_time(now, tz, max(start, rule.start_hour), min(end, rule.end_hour))
    if opens <= now:
        return now, ""
    return opens, QUIET_HOURS if configured > now else state_reason(rule.state, "quiet_hours")


def state_reason(state: str, rule: str) -> str:
    """A state law's reason: "state:FL_quiet_hours", "state:FL_daily_cap"."""
    return f"state:{state}_{rule}"


def is_window_reason(reason: str) -> bool:
    """Whether a deferral waits for a send window (configured or a state's)."""
    return reason == QUIET_HOURS or (reason.startswith("state:") and reason.endswith("_quiet_hours"))


def contact_window_opens(contact, now: datetime) -> datetime:
    return contact_window_opens_why(contact, now)[0]


def contact_window_opens_why(contact, now: datetime) -> tuple[datetime, str]:
    """``window_opens_why`` for a Contact: its timezone, and its state (attributes or area code)."""
    state = state_rules.contact_state(contact.phone, contact.attributes)
    return window_opens_why(now, contact_tz(contact), state)


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

"""An event arrives (``{"type": "event", "event": "seat_limit_90"}``): the account's contacts,
or the contact an account-less event names. Runs as events arrive, and on schedule over the
last EVENT_LOOKBACK."""

from datetime import datetime, timedelta

from django.db.models import QuerySet

from crm.models import Event
from plays.triggers import EVENT, Row, TriggerType, occurrences

EVENT_LOOKBACK = timedelta(days=3)


def recent_events(trigger: dict, *, now: datetime, event_ids: list[int] | None) -> QuerySet[Event]:
    events = Event.objects.filter(name=trigger["event"], occurred_at__gte=now - EVENT_LOOKBACK)
    if event_ids is not None:
        events = events.filter(pk__in=event_ids)
    return events


def event_rows(events: QuerySet[Event], contacts: QuerySet, *, prefix: str) -> list[Row]:
    """An account's event reaches its contacts; an event with only a contact reaches that one.
    One occurrence per event: ``<prefix>:<event id>``. Two queries."""
    account_level = contacts.filter(account__events__in=events.filter(account__isnull=False))
    contact_level = contacts.filter(events__in=events.filter(account__isnull=True))
    return occurrences(account_level, "account__events__id", f"{prefix}:{{}}".format) + occurrences(
        contact_level, "events__id", f"{prefix}:{{}}".format
    )


def candidates(trigger: dict, contacts: QuerySet, *, now: datetime, event_ids=None) -> list[Row]:
    return event_rows(recent_events(trigger, now=now, event_ids=event_ids), contacts, prefix="event")


TRIGGER = TriggerType(
    label="Event arrives",
    description="an event of this name arrives (the account's contacts, or the contact it names)",
    params={"event": EVENT},
    candidates=candidates,
    describe=lambda trigger: f"Event “{trigger['event']}”",
    event_names=lambda trigger: {trigger["event"]},
)

"""What starts a play: trigger definitions, their validation, and set-based candidate queries.

Each trigger yields ``(contact_id, account_id, occurrence)`` rows from one query. The
occurrence names *what happened* (this event, this renewal window, this inactivity streak),
so a re-run finds the same occurrences and the enrollment log's unique key keeps each from
being decided twice. B2B triggers reach every contact with a phone at the account; the B2C
trigger (days since the last order) reaches the contact who ordered."""

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Q, QuerySet, Subquery

from crm.models import Contact, Event, LifecycleStage, Order, RenewalStatus

Row = tuple[int, int | None, str]

# Event-driven triggers run when events arrive (plays.hooks), and on demand over this window.
EVENT_TRIGGERS = frozenset({"event", "usage_threshold"})
EVENT_LOOKBACK = timedelta(days=3)
# A missing milestone is nudged while sign-up is recent, not years later when a play goes live.
MILESTONE_NUDGE_WINDOW = timedelta(days=30)
MAX_DAYS = 3650


# --- Validation -------------------------------------------------------------------------


def _name(value, key: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise ValidationError(f"`{key}` must be an event name (text, up to 100 characters).")
    return value.strip()


def _days(value, key: str = "days") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise ValidationError(f"`{key}` must be a whole number of days from 1 to {MAX_DAYS}.")
    return value


def _number(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"`{key}` must be a number.")
    return value


def _events(value, key: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValidationError(f"`{key}` must be a non-empty list of event names.")
    return [_name(item, key) for item in value]


def _property(value, key: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", value) or "__" in value:
        raise ValidationError(f"`{key}` must be a property name (letters, digits, - and _).")
    return value


# type -> {parameter: checker}
TRIGGER_PARAMS: dict[str, dict[str, Callable]] = {
    "event": {"event": _name},
    "milestone_missing": {"event": _name, "days": _days},
    "inactivity": {"events": _events, "days": _days},
    "renewal_window": {"days": _days},
    "usage_threshold": {"event": _name, "property": _property, "gte": _number},
    "days_since_order": {"days": _days},
}


def validate_trigger(trigger) -> None:
    """A trigger is ``{"type": ..., <its parameters>}``; every parameter is required."""
    if not isinstance(trigger, dict):
        raise ValidationError('A trigger is an object such as {"type": "renewal_window", "days": 60}.')
    kind = trigger.get("type")
    if kind not in TRIGGER_PARAMS:
        raise ValidationError(f"Unknown trigger type {kind!r}. Use one of: {', '.join(TRIGGER_PARAMS)}.")
    params = TRIGGER_PARAMS[kind]
    extra = sorted(set(trigger) - set(params) - {"type"})
    if extra:
        raise ValidationError(f"A {kind} trigger takes {', '.join(params)}; unknown: {', '.join(extra)}.")
    for key, check in params.items():
        if key not in trigger:
            raise ValidationError(f"A {kind} trigger needs `{key}`.")
        check(trigger[key], key)


# --- Audience ---------------------------------------------------------------------------

AUDIENCE_KEYS = ("lifecycle_stages", "plans", "owners", "account_attributes")


def validate_audience(audience) -> None:
    """``{}`` is everyone. Keys: ``lifecycle_stages`` and ``plans`` (lists of the account's),
    ``owners`` (user ids owning the account, or the contact when it has none),
    ``account_attributes`` ({key: value} the account's attributes must equal)."""
    if not isinstance(audience, dict):
        raise ValidationError("The audience is an object (use {} for everyone).")
    unknown = sorted(set(audience) - set(AUDIENCE_KEYS))
    if unknown:
        raise ValidationError(
            f"Unknown audience filter {', '.join(unknown)}. Use: {', '.join(AUDIENCE_KEYS)}."
        )
    stages = audience.get("lifecycle_stages", [])
    if not isinstance(stages, list) or any(stage not in LifecycleStage.values for stage in stages):
        raise ValidationError(
            f"`lifecycle_stages` must list stages from: {', '.join(LifecycleStage.values)}."
        )
    plans = audience.get("plans", [])
    if not isinstance(plans, list) or any(not isinstance(plan, str) for plan in plans):
        raise ValidationError("`plans` must be a list of plan names.")
    owners = audience.get("owners", [])
    if not isinstance(owners, list) or any(isinstance(o, bool) or not isinstance(o, int) for o in owners):
        raise ValidationError("`owners` must be a list of user ids.")
    attributes = audience.get("account_attributes", {})
    if not isinstance(attributes, dict):
        raise ValidationError("`account_attributes` must be an object of {key: value}.")
    for key, value in attributes.items():
        _property(key, "account_attributes")
        if not isinstance(value, str | int | float | bool):
            raise ValidationError("`account_attributes` values must be text, numbers or true/false.")


def audience_q(audience: dict) -> Q:
    q = Q()
    if audience.get("lifecycle_stages"):
        q &= Q(account__lifecycle_stage__in=audience["lifecycle_stages"])
    if audience.get("plans"):
        q &= Q(account__plan__in=audience["plans"])
    if audience.get("owners"):
        owners = audience["owners"]
        q &= Q(account__owner_id__in=owners) | Q(account__isnull=True, owner_id__in=owners)
    for key, value in (audience.get("account_attributes") or {}).items():
        q &= Q(**{f"account__attributes__{key}": value})
    return q


def reachable_contacts(audience: dict) -> QuerySet[Contact]:
    return Contact.objects.filter(phone__isnull=False).exclude(phone="").filter(audience_q(audience))


# --- Candidates -------------------------------------------------------------------------


def candidates(
    trigger: dict, audience: dict, *, now: datetime, event_ids: list[int] | None = None
) -> list[Row]:
    """Every (contact_id, account_id, occurrence) the trigger fires for now, in the audience.
    One query per trigger type (two for event triggers)."""
    contacts = reachable_contacts(audience)
    kind = trigger["type"]
    if kind in EVENT_TRIGGERS:
        return _event_rows(trigger, contacts, now=now, event_ids=event_ids)
    return FINDERS[kind](trigger, contacts, now)


def _events_for(trigger: dict, now: datetime, event_ids: list[int] | None) -> QuerySet[Event]:
    events = Event.objects.filter(name=trigger["event"], occurred_at__gte=now - EVENT_LOOKBACK)
    if event_ids is not None:
        events = events.filter(pk__in=event_ids)
    if trigger["type"] == "usage_threshold":
        events = events.filter(**{f"properties__{trigger['property']}__gte": trigger["gte"]})
    return events


def _event_rows(trigger: dict, contacts: QuerySet, *, now: datetime, event_ids) -> list[Row]:
    """An account's event reaches its contacts; an event with only a contact reaches that one."""
    prefix = "event" if trigger["type"] == "event" else "usage"
    events = _events_for(trigger, now, event_ids)
    account_level = contacts.filter(account__events__in=events.filter(account__isnull=False)).values_list(
        "pk", "account_id", "account__events__id"
    )
    contact_level = contacts.filter(events__in=events.filter(account__isnull=True)).values_list(
        "pk", "account_id", "events__id"
    )
    rows = list(account_level.order_by()) + list(contact_level.order_by())
    return [(contact, account, f"{prefix}:{event}") for contact, account, event in rows]


def _milestone_missing(trigger: dict, contacts: QuerySet, now: datetime) -> list[Row]:
    due = now - timedelta(days=trigger["days"])
    rows = (
        contacts.filter(
            account__isnull=False,
            account__signed_up_at__lte=due,
            account__signed_up_at__gt=due - MILESTONE_NUDGE_WINDOW,
        )
        .exclude(account__events__name=trigger["event"])
        .values_list("pk", "account_id")
        .order_by()
    )
    return [(contact, account, f"milestone:{trigger['event']}") for contact, account in rows]


def _inactivity(trigger: dict, contacts: QuerySet, now: datetime) -> list[Row]:
    """Accounts active once (an event of these names) and silent for ``days`` since: one
    occurrence per streak, keyed by the day of the last activity."""
    last = Subquery(
        Event.objects.filter(account_id=OuterRef("account_id"), name__in=trigger["events"])
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    rows = (
        contacts.filter(account__isnull=False)
        .annotate(last_active=last)
        .filter(last_active__lt=now - timedelta(days=trigger["days"]))
        .values_list("pk", "account_id", "last_active")
        .order_by()
    )
    return [(contact, account, f"inactive:{last.date().isoformat()}") for contact, account, last in rows]


def _renewal_window(trigger: dict, contacts: QuerySet, now: datetime) -> list[Row]:
    today = now.date()
    rows = (
        contacts.filter(
            account__renewals__status=RenewalStatus.UPCOMING,
            account__renewals__end_date__gte=today,
            account__renewals__end_date__lte=today + timedelta(days=trigger["days"]),
        )
        .values_list("pk", "account_id", "account__renewals__id")
        .order_by()
    )
    return [(contact, account, f"renewal:{renewal}:{trigger['days']}") for contact, account, renewal in rows]


def _days_since_order(trigger: dict, contacts: QuerySet, now: datetime) -> list[Row]:
    latest = Order.objects.filter(contact_id=OuterRef("pk")).order_by("-ordered_at", "-id")
    rows = (
        contacts.annotate(
            last_order_id=Subquery(latest.values("pk")[:1]),
            last_ordered_at=Subquery(latest.values("ordered_at")[:1]),
        )
        .filter(last_ordered_at__lte=now - timedelta(days=trigger["days"]))
        .values_list("pk", "account_id", "last_order_id")
        .order_by()
    )
    return [(contact, account, f"order:{order}") for contact, account, order in rows]


FINDERS: dict[str, Callable[[dict, QuerySet, datetime], list[Row]]] = {
    "milestone_missing": _milestone_missing,
    "inactivity": _inactivity,
    "renewal_window": _renewal_window,
    "days_since_order": _days_since_order,
}

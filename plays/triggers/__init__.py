"""What starts a play: the registry of trigger types, the parameters they share, and the
set-based candidate query every run starts from.

A trigger type is one module of this package that declares ``TRIGGER = TriggerType(...)``: its
label and description, its parameters (each with its checker and the editor's field for it),
its candidate query, how it reads in words, and what lift and the engine need from it.
``TRIGGER_MODULES`` names every type; the rest of the project (the form, the API, the engine,
the event hooks, lift) reads trigger types only through the functions below. Adding a type is
one module and one line here.

Each trigger yields ``(contact_id, account_id, occurrence)`` rows from one query. The
occurrence names *what happened* (this event, this renewal window, this inactivity streak),
so a re-run finds the same occurrences and the enrollment log's unique key keeps each from
being decided twice. B2B triggers reach every contact with a phone at the account; the B2C
trigger (days since the last order) reaches the contact who ordered."""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import import_module
from typing import Any

from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db.models import QuerySet

from plays.audience import reachable_contacts, validate_attribute_key

# The contact's segments as the candidate query reads them (clv tier, health band, lifecycle
# stage; "" for none): the enrollment keeps them as they were at entry.
SEGMENT_FIELDS = ("clv_tier", "account__health_band", "account__lifecycle_stage")
NOT_RECORDED = (None, None, None)


class Row(tuple):
    """A candidate: ``(contact_id, account_id, occurrence)``, compared and unpacked as that
    tuple, with the contact's ``segments`` (``SEGMENT_FIELDS``) read by the same query. A row a
    plugin builds as a plain tuple has no segments: its enrollments say "not recorded"."""

    segments: tuple = NOT_RECORDED

    def __new__(cls, contact_id: int, account_id: int | None, occurrence: str, segments=None):
        row = super().__new__(cls, (contact_id, account_id, occurrence))
        if segments is not None:
            row.segments = tuple(value or "" for value in segments)
        return row


def segments_of(row: tuple) -> tuple:
    return getattr(row, "segments", NOT_RECORDED)


MAX_DAYS = 3650

# type -> the module declaring it; the editor lists the types in this order.
TRIGGER_MODULES: dict[str, str] = {
    "renewal_window": "plays.triggers.renewal_window",
    "event": "plays.triggers.event",
    "usage_threshold": "plays.triggers.usage_threshold",
    "milestone_missing": "plays.triggers.milestone_missing",
    "inactivity": "plays.triggers.inactivity",
    "days_since_order": "plays.triggers.days_since_order",
    "days_since_signup": "plays.triggers.days_since_signup",
}


# --- Parameters -------------------------------------------------------------------------


def _same(value):
    return value


@dataclass(frozen=True)
class Param:
    """One trigger parameter: its checker (raises ValidationError, returns the value) and the
    editor's field for it, with how the field's value maps to the JSON value and back. Types
    that share a parameter name share the Param, so the editor shows one field for it."""

    check: Callable[[Any, str], Any]
    field: Callable[[], forms.Field]
    from_field: Callable[[Any], Any] = _same
    to_field: Callable[[Any], Any] = _same


def check_name(value, key: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise ValidationError(f"`{key}` must be an event name (text, up to 100 characters).")
    return value.strip()


def check_days(value, key: str = "days") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise ValidationError(f"`{key}` must be a whole number of days from 1 to {MAX_DAYS}.")
    return value


def check_number(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"`{key}` must be a number.")
    return value


def check_names(value, key: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValidationError(f"`{key}` must be a non-empty list of event names.")
    return [check_name(item, key) for item in value]


def _split_names(text: str | None) -> list[str]:
    return [name.strip() for name in re.split(",", text or "") if name.strip()]


def _whole_if_integral(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def optional_field(field_class: type[forms.Field], **options) -> Callable[[], forms.Field]:
    """An editor field for a parameter: optional in the form, because only the chosen type's
    parameters are needed (the form says which are missing)."""
    return lambda: field_class(required=False, **options)


EVENT = Param(
    check_name,
    optional_field(
        forms.CharField, label="Event name", max_length=100, help_text="As integrations send it, e.g. signup."
    ),
)
DAYS = Param(check_days, optional_field(forms.IntegerField, label="Days", min_value=1, max_value=MAX_DAYS))
EVENTS = Param(
    check_names,
    optional_field(
        forms.CharField,
        label="Activity events",
        max_length=1000,
        help_text="Comma-separated event names that count as activity, e.g. login, export.",
    ),
    from_field=_split_names,
    to_field=", ".join,
)
PROPERTY = Param(
    validate_attribute_key,
    optional_field(
        forms.CharField, label="Property", max_length=100, help_text="A numeric property of the event."
    ),
)
AT_LEAST = Param(
    check_number, optional_field(forms.FloatField, label="At least"), from_field=_whole_if_integral
)


def occurrences(contacts: QuerySet, key: str, occurrence: Callable[[Any], str]) -> list[Row]:
    """The rows of a candidate query: each contact with its account and the occurrence named
    from its ``key`` column (the event, renewal or order that fired), and its segments now. One
    query."""
    rows = contacts.values_list("pk", "account_id", key, *SEGMENT_FIELDS).order_by()
    return [Row(contact, account, occurrence(value), segments) for contact, account, value, *segments in rows]


def days_text(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


# --- Trigger types ----------------------------------------------------------------------


def _nothing(_value) -> None:
    return None


@dataclass(frozen=True)
class TriggerType:
    """What a trigger module declares. ``candidates(trigger, contacts, now=...)`` returns the
    rows the trigger fires for among ``contacts`` (the audience's reachable contacts), in a
    fixed number of queries; event-driven types (those with ``event_names``) also take
    ``event_ids``, the events that just arrived (None: every recent one)."""

    label: str
    description: str
    params: dict[str, Param]
    candidates: Callable[..., list[Row]]
    describe: Callable[[dict], str]
    # The event names that fire a play of this type when they arrive (plays.hooks); None for
    # types the schedule alone runs.
    event_names: Callable[[dict], set[str]] | None = None
    # Lift: the event whose arrival is the play's milestone outcome ("" for none).
    milestone_event: Callable[[dict], str] = field(default=lambda trigger: "")
    # The engine: the renewal an occurrence is about, for {renewal_date} and {renewal_acv}.
    renewal_id: Callable[[str], int | None] = _nothing

    @property
    def event_driven(self) -> bool:
        return self.event_names is not None


_registry: dict[str, TriggerType] = {}


def registry() -> dict[str, TriggerType]:
    """Every trigger type by name, in the editor's order; modules are imported on first use."""
    if len(_registry) != len(TRIGGER_MODULES):
        for name, path in TRIGGER_MODULES.items():
            if name not in _registry:
                _registry[name] = _load(name, path)
        _shared_params(_registry.values())
    return _registry


def _load(name: str, path: str) -> TriggerType:
    declared = getattr(import_module(path), "TRIGGER", None)
    if not isinstance(declared, TriggerType):
        raise ImproperlyConfigured(f"Trigger module {path} must declare TRIGGER = TriggerType(...).")
    return declared


def register(name: str, path: str) -> None:
    """Add a trigger type at run time (a plugin, a test): the same as a line in TRIGGER_MODULES."""
    TRIGGER_MODULES[name] = path
    registry()


def unregister(name: str) -> None:
    TRIGGER_MODULES.pop(name, None)
    _registry.pop(name, None)


def trigger_type(kind) -> TriggerType | None:
    return registry().get(kind) if isinstance(kind, str) else None


def _shared_params(types: Iterable[TriggerType]) -> dict[str, Param]:
    params: dict[str, Param] = {}
    for kind in types:
        for name, param in kind.params.items():
            if params.setdefault(name, param) is not param:
                raise ImproperlyConfigured(f"Trigger parameter `{name}` is declared twice, differently.")
    return params


def editor_params() -> dict[str, Param]:
    """Every parameter the editor may show, once each, in the order the types first use them."""
    return _shared_params(registry().values())


def types_using(param: str) -> list[str]:
    return [name for name, kind in registry().items() if param in kind.params]


def event_driven_types() -> list[str]:
    return [name for name, kind in registry().items() if kind.event_driven]


# --- Reading a play's trigger -------------------------------------------------------------


def validate_trigger(trigger) -> None:
    """A trigger is ``{"type": ..., <its parameters>}``; every parameter is required."""
    if not isinstance(trigger, dict):
        raise ValidationError('A trigger is an object such as {"type": "renewal_window", "days": 60}.')
    kind = trigger.get("type")
    declared = trigger_type(kind)
    if declared is None:
        raise ValidationError(f"Unknown trigger type {kind!r}. Use one of: {', '.join(registry())}.")
    params = declared.params
    extra = sorted(set(trigger) - set(params) - {"type"})
    if extra:
        raise ValidationError(f"A {kind} trigger takes {', '.join(params)}; unknown: {', '.join(extra)}.")
    for key, param in params.items():
        if key not in trigger:
            raise ValidationError(f"A {kind} trigger needs `{key}`.")
        param.check(trigger[key], key)


def describe_trigger(trigger: dict) -> str:
    """A play's trigger in words, for lists and the detail page."""
    kind = (trigger or {}).get("type")
    declared = trigger_type(kind)
    if declared is not None:
        try:
            return declared.describe(trigger)
        except (KeyError, TypeError):
            pass
    return str(kind or "—")


def fired_by_events(trigger: dict, names: set[str]) -> bool:
    """Whether events of these names fire this (event-driven) trigger."""
    declared = trigger_type((trigger or {}).get("type"))
    return bool(declared and declared.event_driven and declared.event_names(trigger) & names)


def milestone_event(trigger: dict) -> str:
    declared = trigger_type((trigger or {}).get("type"))
    return declared.milestone_event(trigger) if declared else ""


def renewal_id(trigger: dict, occurrence: str) -> int | None:
    declared = trigger_type((trigger or {}).get("type"))
    return declared.renewal_id(occurrence) if declared else None


def api_help() -> str:
    """The trigger types as the API documents them."""
    kinds = "; ".join(
        f"`{name}` {{{', '.join(kind.params)}}}: {kind.description}" for name, kind in registry().items()
    )
    return f"What starts the play: an object with `type` and its parameters, all required. Types: {kinds}"


# --- Candidates -------------------------------------------------------------------------


def candidates(
    trigger: dict, audience: dict, *, now: datetime, event_ids: list[int] | None = None
) -> list[Row]:
    """Every (contact_id, account_id, occurrence) the trigger fires for now, in the audience.
    One query per trigger type (two for event triggers)."""
    declared = registry()[trigger["type"]]
    contacts = reachable_contacts(audience)
    if declared.event_driven:
        return declared.candidates(trigger, contacts, now=now, event_ids=event_ids)
    return declared.candidates(trigger, contacts, now=now)

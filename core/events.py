"""Domain events: what happened in the product, for whoever listens (the outbound webhooks).

The apps that record a change (crm, sms, plays) call ``events_publish`` once per change, or
once per bulk write with every row, inside the transaction of the change. The subscribers
named in ``settings.EVENT_SUBSCRIBERS`` (``config/hooks.py``) are called right there, so what
they write commits or rolls back with the change: nothing is announced for a change that did
not happen. Subscribers only write (an outbox); anything slow happens later in the worker.

``EVENT_TYPES`` is the vocabulary: each type with what it means and the fields of the record
its ``data`` carries (a model instance is turned into those fields; a dict is sent as it is)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class EventType:
    description: str
    fields: tuple[str, ...]


_CONTACT = (
    "id",
    "account",
    "first_name",
    "last_name",
    "email",
    "phone",
    "timezone",
    "owner",
    "sms_consent",
    "external_id",
    "attributes",
    "created_at",
    "updated_at",
)
_MESSAGE = (
    "id",
    "contact",
    "conversation",
    "direction",
    "kind",
    "status",
    "to_number",
    "from_number",
    "body",
    "segments",
    "provider_sid",
    "error_code",
    "created_at",
)

# An enrollment's fields after its id, in the order the play engine writes them.
_ENROLLMENT = (
    "play",
    "contact",
    "account",
    "occurrence",
    "arm",
    "outcome",
    "reason",
    "message",
    "decided_at",
)

EVENT_TYPES: dict[str, EventType] = {
    "contact.created": EventType("A contact was created (form, API, import).", _CONTACT),
    "contact.updated": EventType("A contact's fields were changed.", _CONTACT),
    "consent.changed": EventType(
        "An SMS opt-in or opt-out was recorded in the consent ledger.",
        ("id", "contact", "phone", "action", "scope", "source", "occurred_at"),
    ),
    "message.sent": EventType("A text was handed to the SMS provider.", _MESSAGE),
    "message.delivered": EventType("The carrier reported a text delivered.", _MESSAGE),
    "message.failed": EventType("A text failed or was reported undelivered.", _MESSAGE),
    "message.received": EventType(
        "A customer's text arrived; `intent` is what it was classified as.",
        (*_MESSAGE, "intent", "intent_confidence"),
    ),
    "conversation.assigned": EventType(
        "A conversation was given to a user (or unassigned: `assignee` null).",
        ("id", "contact", "assignee", "status", "intent", "sla_due_at"),
    ),
    "enrollment.decided": EventType(
        "A play decided a contact's entry: arm (treatment or control) and outcome.",
        ("id", *_ENROLLMENT),
    ),
    "deal.created": EventType(
        "A deal was opened.",
        (
            "id",
            "name",
            "account",
            "contact",
            "owner",
            "kind",
            "stage",
            "amount",
            "expected_close",
            "closed_at",
            "created_at",
        ),
    ),
    "task.created": EventType(
        "A task was created (manual, from a reply, or a play's follow-up).",
        ("id", "owner", "account", "contact", "title", "due_at", "status", "source", "created_at"),
    ),
}


class UnknownEventType(ValueError):
    pass


def json_value(value):
    """A value as JSON carries it: instants in ISO 8601 UTC, money as a decimal string."""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = value.astimezone(UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return value


def event_data(record, fields: Iterable[str]) -> dict:
    """``record``'s ``fields`` as a JSON-ready dict; a foreign key gives the related id (read
    from the row, so no query)."""
    if isinstance(record, Mapping):
        return json_value(dict(record))
    data = {}
    opts = record._meta
    for name in fields:
        try:
            field = opts.get_field(name)
        except FieldDoesNotExist:  # a property, not a column
            data[name] = json_value(getattr(record, name, None))
            continue
        attname = field.attname if isinstance(field, models.ForeignKey) else name
        data[name] = json_value(getattr(record, attname, None))
    return data


def events_publish(event_type: str, records: Iterable, **overrides) -> None:
    """Announce that ``event_type`` happened to each of ``records`` (model instances or dicts;
    ``overrides`` are fields set on every one, e.g. a status the instance does not carry yet).
    Call inside the change's transaction, once for a whole bulk write: the subscribers write
    set-based and never wait on a receiver."""
    if event_type not in EVENT_TYPES:
        raise UnknownEventType(f"Unknown event type {event_type!r}")
    if isinstance(records, list | tuple) and not records:
        return
    published = Published(event_type, records, timezone.now(), json_value(overrides))
    for path in settings.EVENT_SUBSCRIBERS:
        import_string(path)(published)


@dataclass
class Published:
    """One call's events as a subscriber receives them. ``data()`` builds the payloads on first
    use (``records`` may be a generator), so a subscriber with no listener for the type costs the
    product nothing more. Subscribers call it before they return."""

    event_type: str
    records: Iterable
    occurred_at: datetime
    overrides: dict = field(default_factory=dict)
    _data: list[dict] | None = field(default=None, repr=False)

    def data(self) -> list[dict]:
        if self._data is None:
            fields = EVENT_TYPES[self.event_type].fields
            self._data = [event_data(record, fields) | self.overrides for record in self.records]
        return self._data

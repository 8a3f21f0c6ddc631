"""Usage crosses a threshold (``{"type": "usage_threshold", "event": "seats_used", "property":
"ratio", "gte": 0.9}``): an event whose numeric property is at least ``gte`` arrives."""

from datetime import datetime

from django.db.models import QuerySet

from plays.triggers import AT_LEAST, EVENT, PROPERTY, Row, TriggerType
from plays.triggers.event import event_rows, recent_events


def candidates(trigger: dict, contacts: QuerySet, *, now: datetime, event_ids=None) -> list[Row]:
    events = recent_events(trigger, now=now, event_ids=event_ids).filter(
        **{f"properties__{trigger['property']}__gte": trigger["gte"]}
    )
    return event_rows(events, contacts, prefix="usage")


TRIGGER = TriggerType(
    label="Usage crosses a threshold",
    description="an event of this name arrives with its numeric `property` at least `gte`",
    params={"event": EVENT, "property": PROPERTY, "gte": AT_LEAST},
    candidates=candidates,
    describe=lambda trigger: f"Event “{trigger['event']}” with {trigger['property']} ≥ {trigger['gte']}",
    event_names=lambda trigger: {trigger["event"]},
)

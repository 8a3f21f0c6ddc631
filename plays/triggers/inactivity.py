"""No activity for a while (``{"type": "inactivity", "events": ["login"], "days": 14}``):
accounts active once (an event of these names) and silent for ``days`` since."""

from datetime import datetime, timedelta

from django.db.models import OuterRef, QuerySet, Subquery

from crm.models import Event
from plays.triggers import DAYS, EVENTS, Row, TriggerType, days_text, occurrences


def candidates(trigger: dict, contacts: QuerySet, *, now: datetime) -> list[Row]:
    """One occurrence per streak, keyed by the day of the last activity."""
    last = Subquery(
        Event.objects.filter(account_id=OuterRef("account_id"), name__in=trigger["events"])
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    silent = (
        contacts.filter(account__isnull=False)
        .annotate(last_active=last)
        .filter(last_active__lt=now - timedelta(days=trigger["days"]))
    )
    return occurrences(
        silent, "last_active", lambda last_active: f"inactive:{last_active.date().isoformat()}"
    )


TRIGGER = TriggerType(
    label="No activity for a while",
    description="the account sent none of `events` for `days` days after its last one",
    params={"events": EVENTS, "days": DAYS},
    candidates=candidates,
    describe=lambda trigger: f"No {', '.join(trigger['events'])} for {days_text(trigger['days'])}",
)

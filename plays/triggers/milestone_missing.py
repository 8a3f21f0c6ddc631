"""A milestone missing after sign-up (``{"type": "milestone_missing", "event":
"integration_connected", "days": 2}``): accounts signed up at least ``days`` ago (and within
MILESTONE_NUDGE_WINDOW of that) that never sent the event. Lift measures whether the event
then arrives."""

from datetime import datetime, timedelta

from django.db.models import QuerySet

from plays.triggers import DAYS, EVENT, Row, TriggerType, days_text, occurrences

# A missing milestone is nudged while sign-up is recent, not years later when a play goes live.
MILESTONE_NUDGE_WINDOW = timedelta(days=30)


def candidates(trigger: dict, contacts: QuerySet, *, now: datetime) -> list[Row]:
    due = now - timedelta(days=trigger["days"])
    missing = contacts.filter(
        account__isnull=False,
        account__signed_up_at__lte=due,
        account__signed_up_at__gt=due - MILESTONE_NUDGE_WINDOW,
    ).exclude(account__events__name=trigger["event"])
    return occurrences(missing, "account_id", lambda _account: f"milestone:{trigger['event']}")


TRIGGER = TriggerType(
    label="Milestone missing after sign-up",
    description="the account signed up `days` ago (up to 30 days more) and never sent `event`",
    params={"event": EVENT, "days": DAYS},
    candidates=candidates,
    describe=lambda trigger: f"No “{trigger['event']}” {days_text(trigger['days'])} after sign-up",
    milestone_event=lambda trigger: trigger.get("event", ""),
)

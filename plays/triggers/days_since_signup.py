"""Days since sign-up (``{"type": "days_since_signup", "days": 7}``): the contacts of accounts
on their ``days``-th day since signing up, i.e. signed up at least ``days`` and less than
``days + 1`` days ago. Scheduled runs come more often than daily, so each account is caught on
that day once; the occurrence (account and day count) keeps a re-run from deciding it again."""

from datetime import datetime, timedelta

from django.db.models import QuerySet

from plays.triggers import DAYS, Row, TriggerType, days_text, occurrences


def candidates(trigger: dict, contacts: QuerySet, *, now: datetime) -> list[Row]:
    due = now - timedelta(days=trigger["days"])
    on_the_day = contacts.filter(
        account__isnull=False,
        account__signed_up_at__lte=due,
        account__signed_up_at__gt=due - timedelta(days=1),
    )
    return occurrences(on_the_day, "account_id", lambda account: f"signup:{account}:{trigger['days']}")


TRIGGER = TriggerType(
    label="Days since sign-up",
    description="the account signed up `days` days ago (on that day, once per account)",
    params={"days": DAYS},
    candidates=candidates,
    describe=lambda trigger: f"{days_text(trigger['days'])} after sign-up",
)

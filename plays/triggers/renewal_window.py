"""A renewal coming up (``{"type": "renewal_window", "days": 60}``): an upcoming contract term
ends within ``days``; once per term and window length. Texts may show that renewal's date and
ACV."""

from datetime import datetime, timedelta

from django.db.models import QuerySet

from crm.models import RenewalStatus
from plays.triggers import DAYS, Row, TriggerType, days_text, occurrences

PREFIX = "renewal:"


def candidates(trigger: dict, contacts: QuerySet, *, now: datetime) -> list[Row]:
    today = now.date()
    renewing = contacts.filter(
        account__renewals__status=RenewalStatus.UPCOMING,
        account__renewals__end_date__gte=today,
        account__renewals__end_date__lte=today + timedelta(days=trigger["days"]),
    )
    return occurrences(
        renewing, "account__renewals__id", lambda renewal: f"{PREFIX}{renewal}:{trigger['days']}"
    )


def renewal_id(occurrence: str) -> int | None:
    return int(occurrence.split(":")[1]) if occurrence.startswith(PREFIX) else None


TRIGGER = TriggerType(
    label="Renewal coming up",
    description="an upcoming renewal term of the account ends within `days` days",
    params={"days": DAYS},
    candidates=candidates,
    describe=lambda trigger: f"Renewal within {days_text(trigger['days'])}",
    renewal_id=renewal_id,
)

"""Days since the last order (``{"type": "days_since_order", "days": 45}``), the B2C trigger:
the contact who ordered, ``days`` or more after their latest order; once per latest order."""

from datetime import datetime, timedelta

from django.db.models import OuterRef, QuerySet, Subquery

from crm.models import Order
from plays.triggers import DAYS, Row, TriggerType, days_text, occurrences


def candidates(trigger: dict, contacts: QuerySet, *, now: datetime) -> list[Row]:
    latest = Order.objects.filter(contact_id=OuterRef("pk")).order_by("-ordered_at", "-id")
    lapsed = contacts.annotate(
        last_order_id=Subquery(latest.values("pk")[:1]),
        last_ordered_at=Subquery(latest.values("ordered_at")[:1]),
    ).filter(last_ordered_at__lte=now - timedelta(days=trigger["days"]))
    return occurrences(lapsed, "last_order_id", "order:{}".format)


TRIGGER = TriggerType(
    label="Days since the last order (B2C)",
    description="the contact's latest order is `days` or more days old",
    params={"days": DAYS},
    candidates=candidates,
    describe=lambda trigger: f"{days_text(trigger['days'])} since the last order",
)

"""The ROI model's assumptions: read with their defaults filled in, changed only through
``assumption_update`` so every change keeps who made it and when."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from analytics.models import DEFAULT_ASSUMPTIONS, Assumption, AssumptionChange, Snapshot

# Answers computed with the assumptions: their snapshots are dropped when one changes.
DEPENDS_ON_ASSUMPTIONS = ("ltv", "roi", "clv", "lift", "play-lift", "subscription-clv")

# Bounds a value must respect, by unit.
LIMITS = {
    "fraction": (Decimal("0"), Decimal("1")),
    "USD": (Decimal("0"), Decimal("100000000")),
    "minutes": (Decimal("0"), Decimal("600")),
    "hours": (Decimal("0"), Decimal("10000")),
    "years": (Decimal("0.1"), Decimal("50")),
    "days": (Decimal("1"), Decimal("365")),
}


def assumptions_ensure() -> None:
    """Create the assumptions that do not exist yet; never touches existing values."""
    existing = set(Assumption.objects.values_list("key", flat=True))
    missing = [
        Assumption(key=key, label=label, value=value, unit=unit, help_text=help_text, position=position)
        for position, (key, label, value, unit, help_text) in enumerate(DEFAULT_ASSUMPTIONS)
        if key not in existing
    ]
    if missing:
        Assumption.objects.bulk_create(missing, ignore_conflicts=True)


def assumption_list() -> list[Assumption]:
    assumptions_ensure()
    return list(Assumption.objects.select_related("updated_by"))


def assumption_values() -> dict[str, Decimal]:
    assumptions_ensure()
    return dict(Assumption.objects.values_list("key", "value"))


def assumption_validate(assumption: Assumption, value: Decimal) -> None:
    lo, hi = LIMITS.get(assumption.unit, (Decimal("0"), Decimal("100000000")))
    if not lo <= value <= hi:
        raise ValidationError(
            {"value": f"{assumption.label} must be between {lo} and {hi} {assumption.unit}."}
        )


@transaction.atomic
def assumption_update(*, key: str, value: Decimal, actor=None) -> Assumption:
    """Set one assumption, recording the change. Raises Assumption.DoesNotExist for an unknown key
    and ValidationError for a value outside the unit's bounds."""
    assumptions_ensure()
    assumption = Assumption.objects.select_for_update().get(key=key)
    value = Decimal(value)
    assumption_validate(assumption, value)
    if value == assumption.value:
        return assumption
    AssumptionChange.objects.create(
        assumption=assumption, old_value=assumption.value, new_value=value, changed_by=actor
    )
    assumption.value, assumption.updated_by, assumption.updated_at = value, actor, timezone.now()
    assumption.save(update_fields=["value", "updated_by", "updated_at"])
    Snapshot.objects.filter(metric__in=DEPENDS_ON_ASSUMPTIONS).delete()
    return assumption

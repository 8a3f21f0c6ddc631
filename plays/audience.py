"""Who a play may reach: the audience filter of a play, its validation, and the contacts it
selects (those with a phone). Every trigger's candidate query starts from these contacts."""

import re

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from crm.global_control import REASON as GLOBAL_CONTROL  # noqa: F401 - the engine's reason
from crm.global_control import in_global_control  # noqa: F401 - who no play texts, asked per contact
from crm.models import Contact, LifecycleStage

AUDIENCE_KEYS = ("lifecycle_stages", "plans", "owners", "account_attributes")
ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}")


def validate_attribute_key(value, key: str) -> str:
    """A JSON key we filter on: letters, digits, - and _ (never ``__``, a lookup separator)."""
    if not isinstance(value, str) or not ATTRIBUTE_KEY.fullmatch(value) or "__" in value:
        raise ValidationError(f"`{key}` must be a property name (letters, digits, - and _).")
    return value


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
        validate_attribute_key(key, "account_attributes")
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

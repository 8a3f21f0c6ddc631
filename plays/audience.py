"""Who a play may reach: the audience filter of a play, its validation, and the contacts it
selects (those with a phone). Every trigger's candidate query starts from these contacts."""

import re

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from crm import custom_fields
from crm.global_control import REASON as GLOBAL_CONTROL  # noqa: F401 - the engine's reason
from crm.global_control import in_global_control  # noqa: F401 - who no play texts, asked per contact
from crm.models import ClvTier, Contact, CustomFieldObject, HealthBand, LifecycleStage

AUDIENCE_KEYS = (
    "lifecycle_stages",
    "plans",
    "owners",
    "account_attributes",
    "contact_fields",
    "account_fields",
)
# Conditions on custom fields: audience key -> (the records' type, the path from a contact).
FIELD_CONDITION_KEYS = {
    "contact_fields": (CustomFieldObject.CONTACT, ""),
    "account_fields": (CustomFieldObject.ACCOUNT, "account__"),
}
# Score filters (issue 21): the contact's CLV tier and P(alive), the account's health band. A
# contact not scored (blank tier, no account band, no P(alive)) matches none of them.
SCORE_KEYS = ("clv_tiers", "health_bands", "p_alive_min", "p_alive_max")
AUDIENCE_KEYS += SCORE_KEYS
ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}")


def validate_attribute_key(value, key: str) -> str:
    """A JSON key we filter on: letters, digits, - and _ (never ``__``, a lookup separator)."""
    if not isinstance(value, str) or not ATTRIBUTE_KEY.fullmatch(value) or "__" in value:
        raise ValidationError(f"`{key}` must be a property name (letters, digits, - and _).")
    return value


def validate_audience(audience) -> None:
    """``{}`` is everyone. Keys: ``lifecycle_stages`` and ``plans`` (lists of the account's),
    ``owners`` (user ids owning the account, or the contact when it has none),
    ``account_attributes`` ({key: value} the account's attributes must equal),
    ``contact_fields`` / ``account_fields`` (lists of ``{"field": key, "op": op, "value": v}`` on
    the custom fields defined for contacts / accounts; the operators of crm.custom_fields: ``eq``,
    ``in`` (a list), ``gte``, ``lte``, ``contains``, as the field's type allows)."""
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
    for key in FIELD_CONDITION_KEYS:
        if key in audience:
            field_conditions(audience, key)
    validate_score_filters(audience)


def validate_score_filters(audience: dict) -> None:
    """``clv_tiers`` / ``health_bands``: lists of tiers / bands; ``p_alive_min`` / ``p_alive_max``:
    numbers from 0 to 1, the minimum at most the maximum."""
    for key, choices in (("clv_tiers", ClvTier), ("health_bands", HealthBand)):
        values = audience.get(key, [])
        if not isinstance(values, list) or any(value not in choices.values for value in values):
            raise ValidationError(f"`{key}` must list values from: {', '.join(choices.values)}.")
    for key in ("p_alive_min", "p_alive_max"):
        value = audience.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1
        ):
            raise ValidationError(f"`{key}` must be a number from 0 to 1.")
    low, high = audience.get("p_alive_min"), audience.get("p_alive_max")
    if low is not None and high is not None and low > high:
        raise ValidationError("`p_alive_min` must not be above `p_alive_max`.")


def field_conditions(audience: dict, key: str, fields: dict | None = None) -> list[custom_fields.Condition]:
    """The audience's conditions under ``key`` (contact_fields or account_fields), checked
    against the fields defined now and in canonical form; ValidationError saying which and why."""
    object_type, _ = FIELD_CONDITION_KEYS[key]
    raw = audience.get(key) or []
    if not isinstance(raw, list):
        raise ValidationError(f"`{key}` must be a list of {{field, op, value}} conditions.")
    fields = custom_fields.by_key(object_type) if fields is None and raw else (fields or {})
    conditions = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"field", "op", "value"}:
            raise ValidationError(f"`{key}`[{index}] must be an object with field, op and value.")
        field = fields.get(item["field"]) if isinstance(item["field"], str) else None
        if field is None:
            raise ValidationError(
                f"`{key}`[{index}]: there is no {object_type} custom field {item['field']!r}."
            )
        try:
            conditions.append(custom_fields.condition_check(field, item["op"], item["value"]))
        except ValueError as exc:
            raise ValidationError(f"`{key}`[{index}] ({field.key}): {exc}.") from None
    return conditions


def _field_conditions_q(audience: dict) -> Q:
    """Custom-field conditions as one filter; a condition that no longer holds up against the
    definitions (the field deleted, its choices changed) matches nobody."""
    q = Q()
    for key, (object_type, prefix) in FIELD_CONDITION_KEYS.items():
        if not audience.get(key):
            continue
        fields = custom_fields.by_key(object_type)
        try:
            conditions = field_conditions(audience, key, fields)
        except ValidationError:
            return Q(pk__in=[])
        q &= custom_fields.conditions_q(conditions, fields, prefix=prefix)
    return q


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
    return q & _field_conditions_q(audience) & score_q(audience)


def score_q(audience: dict) -> Q:
    q = Q()
    if audience.get("clv_tiers"):
        q &= Q(clv_tier__in=audience["clv_tiers"])
    if audience.get("health_bands"):
        q &= Q(account__health_band__in=audience["health_bands"])
    if audience.get("p_alive_min") is not None:
        q &= Q(clv_p_alive__gte=audience["p_alive_min"])
    if audience.get("p_alive_max") is not None:
        q &= Q(clv_p_alive__lte=audience["p_alive_max"])
    return q


def reachable_contacts(audience: dict) -> QuerySet[Contact]:
    return Contact.objects.filter(phone__isnull=False).exclude(phone="").filter(audience_q(audience))

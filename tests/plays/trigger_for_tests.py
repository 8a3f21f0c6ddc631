"""A trigger type the registry tests register at run time, as a plugin would: accounts on a
plan, with a parameter (and editor field) no built-in type has."""

from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from plays.triggers import Param, Row, TriggerType, occurrences, optional_field


def check_plan(value, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"`{key}` must be a plan name.")
    return value


def candidates(trigger: dict, contacts: QuerySet, *, now: datetime) -> list[Row]:
    on_plan = contacts.filter(account__plan=trigger["plan"])
    return occurrences(on_plan, "account_id", "plan:{}".format)


TRIGGER = TriggerType(
    label="On a plan (test)",
    description="the account is on `plan`",
    params={"plan": Param(check_plan, optional_field(forms.CharField, label="Plan name", max_length=50))},
    candidates=candidates,
    describe=lambda trigger: f"On the {trigger['plan']} plan",
)

"""The dates we accept from outside: years 1900 to 2200. Python and the databases take years 1
to 9999, but a date that far out is a typo or a probe, and arithmetic near either end overflows
(a period ending in 9999 plus one day is a 500). Every API field, API filter, form and analytics
period refuses them with a 400 naming the range."""

from datetime import date, datetime

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers

DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(2200, 12, 31)
OUT_OF_RANGE = f"must be between {DATE_MIN.isoformat()} and {DATE_MAX.isoformat()}."


def date_out_of_range(value: date | datetime | None) -> bool:
    if value is None:
        return False
    day = value.date() if isinstance(value, datetime) else value
    return not DATE_MIN <= day <= DATE_MAX


def validate_date_in_range(value) -> None:
    """A Django validator (forms, filters): out of range -> ValidationError."""
    if isinstance(value, date | datetime) and date_out_of_range(value):
        raise ValidationError(f"Dates {OUT_OF_RANGE}", code="date_range")


def bound_form_dates(form: forms.Form) -> forms.Form:
    """Adds the range check to every date and date-time field of ``form`` (this instance's
    copies of its fields, parts of multi-value fields such as date ranges included)."""
    pending = list(form.fields.values())
    while pending:
        field = pending.pop()
        if isinstance(field, forms.MultiValueField):
            pending.extend(field.fields)
        elif isinstance(field, forms.DateField | forms.DateTimeField):
            field.validators.append(validate_date_in_range)
    return form


class BoundedDateField(serializers.DateField):
    def to_internal_value(self, value):
        day = super().to_internal_value(value)
        if date_out_of_range(day):
            raise serializers.ValidationError(f"Dates {OUT_OF_RANGE}")
        return day


class BoundedDateTimeField(serializers.DateTimeField):
    def to_internal_value(self, value):
        moment = super().to_internal_value(value)
        if date_out_of_range(moment):
            raise serializers.ValidationError(f"Dates {OUT_OF_RANGE}")
        return moment


def bound_model_serializer_dates() -> None:
    """Model serializers map date columns to the bounded fields (called once, at start-up)."""
    mapping = serializers.ModelSerializer.serializer_field_mapping
    mapping[models.DateField] = BoundedDateField
    mapping[models.DateTimeField] = BoundedDateTimeField


class DateBoundedFilterBackend(DjangoFilterBackend):
    """django-filter's backend, with every date filter limited to the accepted range."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            bound_form_dates(filterset.form)
        return filterset

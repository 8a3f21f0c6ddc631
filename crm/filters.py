"""Query-string filters for the CRM API lists (django-filter).

Date and time ranges follow django-filter's ``<field>_after`` / ``<field>_before`` pair, both
inclusive. References (``account``, ``owner`` ...) take an id; an unknown id answers 400.
"""

import django_filters as filters
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field

from core.filters import updated_after_filter
from crm import custom_fields
from crm.models import (
    Account,
    AcquisitionChannel,
    Activity,
    ActivityKind,
    ClvTier,
    Contact,
    CustomField,
    CustomFieldObject,
    Deal,
    DealKind,
    Event,
    HealthBand,
    LifecycleStage,
    Order,
    PipelineStage,
    Renewal,
    RenewalStatus,
    SmsConsent,
    Task,
    TaskSource,
    TaskStatus,
)
from crm.selectors import tagged_with

User = get_user_model()
NOT_SCORED = "none"


class CustomFieldFilterMixin:
    """``attr.<key>`` parameters on the custom fields of ``object_type`` (crm.custom_fields:
    ``attr.<key>=v`` equals, repeat for any of, contains for text; ``attr.<key>.min`` /
    ``.max`` for number and date). An unknown field or a value that does not fit is a 400
    naming the parameter."""

    object_type = ""

    def _custom(self):
        if not hasattr(self, "_custom_parsed"):
            asked = any(name.startswith(custom_fields.PARAM_PREFIX) for name in self.data)
            fields = custom_fields.by_key(self.object_type) if asked else {}  # no query otherwise
            conditions, problems = custom_fields.conditions_from_params(self.data, fields)
            self._custom_parsed = (fields, conditions, problems)
        return self._custom_parsed

    def is_valid(self):
        valid = super().is_valid()
        problems = self._custom()[2]
        if problems and not getattr(self, "_custom_reported", False):
            self._custom_reported = True
            for problem in problems:
                name, _, message = problem.partition(": ")
                self.form.errors.setdefault(name, self.form.error_class()).append(message)
        return valid and not problems

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        fields, conditions, _ = self._custom()
        return queryset.filter(custom_fields.conditions_q(conditions, fields)) if conditions else queryset


class AccountFilter(CustomFieldFilterMixin, filters.FilterSet):
    object_type = CustomFieldObject.ACCOUNT

    owner = filters.ModelChoiceFilter(
        queryset=User.objects.all(), help_text="Customer success manager (user id)."
    )
    ae = filters.ModelChoiceFilter(queryset=User.objects.all(), help_text="Account executive (user id).")
    lifecycle_stage = filters.MultipleChoiceFilter(choices=LifecycleStage.choices)
    health_band = filters.MultipleChoiceFilter(
        choices=HealthBand.choices, help_text="Health band from the daily health score."
    )
    plan = filters.CharFilter(lookup_expr="iexact")
    acquisition_channel = filters.ChoiceFilter(choices=AcquisitionChannel.choices)
    signed_up_at = filters.IsoDateTimeFromToRangeFilter(help_text="Cohort range.")
    updated_after = updated_after_filter()
    churned = filters.BooleanFilter(
        field_name="churned_at", lookup_expr="isnull", exclude=True, help_text="Has a churn date."
    )

    class Meta:
        model = Account
        fields = [
            "owner",
            "ae",
            "lifecycle_stage",
            "health_band",
            "plan",
            "acquisition_channel",
            "signed_up_at",
            "churned",
        ]


def contacts_tagged(queryset, name, value):
    return queryset.filter(tagged_with(value)) if value.strip() else queryset


class ContactFilter(CustomFieldFilterMixin, filters.FilterSet):
    object_type = CustomFieldObject.CONTACT
    account = filters.ModelChoiceFilter(queryset=Account.objects.all())
    tag = filters.CharFilter(method=contacts_tagged, help_text="Has this tag (any case).")
    owner = filters.ModelChoiceFilter(queryset=User.objects.all())
    sms_consent = filters.ChoiceFilter(choices=SmsConsent.choices)
    phone_valid = filters.BooleanFilter()
    email = filters.CharFilter(lookup_expr="iexact", help_text="Exact address, any case.")
    external_id = filters.CharFilter(help_text="The contact's id in your system.")
    acquisition_channel = filters.ChoiceFilter(choices=AcquisitionChannel.choices)
    clv_tier = filters.ChoiceFilter(
        choices=[*ClvTier.choices, (NOT_SCORED, "Not scored")],
        method="filter_clv_tier",
        help_text="CLV tier: high, mid, low, or none (not scored).",
    )
    updated_after = updated_after_filter()
    created_at = filters.IsoDateTimeFromToRangeFilter()

    def filter_clv_tier(self, queryset, name, value):
        return queryset.filter(clv_tier="" if value == NOT_SCORED else value)

    class Meta:
        model = Contact
        fields = [
            "account",
            "owner",
            "sms_consent",
            "phone_valid",
            "email",
            "external_id",
            "acquisition_channel",
            "created_at",
            "tag",
        ]


class DealFilter(filters.FilterSet):
    account = filters.ModelChoiceFilter(queryset=Account.objects.all())
    contact = filters.ModelChoiceFilter(queryset=Contact.objects.all())
    owner = filters.ModelChoiceFilter(queryset=User.objects.all())
    kind = filters.ChoiceFilter(choices=DealKind.choices)
    # Deals reference stages by slug; the schema cannot infer that through the relation.
    stage = extend_schema_field({"type": "string", "description": "Stage slug; repeat for several."})(
        filters.ModelMultipleChoiceFilter(
            field_name="stage__slug",
            queryset=PipelineStage.objects.all(),
            to_field_name="slug",
        )
    )
    is_closed = filters.BooleanFilter(field_name="stage__is_closed", help_text="In a closed stage.")
    is_won = filters.BooleanFilter(field_name="stage__is_won", help_text="In a won stage.")
    expected_close = filters.DateFromToRangeFilter()
    updated_after = updated_after_filter()
    closed_at = filters.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = Deal
        fields = [
            "account",
            "contact",
            "owner",
            "kind",
            "stage",
            "is_closed",
            "is_won",
            "expected_close",
            "closed_at",
        ]


class CustomFieldFilter(filters.FilterSet):
    updated_after = updated_after_filter()

    class Meta:
        model = CustomField
        fields = ["object_type"]


class PipelineStageFilter(filters.FilterSet):
    updated_after = updated_after_filter()

    class Meta:
        model = PipelineStage
        fields = ["is_closed", "is_won"]


class RenewalFilter(filters.FilterSet):
    account = filters.ModelChoiceFilter(queryset=Account.objects.all())
    status = filters.MultipleChoiceFilter(choices=RenewalStatus.choices)
    updated_after = updated_after_filter()
    end_date = filters.DateFromToRangeFilter()

    class Meta:
        model = Renewal
        fields = ["account", "status", "end_date"]


class OrderFilter(filters.FilterSet):
    contact = filters.ModelChoiceFilter(queryset=Contact.objects.all())
    account = filters.ModelChoiceFilter(queryset=Account.objects.all())
    updated_after = updated_after_filter()
    ordered_at = filters.IsoDateTimeFromToRangeFilter()
    external_id = filters.CharFilter()

    class Meta:
        model = Order
        fields = ["contact", "account", "ordered_at", "external_id"]


class EventFilter(filters.FilterSet):
    account = filters.ModelChoiceFilter(queryset=Account.objects.all())
    contact = filters.ModelChoiceFilter(queryset=Contact.objects.all())
    name = filters.CharFilter()
    occurred_at = filters.IsoDateTimeFromToRangeFilter()
    external_id = filters.CharFilter()

    class Meta:
        model = Event
        fields = ["account", "contact", "name", "occurred_at", "external_id"]


class TaskFilter(filters.FilterSet):
    owner = filters.ModelChoiceFilter(queryset=User.objects.all())
    account = filters.ModelChoiceFilter(queryset=Account.objects.all())
    contact = filters.ModelChoiceFilter(queryset=Contact.objects.all())
    status = filters.MultipleChoiceFilter(choices=TaskStatus.choices)
    source = filters.ChoiceFilter(choices=TaskSource.choices)
    updated_after = updated_after_filter()
    due_at = filters.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = Task
        fields = ["owner", "account", "contact", "status", "source", "due_at"]


class ActivityFilter(filters.FilterSet):
    account = filters.ModelChoiceFilter(queryset=Account.objects.all())
    contact = filters.ModelChoiceFilter(queryset=Contact.objects.all())
    kind = filters.MultipleChoiceFilter(choices=ActivityKind.choices)
    occurred_at = filters.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = Activity
        fields = ["account", "contact", "kind", "occurred_at"]

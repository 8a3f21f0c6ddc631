"""Query-string filters for the CRM API lists (django-filter).

Date and time ranges follow django-filter's ``<field>_after`` / ``<field>_before`` pair, both
inclusive. References (``account``, ``owner`` ...) take an id; an unknown id answers 400.
"""

import django_filters as filters
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field

from core.filters import updated_after_filter
from crm.models import (
    Account,
    AcquisitionChannel,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    DealKind,
    Event,
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

User = get_user_model()


class AccountFilter(filters.FilterSet):
    owner = filters.ModelChoiceFilter(
        queryset=User.objects.all(), help_text="Customer success manager (user id)."
    )
    ae = filters.ModelChoiceFilter(queryset=User.objects.all(), help_text="Account executive (user id).")
    lifecycle_stage = filters.MultipleChoiceFilter(choices=LifecycleStage.choices)
    plan = filters.CharFilter(lookup_expr="iexact")
    acquisition_channel = filters.ChoiceFilter(choices=AcquisitionChannel.choices)
    signed_up_at = filters.IsoDateTimeFromToRangeFilter(help_text="Cohort range.")
    updated_after = updated_after_filter()
    churned = filters.BooleanFilter(
        field_name="churned_at", lookup_expr="isnull", exclude=True, help_text="Has a churn date."
    )

    class Meta:
        model = Account
        fields = ["owner", "ae", "lifecycle_stage", "plan", "acquisition_channel", "signed_up_at", "churned"]


class ContactFilter(filters.FilterSet):
    account = filters.ModelChoiceFilter(queryset=Account.objects.all())
    owner = filters.ModelChoiceFilter(queryset=User.objects.all())
    sms_consent = filters.ChoiceFilter(choices=SmsConsent.choices)
    phone_valid = filters.BooleanFilter()
    email = filters.CharFilter(lookup_expr="iexact", help_text="Exact address, any case.")
    external_id = filters.CharFilter(help_text="The contact's id in your system.")
    acquisition_channel = filters.ChoiceFilter(choices=AcquisitionChannel.choices)
    updated_after = updated_after_filter()
    created_at = filters.IsoDateTimeFromToRangeFilter()

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

"""Serializers of the CRM records. Writes call crm.services; validation errors raised there
(Django ValidationError with per-field messages) become 400s in crm.api_support."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from crm import custom_fields, services
from crm.models import (
    MANUAL_ACTIVITY_KINDS,
    Account,
    Activity,
    ClvTier,
    Contact,
    CustomField,
    CustomFieldObject,
    Deal,
    HealthBand,
    HealthSource,
    LifecycleStage,
    PipelineStage,
    Renewal,
    Task,
)
from crm.phones import is_region_code


def _actor(serializer: serializers.BaseSerializer):
    return serializer.context["request"].user


def check_contact_account(attrs: dict, instance=None) -> None:
    """The services' rule, checked while validating so the error names the field (400)."""
    contact = attrs["contact"] if "contact" in attrs else getattr(instance, "contact", None)
    account = attrs["account"] if "account" in attrs else getattr(instance, "account", None)
    try:
        services.check_contact_account(contact, account)
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict) from None


class AttributesField(serializers.DictField):
    """A free-form JSON object (custom fields, event properties, activity data)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class TypedAttributesField(AttributesField):
    """A record's attributes: values of the custom fields defined for its type are checked
    against their type and stored in canonical form (400 naming the field otherwise); other
    keys are kept as given."""

    def __init__(self, object_type: str, **kwargs):
        self.object_type = object_type
        kwargs.setdefault(
            "help_text",
            "Custom fields as a JSON object. Keys defined in settings (custom fields) take typed "
            "values: text, number, date (YYYY-MM-DD), true/false, a choice's value, or a list of "
            "values for multiple choice; other keys are stored as given.",
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        try:
            return custom_fields.check_attributes(self.object_type, data)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict["attributes"]) from None


class TagsField(serializers.ListField):
    """The contact's tags by name; writing replaces them (new names create tags)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.CharField(max_length=services.TAG_MAX))
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 50)
        kwargs.setdefault("help_text", 'Tags by name, e.g. ["vip", "beta"]; writing replaces them.')
        super().__init__(**kwargs)

    def to_representation(self, value):
        return [tag.name for tag in value.all()]


# --- Accounts and contacts --------------------------------------------------------------------


class AccountSerializer(serializers.ModelSerializer):
    attributes = TypedAttributesField(CustomFieldObject.ACCOUNT)
    # Read-only scores and stages: empty until the daily job (or a person) sets them, so the
    # schema's enums carry "" too.
    lifecycle_stage_override = serializers.ChoiceField(
        choices=[*LifecycleStage.choices, ("", "Not set by hand")],
        read_only=True,
        help_text="A stage set by hand (it sticks until cleared on the account's page); empty: derived.",
    )
    health_band = serializers.ChoiceField(
        choices=[*HealthBand.choices, ("", "Not scored")],
        read_only=True,
        help_text="good, watch or at_risk from the daily health job; empty: not scored.",
    )
    health_source = serializers.ChoiceField(
        choices=[*HealthSource.choices, ("", "Not scored")],
        read_only=True,
        help_text="model (trained on this team's renewals) or rules (too little history); empty: not scored.",
    )

    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "domain",
            "owner",
            "ae",
            "plan",
            "seats",
            "lifecycle_stage",
            "lifecycle_stage_override",
            "lifecycle_stage_reason",
            "lifecycle_stage_derived_at",
            "churn_risk",
            "health_band",
            "health_factors",
            "health_source",
            "health_scored_at",
            "signed_up_at",
            "churned_at",
            "acquisition_channel",
            "acquisition_cost",
            "timezone",
            "attributes",
            "created_at",
            "updated_at",
        ]
        # Written by the daily health job and the stage derivation; a changed `lifecycle_stage`
        # is a stage set by hand (`lifecycle_stage_override`), cleared on the account's page.
        read_only_fields = [
            "created_at",
            "updated_at",
            "lifecycle_stage_override",
            "lifecycle_stage_reason",
            "lifecycle_stage_derived_at",
            "churn_risk",
            "health_band",
            "health_factors",
            "health_source",
            "health_scored_at",
        ]
        extra_kwargs = {"timezone": {"help_text": "IANA name, e.g. America/Chicago."}}

    def update(self, instance, validated_data):
        stage = validated_data.get("lifecycle_stage")
        if stage and stage != instance.lifecycle_stage:  # a stage set by hand sticks until cleared
            validated_data.update(
                lifecycle_stage_override=stage, lifecycle_stage_reason=services.HAND_SET_REASON
            )
        return super().update(instance, validated_data)


class ContactSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=254,
        help_text="Stored lowercased; unique whatever the case.",
    )
    phone = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=64,
        help_text=(
            "Any common format in, e.g. `(415) 555-2671` or `+44 20 7946 0958`; E.164 out. "
            "Unique. Blank clears it."
        ),
    )
    phone_region = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=8,
        help_text=(
            "Region for reading a number typed without a country code, e.g. `US` or `GB`. "
            f"Default `{settings.DEFAULT_PHONE_REGION}`."
        ),
    )
    attributes = TypedAttributesField(CustomFieldObject.CONTACT)
    tags = TagsField()
    clv_tier = serializers.ChoiceField(
        choices=[*ClvTier.choices, ("", "Not scored")],
        read_only=True,
        help_text="high, mid or low by expected 12-month value; empty: not scored.",
    )

    class Meta:
        model = Contact
        fields = [
            "id",
            "external_id",
            "account",
            "first_name",
            "last_name",
            "email",
            "phone",
            "phone_region",
            "phone_raw",
            "phone_valid",
            "timezone",
            "owner",
            "acquisition_channel",
            "sms_consent",
            "attributes",
            "tags",
            "clv_p_alive",
            "clv_expected_12m",
            "clv_tier",
            "clv_scored_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "phone_raw",
            "phone_valid",
            "sms_consent",
            "clv_p_alive",
            "clv_expected_12m",
            "clv_tier",
            "clv_scored_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "timezone": {
                "help_text": (
                    "IANA name, e.g. America/Chicago. When blank it is inferred from the phone "
                    "number, else taken from the account."
                )
            },
            "phone_valid": {"help_text": "Whether the number is assigned (not just the right length)."},
            "external_id": {"help_text": "The contact's id in your system; unique. CSV imports match on it."},
            "sms_consent": {"help_text": "Derived from the consent ledger (sms/consent/)."},
            "clv_p_alive": {"help_text": "BG/NBD probability the customer is still active (0-1), nightly."},
            "clv_expected_12m": {
                "help_text": "Expected value in the next 12 months (margin applied), nightly."
            },
            "clv_scored_at": {"help_text": "When the nightly CLV job scored the contact."},
        }

    def validate_external_id(self, value: str | None) -> str | None:
        return (value or "").strip() or None  # blank means none: it must not collide with other blanks

    def validate_phone_region(self, value: str) -> str | None:
        if value and not is_region_code(value):
            raise ValidationError(f"{value!r} is not a known region code (e.g. US, GB).")
        return value.upper() or None

    def create(self, validated_data: dict) -> Contact:
        phone = validated_data.pop("phone", "") or ""
        region = validated_data.pop("phone_region", None)
        return services.contact_create(phone=phone, phone_region=region, actor=_actor(self), **validated_data)

    def update(self, instance: Contact, validated_data: dict) -> Contact:
        region = validated_data.pop("phone_region", None)
        if "phone" in validated_data:
            validated_data["phone"] = validated_data["phone"] or ""
        return services.contact_update(
            contact=instance, phone_region=region, actor=_actor(self), **validated_data
        )


# --- Deals, renewals, tasks -------------------------------------------------------------------


class CustomFieldSerializer(serializers.ModelSerializer):
    choices = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2),
        help_text="For choice types: [value, label] pairs in display order; values are what is stored.",
    )

    class Meta:
        model = CustomField
        fields = [
            "id",
            "object_type",
            "key",
            "label",
            "field_type",
            "choices",
            "help_text",
            "position",
            "show_in_list",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"key": {"help_text": "The key of the value in the records' `attributes`."}}


class PipelineStageSerializer(serializers.ModelSerializer):
    class Meta:
        model = PipelineStage
        fields = [
            "id",
            "name",
            "slug",
            "position",
            "probability",
            "is_closed",
            "is_won",
            "is_late",
            "updated_at",
        ]


class DealSerializer(serializers.ModelSerializer):
    stage = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=PipelineStage.objects.all(),
        help_text="Pipeline stage slug; see pipeline-stages/.",
    )
    weighted_amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        read_only=True,
        help_text="amount times the stage's win probability.",
    )

    class Meta:
        model = Deal
        fields = [
            "id",
            "name",
            "account",
            "contact",
            "owner",
            "kind",
            "stage",
            "amount",
            "weighted_amount",
            "next_step",
            "next_step_date",
            "expected_close",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {
            "closed_at": {
                "help_text": "Stamped when the deal enters a closed stage, cleared when it reopens; "
                "may be given with a closed stage to import history."
            }
        }

    def validate(self, attrs: dict) -> dict:
        check_contact_account(attrs, self.instance)
        return attrs

    def create(self, validated_data: dict) -> Deal:
        return services.deal_create(actor=_actor(self), **validated_data)

    def update(self, instance: Deal, validated_data: dict) -> Deal:
        return services.deal_update(deal=instance, actor=_actor(self), **validated_data)


class RenewalSerializer(serializers.ModelSerializer):
    class Meta:
        model = Renewal
        fields = [
            "id",
            "account",
            "start_date",
            "end_date",
            "acv",
            "status",
            "renewed_acv",
            "decided_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["decided_at", "created_at", "updated_at"]
        extra_kwargs = {
            "end_date": {"help_text": "Last day of the term; must be after start_date."},
            "decided_at": {"help_text": "Stamped when the status leaves `upcoming`."},
        }

    def create(self, validated_data: dict) -> Renewal:
        return services.renewal_create(actor=_actor(self), **validated_data)

    def update(self, instance: Renewal, validated_data: dict) -> Renewal:
        return services.renewal_update(renewal=instance, actor=_actor(self), **validated_data)


class TaskSerializer(serializers.ModelSerializer):
    is_overdue = serializers.BooleanField(read_only=True, help_text="Open and past its due time.")

    class Meta:
        model = Task
        fields = [
            "id",
            "owner",
            "account",
            "contact",
            "title",
            "notes",
            "due_at",
            "status",
            "source",
            "completed_at",
            "is_overdue",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["completed_at", "created_at", "updated_at"]
        extra_kwargs = {"account": {"help_text": "Defaults to the contact's account."}}

    def validate(self, attrs: dict) -> dict:
        check_contact_account(attrs, self.instance)
        return attrs

    def create(self, validated_data: dict) -> Task:
        return services.task_create(actor=_actor(self), **validated_data)

    def update(self, instance: Task, validated_data: dict) -> Task:
        return services.task_update(task=instance, **validated_data)


# --- Timeline ---------------------------------------------------------------------------------


class ActivitySerializer(serializers.ModelSerializer):
    data = AttributesField(read_only=True)

    class Meta:
        model = Activity
        fields = ["id", "account", "contact", "kind", "occurred_at", "actor", "summary", "data"]
        read_only_fields = fields


_MANUAL_KIND_NAMES = ", ".join(kind.value for kind in MANUAL_ACTIVITY_KINDS)


class ActivityRecordSerializer(serializers.ModelSerializer):
    """A touch from another channel. SMS, deal, renewal and task entries are written by the CRM."""

    kind = serializers.ChoiceField(
        choices=[(kind.value, kind.label) for kind in MANUAL_ACTIVITY_KINDS],
        error_messages={
            "invalid_choice": (
                f'"{{input}}" cannot be recorded through the API: only {_MANUAL_KIND_NAMES} can be. '
                "SMS, deal, renewal and task entries are written by the CRM itself."
            )
        },
    )
    data = AttributesField(help_text="Details of the touch as a JSON object.")

    class Meta:
        model = Activity
        fields = ["account", "contact", "kind", "occurred_at", "summary", "data"]
        extra_kwargs = {
            "occurred_at": {"required": False, "help_text": "Defaults to now."},
            "account": {"help_text": "Defaults to the contact's account."},
        }

    def validate(self, attrs: dict) -> dict:
        if attrs.get("contact") is None and attrs.get("account") is None:
            message = "Give a contact, an account or both."
            raise ValidationError({"contact": [message], "account": [message]})
        check_contact_account(attrs)
        return attrs

    def create(self, validated_data: dict) -> Activity:
        return services.activity_record(actor=_actor(self), **validated_data)

    def to_representation(self, instance: Activity) -> dict:
        return ActivitySerializer(instance, context=self.context).data

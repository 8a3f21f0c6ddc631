"""HTML forms of the CRM pages.

Forms render and clean typed input only. Model validation and saving belong to
``crm.services``; their ValidationError is mapped back onto the form's fields with
``add_service_errors`` so a user sees the message next to the field that caused it.
"""

import re
import zoneinfo
from functools import cache

import phonenumbers
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Model
from django.forms.models import fields_for_model, model_to_dict
from django.template.loader import render_to_string
from django.urls import reverse

from core.dates import bound_form_dates
from crm import custom_fields, listing
from crm.models import (
    MANUAL_ACTIVITY_KINDS,
    Account,
    ApiToken,
    ClvTier,
    Contact,
    CustomField,
    CustomFieldObject,
    CustomFieldType,
    Deal,
    DealKind,
    LifecycleStage,
    RenewalStatus,
    SmsConsent,
    Task,
)
from crm.models import Renewal as RenewalModel
from crm.roles import can_manage_program
from crm.selectors import TaskDue, TaskOwner

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


@cache
def timezone_choices() -> list[tuple[str, str]]:
    return [("", "—"), *((name, name) for name in sorted(zoneinfo.available_timezones()))]


@cache
def phone_region_choices() -> list[tuple[str, str]]:
    return [
        (region, f"{region} (+{phonenumbers.country_code_for_region(region)})")
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    ]


def active_users():
    return get_user_model().objects.filter(is_active=True).order_by("first_name", "last_name", "username")


def add_service_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: keys that name a form field go to that
    field, anything else (``__all__``, fields the form does not show) to the form as a whole."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        if field in form.fields and field != NON_FIELD_ERRORS:
            form.add_error(field, errors)
        else:
            label = "" if field == NON_FIELD_ERRORS else f"{field.replace('_', ' ').capitalize()}: "
            form.add_error(None, [f"{label}{message}" for e in errors for message in e.messages])


class ServiceForm(forms.Form):
    """Renders and cleans a model's fields like a ModelForm, without the ModelForm's model
    validation (which would duplicate the service's and word constraint errors badly).

    ``cleaned_data`` holds model field values by name, ready to pass to a service."""

    model: type[Model]
    model_fields: tuple[str, ...] = ()
    widgets: dict = {}
    labels: dict = {}

    def __init__(self, *args, instance: Model | None = None, **kwargs):
        self.instance = instance
        if instance is not None:
            from_instance = model_to_dict(instance, fields=self.model_fields)
            kwargs["initial"] = {**from_instance, **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        declared = self.fields
        generated = fields_for_model(
            self.model, fields=self.model_fields, widgets=self.widgets, labels=self.labels
        )
        self.fields = {**generated, **declared}
        self.order_fields(self.field_order or self.model_fields)
        bound_form_dates(self)


class SearchPicker(forms.Widget):
    """A searchable picker for a record field (account, contact, owner): a text box that lists
    matching records as you type (``pick/<kind>/``, crm.search) and a hidden input carrying the
    chosen id. It renders only the chosen record, whatever the number of records (a select of
    thousands made list pages slow and was unusable); validation still accepts any record of
    the field's queryset."""

    template_name = "crm/widgets/picker.html"

    def __init__(self, kind: str, attrs=None):
        super().__init__(attrs)
        self.kind = kind

    def format_value(self, value):
        return "" if value in (None, "") else str(getattr(value, "pk", value))

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        value = context["widget"]["value"]
        label = ""
        iterator = getattr(self, "choices", None)
        if value and str(value).isdigit() and iterator is not None and hasattr(iterator, "queryset"):
            record = iterator.queryset.filter(pk=value).first()
            label = iterator.field.label_from_instance(record) if record is not None else ""
        empty_label = getattr(getattr(iterator, "field", None), "empty_label", None)
        context["widget"].update(
            label=label,
            url=reverse("record_pick", args=[self.kind]),
            placeholder=f"{empty_label or '—'} (type to search)",
        )
        return context

    def value_from_datadict(self, data, files, name):
        return data.get(name)

    def render(self, name, value, attrs=None, renderer=None):
        # The project's templates, not the form renderer's (which reads only Django's widgets).
        context = self.get_context(name, value, attrs)
        return render_to_string(self.template_name, context)  # a SafeString, escaped by the template


class UserChoiceField(forms.ModelChoiceField):
    widget = SearchPicker("user")

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("empty_label", "—")
        super().__init__(queryset=active_users(), **kwargs)


class AccountChoiceField(forms.ModelChoiceField):
    widget = SearchPicker("account")

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("empty_label", "—")
        super().__init__(queryset=Account.objects.only("id", "name"), **kwargs)


class AccountFilterField(AccountChoiceField):
    """An account filter on a list page: any account, picked by searching."""


class ContactChoiceField(forms.ModelChoiceField):
    widget = SearchPicker("contact")

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("empty_label", "—")
        queryset = Contact.objects.select_related("account").only(
            "id", "first_name", "last_name", "email", "phone", "account__name"
        )
        super().__init__(queryset=queryset, **kwargs)

    def label_from_instance(self, obj: Contact) -> str:
        return contact_label(obj)


def contact_label(contact: Contact) -> str:
    return f"{contact} ({contact.account.name})" if contact.account_id else str(contact)


# --- Custom fields -------------------------------------------------------------------------

CUSTOM_PREFIX = "cf_"
YES_NO_CHOICES = [("", "—"), ("true", "Yes"), ("false", "No")]


def custom_form_field(field: CustomField) -> forms.Field:
    """The typed input of a custom field on a record's form."""
    common = {"required": False, "label": field.label, "help_text": field.help_text}
    kind = field.field_type
    if kind == CustomFieldType.NUMBER:
        return forms.DecimalField(**common, max_digits=20, decimal_places=6)
    if kind == CustomFieldType.DATE:
        return forms.DateField(**common, widget=DATE_INPUT)
    if kind == CustomFieldType.YES_NO:
        return forms.ChoiceField(**common, choices=YES_NO_CHOICES)
    if kind == CustomFieldType.CHOICE:
        return forms.ChoiceField(**common, choices=[("", "—"), *map(tuple, field.choices)])
    if kind == CustomFieldType.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            **common, choices=list(map(tuple, field.choices)), widget=forms.CheckboxSelectMultiple
        )
    return forms.CharField(**common, max_length=custom_fields.MAX_TEXT)


def _initial_value(field: CustomField, value):
    if field.field_type == CustomFieldType.YES_NO and isinstance(value, bool):
        return "true" if value else "false"
    return value


class CustomFieldsMixin:
    """A record form with an input per custom field of ``object_type`` (``cf_<key>``, one
    query for the definitions); ``custom_attributes()`` merges them into the record's
    attributes, leaving undefined keys alone."""

    object_type = ""

    def add_custom_fields(self) -> None:
        self.custom_definitions = custom_fields.definitions(self.object_type)
        stored = (getattr(self.instance, "attributes", None) or {}) if self.instance is not None else {}
        for field in self.custom_definitions:
            name = CUSTOM_PREFIX + field.key
            self.fields[name] = custom_form_field(field)
            if field.key in stored and name not in self.initial:
                self.initial[name] = _initial_value(field, stored[field.key])

    @property
    def custom_bound_fields(self) -> list:
        return [self[CUSTOM_PREFIX + field.key] for field in self.custom_definitions]

    def plain_data(self) -> dict:
        """cleaned_data without the custom fields' inputs."""
        return {
            name: value for name, value in self.cleaned_data.items() if not name.startswith(CUSTOM_PREFIX)
        }

    def custom_attributes(self) -> dict:
        attributes = dict(
            (getattr(self.instance, "attributes", None) or {}) if self.instance is not None else {}
        )
        for field in self.custom_definitions:
            value = self.cleaned_data.get(CUSTOM_PREFIX + field.key)
            if value in (None, "", []):
                attributes.pop(field.key, None)
            else:
                attributes[field.key] = str(value) if field.field_type == CustomFieldType.NUMBER else value
        return attributes


class CustomFieldForm(forms.Form):
    """A custom field's definition on the settings page."""

    object_type = forms.ChoiceField(label="For", choices=CustomFieldObject.choices)
    label = forms.CharField(max_length=80)
    key = forms.CharField(
        max_length=50,
        required=False,
        help_text="Where values are kept (and imported columns of that name land). "
        "Lowercase letters, digits and _; from the label when empty. Cannot change later.",
    )
    field_type = forms.ChoiceField(label="Type", choices=CustomFieldType.choices)
    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "gold = Gold\nsilver = Silver"}),
        help_text="For choice types: one per line, value = Label (or just a label).",
    )
    help_text = forms.CharField(max_length=200, required=False)
    show_in_list = forms.BooleanField(required=False, label="Show as a column on the list")

    def __init__(self, *args, instance: CustomField | None = None, **kwargs):
        self.instance = instance
        if instance is not None:
            kwargs["initial"] = {
                "object_type": instance.object_type,
                "label": instance.label,
                "key": instance.key,
                "field_type": instance.field_type,
                "choices": custom_fields.choices_text(instance.choices),
                "help_text": instance.help_text,
                "show_in_list": instance.show_in_list,
            }
        super().__init__(*args, **kwargs)
        if instance is not None:
            self.fields["object_type"].disabled = True
            self.fields["key"].disabled = True

    def clean_choices(self):
        try:
            return custom_fields.parse_choices(self.cleaned_data["choices"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["choices"]) from None

    def clean(self):
        data = super().clean()
        if not data.get("key") and data.get("label") and self.instance is None:
            data["key"] = re.sub(r"[^a-z0-9]+", "_", data["label"].lower()).strip("_")[:50] or "field"
            if not data["key"][0].isalpha():
                data["key"] = f"f_{data['key']}"[:50]
        return data


# --- Records --------------------------------------------------------------------------------


class AccountForm(CustomFieldsMixin, ServiceForm):
    model = Account
    object_type = CustomFieldObject.ACCOUNT
    model_fields = (
        "name",
        "domain",
        "owner",
        "ae",
        "plan",
        "seats",
        "lifecycle_stage",
        "signed_up_at",
        "churned_at",
        "acquisition_channel",
        "acquisition_cost",
        "timezone",
    )
    widgets = {"signed_up_at": DATETIME_INPUT, "churned_at": DATETIME_INPUT}

    owner = UserChoiceField(label="Owner (CSM)")
    ae = UserChoiceField(label="Account executive")
    timezone = forms.ChoiceField(choices=timezone_choices, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_custom_fields()

    def service_fields(self) -> dict:
        """Arguments for account_create/account_update, custom fields in ``attributes``."""
        return {**self.plain_data(), "attributes": self.custom_attributes()}


class ContactForm(CustomFieldsMixin, ServiceForm):
    model = Contact
    object_type = CustomFieldObject.CONTACT
    model_fields = (
        "first_name",
        "last_name",
        "email",
        "account",
        "owner",
        "acquisition_channel",
        "timezone",
    )
    field_order = ("first_name", "last_name", "email", "phone", "phone_region", "account", "owner")

    account = AccountChoiceField()
    owner = UserChoiceField()
    phone = forms.CharField(
        required=False,
        max_length=64,
        help_text="Any common format; numbers without a country code use the region below.",
    )
    phone_region = forms.ChoiceField(
        choices=phone_region_choices, label="Phone region", initial=lambda: settings.DEFAULT_PHONE_REGION
    )
    timezone = forms.ChoiceField(
        choices=timezone_choices, required=False, help_text="Leave empty to infer it from the phone number."
    )

    tags = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Separated by commas, e.g. vip, beta.",
        widget=forms.TextInput(attrs={"list": "tag-names", "autocomplete": "off"}),
    )

    def __init__(self, *args, instance: Contact | None = None, **kwargs):
        super().__init__(*args, instance=instance, **kwargs)
        if instance is not None:
            self.initial.setdefault("phone", instance.phone_raw)
            if instance.pk:
                self.initial.setdefault("tags", ", ".join(tag.name for tag in instance.tags.all()))
        self.add_custom_fields()

    def tag_names(self) -> list[str]:
        return [name for name in (self.cleaned_data.get("tags") or "").split(",") if name.strip()]

    def service_fields(self) -> dict:
        """Arguments for contact_create/contact_update (custom fields in ``attributes``; the
        tags are set apart). An edit passes the timezone only when the user changed it, so a new
        phone number can re-infer a timezone it had inferred."""
        data = {**self.plain_data(), "attributes": self.custom_attributes()}
        data["tags"] = self.tag_names()
        data["email"] = data.get("email") or None
        if self.instance is not None and "timezone" not in self.changed_data:
            data.pop("timezone", None)
        return data


class DealForm(ServiceForm):
    model = Deal
    model_fields = (
        "name",
        "account",
        "contact",
        "owner",
        "kind",
        "stage",
        "amount",
        "next_step",
        "next_step_date",
        "expected_close",
    )
    widgets = {"next_step_date": DATE_INPUT, "expected_close": DATE_INPUT}

    account = AccountChoiceField(required=True)
    contact = ContactChoiceField()
    owner = UserChoiceField()


class DealMoveForm(forms.Form):
    stage = forms.ModelChoiceField(queryset=None)

    def __init__(self, *args, stages, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = stages


class RenewalForm(ServiceForm):
    model = RenewalModel
    model_fields = ("account", "start_date", "end_date", "acv", "status", "renewed_acv")
    widgets = {"start_date": DATE_INPUT, "end_date": DATE_INPUT}
    labels = {"acv": "ACV", "renewed_acv": "Renewed ACV"}

    account = AccountChoiceField(required=True)


class TaskForm(ServiceForm):
    model = Task
    model_fields = ("title", "owner", "account", "contact", "due_at", "status", "notes")
    widgets = {"due_at": DATETIME_INPUT, "notes": forms.Textarea(attrs={"rows": 4})}

    owner = UserChoiceField()
    account = AccountChoiceField()
    contact = ContactChoiceField()

    def __init__(self, *args, instance: Task | None = None, **kwargs):
        super().__init__(*args, instance=instance, **kwargs)
        if instance is None:
            # New tasks start open; the status select is for editing.
            del self.fields["status"]


class ActivityLogForm(forms.Form):
    """A touch logged by hand on an account or contact timeline."""

    kind = forms.ChoiceField(choices=[(kind.value, kind.label) for kind in MANUAL_ACTIVITY_KINDS])
    summary = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"placeholder": "What happened?"}))


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=ApiToken._meta.get_field("name").max_length,
        initial="API token",
        help_text="What will use this key, e.g. “Billing sync”.",
    )


class UserSettingsForm(forms.Form):
    """An admin's change to a user: role, manager and timezone."""

    role = forms.ChoiceField(choices=get_user_model().Role.choices)
    manager = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label="— none —",
        help_text="Hears of this user's SLA breaches.",
    )
    timezone = forms.ChoiceField(
        choices=timezone_choices, required=False, help_text="Blank: the team's time zone."
    )


class OwnSettingsForm(forms.Form):
    """What each user sets for themselves."""

    timezone = forms.ChoiceField(
        choices=timezone_choices, required=False, help_text="Times are shown in it. Blank: the team's."
    )
    notify_by_email = forms.BooleanField(
        required=False, label="Email me my notifications", help_text="Assignments, replies, SLA alerts."
    )


# --- List filters (GET) ---------------------------------------------------------------------


def _with_all(choices, label: str = "All") -> list[tuple[str, str]]:
    return [("", label), *choices]


def add_custom_filters(form: forms.Form, definitions: list[CustomField]) -> None:
    """Filter inputs for custom fields, named as the API's parameters (crm.custom_fields):
    ``attr.<key>`` (choice, yes/no: is; text: contains), ``attr.<key>.min`` / ``.max``."""
    for field in definitions:
        base = custom_fields.PARAM_PREFIX + field.key
        kind = field.field_type
        if kind in custom_fields.RANGE_TYPES:
            widget = DATE_INPUT if kind == CustomFieldType.DATE else forms.NumberInput(attrs={"step": "any"})
            form.fields[f"{base}.min"] = forms.CharField(
                required=False, label=f"{field.label} from", widget=widget
            )
            form.fields[f"{base}.max"] = forms.CharField(
                required=False, label=f"{field.label} to", widget=widget
            )
        elif kind == CustomFieldType.TEXT:
            form.fields[base] = forms.CharField(required=False, label=f"{field.label} contains")
        elif kind == CustomFieldType.YES_NO:
            form.fields[base] = forms.ChoiceField(
                required=False, label=field.label, choices=[("", "Any"), ("true", "Yes"), ("false", "No")]
            )
        else:
            form.fields[base] = forms.ChoiceField(
                required=False, label=field.label, choices=_with_all(map(tuple, field.choices), "Any")
            )


class AccountFilterForm(forms.Form):
    q = forms.CharField(
        required=False, label="Search", widget=forms.SearchInput(attrs={"placeholder": "Name or domain"})
    )
    stage = forms.ChoiceField(required=False, label="Stage", choices=_with_all(LifecycleStage.choices))
    owner = UserChoiceField(label="Owner", empty_label="Any owner")
    plan = forms.ChoiceField(required=False, label="Plan")
    sort = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, plans: list[str], custom: list[CustomField] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = _with_all([(plan, plan) for plan in plans])
        add_custom_filters(self, list(custom))


class ContactFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.SearchInput(attrs={"placeholder": "Name, email or phone"}),
    )
    account = AccountFilterField(label="Account", empty_label="Any account")
    owner = UserChoiceField(label="Owner", empty_label="Any owner")
    consent = forms.ChoiceField(required=False, label="SMS consent", choices=_with_all(SmsConsent.choices))
    tag = forms.CharField(
        required=False,
        label="Tag",
        max_length=50,
        widget=forms.TextInput(attrs={"list": "tag-names", "autocomplete": "off", "placeholder": "Any tag"}),
    )
    clv_tier = forms.ChoiceField(
        required=False,
        label="CLV tier",
        choices=_with_all([*ClvTier.choices, ("none", "Not scored")], "Any tier"),
    )
    sort = forms.CharField(required=False, widget=forms.HiddenInput)
    columns = forms.MultipleChoiceField(
        required=False,
        choices=list(listing.CONTACTS.columns.items()),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, custom: list[CustomField] = (), **kwargs):
        super().__init__(*args, **kwargs)
        add_custom_filters(self, list(custom))


class DealFilterForm(forms.Form):
    owner = UserChoiceField(label="Owner", empty_label="Any owner")
    kind = forms.ChoiceField(required=False, label="Kind", choices=_with_all(DealKind.choices))


class RenewalFilterForm(forms.Form):
    WINDOWS = [("30", "Next 30 days"), ("60", "Next 60 days"), ("90", "Next 90 days"), ("all", "Any time")]

    due = forms.ChoiceField(required=False, label="Due", choices=WINDOWS, initial="90")
    status = forms.ChoiceField(
        required=False,
        label="Status",
        choices=_with_all(RenewalStatus.choices, "Any status"),
        initial="upcoming",
    )
    account = AccountFilterField(label="Account", empty_label="Any account")

    def __init__(self, data=None, **kwargs):
        # An unfiltered visit gets the defaults: undecided renewals due in the next 90 days.
        if data is not None and not any(key in data for key in ("due", "status", "account")):
            data = None
        super().__init__(data if data is not None else {"due": "90", "status": "upcoming"}, **kwargs)

    def window_days(self) -> int | None:
        due = self.cleaned_data.get("due") or "90"
        return None if due == "all" else int(due)


class TaskFilterForm(forms.Form):
    """The task list's filters. Managers and admins may look at anyone's tasks, the team's or
    the unassigned ones; agents see their own (``owner`` is then always theirs)."""

    show = forms.ChoiceField(
        required=False, choices=[("open", "Open"), ("done", "Done recently")], initial="open"
    )
    owner = forms.ChoiceField(required=False, label="Assignee")
    due = forms.ChoiceField(required=False, label="Due", choices=TaskDue.choices)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.sees_team = can_manage_program(user)
        choices = [(TaskOwner.MINE, "My tasks")]
        if self.sees_team:
            choices += [(TaskOwner.EVERYONE, "Everyone"), (TaskOwner.UNASSIGNED, "Unassigned")]
            choices += [(str(u.pk), str(u)) for u in active_users() if u.pk != user.pk]
        self.fields["owner"].choices = choices

    def scope(self) -> dict:
        """Arguments for selectors.task_list: whose tasks."""
        owner = self.cleaned_data.get("owner") or TaskOwner.MINE
        if not self.sees_team or owner == TaskOwner.MINE:
            return {"owner": self.user}
        if owner == TaskOwner.EVERYONE:
            return {"everyone": True}
        if owner == TaskOwner.UNASSIGNED:
            return {"owner": None}
        return {"owner": get_user_model().objects.get(pk=owner)}

    def is_mine(self) -> bool:
        return self.scope().get("owner") == self.user


# --- Lists: saved views and bulk actions ------------------------------------------------------


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=80)
    shared = forms.BooleanField(required=False, label="Share with the team")
    query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)


class BulkIdsField(forms.Field):
    """The ids of the ticked rows (``ids`` repeated)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        values = value or []
        if any(not str(v).isdigit() for v in values):
            raise ValidationError("Select records by their ids.")
        return [int(v) for v in values]

    def validate(self, value):
        if not value:
            raise ValidationError("Select at least one row.")


def contact_bulk_extensions() -> dict[str, tuple[str, str]]:
    """Bulk actions on contacts that apps above crm own (settings.CONTACT_BULK_ACTIONS):
    action -> (label, dotted path of the view that takes ``(request, ids=, back=)``)."""
    return dict(settings.CONTACT_BULK_ACTIONS)


class BulkContactForm(forms.Form):
    ASSIGN_OWNER, ADD_TASK, EXPORT, DELETE = "assign_owner", "add_task", "export", "delete"
    ADD_TAG, REMOVE_TAG = "add_tag", "remove_tag"

    ids = BulkIdsField()
    action = forms.ChoiceField()
    owner = UserChoiceField(label="Owner", empty_label="Nobody")
    tag = forms.CharField(required=False, max_length=50)
    confirm = forms.BooleanField(required=False)

    def clean(self):
        data = super().clean()
        if data.get("action") in (self.ADD_TAG, self.REMOVE_TAG) and not (data.get("tag") or "").strip():
            self.add_error("tag", "Type the tag to add or remove.")
        return data

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [
            (self.ASSIGN_OWNER, "Assign owner"),
            (self.ADD_TASK, "Add a task…"),
            (self.ADD_TAG, "Add tag"),
            (self.REMOVE_TAG, "Remove tag"),
            *((action, label) for action, (label, _) in contact_bulk_extensions().items()),
            (self.EXPORT, "Export as CSV"),
            (self.DELETE, "Delete…"),
        ]


class BulkTaskForm(forms.Form):
    """The task the bulk action adds to each selected contact."""

    title = forms.CharField(max_length=200)
    owner = UserChoiceField(label="For", required=True, empty_label=None)
    due_at = forms.DateTimeField(required=False, label="Due", widget=DATETIME_INPUT)
    notes = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class BulkAccountForm(forms.Form):
    SET_STAGE, ASSIGN_OWNER = "set_stage", "assign_owner"

    ids = BulkIdsField()
    action = forms.ChoiceField(choices=[(SET_STAGE, "Move to stage"), (ASSIGN_OWNER, "Assign owner")])
    stage = forms.ChoiceField(required=False, choices=_with_all(LifecycleStage.choices, "—"))
    owner = UserChoiceField(label="Owner", empty_label="Nobody")

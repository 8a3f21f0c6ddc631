"""HTML forms of the CRM pages.

Forms render and clean typed input only. Model validation and saving belong to
``crm.services``; their ValidationError is mapped back onto the form's fields with
``add_service_errors`` so a user sees the message next to the field that caused it.
"""

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
from crm import listing
from crm.models import (
    MANUAL_ACTIVITY_KINDS,
    Account,
    ApiToken,
    ClvTier,
    Contact,
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


# --- Records --------------------------------------------------------------------------------


class AccountForm(ServiceForm):
    model = Account
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


class ContactForm(ServiceForm):
    model = Contact
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

    def __init__(self, *args, instance: Contact | None = None, **kwargs):
        super().__init__(*args, instance=instance, **kwargs)
        if instance is not None:
            self.initial.setdefault("phone", instance.phone_raw)

    def service_fields(self) -> dict:
        """Arguments for contact_create/contact_update. An edit passes the timezone only when
        the user changed it, so a new phone number can re-infer a timezone it had inferred."""
        data = dict(self.cleaned_data)
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


class AccountFilterForm(forms.Form):
    q = forms.CharField(
        required=False, label="Search", widget=forms.SearchInput(attrs={"placeholder": "Name or domain"})
    )
    stage = forms.ChoiceField(required=False, label="Stage", choices=_with_all(LifecycleStage.choices))
    owner = UserChoiceField(label="Owner", empty_label="Any owner")
    plan = forms.ChoiceField(required=False, label="Plan")
    sort = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, plans: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = _with_all([(plan, plan) for plan in plans])


class ContactFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.SearchInput(attrs={"placeholder": "Name, email or phone"}),
    )
    account = AccountFilterField(label="Account", empty_label="Any account")
    owner = UserChoiceField(label="Owner", empty_label="Any owner")
    consent = forms.ChoiceField(required=False, label="SMS consent", choices=_with_all(SmsConsent.choices))
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

    ids = BulkIdsField()
    action = forms.ChoiceField()
    owner = UserChoiceField(label="Owner", empty_label="Nobody")
    confirm = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [
            (self.ASSIGN_OWNER, "Assign owner"),
            (self.ADD_TASK, "Add a task…"),
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

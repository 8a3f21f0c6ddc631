"""Forms of the import and merge pages (UI and admin)."""

from django import forms
from django.conf import settings

from crm.forms import phone_region_choices
from crm.imports import importer_class, kind_choices
from crm.imports.base import ATTRIBUTE, IGNORE
from crm.merge import OTHER, SURVIVOR, default_choices, merge_fields
from crm.models import Contact, ImportJob

# --- Imports -------------------------------------------------------------------------------


class ImportOptionsMixin(forms.Form):
    phone_region = forms.ChoiceField(
        choices=phone_region_choices,
        label="Phone region",
        initial=lambda: settings.DEFAULT_PHONE_REGION,
        help_text="For numbers written without a country code (a column can override it per row).",
    )
    day_first = forms.BooleanField(
        required=False, label="Dates are day first", help_text="Read 03/04/2025 as 3 April, not March 4."
    )
    create_accounts = forms.BooleanField(
        required=False,
        initial=True,
        label="Create accounts that do not exist yet",
        help_text="Contacts only; when off, an unknown account is an error on the row.",
    )

    keep_existing = forms.BooleanField(
        required=False,
        label="Keep existing values",
        help_text="Contacts only: fill blank fields; a value a record already has is never overwritten.",
    )

    def import_options(self) -> dict:
        data = self.cleaned_data
        options = {"phone_region": data["phone_region"], "day_first": data["day_first"]}
        for name in ("create_accounts", "keep_existing"):
            if name in self.fields:
                options[name] = data[name]
        return options


class ImportUploadForm(ImportOptionsMixin):
    kind = forms.ChoiceField(label="What the file holds", choices=kind_choices)
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 (with or without BOM), Windows or Latin-1; comma, semicolon or tab separated.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv"}),
    )
    field_order = ("kind", "file", "phone_region", "day_first", "create_accounts", "keep_existing")


class ImportMappingForm(ImportOptionsMixin):
    """One select per column of the file, prefilled with the detected mapping."""

    def __init__(self, *args, job: ImportJob, **kwargs):
        self.job = job
        importer = importer_class(job.kind)
        initial = {**job.options, **kwargs.pop("initial", {})}
        initial.setdefault("create_accounts", True)
        super().__init__(*args, initial=initial, **kwargs)
        choices = [(IGNORE, "— ignore —"), *((t.name, t.label) for t in importer.targets)]
        if importer.allows_attributes:
            choices.append((ATTRIBUTE, "Custom attribute (column name)"))
        self.column_fields = []
        for position, column in enumerate(job.header):
            name = f"column_{position}"
            self.fields[name] = forms.ChoiceField(
                choices=choices, required=False, label=column, initial=job.mapping.get(column, IGNORE)
            )
            self.column_fields.append(name)
        if job.kind != "contacts":
            del self.fields["create_accounts"]
            del self.fields["keep_existing"]

    def mapping(self) -> dict[str, str]:
        return {
            column: self.cleaned_data.get(f"column_{position}") or IGNORE
            for position, column in enumerate(self.job.header)
        }

    def column_bound_fields(self):
        return [self[name] for name in self.column_fields]


# --- Merge ---------------------------------------------------------------------------------


def _shown(record, name: str) -> str:
    if name == "phone" and isinstance(record, Contact):
        return record.phone or record.phone_raw or ""
    value = getattr(record, name)
    if value is None:
        return ""
    display = getattr(record, f"get_{name}_display", None)
    return str(display() if display else value)


class MergeForm(forms.Form):
    """Which record stays, and for each field whose values differ, whose value it keeps.
    Choices are record ids, so the form reads the same whichever record is chosen to stay."""

    def __init__(self, *args, first, second, **kwargs):
        super().__init__(*args, **kwargs)
        self.first, self.second = first, second
        ids = (str(first.pk), str(second.pk))
        self.fields["survivor"] = forms.ChoiceField(
            choices=[(ids[0], f"#{first.pk} {first}"), (ids[1], f"#{second.pk} {second}")],
            initial=ids[0],
            widget=forms.RadioSelect,
            label="Record that stays",
        )
        defaults = default_choices(first, second)
        self.value_fields = []
        for name in merge_fields(first):
            left, right = _shown(first, name), _shown(second, name)
            if left == right:
                continue
            label = type(first)._meta.get_field(name).verbose_name.capitalize()
            self.fields[name] = forms.ChoiceField(
                choices=[(ids[0], left or "—"), (ids[1], right or "—")],
                initial=ids[0] if defaults[name] == SURVIVOR else ids[1],
                widget=forms.RadioSelect,
                label=label,
                required=False,  # unanswered: the merge's default (the survivor's, blanks filled)
            )
            self.value_fields.append(name)

    def records(self):
        """(survivor, other) as chosen."""
        if self.cleaned_data["survivor"] == str(self.first.pk):
            return self.first, self.second
        return self.second, self.first

    def keep(self) -> dict[str, str]:
        """The answered fields, as the merge services take them."""
        survivor_id = self.cleaned_data["survivor"]
        return {
            name: SURVIVOR if self.cleaned_data[name] == survivor_id else OTHER
            for name in self.value_fields
            if self.cleaned_data.get(name)
        }

    def value_bound_fields(self):
        return [self[name] for name in self.value_fields]

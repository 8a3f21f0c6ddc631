"""HTML forms of the plays pages.

The editor shows a play's JSON definition (trigger, audience, next step) as plain fields and
puts it back together in ``clean()``, checking each part with the validators the model uses,
so an error lands next to the field that caused it. Saving goes through ``plays.services``."""

import re

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from crm import custom_fields
from crm.forms import active_users
from crm.models import ClvTier, HealthBand, LifecycleStage
from crm.selectors import account_plans
from plays import triggers
from plays.audience import FIELD_CONDITION_KEYS, field_conditions, validate_audience, validate_score_filters
from plays.models import (
    MAX_HOLDOUT_PERCENT,
    Arm,
    Moment,
    Outcome,
    Play,
    PlayOutcome,
    PlayStatus,
    validate_next_step,
)
from plays.templates import PLACEHOLDERS, validate_template
from sms.segments import GSM7_BASIC, GSM7_EXTENDED, MAX_BODY_CHARS

# model field whose errors the service reports -> the form field that shows them
SERVICE_ERROR_FIELDS = {"trigger": "trigger_type", "audience": "lifecycle_stages", "next_step": "task_title"}


def trigger_field(param: str) -> str:
    """The form field that edits a trigger parameter."""
    return f"trigger_{param}"


def _attribute_value(text: str):
    """``true``/``false`` and numbers are matched as such; "quoted" or anything else as text."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _attribute_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and _attribute_value(value) != value:
        return f'"{value}"'  # text that would otherwise read as a number or true/false
    return str(value)


FIELD_CONDITION_LINE = re.compile(r"\s*([A-Za-z0-9_]+)\s*(>=|<=|=|\bin\b|\bcontains\b)\s*(.*?)\s*$", re.I)
LINE_OPS = {">=": "gte", "<=": "lte", "=": "eq", "in": "in", "contains": "contains"}
OP_TEXT = {"gte": ">=", "lte": "<=", "eq": "=", "in": "in", "contains": "contains"}


def field_condition_lines(text: str, key: str) -> list[dict]:
    """Editor lines (``plan_tier in gold, silver``, ``seats >= 10``, ``renews_on <= 2027-01-01``,
    ``vip = yes``, ``notes contains vip``) as audience conditions, checked against the custom
    fields (plays.audience.field_conditions) and in canonical form."""
    raw = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = FIELD_CONDITION_LINE.fullmatch(line)
        if match is None:
            raise ValidationError(
                f"Line {number}: write field = value, field in a, b, field >= value, "
                "field <= value or field contains text."
            )
        name, op, value = match.group(1), LINE_OPS[match.group(2).lower()], match.group(3)
        raw.append({"field": name, "op": op, "value": value.split(",") if op == "in" else value})
    object_type = FIELD_CONDITION_KEYS[key][0]
    fields = custom_fields.by_key(object_type) if raw else {}
    for item in raw:  # "=" reads as the field's own equality: has (multiple choice), contains (text)
        field = fields.get(item["field"])
        if field is not None and item["op"] == "eq":
            item["op"] = {"multi_choice": "in", "text": "contains"}.get(field.field_type, "eq")
            if item["op"] == "in":
                item["value"] = [item["value"]]
    conditions = field_conditions({key: raw}, key, fields)
    return [condition.as_dict() for condition in conditions]


def field_condition_text(conditions: list[dict]) -> str:
    lines = []
    for item in conditions or []:
        value = item.get("value")
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        lines.append(f"{item.get('field')} {OP_TEXT.get(item.get('op'), item.get('op'))} {value}")
    return "\n".join(lines)


class PlayForm(forms.Form):
    name = forms.CharField(max_length=200)
    moment = forms.ChoiceField(
        choices=Moment.choices, help_text="Renewal and risk plays win when plays want the same contact."
    )

    # Choices and one field per trigger parameter come from the trigger registry (__init__).
    trigger_type = forms.ChoiceField(label="Trigger")

    lifecycle_stages = forms.MultipleChoiceField(
        label="Lifecycle stages",
        choices=LifecycleStage.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None checked: every stage.",
    )
    plans = forms.MultipleChoiceField(label="Plans", required=False, help_text="None selected: every plan.")
    owners = forms.ModelMultipleChoiceField(
        label="Owners", queryset=active_users(), required=False, help_text="None selected: every owner."
    )
    clv_tiers = forms.MultipleChoiceField(
        label="CLV tiers",
        choices=ClvTier.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None checked: every contact. Checked: only contacts scored in these tiers "
        "(contacts not scored yet never match).",
    )
    health_bands = forms.MultipleChoiceField(
        label="Account health bands",
        choices=HealthBand.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None checked: every account. Checked: only contacts at accounts scored in these "
        "bands (accounts not scored yet and contacts without an account never match).",
    )
    p_alive_min = forms.FloatField(
        label="P(alive) at least",
        required=False,
        min_value=0,
        max_value=1,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text="0 to 1. Empty: no limit. Set: contacts without a P(alive) never match.",
    )
    p_alive_max = forms.FloatField(
        label="P(alive) at most",
        required=False,
        min_value=0,
        max_value=1,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text="0 to 1. Empty: no limit.",
    )
    account_attributes = forms.CharField(
        label="Account attributes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "region = emea"}),
        help_text="One key = value per line; the account's attribute must equal it. "
        'Numbers and true/false match as such; write "42" for text.',
    )

    contact_fields = forms.CharField(
        label="Contact fields",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "plan_tier in gold, silver\nseats >= 10"}),
        help_text="Conditions on the contacts' custom fields, one per line: field = value, "
        "field in a, b, field >= value, field <= value (numbers, dates), field contains text.",
    )
    account_fields = forms.CharField(
        label="Account fields",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "region = emea"}),
        help_text="The same, on the accounts' custom fields.",
    )

    template = forms.CharField(
        label="Message",
        max_length=MAX_BODY_CHARS,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "data-segment-counter": "#play-template-counter",
                "data-gsm-basic": "".join(sorted(GSM7_BASIC)),
                "data-gsm-extended": "".join(sorted(GSM7_EXTENDED)),
            }
        ),
    )

    link_url = forms.URLField(
        label="Link target",
        max_length=2000,
        required=False,
        assume_scheme="https",
        help_text="Where {link} in the message goes; each text gets its own tracked short link.",
    )

    create_task = forms.BooleanField(label="Create a task for the owner after each text", required=False)
    task_title = forms.CharField(label="Task title", max_length=200, required=False)
    route_replies_to_owner = forms.BooleanField(label="Route replies to the owner", required=False)

    cooldown_days = forms.IntegerField(
        label="Cooldown (days)",
        min_value=0,
        max_value=365,
        initial=7,
        help_text="Days before this play texts the same contact again.",
    )
    holdout_percent = forms.IntegerField(
        label="Holdout %",
        min_value=0,
        max_value=MAX_HOLDOUT_PERCENT,
        initial=10,
        error_messages={"max_value": "At most %(limit_value)s%% of contacts can be held out as control."},
        help_text="Share of contacts kept as a control group that never gets the text "
        f"(0 to {MAX_HOLDOUT_PERCENT}).",
    )

    primary_outcome = forms.ChoiceField(
        label="Primary outcome",
        choices=[("", "The moment's usual outcome"), *PlayOutcome.choices],
        required=False,
        help_text="The one outcome that decides whether the play works; the others are reported as "
        "secondary, with p-values adjusted for testing several (Holm).",
    )

    placeholders = PLACEHOLDERS

    def __init__(self, *args, instance: Play | None = None, **kwargs):
        self.instance = instance
        if instance is not None:
            kwargs["initial"] = {**self.initial_from(instance), **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        kinds = triggers.registry().items()
        self.fields["trigger_type"].choices = [(name, kind.label) for name, kind in kinds]
        for param, declared in triggers.editor_params().items():
            self.fields[trigger_field(param)] = declared.field()
        plans = set(account_plans())
        if instance is not None:
            plans.update((instance.audience or {}).get("plans", []))
        self.fields["plans"].choices = [(plan, plan) for plan in sorted(plans)]

    @staticmethod
    def initial_from(play: Play) -> dict:
        trigger, audience, next_step = play.trigger or {}, play.audience or {}, play.next_step or {}
        initial = {
            "name": play.name,
            "moment": play.moment,
            "trigger_type": trigger.get("type"),
            "lifecycle_stages": audience.get("lifecycle_stages", []),
            "plans": audience.get("plans", []),
            "owners": audience.get("owners", []),
            **{key: audience.get(key, []) for key in ("clv_tiers", "health_bands")},
            **{key: audience.get(key) for key in ("p_alive_min", "p_alive_max")},
            "account_attributes": "\n".join(
                f"{key} = {_attribute_text(value)}"
                # Sorted: PostgreSQL's jsonb does not keep the order they were typed in.
                for key, value in sorted((audience.get("account_attributes") or {}).items())
            ),
            "contact_fields": field_condition_text(audience.get("contact_fields")),
            "account_fields": field_condition_text(audience.get("account_fields")),
            "template": play.template,
            "link_url": play.link_url,
            "create_task": next_step.get("create_task", False),
            "task_title": next_step.get("task_title", ""),
            "route_replies_to_owner": next_step.get("route_replies_to_owner", False),
            "cooldown_days": play.cooldown_days,
            "holdout_percent": play.holdout_percent,
            "primary_outcome": play.primary_outcome,
        }
        declared = triggers.trigger_type(trigger.get("type"))
        for param, spec in (declared.params if declared else {}).items():
            if param in trigger:
                initial[trigger_field(param)] = spec.to_field(trigger[param])
        return initial

    @property
    def score_checkboxes(self) -> list[forms.BoundField]:
        return [self["clv_tiers"], self["health_bands"]]

    @property
    def trigger_params(self) -> list[tuple[forms.BoundField, str]]:
        """Each trigger parameter's field with the trigger types that use it (space-separated),
        so the page can show only the current type's parameters."""
        return [
            (self[trigger_field(param)], " ".join(triggers.types_using(param)))
            for param in triggers.editor_params()
        ]

    def clean_template(self) -> str:
        template = self.cleaned_data["template"]
        validate_template(template)
        return template

    def clean_account_attributes(self) -> dict:
        attributes = {}
        for number, line in enumerate(self.cleaned_data["account_attributes"].splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise ValidationError(f"Line {number}: write key = value.")
            attributes[key.strip()] = _attribute_value(value.strip())
        return attributes

    def clean_contact_fields(self) -> list[dict]:
        return field_condition_lines(self.cleaned_data["contact_fields"], "contact_fields")

    def clean_account_fields(self) -> list[dict]:
        return field_condition_lines(self.cleaned_data["account_fields"], "account_fields")

    def clean(self) -> dict:
        data = super().clean()
        self.cleaned_data["trigger"] = self._clean_trigger(data)
        audience = {
            "lifecycle_stages": data.get("lifecycle_stages") or [],
            "plans": data.get("plans") or [],
            "owners": [user.pk for user in data.get("owners") or []],
            "account_attributes": data.get("account_attributes") or {},
            "clv_tiers": data.get("clv_tiers") or [],
            "health_bands": data.get("health_bands") or [],
        }
        audience = {key: value for key, value in audience.items() if value}
        scores = {key: data[key] for key in ("p_alive_min", "p_alive_max") if data.get(key) is not None}
        try:
            validate_score_filters(scores)
            audience.update(scores)
        except ValidationError as exc:
            self.add_error("p_alive_min", exc)
        attributes = {"account_attributes": audience.pop("account_attributes", {})}
        for part, field in ((audience, "lifecycle_stages"), (attributes, "account_attributes")):
            try:
                validate_audience(part)
            except ValidationError as exc:
                self.add_error(field, exc)
        if attributes["account_attributes"]:
            audience.update(attributes)
        for key in FIELD_CONDITION_KEYS:  # checked in their clean_ methods
            if data.get(key):
                audience[key] = data[key]
        self.cleaned_data["audience"] = audience
        next_step = {
            "create_task": bool(data.get("create_task")),
            "task_title": (data.get("task_title") or "").strip(),
            "route_replies_to_owner": bool(data.get("route_replies_to_owner")),
        }
        if not next_step["task_title"]:
            del next_step["task_title"]
        next_step = {key: value for key, value in next_step.items() if value}
        try:
            validate_next_step(next_step)
        except ValidationError as exc:
            self.add_error("task_title", exc)
        self.cleaned_data["next_step"] = next_step
        uses_link = "{link}" in (data.get("template") or "")
        if uses_link and not data.get("link_url") and "link_url" not in self.errors:
            self.add_error("link_url", "The message uses {link}: say where it should go.")
        return self.cleaned_data

    def _clean_trigger(self, data: dict) -> dict | None:
        kind = data.get("trigger_type")
        declared = triggers.trigger_type(kind)
        if declared is None:
            return None
        trigger = {"type": kind}
        for param, spec in declared.params.items():
            name = trigger_field(param)
            value = data.get(name)
            if value not in (None, ""):
                value = spec.from_field(value)
            if value in (None, "", []):
                if name not in self.errors:
                    self.add_error(name, f"A “{declared.label}” trigger needs this.")
                continue
            try:
                spec.check(value, param)
            except ValidationError as exc:
                self.add_error(name, exc)
                continue
            trigger[param] = value
        if any(trigger_field(param) in self.errors for param in declared.params):
            return None
        try:
            triggers.validate_trigger(trigger)
        except ValidationError as exc:
            self.add_error("trigger_type", exc)
            return None
        return trigger

    def definition(self) -> dict:
        """The play's fields, ready for plays.services (call after is_valid())."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "moment": data["moment"],
            "trigger": data["trigger"],
            "audience": data["audience"],
            "template": data["template"],
            "link_url": data.get("link_url") or "",
            "next_step": data["next_step"],
            "cooldown_days": data["cooldown_days"],
            "holdout_percent": data["holdout_percent"],
            "primary_outcome": data.get("primary_outcome") or "",
        }

    def add_service_error(self, error: ValidationError) -> None:
        """Show the service's validation error next to the field that edits the model field."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for model_field, errors in error.error_dict.items():
            name = SERVICE_ERROR_FIELDS.get(model_field, model_field)
            if name in self.fields and model_field != NON_FIELD_ERRORS:
                self.add_error(name, errors)
            else:
                self.add_error(None, [message for e in errors for message in e.messages])


class PlayFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *PlayStatus.choices], required=False)
    moment = forms.ChoiceField(choices=[("", "Any moment"), *Moment.choices], required=False)


class EnrollmentFilterForm(forms.Form):
    arm = forms.ChoiceField(choices=[("", "Both arms"), *Arm.choices], required=False)
    outcome = forms.ChoiceField(choices=[("", "Any outcome"), *Outcome.choices], required=False)

"""Forms of the journey editor: one step to add, and the play-level exits."""

from django import forms

from plays.steps import ASSIGNEES, WAIT_UNITS, WEEKDAY_MORNING
from sms.models import Intent

EVENT_NAMED = "event:<name>"
STEP_TYPES = [("send", "Send a text"), ("wait", "Wait"), ("task", "Task"), ("branch", "Branch")]
WAIT_CHOICES = [(unit, unit.replace("_", " ")) for unit in WAIT_UNITS] + [
    (WEEKDAY_MORNING, "until the next weekday morning (contact's time)")
]
CONDITIONS = (
    [("replied", "the contact replied"), ("clicked", "the contact clicked the link")]
    + [(f"intent:{value}", f"a reply meant {label.lower()}") for value, label in Intent.choices]
    + [(EVENT_NAMED, "an event arrived (name below)")]
)
EXITS = [("reply", "They reply"), ("opt_out", "They opt out"), ("deal_opened", "A deal is opened")]


class StepForm(forms.Form):
    type = forms.ChoiceField(choices=STEP_TYPES)
    variant_a = forms.CharField(
        label="Text (variant A)", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    weight_a = forms.IntegerField(label="Weight A", min_value=0, max_value=100, initial=1, required=False)
    variant_b = forms.CharField(
        label="Text (variant B, optional)", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    weight_b = forms.IntegerField(label="Weight B", min_value=0, max_value=100, initial=1, required=False)
    wait_amount = forms.IntegerField(label="Wait", min_value=1, required=False)
    wait_unit = forms.ChoiceField(label="Unit", choices=WAIT_CHOICES, required=False)
    hour = forms.IntegerField(label="Local hour", min_value=0, max_value=23, required=False, initial=9)
    title = forms.CharField(label="Task title", max_length=200, required=False)
    assignee = forms.ChoiceField(label="For", choices=[(a, a) for a in ASSIGNEES], required=False)
    condition = forms.ChoiceField(label="If", choices=CONDITIONS, required=False)
    event_name = forms.CharField(label="Event name", max_length=100, required=False)
    then = forms.IntegerField(label="then go to step", min_value=0, required=False)
    otherwise = forms.IntegerField(label="else go to step (empty: the next)", min_value=0, required=False)

    def step(self) -> dict:
        """The step object (checked with the whole journey by the play's validation)."""
        data = self.cleaned_data
        kind = data["type"]
        if kind == "send":
            variants = [
                {
                    "name": name,
                    "template": data[f"variant_{name.lower()}"].strip(),
                    "weight": data[f"weight_{name.lower()}"],
                }
                for name in ("A", "B")
                if (data.get(f"variant_{name.lower()}") or "").strip()
            ]
            for variant in variants:
                if variant["weight"] is None:
                    variant["weight"] = 1
            return {"type": "send", "variants": variants}
        if kind == "wait":
            if data.get("wait_unit") == WEEKDAY_MORNING:
                hour = data.get("hour")
                return {"type": "wait", "until": WEEKDAY_MORNING, "hour": 9 if hour is None else hour}
            return {"type": "wait", data.get("wait_unit") or "days": data.get("wait_amount") or 0}
        if kind == "task":
            return {
                "type": "task",
                "title": data.get("title", ""),
                "assignee": data.get("assignee") or "owner",
            }
        condition = data.get("condition") or ""
        if condition == EVENT_NAMED:
            condition = f"event:{(data.get('event_name') or '').strip()}"
        step = {"type": "branch", "if": condition, "then": data.get("then")}
        if data.get("otherwise") is not None:
            step["else"] = data["otherwise"]
        return step


class ExitsForm(forms.Form):
    exits = forms.MultipleChoiceField(choices=EXITS, required=False, widget=forms.CheckboxSelectMultiple)
    events = forms.CharField(
        label="Or one of these events arrives",
        required=False,
        help_text="Event names, comma separated (e.g. integration_connected).",
    )

    def exit_on(self) -> list[str]:
        events = [name.strip() for name in (self.cleaned_data.get("events") or "").split(",") if name.strip()]
        return [*self.cleaned_data.get("exits", []), *(f"event:{name}" for name in events)]

    @classmethod
    def for_play(cls, exit_on: list[str]) -> "ExitsForm":
        return cls(
            initial={
                "exits": [item for item in exit_on if not item.startswith("event:")],
                "events": ", ".join(item.split(":", 1)[1] for item in exit_on if item.startswith("event:")),
            }
        )

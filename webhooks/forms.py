from django import forms

from core.events import EVENT_TYPES


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(max_length=500, label="URL", help_text="https://… where your receiver listens.")
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {kind.description}") for name, kind in EVENT_TYPES.items()],
        widget=forms.CheckboxSelectMultiple,
    )
    secret = forms.CharField(
        max_length=120,
        required=False,
        help_text="Leave empty to generate one (whsec_…). It is shown once, after saving.",
    )

"""The trigger registry is the one place trigger types are declared: each declares all it
needs, a type registered at run time works everywhere, and no other module names a type."""

import ast
from pathlib import Path

import pytest
from django import forms
from django.conf import settings
from django.urls import reverse

from plays import triggers
from plays.forms import PlayForm
from plays.models import Play
from tests.factories import AccountFactory
from tests.plays.conftest import opted_in_contact

BUILT_IN = (
    "renewal_window",
    "event",
    "usage_threshold",
    "milestone_missing",
    "inactivity",
    "days_since_order",
    "days_since_signup",
)


def test_every_registered_type_declares_label_description_params_and_fields():
    registry = triggers.registry()
    assert tuple(registry) == BUILT_IN
    for name, kind in registry.items():
        assert kind.label and kind.description, name
        assert kind.params, name
        for param in kind.params.values():
            assert isinstance(param.field(), forms.Field)
        example = {"type": name, **{param: EXAMPLES[param] for param in kind.params}}
        triggers.validate_trigger(example)
        assert triggers.describe_trigger(example) not in ("", name)
        assert f"`{name}`" in triggers.api_help()


EXAMPLES = {"event": "signup", "days": 7, "events": ["login"], "property": "ratio", "gte": 0.9}


@pytest.mark.django_db  # the form lists the plans in use
def test_the_editor_has_one_field_per_parameter_shown_for_the_types_using_it():
    form = PlayForm()
    assert [value for value, _ in form.fields["trigger_type"].choices] == list(BUILT_IN)
    shown = {field.name: types.split() for field, types in form.trigger_params}
    assert shown["trigger_days"] == [
        "renewal_window",
        "milestone_missing",
        "inactivity",
        "days_since_order",
        "days_since_signup",
    ]
    assert shown["trigger_event"] == ["event", "usage_threshold", "milestone_missing"]


@pytest.fixture
def plan_trigger():
    triggers.register("test_plan", "tests.plays.trigger_for_tests")
    yield {"type": "test_plan", "plan": "pro"}
    triggers.unregister("test_plan")


@pytest.mark.django_db
def test_a_type_registered_at_run_time_works_in_validation_the_editor_and_the_api(plan_trigger, web, api):
    triggers.validate_trigger(plan_trigger)
    with pytest.raises(Exception, match="plan name"):
        triggers.validate_trigger({"type": "test_plan", "plan": ""})
    assert ("test_plan", "On a plan (test)") in PlayForm().fields["trigger_type"].choices

    data = {
        "name": "Pro plan hello",
        "moment": "adoption",
        "trigger_type": "test_plan",
        "trigger_plan": "pro",
        "template": "Hi {first_name}",
        "cooldown_days": "7",
        "holdout_percent": "0",
    }
    assert web.post(reverse("play_create"), data).status_code == 302
    assert Play.objects.get().trigger == plan_trigger

    contact = opted_in_contact(account=AccountFactory(plan="pro"))
    opted_in_contact(account=AccountFactory(plan="basic"))
    body = {"name": "Pro via API", "moment": "adoption", "trigger": plan_trigger, "template": "Hi"}
    created = api.post("/api/v1/plays/", {**body, "holdout_percent": 0}, format="json")
    assert created.status_code == 201
    preview = api.post(f"/api/v1/plays/{created.json()['id']}/preview/").json()
    assert preview["candidates"] == 1 and preview["samples"][0]["contact"] == contact.pk


def test_unknown_types_are_refused_with_the_registered_ones_named():
    with pytest.raises(Exception, match="days_since_signup"):
        triggers.validate_trigger({"type": "teleport"})


def test_no_module_outside_plays_triggers_names_a_trigger_type():
    """Trigger types are told apart only in plays/triggers/: anywhere else a string equal to a
    type name means an if-chain or a dict keyed by type (docs and examples in longer text are
    fine). Demo data is a client that creates plays, so it may name them."""
    root = Path(settings.BASE_DIR)
    sources = [*root.glob("plays/**/*.py"), *root.glob("analytics/**/*.py")]
    offenders = []
    for path in sources:
        relative = path.relative_to(root).as_posix()
        if relative.startswith(("plays/triggers/", "plays/migrations/")) or relative == "plays/demo.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in BUILT_IN:
                offenders.append(f"{relative}:{node.lineno} {node.value!r}")
    assert offenders == []

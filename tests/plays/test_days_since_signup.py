"""The days_since_signup trigger end to end: its candidates, the editor, the API, the live
preview, a run of the engine, and lift."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.metrics.lift import plays_lift
from analytics.scope import Scope
from crm.models import LifecycleStage
from plays.engine import play_run
from plays.models import Arm, Enrollment, Outcome, Play
from plays.triggers import candidates, describe_trigger, validate_trigger
from sms.models import Message
from tests.factories import AccountFactory, ContactFactory
from tests.plays.conftest import make_play, opted_in_contact

pytestmark = pytest.mark.django_db

NOW = timezone.now()
TRIGGER = {"type": "days_since_signup", "days": 7}
TEMPLATE = "Hi {first_name}, one week with us: how is {account} getting on?"
EDITOR = {
    "name": "Week one",
    "moment": "onboarding",
    "trigger_type": "days_since_signup",
    "trigger_days": "7",
    "template": TEMPLATE,
    "cooldown_days": "7",
    "holdout_percent": "0",
}


def signed_up(days_ago: float, **fields):
    return AccountFactory(signed_up_at=NOW - timedelta(days=days_ago), **fields)


def test_fires_for_contacts_with_a_phone_of_accounts_on_their_nth_day():
    today = signed_up(7.5)
    first, second = ContactFactory(account=today), ContactFactory(account=today)
    ContactFactory(account=today, phone=None, phone_raw="")  # no phone
    just_now = signed_up(7)
    third = ContactFactory(account=just_now)
    ContactFactory(account=signed_up(6.9))  # a day early
    ContactFactory(account=signed_up(8.1))  # a day late
    ContactFactory(account=None)  # a consumer has no sign-up
    rows = sorted(candidates(TRIGGER, {}, now=NOW))
    assert rows == sorted(
        [
            (first.pk, today.pk, f"signup:{today.pk}:7"),
            (second.pk, today.pk, f"signup:{today.pk}:7"),
            (third.pk, just_now.pk, f"signup:{just_now.pk}:7"),
        ]
    )


def test_churned_accounts_are_reached_like_other_triggers_unless_the_audience_leaves_them_out():
    churned = signed_up(7.2, lifecycle_stage=LifecycleStage.CHURNED)
    contact = ContactFactory(account=churned)
    assert [row[0] for row in candidates(TRIGGER, {}, now=NOW)] == [contact.pk]
    onboarding_only = {"lifecycle_stages": [LifecycleStage.ONBOARDING]}
    assert candidates(TRIGGER, onboarding_only, now=NOW) == []


def test_days_is_checked_and_described():
    validate_trigger({"type": "days_since_signup", "days": 1})
    for bad in (0, 3651, "7", 7.5, True):
        with pytest.raises(Exception, match="whole number of days"):
            validate_trigger({"type": "days_since_signup", "days": bad})
    assert describe_trigger(TRIGGER) == "7 days after sign-up"
    assert describe_trigger({"type": "days_since_signup", "days": 1}) == "1 day after sign-up"


def test_a_run_enrolls_the_right_contacts_once():
    account = signed_up(7.25)
    texted = [opted_in_contact(account=account) for _ in range(2)]
    opted_in_contact(account=signed_up(3))
    opted_in_contact(account=signed_up(10))
    play = make_play(name="Week one", moment="onboarding", trigger=TRIGGER, template=TEMPLATE)
    result = play_run(play, now=NOW)
    assert result.outcomes[Outcome.SENT] == 2
    enrolled = set(Enrollment.objects.filter(play=play).values_list("contact_id", "occurrence"))
    assert enrolled == {(contact.pk, f"signup:{account.pk}:7") for contact in texted}
    assert Message.objects.filter(contact__in=texted).count() == 2
    # Later the same day and the next run: the occurrence is decided already.
    again = play_run(play, now=NOW + timedelta(hours=12))
    assert (again.decided, again.already_decided) == (0, 2)
    assert play_run(play, now=NOW + timedelta(days=2)).candidates == 0


def test_created_in_the_editor(web):
    editor = web.get(reverse("play_create"))
    assert 'value="days_since_signup"' in editor.content.decode()
    assert 'data-trigger-types="' in editor.content.decode()
    response = web.post(reverse("play_create"), EDITOR)
    play = Play.objects.get()
    assert response.status_code == 302 and play.trigger == TRIGGER
    edit = web.get(reverse("play_edit", args=[play.pk]))
    assert edit.context["form"]["trigger_days"].value() == 7
    assert "7 days after sign-up" in web.get(reverse("play_detail", args=[play.pk])).content.decode()


def test_live_preview_in_the_editor_with_fixed_queries(web, django_assert_max_num_queries):
    for n in range(10):  # ten accounts, ten texts: the same queries as for one
        opted_in_contact(account=signed_up(7.05 + n / 20))
    ContactFactory(account=signed_up(2))
    with django_assert_max_num_queries(20):
        response = web.post(reverse("play_preview_form"), EDITOR)
    preview = response.context["preview"]
    assert (preview["candidates"], preview["sent"]) == (10, 10)
    assert "one week with us" in preview["samples"][0]["body"]
    assert Enrollment.objects.count() == 0 and Message.objects.count() == 0


def test_created_previewed_and_run_through_the_api(api, django_assert_max_num_queries):
    account = signed_up(7.5)
    contacts = [opted_in_contact(account=account) for _ in range(8)]
    body = {"name": "Week one", "moment": "onboarding", "trigger": TRIGGER, "template": TEMPLATE}
    created = api.post("/api/v1/plays/", {**body, "holdout_percent": 0}, format="json")
    assert created.status_code == 201 and created.json()["trigger"] == TRIGGER
    play_id = created.json()["id"]
    bad = api.post("/api/v1/plays/", {**body, "trigger": {**TRIGGER, "days": 0}}, format="json")
    assert bad.status_code == 400 and "trigger" in bad.json()
    with django_assert_max_num_queries(20):
        preview = api.post(f"/api/v1/plays/{play_id}/preview/")
    assert preview.status_code == 200 and preview.json()["outcomes"]["sent"] == 8
    assert Enrollment.objects.count() == 0
    api.post(f"/api/v1/plays/{play_id}/activate/")
    run = api.post(f"/api/v1/plays/{play_id}/run/").json()
    assert run["outcomes"]["sent"] == 8
    log = api.get(f"/api/v1/plays/{play_id}/enrollments/").json()["results"]
    assert {row["contact"] for row in log} == {contact.pk for contact in contacts}
    assert {row["occurrence"] for row in log} == {f"signup:{account.pk}:7"}
    schema = api.get("/api/v1/schema/").content.decode()
    assert "days_since_signup" in schema


def test_lift_compares_the_arms_of_a_days_since_signup_play():
    for _ in range(16):
        opted_in_contact(account=signed_up(7.5))
    play = make_play(
        name="Week one", moment="onboarding", trigger=TRIGGER, template=TEMPLATE, holdout_percent=50
    )
    play_run(play, now=NOW)
    arms = {
        arm: Enrollment.objects.filter(play=play, arm=arm).count() for arm in (Arm.TREATMENT, Arm.CONTROL)
    }
    assert arms[Arm.TREATMENT] > 0 and arms[Arm.CONTROL] > 0
    scope = Scope(start=NOW.date() - timedelta(days=1), end=NOW.date() + timedelta(days=1))
    (result,) = plays_lift([play], scope, now=NOW + timedelta(days=30))
    assert result["play"]["id"] == play.pk and result["window_days"] == 14  # the onboarding window
    assert result["design"] == "randomised holdout"
    assert (result["inputs"]["treatment"], result["inputs"]["control"]) == (
        arms[Arm.TREATMENT],
        arms[Arm.CONTROL],
    )
    assert result["milestone_event"] is None and "reordered" in result["outcomes"]

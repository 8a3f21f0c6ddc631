"""The journey contract in the API: steps and exits in, clear 400s for malformed steps, the
enrollment's journey fields out, promote, versions."""

import pytest
import time_machine

from plays.models import Play
from tests.plays.journeys import T0, entering, journey, run, send

pytestmark = pytest.mark.django_db

BASE = {
    "name": "Onboarding journey",
    "moment": "onboarding",
    "trigger": {"type": "event", "event": "signed_up"},
    "template": "Hi {first_name}",
}
GOOD_STEPS = [
    send("Welcome {first_name}", "Hey {first_name}!"),
    {"type": "wait", "until": "weekday_morning"},
    {"type": "branch", "if": "event:integration_connected", "then": 4},
    {"type": "task", "title": "Help them connect", "assignee": "manager"},
    {"type": "wait", "business_hours": 4},
]


def test_a_journey_is_created_with_steps_and_exits(api):
    response = api.post(
        "/api/v1/plays/", {**BASE, "steps": GOOD_STEPS, "exit_on": ["reply", "event:paid"]}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["steps"] == GOOD_STEPS and body["exit_on"] == ["reply", "event:paid"] and body["version"] == 1
    assert api.post("/api/v1/plays/", BASE, format="json").json()["steps"] == []


@pytest.mark.parametrize(
    ("steps", "exit_on", "field", "words"),
    [
        ([send("Hi"), {"type": "branch", "if": "replied", "then": 7}], [], "steps", "goes to step 7"),
        ([send("Hi"), {"type": "branch", "if": "replied", "then": 0}], [], "steps", "loop without a wait"),
        ([send("Hi"), {"type": "teleport"}], [], "steps", "unknown type 'teleport'"),
        ([{"type": "wait", "days": 1}], [], "steps", "at least one send step"),
        ([send("Hi"), {"type": "wait", "days": 0}], [], "steps", "`days` must be a whole number"),
        ([send("Hi"), {"type": "wait", "days": 1, "hours": 2}], [], "steps", "exactly one of"),
        ([send("Hi {nickname}")], [], "steps", "{nickname}"),
        ([send("A", "B", weights=[0, 0])], [], "steps", "weight above 0"),
        ([send("Hi"), {"type": "task", "title": "x", "assignee": "ceo"}], [], "steps", "owner, manager"),
        ([send("Hi"), {"type": "branch", "if": "intent:bored", "then": 0}], [], "steps", "unknown branch"),
        ("not a list", [], "steps", "is a list"),
        ([send("Hi")], ["unsubscribe"], "exit_on", "Unknown exit 'unsubscribe'"),
        ([send("Hi")], "reply", "exit_on", "is a list"),
    ],
)
def test_malformed_steps_answer_400_with_the_reason(api, steps, exit_on, field, words):
    response = api.post("/api/v1/plays/", {**BASE, "steps": steps, "exit_on": exit_on}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert words in " ".join(response.json()[field])
    assert not Play.objects.exists()


def test_a_branch_may_end_the_journey():
    from plays.steps import validate_steps

    validate_steps([send("Hi"), {"type": "wait", "days": 1}, {"type": "branch", "if": "replied", "then": 3}])


def test_enrollments_carry_their_journey_fields(api):
    play = journey([send("Hi"), {"type": "wait", "days": 2}, send("Again")])
    (contact,) = entering()
    run(play, T0)
    rows = api.get(f"/api/v1/plays/{play.pk}/enrollments/?state=waiting").json()["results"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["contact"], row["state"], row["step"], row["exit_reason"], row["variant"]) == (
        contact.pk,
        "waiting",
        1,
        "",
        "A",
    )
    assert row["version"] == 1 and row["next_at"].startswith("2026-03-06T15:00")
    assert api.get(f"/api/v1/plays/{play.pk}/enrollments/?state=exited").json()["results"] == []


def test_promote_a_variant_and_edits_of_a_live_journey_start_a_new_version(api):
    play = journey([send("A text", "B text", weights=[1, 1])])
    play.activated_at = T0
    play.save()
    response = api.post(f"/api/v1/plays/{play.pk}/promote/", {"step": 0, "variant": "B"}, format="json")
    assert response.status_code == 200
    assert [v["weight"] for v in response.json()["steps"][0]["variants"]] == [0, 100]
    assert response.json()["version"] == 2
    entering(5)
    play.refresh_from_db()
    run(play, T0)
    assert set(play.enrollments.values_list("variant", "version")) == {("B", 2)}
    bad = api.post(f"/api/v1/plays/{play.pk}/promote/", {"step": 0, "variant": "Z"}, format="json")
    assert bad.status_code == 400 and "no variant 'Z'" in bad.json()["detail"]
    assert (
        api.post(f"/api/v1/plays/{play.pk}/promote/", {"step": 3, "variant": "A"}, format="json").status_code
        == 400
    )
    # A name change is not a new version; the template or steps are.
    assert api.patch(f"/api/v1/plays/{play.pk}/", {"name": "Renamed"}, format="json").json()["version"] == 2


def test_preview_of_a_journey_shows_the_first_steps_texts(api):
    play = journey([send("Welcome {first_name}"), {"type": "wait", "days": 1}, send("Later")], status="draft")
    (contact,) = entering()
    with time_machine.travel(T0, tick=False):
        body = api.post(f"/api/v1/plays/{play.pk}/preview/").json()
    assert body["outcomes"]["sent"] == 1 and body["samples"][0]["body"] == f"Welcome {contact.first_name}"
    assert body["advanced"] is None
    assert not play.enrollments.exists()

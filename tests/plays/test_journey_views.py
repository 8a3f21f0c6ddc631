"""The journey editor (add, reorder, remove steps, exits; htmx and plain posts; bad input shown,
never a 500) and the play page's journey block and per-variant results."""

from datetime import timedelta

import pytest
import time_machine

from plays.journey_exits import journeys_exit
from plays.models import Enrollment, Play
from plays.selectors import journey_funnel
from tests.factories import EventFactory
from tests.plays.journeys import T0, entering, journey, run, send

pytestmark = pytest.mark.django_db


def _play(**fields):
    return journey([], status="draft", **fields)


def test_build_a_journey_step_by_step(web):
    play = _play()
    url = f"/plays/{play.pk}/journey/"
    assert web.get(url).status_code == 200
    web.post(
        url + "add/",
        {"type": "send", "variant_a": "Hi {first_name}", "weight_a": 1, "variant_b": "Hey!", "weight_b": 3},
    )
    web.post(url + "add/", {"type": "wait", "wait_amount": 2, "wait_unit": "business_hours"})
    response = web.post(
        url + "add/", {"type": "task", "title": "Call", "assignee": "manager"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and 'id="journey-steps"' in response.content.decode()
    assert "<html" not in response.content.decode()  # htmx gets the panel only
    web.post(url + "add/", {"type": "branch", "condition": "event:<name>", "event_name": "paid", "then": 4})
    play.refresh_from_db()
    assert play.steps == [
        {
            "type": "send",
            "variants": [
                {"name": "A", "template": "Hi {first_name}", "weight": 1},
                {"name": "B", "template": "Hey!", "weight": 3},
            ],
        },
        {"type": "wait", "business_hours": 2},
        {"type": "task", "title": "Call", "assignee": "manager"},
        {"type": "branch", "if": "event:paid", "then": 4},
    ]
    web.post(url + "exits/", {"exits": ["reply", "opt_out"], "events": "paid, churned"})
    play.refresh_from_db()
    assert play.exit_on == ["reply", "opt_out", "event:paid", "event:churned"]


def test_reorder_and_remove_keep_branch_targets_on_their_steps(web):
    steps = [
        send("One"),
        {"type": "wait", "days": 1},
        {"type": "branch", "if": "replied", "then": 4},
        send("Two"),
        {"type": "task", "title": "Thank them"},
    ]
    play = journey(steps, status="draft")
    url = f"/plays/{play.pk}/journey/"
    web.post(url + "3/move/down/")
    play.refresh_from_db()
    assert [s["type"] for s in play.steps] == ["send", "wait", "branch", "task", "send"]
    assert play.steps[2]["then"] == 3 and play.steps[2]["else"] == 4  # still the task / the "Two" text
    refused = web.post(url + "4/remove/")  # the branch's else is that step
    assert "branches to the step being removed" in refused.content.decode()
    web.post(url + "1/remove/")
    play.refresh_from_db()
    assert [s["type"] for s in play.steps] == ["send", "branch", "task", "send"]
    assert play.steps[1] == {"type": "branch", "if": "replied", "then": 2, "else": 3}


def test_bad_steps_are_shown_with_the_reason_never_a_500(web):
    play = journey([send("One"), {"type": "wait", "days": 1}], status="draft")
    url = f"/plays/{play.pk}/journey/"
    response = web.post(url + "add/", {"type": "branch", "condition": "replied", "then": 9})
    assert response.status_code == 200 and "goes to step 9" in response.content.decode()
    response = web.post(url + "add/", {"type": "send", "variant_a": "Hi {nickname}"})
    assert response.status_code == 200 and "{nickname}" in response.content.decode()
    response = web.post(url + "0/remove/")  # a journey needs a send step
    assert response.status_code == 200 and "at least one send step" in response.content.decode()
    assert web.post(url + "7/move/up/").status_code == 200
    play.refresh_from_db()
    assert play.steps == [send("One"), {"type": "wait", "days": 1}]


def test_an_agent_cannot_edit_steps(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="agent", role="agent"))
    play = _play()
    response = client.post(
        f"/plays/{play.pk}/journey/add/", {"type": "wait", "wait_amount": 1, "wait_unit": "days"}
    )
    assert response.status_code in (302, 403)
    play.refresh_from_db()
    assert play.steps == []


def test_play_page_shows_each_steps_counts(web, django_assert_max_num_queries, settings):
    settings.GOVERNANCE_CONTACT_DAILY_CAP = settings.GOVERNANCE_CONTACT_WEEKLY_CAP = 10
    play = journey(
        [send("Hi A", "Hi B"), {"type": "wait", "days": 1}, send("Again")],
        exit_on=["reply"],
        holdout_percent=20,
    )
    entering(20)
    run(play, T0)
    with django_assert_max_num_queries(30):
        response = web.get(f"/plays/{play.pk}/")
    page = response.content.decode()
    assert response.status_code == 200 and 'id="journey-title"' in page
    treated = play.enrollments.filter(arm="treatment").count()
    assert f"Entered <strong>{treated}</strong>" in page
    assert f"sent {treated}" in page  # step 0's decisions
    assert f"/analytics/plays/{play.pk}/variants/" in page
    assert "0 send sent (A)" in page or "0 send sent (B)" in page  # each contact's path


def test_journey_editor_previews_the_first_step(web):
    play = journey([send("Welcome {first_name}"), {"type": "wait", "days": 1}, send("Later")], status="draft")
    (contact,) = entering()
    with time_machine.travel(T0, tick=False):
        response = web.post(f"/plays/{play.pk}/journey/preview/", HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200 and f"Welcome {contact.first_name}" in page
    assert not play.enrollments.exists()


def test_variant_panel_and_promote_from_the_page(web):
    play = journey([send("Hi A", "Hi B")])
    with time_machine.travel(T0, tick=False):
        panel = web.get(f"/analytics/plays/{play.pk}/variants/")
    assert panel.status_code == 200 and "Promote (100%)" in panel.content.decode()
    web.post(f"/plays/{play.pk}/journey/promote/", {"step": 0, "variant": "B"})
    play.refresh_from_db()
    assert [v["weight"] for v in play.steps[0]["variants"]] == [0, 100]
    assert Play.objects.get(pk=play.pk).steps[0]["variants"][1]["name"] == "B"


def test_the_funnel_counts_the_goal_reached_apart_from_other_exits(web):
    play = journey(
        [send("Hi"), {"type": "wait", "days": 3}, send("Again")], exit_on=["event:converted", "reply"]
    )
    first, second = entering(2)
    run(play, T0)
    EventFactory(contact=first, name="converted", occurred_at=T0 + timedelta(hours=2))
    assert journeys_exit(contact_ids=[first.pk], now=T0 + timedelta(hours=2)) == 1
    # Another exit (not the goal) for the second contact.
    Enrollment.objects.filter(contact=second).update(state="exited", exit_reason="reply")
    funnel = journey_funnel(play)
    assert funnel["exited"] == {"event:converted": 1, "reply": 1} and funnel["goal_reached"] == 1
    page = web.get(f"/plays/{play.pk}/").content.decode()
    assert 'goal reached <strong data-testid="journey-goal">1</strong>' in page

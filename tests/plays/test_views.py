"""The plays pages: list numbers, the editor and its dry-run preview, status actions, runs, the log."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import SmsConsent, Task
from plays.models import Arm, Enrollment, Outcome, Play, PlayStatus
from sms.governance import play_source
from sms.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
)
from tests.factories import ContactFactory, UserFactory
from tests.plays.conftest import make_play
from tests.plays.test_engine import renewing_account

# Until config/urls.py includes plays.urls, these tests add it themselves.
pytestmark = pytest.mark.django_db

VALID = {
    "name": "Renewal heads-up",
    "moment": "renewal",
    "trigger_type": "renewal_window",
    "trigger_days": "60",
    "template": "Hi {first_name}, {account} renews on {renewal_date}. {owner} is here to help.",
    "create_task": "on",
    "task_title": "Call about the renewal",
    "route_replies_to_owner": "on",
    "cooldown_days": "14",
    "holdout_percent": "20",
}


def _message(contact, *, play=None, direction=Direction.OUTBOUND, at=None) -> Message:
    message = Message.objects.create(
        contact=contact,
        direction=direction,
        kind=MessageKind.AUTOMATED if play else MessageKind.INBOUND,
        source=play_source(play.pk) if play else "",
        body="Hello" if play else "Thanks!",
        to_number=contact.phone,
        status=MessageStatus.SENT if direction == Direction.OUTBOUND else MessageStatus.RECEIVED,
    )
    if at is not None:
        Message.objects.filter(pk=message.pk).update(created_at=at)
    return message


def _enroll(play, contact, arm, outcome, reason="", message=None) -> Enrollment:
    return Enrollment.objects.create(
        play=play,
        contact=contact,
        account=contact.account,
        occurrence=f"test:{contact.pk}",
        arm=arm,
        outcome=outcome,
        reason=reason,
        message=message,
    )


def _listed(response) -> dict[str, Play]:
    return {play.name: play for play in response.context["page_obj"]}


def _row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Play, Enrollment, Message, Task)}


# --- Access -------------------------------------------------------------------------------


def test_anonymous_visitors_go_to_the_login_page(client):
    play = make_play()
    for method, url in [
        ("get", reverse("play_list")),
        ("get", reverse("play_create")),
        ("get", reverse("play_detail", args=[play.pk])),
        ("get", reverse("play_edit", args=[play.pk])),
        ("post", reverse("play_preview_form")),
        ("post", reverse("play_run", args=[play.pk])),
        ("post", reverse("play_retire", args=[play.pk])),
    ]:
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    assert Play.objects.get().status == PlayStatus.ACTIVE


def test_actions_only_answer_post(web):
    play = make_play(status=PlayStatus.DRAFT)
    for name in ("play_activate", "play_pause", "play_retire", "play_run"):
        assert web.get(reverse(name, args=[play.pk])).status_code == 405
    assert web.get(reverse("play_preview_form")).status_code == 405
    assert Play.objects.get().status == PlayStatus.DRAFT


def test_nav_links_to_the_plays_page(web):
    body = web.get(reverse("play_list")).content.decode()
    assert f'<a href="{reverse("play_list")}" aria-current="page">Plays</a>' in body


def test_a_script_in_a_play_name_is_escaped(web):
    play = make_play(name="<script>alert(1)</script>", template="Hi {first_name} <b>now</b>")
    for url in (
        reverse("play_list"),
        reverse("play_detail", args=[play.pk]),
        reverse("play_edit", args=[play.pk]),
    ):
        body = web.get(url).content.decode()
        assert "<script>alert(1)</script>" not in body, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, url
    assert "<b>now</b>" not in web.get(reverse("play_detail", args=[play.pk])).content.decode()


# --- List ---------------------------------------------------------------------------------


def test_list_shows_each_plays_numbers_from_its_log_and_texts(web):
    now = timezone.now()
    play = make_play(name="Counted", holdout_percent=20)
    other = make_play(name="Other")
    people = [ContactFactory() for _ in range(12)]
    texts = {}
    for contact in people[:3]:
        texts[contact.pk] = _message(contact, play=play, at=now - timedelta(days=3))
        _enroll(play, contact, Arm.TREATMENT, Outcome.SENT, message=texts[contact.pk])
    for contact in people[3:5]:
        _enroll(play, contact, Arm.TREATMENT, Outcome.DEFERRED, "quiet_hours")
    for contact in people[5:8]:
        _enroll(play, contact, Arm.TREATMENT, Outcome.SUPPRESSED, "consent:opted_out")
    _enroll(play, people[8], Arm.TREATMENT, Outcome.SUPPRESSED, "cap:contact_daily")
    for contact in people[9:11]:
        _enroll(play, contact, Arm.CONTROL, Outcome.SUPPRESSED, "holdout")
    _enroll(play, people[11], Arm.TREATMENT, Outcome.FAILED, "template:no_renewal")
    _enroll(other, people[0], Arm.TREATMENT, Outcome.SENT)
    # people[0] replied twice after the text (one contact), people[1] only before it;
    # people[2] opted out after it; people[9] (control, never texted) replied and opted out.
    _message(people[0], direction=Direction.INBOUND, at=now - timedelta(days=2))
    _message(people[0], direction=Direction.INBOUND, at=now - timedelta(days=1))
    _message(people[1], direction=Direction.INBOUND, at=now - timedelta(days=4))
    _message(people[9], direction=Direction.INBOUND, at=now)
    for contact, at in (
        (people[2], now - timedelta(days=2)),
        (people[9], now),
        (people[1], now - timedelta(days=5)),
    ):
        ConsentEvent.objects.create(
            contact=contact, phone=contact.phone, action=ConsentAction.OPT_OUT, source=ConsentSource.KEYWORD,
            occurred_at=at,
        )  # fmt: skip
    # A reply long after the text is not the play's.
    late = _message(people[1], play=play, at=now - timedelta(days=30))
    _message(people[1], direction=Direction.INBOUND, at=late.created_at + timedelta(days=20))

    response = web.get(reverse("play_list"))

    assert response.status_code == 200
    numbers = _listed(response)["Counted"].numbers
    assert (numbers.decided, numbers.sent, numbers.deferred, numbers.suppressed) == (12, 3, 2, 4)
    assert (numbers.control, numbers.failed, numbers.replies, numbers.opt_outs) == (2, 1, 1, 1)
    assert numbers.top_reasons == [("consent:opted_out", 3), ("cap:contact_daily", 1)]
    other_numbers = _listed(response)["Other"].numbers
    assert (other_numbers.decided, other_numbers.sent, other_numbers.replies) == (1, 1, 0)
    body = response.content.decode()
    assert "consent:opted_out" in body and "Renewal within 60 days" in body and "20%" in body


def test_list_numbers_match_a_real_run(web):
    play = make_play(name="Engine", holdout_percent=30)
    renewing_account(contacts=6)
    renewing_account(contacts=2, consent=SmsConsent.OPTED_OUT)
    from plays.engine import play_run

    result = play_run(play)
    numbers = _listed(web.get(reverse("play_list")))["Engine"].numbers
    assert numbers.decided == result.decided == 8
    assert numbers.sent == result.outcomes[Outcome.SENT]
    assert numbers.control == result.arms[Arm.CONTROL]
    assert numbers.sent + numbers.suppressed + numbers.control == 8


def test_list_filters_by_status_and_moment(web):
    make_play(name="Active renewal")
    make_play(name="Draft renewal", status=PlayStatus.DRAFT)
    make_play(name="Active risk", moment="risk")
    assert set(_listed(web.get(reverse("play_list"), {"status": "active"}))) == {
        "Active renewal",
        "Active risk",
    }
    assert set(_listed(web.get(reverse("play_list"), {"moment": "renewal"}))) == {
        "Active renewal",
        "Draft renewal",
    }
    assert set(_listed(web.get(reverse("play_list"), {"status": "draft", "moment": "risk"}))) == set()
    assert len(_listed(web.get(reverse("play_list"), {"status": "nonsense"}))) == 3


def _plays_with_activity(count: int) -> None:
    for n in range(count):
        play = make_play(name=f"Play {n:02d}")
        contact = ContactFactory()
        text = _message(contact, play=play, at=timezone.now() - timedelta(hours=2))
        _enroll(play, contact, Arm.TREATMENT, Outcome.SENT, message=text)
        _enroll(play, ContactFactory(), Arm.TREATMENT, Outcome.SUPPRESSED, "consent:not_opted_in")
        _message(contact, direction=Direction.INBOUND)


def _queries(web, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert web.get(url).status_code == 200
    return len(queries)


def test_list_costs_the_same_queries_for_3_or_20_plays(web, django_assert_max_num_queries):
    _plays_with_activity(3)
    few = _queries(web, reverse("play_list"))
    _plays_with_activity(17)
    with django_assert_max_num_queries(few):
        response = web.get(reverse("play_list"))
    assert len(response.context["page_obj"]) == 20
    assert all(play.numbers.replies == 1 for play in response.context["page_obj"])
    assert few <= 8


# --- Editor -------------------------------------------------------------------------------


def test_create_saves_a_draft_through_the_service(web, user):
    owner = UserFactory()
    data = {
        **VALID,
        "lifecycle_stages": ["renewal_window", "at_risk"],
        "owners": [str(owner.pk)],
        "account_attributes": 'region = emea\nseats_over = 50\nbeta = true\ncode = "42"',
    }
    response = web.post(reverse("play_create"), data)
    play = Play.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("play_detail", args=[play.pk])
    assert play.status == PlayStatus.DRAFT and play.owner == user
    assert play.trigger == {"type": "renewal_window", "days": 60}
    assert play.audience == {
        "lifecycle_stages": ["renewal_window", "at_risk"],
        "owners": [owner.pk],
        "account_attributes": {"region": "emea", "seats_over": 50, "beta": True, "code": "42"},
    }
    assert play.next_step == {
        "create_task": True,
        "task_title": "Call about the renewal",
        "route_replies_to_owner": True,
    }
    assert (play.cooldown_days, play.holdout_percent) == (14, 20)
    # The editor shows the definition back as it was written.
    form = web.get(reverse("play_edit", args=[play.pk])).context["form"]
    assert form["account_attributes"].value() == 'beta = true\ncode = "42"\nregion = emea\nseats_over = 50'
    assert form["trigger_days"].value() == 60


@pytest.mark.parametrize(
    "trigger",
    [
        {"trigger_type": "event", "trigger_event": "signup"},
        {"trigger_type": "milestone_missing", "trigger_event": "import", "trigger_days": "7"},
        {"trigger_type": "inactivity", "trigger_events": "login, export ,", "trigger_days": "14"},
        {
            "trigger_type": "usage_threshold",
            "trigger_event": "seats",
            "trigger_property": "ratio",
            "trigger_gte": "0.9",
        },
        {
            "trigger_type": "usage_threshold",
            "trigger_event": "seats",
            "trigger_property": "used",
            "trigger_gte": "100",
        },
        {"trigger_type": "days_since_order", "trigger_days": "45", "trigger_event": "ignored"},
    ],
)
def test_each_trigger_type_is_built_from_its_fields(web, trigger):
    data = {**VALID, "trigger_days": "", **trigger}
    response = web.post(reverse("play_create"), data)
    assert response.status_code == 302, response.context["form"].errors
    saved = Play.objects.get().trigger
    assert saved["type"] == trigger["trigger_type"]
    expected = {
        "event": {"type": "event", "event": "signup"},
        "milestone_missing": {"type": "milestone_missing", "event": "import", "days": 7},
        "inactivity": {"type": "inactivity", "events": ["login", "export"], "days": 14},
        "days_since_order": {"type": "days_since_order", "days": 45},
    }
    if trigger["trigger_type"] == "usage_threshold":
        assert saved["gte"] in (0.9, 100) and type(saved["gte"]) is (float if saved["gte"] == 0.9 else int)
    else:
        assert saved == expected[trigger["trigger_type"]]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"trigger_days": ""}, "trigger_days", "trigger needs this"),
        ({"trigger_days": "0"}, "trigger_days", "greater than or equal to 1"),
        ({"trigger_type": "inactivity", "trigger_events": " , "}, "trigger_events", "trigger needs this"),
        ({"trigger_type": "usage_threshold", "trigger_event": "seats", "trigger_property": "a__b",
          "trigger_gte": "1"}, "trigger_property", "must be a property name"),
        ({"trigger_type": "teleport"}, "trigger_type", "Select a valid choice"),
        ({"template": "Hi {firstname}"}, "template", "Unknown placeholder {firstname}"),
        ({"template": "Hi {first_name"}, "template", "Cannot read the placeholder"),
        ({"template": "   "}, "template", "required"),
        ({"holdout_percent": "51"}, "holdout_percent", "At most 50% of contacts"),
        ({"cooldown_days": "-1"}, "cooldown_days", "greater than or equal to 0"),
        ({"task_title": ""}, "task_title", "`task_title` is needed"),
        ({"account_attributes": "bad key = 1"}, "account_attributes", "must be a property name"),
        ({"account_attributes": "no equals sign"}, "account_attributes", "Line 1: write key = value"),
        ({"lifecycle_stages": ["nope"]}, "lifecycle_stages", "Select a valid choice"),
        ({"name": ""}, "name", "required"),
    ],
)  # fmt: skip
def test_create_shows_each_validation_error_on_its_field(web, change, field, message):
    response = web.post(reverse("play_create"), {**VALID, **change})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and any(message in error for error in errors[field]), errors
    assert message.split("{")[0] in response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')
    assert not Play.objects.exists()


def test_edit_saves_changes_and_keeps_status(web):
    play = make_play(holdout_percent=5)
    response = web.post(
        reverse("play_edit", args=[play.pk]), {**VALID, "name": "Renamed", "holdout_percent": "25"}
    )
    assert response.status_code == 302
    play.refresh_from_db()
    assert (play.name, play.holdout_percent, play.status) == ("Renamed", 25, PlayStatus.ACTIVE)
    assert play.next_step["task_title"] == "Call about the renewal"


def test_edit_sets_and_clears_the_primary_outcome(web):
    play = make_play()
    url = reverse("play_edit", args=[play.pk])
    assert web.post(url, {**VALID, "primary_outcome": "revenue"}).status_code == 302
    play.refresh_from_db()
    assert (play.primary_outcome, play.primary) == ("revenue", "revenue")
    assert 'value="revenue" selected' in web.get(url).content.decode()
    assert web.post(url, {**VALID, "primary_outcome": ""}).status_code == 302
    play.refresh_from_db()
    assert (play.primary_outcome, play.primary) == ("", "renewed")  # the renewal moment's outcome


def test_edit_shows_errors_and_changes_nothing(web):
    play = make_play()
    response = web.post(reverse("play_edit", args=[play.pk]), {**VALID, "template": "Hi {nickname}"})
    assert response.status_code == 200 and "Unknown placeholder {nickname}" in response.content.decode()
    play.refresh_from_db()
    assert play.template == "Hi {first_name}, {account} renews soon."


def test_a_retired_play_cannot_be_edited(web):
    play = make_play(status=PlayStatus.RETIRED)
    response = web.post(reverse("play_edit", args=[play.pk]), {**VALID, "name": "Sneaky"}, follow=True)
    assert "A retired play cannot be changed" in response.content.decode()
    play.refresh_from_db()
    assert play.name == "Renewal nudge"


def test_editor_has_the_segment_counter_and_placeholders(web):
    body = web.get(reverse("play_create")).content.decode()
    assert 'data-segment-counter="#play-template-counter"' in body and 'id="play-template-counter"' in body
    assert "data-gsm-basic=" in body and "data-gsm-extended=" in body
    assert "<code>{renewal_date}</code>" in body
    assert f'hx-post="{reverse("play_preview_form")}"' in body and 'name="csrfmiddlewaretoken"' in body


# --- Preview ------------------------------------------------------------------------------


def test_preview_renders_counts_and_samples_and_writes_nothing(web):
    _, people = renewing_account(contacts=6, name="Acme Rockets")
    renewing_account(contacts=2, consent=SmsConsent.OPTED_OUT)
    before = _row_counts()
    response = web.post(reverse("play_preview_form"), {**VALID, "holdout_percent": "0"})
    assert response.status_code == 200
    assert _row_counts() == before
    preview = response.context["preview"]
    assert (preview["candidates"], preview["decided"], preview["sent"], preview["suppressed"]) == (8, 8, 6, 2)
    assert preview["reasons"] == [("consent:opted_out", 2)]
    assert 3 <= len(preview["samples"]) <= 5
    body = response.content.decode()
    assert "Acme Rockets renews on" in body and people[0].first_name in body
    assert "consent:opted_out" in body


def test_preview_of_an_edit_uses_the_plays_log(web):
    play = make_play(holdout_percent=0)
    renewing_account(contacts=3)
    from plays.engine import play_run

    play_run(play)
    before = _row_counts()
    url = reverse("play_preview_form") + f"?play={play.pk}"
    preview = web.post(url, {**VALID, "holdout_percent": "50"}).context["preview"]
    assert (preview["candidates"], preview["already_decided"], preview["decided"]) == (3, 3, 0)
    assert _row_counts() == before


def test_preview_of_an_invalid_form_shows_the_errors(web):
    before = _row_counts()
    response = web.post(reverse("play_preview_form"), {**VALID, "holdout_percent": "80", "template": "{x}"})
    assert response.status_code == 200 and "preview" not in response.context
    body = response.content.decode()
    assert "Holdout %: At most 50% of contacts can be held out as control." in body
    assert "Unknown placeholder {x}" in body
    assert _row_counts() == before


# --- Detail: actions, runs, log ---------------------------------------------------------


def test_status_actions_go_through_the_services(web):
    play = make_play(status=PlayStatus.DRAFT)
    detail = reverse("play_detail", args=[play.pk])

    response = web.post(reverse("play_pause", args=[play.pk]), follow=True)
    assert "A draft play cannot become paused." in response.content.decode()
    assert Play.objects.get().status == PlayStatus.DRAFT

    response = web.post(reverse("play_activate", args=[play.pk]))
    assert response["Location"] == detail
    play.refresh_from_db()
    assert play.status == PlayStatus.ACTIVE and play.activated_at is not None

    web.post(reverse("play_pause", args=[play.pk]))
    assert Play.objects.get().status == PlayStatus.PAUSED
    web.post(reverse("play_retire", args=[play.pk]))
    assert Play.objects.get().status == PlayStatus.RETIRED

    response = web.post(reverse("play_activate", args=[play.pk]), follow=True)
    assert "Retired is final." in response.content.decode()
    assert Play.objects.get().status == PlayStatus.RETIRED


def test_run_now_runs_an_active_play(web):
    play = make_play(next_step={"create_task": True, "task_title": "Follow up"})
    renewing_account(contacts=3)
    response = web.post(reverse("play_run", args=[play.pk]), follow=True)
    assert "Run finished: 3 decided (3 sent" in response.content.decode()
    assert Enrollment.objects.filter(play=play, outcome=Outcome.SENT).count() == 3
    assert Message.objects.filter(source=play_source(play.pk)).count() == 3
    assert Task.objects.count() == 3
    assert response.context["numbers"].sent == 3
    play.refresh_from_db()
    assert play.last_run_at is not None and play.running_since is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": PlayStatus.DRAFT}, "The play is draft; only active plays run"),
        ({"status": PlayStatus.PAUSED}, "The play is paused; only active plays run"),
        ({"running_since": "now"}, "A run of this play is already in progress."),
    ],
)
def test_run_now_refuses_a_play_that_may_not_run(web, fields, message):
    if fields.get("running_since") == "now":
        fields = {"running_since": timezone.now()}
    play = make_play(**fields)
    renewing_account(contacts=2)
    response = web.post(reverse("play_run", args=[play.pk]), follow=True)
    assert f"Not run: {message}" in response.content.decode()
    assert not Enrollment.objects.exists() and not Message.objects.exists()


def test_detail_shows_the_definition_numbers_and_log(web):
    play = make_play(
        audience={
            "lifecycle_stages": ["renewal_window"],
            "plans": ["growth"],
            "account_attributes": {"tier": "gold"},
        },
        next_step={"create_task": True, "task_title": "Ring them"},
        holdout_percent=0,
    )
    _, people = renewing_account(contacts=2, lifecycle_stage="renewal_window", attributes={"tier": "gold"})
    from plays.engine import play_run

    play_run(play)
    response = web.get(reverse("play_detail", args=[play.pk]))
    body = response.content.decode()
    assert "Renewal within 60 days" in body and "Renewal window" in body and "tier = gold" in body
    assert "Task for the owner: “Ring them”" in body
    assert f'href="{reverse("contact_detail", args=[people[0].pk])}"' in body
    assert body.count('class="badge badge-outcome-sent"') == 2
    assert "Queued" in body  # the message status column
    assert response.context["numbers"].sent == 2


def test_enrollment_log_filters_by_arm_and_outcome(web):
    play = make_play()
    contacts = [ContactFactory() for _ in range(5)]
    _enroll(play, contacts[0], Arm.TREATMENT, Outcome.SENT)
    _enroll(play, contacts[1], Arm.TREATMENT, Outcome.SUPPRESSED, "consent:opted_out")
    _enroll(play, contacts[2], Arm.CONTROL, Outcome.SUPPRESSED, "holdout")
    _enroll(play, contacts[3], Arm.CONTROL, Outcome.SUPPRESSED, "holdout")
    _enroll(play, contacts[4], Arm.TREATMENT, Outcome.FAILED, "template:no_renewal")
    url = reverse("play_detail", args=[play.pk])

    def logged(**params):
        return {e.contact_id for e in web.get(url, params).context["page_obj"]}

    assert logged() == {c.pk for c in contacts}
    assert logged(arm="control") == {contacts[2].pk, contacts[3].pk}
    assert logged(outcome="suppressed") == {contacts[1].pk, contacts[2].pk, contacts[3].pk}
    assert logged(arm="treatment", outcome="suppressed") == {contacts[1].pk}
    assert logged(outcome="failed") == {contacts[4].pk}
    assert logged(arm="bogus") == {c.pk for c in contacts}


def test_enrollment_log_pages_by_50_with_constant_queries(web, django_assert_max_num_queries):
    play = make_play()
    for contact in (ContactFactory() for _ in range(3)):
        _enroll(play, contact, Arm.TREATMENT, Outcome.SENT, message=_message(contact, play=play))
    url = reverse("play_detail", args=[play.pk])
    few = _queries(web, url)
    for contact in (ContactFactory() for _ in range(60)):
        _enroll(play, contact, Arm.TREATMENT, Outcome.SENT, message=_message(contact, play=play))
    with django_assert_max_num_queries(few):
        response = web.get(url)
    assert len(response.context["page_obj"]) == 50 and response.context["page_obj"].paginator.count == 63
    assert len(web.get(url, {"page": 2}).context["page_obj"]) == 13


def test_unknown_play_is_404(web):
    assert web.get(reverse("play_detail", args=[999])).status_code == 404
    assert web.get(reverse("play_edit", args=[999])).status_code == 404
    assert web.post(reverse("play_run", args=[999])).status_code == 404
    assert web.post(reverse("play_preview_form") + "?play=999", VALID).status_code == 404


def test_a_link_in_the_message_needs_a_target(web):
    data = {**VALID, "template": "Hi {first_name}, renew here: {link}"}
    response = web.post(reverse("play_create"), data)
    assert "The message uses {link}: say where it should go." in response.context["form"].errors["link_url"]
    response = web.post(reverse("play_create"), {**data, "link_url": "https://example.com/renew"})
    assert response.status_code == 302
    assert Play.objects.get().link_url == "https://example.com/renew"


def test_preview_fills_a_link_without_creating_one(web):
    renewing_account(contacts=2)
    before = _row_counts()
    data = {**VALID, "holdout_percent": "0", "template": "Renew: {link}", "link_url": "https://example.com/r"}
    preview = web.post(reverse("play_preview_form"), data).context["preview"]
    assert len(preview["samples"]) == 2 and all("/l/" in sample["body"] for sample in preview["samples"])
    assert _row_counts() == before


def test_editing_the_link_target_is_saved_or_refused_never_dropped(web):
    from plays import services

    play = make_play(template="Renew: {link}", link_url="https://example.com/a")
    data = {**VALID, "template": "Renew: {link}", "link_url": "https://example.com/b"}
    response = web.post(reverse("play_edit", args=[play.pk]), data)
    play.refresh_from_db()
    if "link_url" in services.EDITABLE_FIELDS:
        assert response.status_code == 302 and play.link_url == "https://example.com/b"
    else:
        assert response.status_code == 200 and play.link_url == "https://example.com/a"
        assert "cannot be changed on an existing play" in response.context["form"].errors["link_url"][0]

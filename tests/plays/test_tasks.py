"""Scheduled and event-driven runs, and the EVENT_HOOKS entry."""

from unittest import mock

import pytest
from django.utils import timezone

from crm import services as crm_services
from plays import hooks, tasks
from plays.models import Enrollment, PlayStatus
from tests.factories import ContactFactory, EventFactory
from tests.plays.conftest import make_play, opted_in_contact
from tests.plays.test_engine import renewing_account

pytestmark = pytest.mark.django_db


def test_scheduled_runs_cover_active_plays_and_recover_lost_event_runs():
    renewal = make_play()
    make_play(status=PlayStatus.PAUSED)
    event_play = make_play(trigger={"type": "event", "event": "signup"})
    _, (contact,) = renewing_account()
    event = EventFactory(contact=contact, name="signup")  # its event run never happened
    assert tasks.run_scheduled_plays() == {renewal.pk: 1, event_play.pk: 1}
    assert Enrollment.objects.get(play=event_play).occurrence == f"event:{event.pk}"
    assert tasks.run_scheduled_plays() == {renewal.pk: 0, event_play.pk: 0}


def test_event_runs_decide_only_the_given_events_once():
    play = make_play(trigger={"type": "event", "event": "seat_limit_90"}, moment="expansion")
    contact = opted_in_contact()
    first = EventFactory(contact=contact, name="seat_limit_90")
    second = EventFactory(contact=contact, name="seat_limit_90")
    assert tasks.run_event_plays([first.pk]) == {play.pk: 1}
    assert tasks.run_event_plays([first.pk]) == {play.pk: 0}  # a repeated task is harmless
    assert list(Enrollment.objects.values_list("occurrence", flat=True)) == [f"event:{first.pk}"]
    assert tasks.run_event_plays([second.pk]) == {play.pk: 1}


def test_a_busy_event_play_is_retried_later():
    from django_q.models import Schedule

    play = make_play(trigger={"type": "event", "event": "ping"}, running_since=timezone.now())
    event = EventFactory(contact=ContactFactory(), name="ping")
    assert tasks.run_event_plays([event.pk]) == {}
    schedule = Schedule.objects.get(func="plays.tasks.run_event_plays")
    assert schedule.args == repr(([event.pk], [play.pk], 1))


def test_the_hook_enqueues_after_ingest_when_event_plays_exist(settings, django_capture_on_commit_callbacks):
    settings.EVENT_HOOKS = ["plays.hooks.events_ingested"]
    contact = ContactFactory()
    row = {"contact": contact, "name": "signup", "occurred_at": timezone.now()}
    with mock.patch("django_q.tasks.async_task") as enqueue:
        with django_capture_on_commit_callbacks(execute=True):
            crm_services.events_ingest(rows=[dict(row)])
        enqueue.assert_not_called()  # no active event play: nothing to do
        make_play(trigger={"type": "event", "event": "signup"})
        with django_capture_on_commit_callbacks(execute=True):
            result = crm_services.events_ingest(rows=[dict(row)])
    enqueue.assert_called_once()
    assert enqueue.call_args.args == ("plays.tasks.run_event_plays", [result.objects[0].pk])
    hooks.events_ingested(event_ids=[])  # nothing to announce


def test_replies_to_a_play_text_go_to_the_play_owner_when_it_routes_them(settings):
    from crm.models import SmsConsent
    from sms.inbound import inbound_receive
    from sms.models import Conversation, Message
    from tests.factories import ContactFactory, UserFactory

    settings.INBOX_TIMEZONE, settings.INBOX_BUSINESS_DAYS = "UTC", "mon-sun"
    settings.INBOX_BUSINESS_HOURS_START, settings.INBOX_BUSINESS_HOURS_END = 0, 24
    owner = UserFactory(username="play-owner")
    play = make_play(next_step={"route_replies_to_owner": True})
    play.owner = owner
    play.save()
    contact = ContactFactory(account=None, owner=None, sms_consent=SmsConsent.OPTED_IN)
    Message.objects.create(
        contact=contact, direction="outbound", kind="automated", source=f"play:{play.pk}",
        body="Renewal soon", to_number=contact.phone, status="delivered",
    )  # fmt: skip
    inbound_receive(
        provider_sid="SMplay1", from_number=contact.phone, to_number="+15005550006", body="I can't log in"
    )
    assert Conversation.objects.get(contact=contact).assignee == owner

"""Scheduled send: stored as scheduled, editable and cancellable until it goes, and checked
(consent, the number's opt-out, quiet hours) when it goes, not when it was written."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from crm.models import Activity, ActivityKind, SmsConsent
from sms.models import Message
from sms.services.consent import consent_record
from sms.services.delivery import message_deliver
from sms.services.scheduling import scheduled_release
from tests.factories import ContactFactory
from tests.sms.conftest import twilio_ok

pytestmark = pytest.mark.django_db

# A Tuesday, 15:00 UTC: 10:00 in New York.
NOW = datetime(2026, 6, 9, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def contact(db):
    return ContactFactory(sms_consent=SmsConsent.OPTED_IN, timezone="America/New_York")


def _schedule(api, contact, minutes=30, **extra):
    return api.post(
        "/api/v1/sms/messages/",
        {
            "contact": contact.pk,
            "body": "Your QBR is tomorrow",
            "send_at": (NOW + timedelta(minutes=minutes)).isoformat(),
            **extra,
        },
        format="json",
    )


def test_schedule_then_deliver_when_due(api, contact, clock, twilio):
    response = _schedule(api, contact)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "scheduled" and body["send_at"] == "2026-06-09T15:30:00Z"
    # Not yet due: nothing moves.
    assert scheduled_release().queued == 0
    assert Message.objects.get().status == "scheduled"
    clock.move_to(NOW + timedelta(minutes=31))
    assert scheduled_release().queued == 1
    message = Message.objects.get()
    assert message.status == "queued"
    twilio_ok(twilio)
    assert message_deliver(message_id=message.pk).result == "sent"
    assert len(twilio.calls) == 1
    # Released once only.
    assert scheduled_release().queued == 0


def test_opt_out_between_scheduling_and_sending_stops_it(api, contact, clock, twilio):
    message_id = _schedule(api, contact).json()["id"]
    consent_record(contact=contact, action="opt_out", source="keyword", proof={"message": "STOP"})
    clock.move_to(NOW + timedelta(minutes=31))
    assert scheduled_release().refused == 1
    message = Message.objects.get(pk=message_id)
    assert (message.status, message.error_code) == ("failed", "opted_out")
    assert Activity.objects.filter(
        contact=contact, kind=ActivityKind.SMS_FAILED, data__scheduled=True
    ).exists()
    assert len(twilio.calls) == 0


def test_quiet_hours_at_the_time_it_goes_defer_it(api, contact, clock, sms_settings):
    sms_settings.SMS_QUIET_HOURS_START, sms_settings.SMS_QUIET_HOURS_END = 8, 21
    # Written at 10:00 New York time for 22:00 (02:00 UTC the next day): quiet hours then.
    response = _schedule(api, contact, minutes=12 * 60)
    assert response.json()["status"] == "scheduled"
    clock.move_to(NOW + timedelta(hours=12, minutes=1))
    result = scheduled_release()
    assert (result.queued, result.deferred) == (0, 1)
    message = Message.objects.get()
    assert (message.status, message.deferred_reason) == ("queued", "quiet_hours")
    assert message.next_attempt_at == datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # 08:00 in New York


def test_cancel_and_edit_until_it_goes(api, contact, clock):
    message_id = _schedule(api, contact).json()["id"]
    later = (NOW + timedelta(hours=2)).isoformat()
    response = api.patch(
        f"/api/v1/sms/messages/{message_id}/", {"body": "Moved to Thursday", "send_at": later}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (
        response.json()["body"] == "Moved to Thursday"
        and response.json()["send_at"] == "2026-06-09T17:00:00Z"
    )
    response = api.post(f"/api/v1/sms/messages/{message_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    clock.move_to(NOW + timedelta(hours=3))
    assert scheduled_release().queued == 0
    assert Message.objects.get().status == "canceled"
    # Once it is no longer scheduled it cannot change.
    assert api.post(f"/api/v1/sms/messages/{message_id}/cancel/").status_code == 409
    assert api.patch(f"/api/v1/sms/messages/{message_id}/", {"body": "x"}, format="json").status_code == 409


def test_cannot_cancel_a_sent_text(api, contact, clock):
    message_id = _schedule(api, contact).json()["id"]
    clock.move_to(NOW + timedelta(minutes=31))
    scheduled_release()
    response = api.post(f"/api/v1/sms/messages/{message_id}/cancel/")
    assert response.status_code == 409
    assert "queued" in response.json()["detail"]


@pytest.mark.parametrize(
    ("send_at", "field"),
    [
        ((NOW - timedelta(minutes=1)).isoformat(), "past"),
        ("tomorrow at noon", "send_at"),
        ((NOW + timedelta(days=400)).isoformat(), "year"),
    ],
)
def test_bad_send_at_is_400_with_the_reason(api, contact, clock, send_at, field):
    response = api.post(
        "/api/v1/sms/messages/", {"contact": contact.pk, "body": "Hi", "send_at": send_at}, format="json"
    )
    assert response.status_code == 400
    assert field in str(response.json())
    assert not Message.objects.exists()


def test_scheduling_ignores_consent_until_it_goes(api, clock):
    # Not opted in yet when written: stored; it goes only if they have opted in by then.
    contact = ContactFactory(sms_consent=SmsConsent.UNKNOWN)
    assert _schedule(api, contact).status_code == 201
    consent_record(
        contact=contact,
        action="opt_in",
        source="web_form",
        proof={"disclosure": "Texts ok", "url": "https://example.com"},
    )
    clock.move_to(NOW + timedelta(minutes=31))
    assert scheduled_release().queued == 1


def test_release_is_set_based(api, clock, django_assert_max_num_queries):
    contacts = [ContactFactory(sms_consent=SmsConsent.OPTED_IN, timezone="UTC") for _ in range(15)]
    for contact in contacts:
        _schedule(api, contact)
    clock.move_to(NOW + timedelta(minutes=31))
    with django_assert_max_num_queries(20):
        assert scheduled_release().queued == 15

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from crm.models import Activity, ActivityKind, SmsConsent
from sms.inbound import inbound_receive
from sms.models import Message, MessageKind
from sms.services.consent import consent_record
from sms.services.delivery import message_deliver, outbox_sweep
from sms.services.sending import SendRefused, message_send
from tests.factories import ContactFactory
from tests.sms.conftest import twilio_error, twilio_ok

pytestmark = pytest.mark.django_db


def sent_form(mock, index=-1):
    return {k: v[0] for k, v in parse_qs(mock.calls[index].request.body).items()}


# --- consent blocks sends ---------------------------------------------------------------


@pytest.mark.parametrize("state", [SmsConsent.UNKNOWN, SmsConsent.OPTED_OUT])
def test_manual_and_automated_sends_need_an_opt_in(state):
    contact = ContactFactory(sms_consent=state)
    for kind in (MessageKind.MANUAL, MessageKind.AUTOMATED):
        with pytest.raises(SendRefused) as refused:
            message_send(contact=contact, body="Hi", kind=kind)
        assert refused.value.consent is True
    assert not Message.objects.exists()


def test_reply_allowed_in_a_conversation_the_customer_started_until_they_opt_out():
    contact = ContactFactory(sms_consent=SmsConsent.UNKNOWN)
    with pytest.raises(SendRefused):
        message_send(contact=contact, body="Hello?", kind=MessageKind.REPLY)
    inbound_receive(
        provider_sid="SMin1", from_number=contact.phone, to_number="+15005550006", body="Hi, a question"
    )
    assert message_send(contact=contact, body="Happy to help", kind=MessageKind.REPLY).status == "queued"
    consent_record(contact=contact, action="opt_out", source="agent")
    with pytest.raises(SendRefused) as refused:
        message_send(contact=contact, body="One more thing", kind=MessageKind.REPLY)
    assert refused.value.code == "opted_out"


def test_opt_out_between_queueing_and_delivery_blocks_the_send(twilio, opted_in):
    message = message_send(contact=opted_in, body="Renewal time")
    consent_record(contact=opted_in, action="opt_out", source="keyword", proof={"message": "STOP"})
    assert message_deliver(message_id=message.pk).result == "blocked"
    assert len(twilio.calls) == 0
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "opted_out")


@pytest.mark.parametrize(
    ("body", "code"),
    [("", "empty_body"), ("   ", "empty_body"), ("x" * 1601, "too_long")],
)
def test_bad_bodies_are_refused(opted_in, body, code):
    with pytest.raises(SendRefused) as refused:
        message_send(contact=opted_in, body=body)
    assert refused.value.code == code and refused.value.consent is False


def test_demo_contacts_are_never_texted_through_a_real_provider(twilio):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN, attributes={"demo": True})
    with pytest.raises(SendRefused) as refused:
        message_send(contact=contact, body="Hi")
    assert refused.value.code == "demo_data"


def test_contact_without_phone_is_refused():
    contact = ContactFactory(phone=None, phone_raw="", sms_consent=SmsConsent.OPTED_IN)
    with pytest.raises(SendRefused) as refused:
        message_send(contact=contact, body="Hi")
    assert refused.value.code == "no_phone"


# --- queueing ---------------------------------------------------------------------------


def test_send_stores_segments_and_encoding(opted_in):
    message = message_send(contact=opted_in, body="Héllo 🙂 " * 10)
    assert (message.status, message.encoding, message.segments) == ("queued", "UCS-2", 2)
    assert message.to_number == opted_in.phone


def test_idempotency_key_never_queues_twice(opted_in):
    first = message_send(contact=opted_in, body="Once", idempotency_key="k-1")
    again = message_send(contact=opted_in, body="Once", idempotency_key="k-1")
    assert first.pk == again.pk and Message.objects.count() == 1


def test_quiet_hours_defer_to_the_next_local_window(sms_settings):
    sms_settings.SMS_QUIET_HOURS_START, sms_settings.SMS_QUIET_HOURS_END = 8, 21
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN, timezone="America/Los_Angeles")
    now = datetime(2026, 6, 10, 5, 0, tzinfo=UTC)  # 22:00 PDT
    message = message_send(contact=contact, body="Tomorrow", now=now)
    assert message.status == "queued" and message.deferred_reason == "quiet_hours"
    assert message.next_attempt_at == datetime(2026, 6, 10, 15, 0, tzinfo=UTC)  # 08:00 PDT


def test_a_deferred_message_is_not_delivered_before_its_window(sms_settings, twilio):
    hour = timezone.now().hour
    sms_settings.SMS_QUIET_HOURS_START, sms_settings.SMS_QUIET_HOURS_END = (
        (hour + 1, hour + 2) if hour < 23 else (0, 1)
    )
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN, timezone="UTC")
    message = message_send(contact=contact, body="Not now")
    assert message.next_attempt_at > timezone.now()
    assert message_deliver(message_id=message.pk).result == "skipped"
    assert len(twilio.calls) == 0


def test_replies_and_keyword_confirmations_ignore_quiet_hours(sms_settings):
    sms_settings.SMS_QUIET_HOURS_START, sms_settings.SMS_QUIET_HOURS_END = 8, 9
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN, timezone="UTC")
    now = datetime(2026, 6, 10, 23, 0, tzinfo=UTC)
    message = message_send(contact=contact, body="Answer", kind=MessageKind.REPLY, now=now)
    assert message.next_attempt_at == now and message.deferred_reason == ""


# --- delivery ---------------------------------------------------------------------------


def test_delivery_through_twilio_sdk(twilio, opted_in, settings):
    twilio_ok(twilio, sid="SM" + "7" * 32)
    message = message_send(contact=opted_in, body="Your renewal is coming up")
    assert message_deliver(message_id=message.pk).result == "sent"
    form = sent_form(twilio)
    assert form["To"] == opted_in.phone
    assert form["Body"] == "Your renewal is coming up"
    assert form["MessagingServiceSid"] == settings.TWILIO_MESSAGING_SERVICE_SID
    assert form["StatusCallback"] == "http://testserver/sms/twilio/status/"
    message.refresh_from_db()
    assert (message.status, message.provider_sid, message.attempts) == ("sent", "SM" + "7" * 32, 1)
    assert Activity.objects.filter(contact=opted_in, kind=ActivityKind.SMS_SENT).count() == 1
    # Delivering again is a no-op: the message is no longer queued.
    assert message_deliver(message_id=message.pk).result == "skipped"
    assert len(twilio.calls) == 1


def test_from_number_used_without_messaging_service(twilio, opted_in, settings):
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_FROM_NUMBER = "+15017122661"
    from sms.providers import _provider

    _provider.cache_clear()
    twilio_ok(twilio)
    message_deliver(message_id=message_send(contact=opted_in, body="Hi").pk)
    form = sent_form(twilio)
    assert form["From"] == "+15017122661" and "MessagingServiceSid" not in form


@pytest.mark.parametrize(("status", "code"), [(500, 20500), (503, 20503), (429, 20429)])
def test_transient_errors_retry_with_backoff(twilio, opted_in, status, code):
    twilio_error(twilio, status, code)
    message = message_send(contact=opted_in, body="Hi")
    before = timezone.now()
    assert message_deliver(message_id=message.pk).result == "retry"
    message.refresh_from_db()
    assert message.status == "queued" and message.error_code == str(code)
    assert before + timedelta(seconds=14) < message.next_attempt_at < before + timedelta(seconds=31)
    # Due again later: the second failure backs off further.
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert message_deliver(message_id=message.pk).result == "retry"
    message.refresh_from_db()
    assert message.attempts == 2
    assert message.next_attempt_at > timezone.now() + timedelta(seconds=29)


def test_network_timeouts_are_transient(twilio, opted_in):
    import requests
    import responses

    from tests.sms.conftest import MESSAGES_URL

    twilio.add(responses.POST, MESSAGES_URL, body=requests.exceptions.ConnectTimeout("timed out"))
    message = message_send(contact=opted_in, body="Hi")
    assert message_deliver(message_id=message.pk).result == "retry"
    message.refresh_from_db()
    assert message.error_code == "network"


def test_retries_stop_at_the_limit(twilio, opted_in, settings):
    settings.SMS_MAX_ATTEMPTS = 2
    twilio_error(twilio, 500, 20500)
    message = message_send(contact=opted_in, body="Hi")
    message_deliver(message_id=message.pk)
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert message_deliver(message_id=message.pk).result == "failed"
    message.refresh_from_db()
    assert message.status == "failed" and message.attempts == 2


def test_permanent_error_fails_at_once_with_the_code(twilio, opted_in):
    twilio_error(twilio, 400, 21211, "The 'To' number is not a valid phone number.")
    message = message_send(contact=opted_in, body="Hi")
    assert message_deliver(message_id=message.pk).result == "failed"
    message.refresh_from_db()
    assert (message.status, message.error_code, message.attempts) == ("failed", "21211", 1)
    assert "not a valid phone number" in message.error_message
    assert Activity.objects.filter(contact=opted_in, kind=ActivityKind.SMS_FAILED).exists()


def test_error_21610_writes_an_opt_out(twilio, opted_in):
    twilio_error(twilio, 400, 21610, "Attempt to send to unsubscribed recipient")
    message_deliver(message_id=message_send(contact=opted_in, body="Hi").pk)
    opted_in.refresh_from_db()
    assert opted_in.sms_consent == SmsConsent.OPTED_OUT
    event = opted_in.consent_events.get()
    assert (event.source, event.proof["error_code"]) == ("provider_error", "21610")


def test_console_provider_sends_and_schedules_a_delivery_playback(opted_in):
    from unittest import mock

    from sms.tasks import console_delivery_playback

    message = message_send(contact=opted_in, body="Hi from the console")
    with mock.patch("django_q.tasks.async_task") as enqueue:
        assert message_deliver(message_id=message.pk).result == "sent"
    message.refresh_from_db()
    assert message.provider == "console" and message.provider_sid.startswith("SM")
    playbacks = [
        call for call in enqueue.call_args_list if call.args[0] == "sms.tasks.console_delivery_playback"
    ]
    assert [call.args[1:3] for call in playbacks] == [(message.provider_sid, message.to_number)]
    assert console_delivery_playback(message.provider_sid, message.to_number) is True
    message.refresh_from_db()
    assert message.status == "delivered"


# --- sweeper ----------------------------------------------------------------------------


def test_sweeper_enqueues_due_messages_whose_enqueue_was_lost(opted_in):
    message = message_send(contact=opted_in, body="Lost in the queue")
    Message.objects.filter(pk=message.pk).update(enqueued_at=None)
    assert outbox_sweep() == 1
    assert outbox_sweep() == 0  # enqueued moments ago; not again
    Message.objects.filter(pk=message.pk).update(enqueued_at=timezone.now() - timedelta(minutes=15))
    assert outbox_sweep() == 1


def test_sweeper_ignores_deferred_and_finished_messages(sms_settings):
    sms_settings.SMS_QUIET_HOURS_START, sms_settings.SMS_QUIET_HOURS_END = 8, 9
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN, timezone="UTC")
    message_send(contact=contact, body="later", now=datetime(2026, 6, 10, 23, 0, tzinfo=UTC))
    Message.objects.update(next_attempt_at=timezone.now() + timedelta(hours=3))
    assert outbox_sweep() == 0


def test_pacing_spaces_sends_per_sender(settings):
    from sms.services.delivery import pace_reserve

    settings.SMS_SEGMENTS_PER_SECOND = 2
    now = timezone.now()
    waits = [pace_reserve("+15005550006", 1, now=now) for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.5, 1.0, 1.5], abs=0.01)
    assert pace_reserve("+15005550006", 100, now=now) == pytest.approx(2.0, abs=0.01)
    assert pace_reserve("+15005550006", 1, now=now, max_wait=5) is None  # 52 s away
    assert pace_reserve("other-sender", 1, now=now) == 0.0


def test_message_payload_is_json_serialisable_for_the_api(opted_in):
    message = message_send(contact=opted_in, body="Hi")
    assert json.dumps({"id": message.pk, "status": message.status})

"""Regression tests for the ways a text could go twice, go to someone who said STOP, or lose
an opt-out."""

import json
from datetime import timedelta
from unittest import mock

import pytest
import requests
import responses
from django.utils import timezone
from twilio.request_validator import RequestValidator

from crm.models import SmsConsent
from sms.inbound import inbound_receive
from sms.models import ConsentEvent, Message, MessageKind, MessageStatus
from sms.services.consent import ConsentError, consent_record
from sms.services.delivery import message_deliver, outbox_sweep
from sms.services.sending import message_send
from sms.services.status import message_status_apply
from tests.factories import ContactFactory
from tests.sms.conftest import AUTH_TOKEN, MESSAGES_URL, twilio_ok

pytestmark = pytest.mark.django_db

_sid = iter(range(10**6))


def inbound(contact, body):
    return inbound_receive(
        provider_sid=f"SMh{next(_sid)}", from_number=contact.phone, to_number="+15005550006", body=body
    )


def rfc9457(mock_, status, code):
    mock_.add(
        responses.POST,
        MESSAGES_URL,
        status=status,
        json={"type": f"https://www.twilio.com/docs/errors/{code}", "title": "Problem", "status": status,
              "code": code, "detail": "Attempt to send to unsubscribed recipient"},
    )  # fmt: skip


def twilio_list(mock_, messages):
    mock_.add(
        responses.GET,
        MESSAGES_URL,
        json={"messages": messages, "end": 0, "first_page_uri": "", "next_page_uri": None, "page": 0,
              "page_size": 50, "previous_page_uri": None, "start": 0, "uri": ""},
    )  # fmt: skip


# --- opt-outs are never lost ------------------------------------------------------------


def test_a_stop_stands_even_when_the_confirmation_cannot_be_sent(twilio):
    contact = ContactFactory(
        sms_consent=SmsConsent.OPTED_IN, attributes={"demo": True}
    )  # refused under twilio
    result = inbound(contact, "STOP")
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT
    assert result.message is not None and Message.objects.filter(direction="inbound").count() == 1


def test_an_empty_confirmation_setting_means_no_reply(settings):
    settings.SMS_OPT_OUT_REPLY = ""
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    inbound(contact, "stop")
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT
    assert not Message.objects.filter(direction="outbound").exists()


def test_a_repeated_stop_is_confirmed_once():
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    inbound(contact, "STOP")
    inbound(contact, "stop")
    assert Message.objects.filter(direction="outbound").count() == 1
    assert contact.consent_events.count() == 2  # both are in the ledger


def test_future_dated_consent_is_refused():
    contact = ContactFactory()
    with pytest.raises(ConsentError, match="future"):
        consent_record(
            contact=contact, action="opt_in", source="api", proof={"note": "x"},
            occurred_at=timezone.now() + timedelta(hours=1),
        )  # fmt: skip
    assert not ConsentEvent.objects.exists()


def test_stop_arriving_during_the_pacing_wait_blocks_the_send(twilio, settings):
    settings.SMS_SEGMENTS_PER_SECOND = 1
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    message = message_send(contact=contact, body="Hi")

    def stop_while_waiting(seconds):
        consent_record(contact=contact, action="opt_out", source="keyword", proof={"message": "STOP"})

    with (
        mock.patch("sms.services.delivery.pace_reserve", return_value=0.5),
        mock.patch("sms.services.delivery.time.sleep", side_effect=stop_while_waiting),
    ):
        assert message_deliver(message_id=message.pk).result == "blocked"
    assert len(twilio.calls) == 0


def test_opt_in_confirmation_does_not_go_after_a_later_stop(twilio):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_OUT)
    inbound(contact, "START")
    inbound(contact, "STOP")
    start_reply = Message.objects.get(direction="outbound", kind=MessageKind.REPLY)
    assert message_deliver(message_id=start_reply.pk).result == "blocked"
    assert len(twilio.calls) == 0


def test_a_plain_yes_is_not_an_opt_in_unless_they_opted_out():
    contact = ContactFactory(sms_consent=SmsConsent.UNKNOWN)
    inbound(contact, "Yes")
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.UNKNOWN and not contact.consent_events.exists()
    opted_out = ContactFactory(sms_consent=SmsConsent.OPTED_OUT)
    inbound(opted_out, "YES")
    opted_out.refresh_from_db()
    assert opted_out.sms_consent == SmsConsent.OPTED_IN


def test_rfc9457_unsubscribed_error_is_permanent_and_opts_out(twilio):
    rfc9457(twilio, 400, 21610)
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    assert message_deliver(message_id=message_send(contact=contact, body="Hi").pk).result == "failed"
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT


def test_a_failing_status_apply_leaves_the_retry_free_to_apply_it(twilio):
    twilio_ok(twilio, sid="SM" + "4" * 32)
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    message = message_send(contact=contact, body="Hi")
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    with (
        mock.patch(
            "sms.services.delivery.crm_services.activity_record", side_effect=RuntimeError("db hiccup")
        ),
        pytest.raises(RuntimeError),
    ):
        message_status_apply(provider_sid=message.provider_sid, provider_status="failed", error_code="21610")
    assert message_status_apply(
        provider_sid=message.provider_sid, provider_status="failed", error_code="21610"
    )
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT


# --- consent windows and quiet hours ----------------------------------------------------


def test_reply_exemption_ends_24_hours_after_their_last_text():
    contact = ContactFactory(sms_consent=SmsConsent.UNKNOWN)
    inbound(contact, "hello?")
    Message.objects.filter(direction="inbound").update(created_at=timezone.now() - timedelta(hours=25))
    from sms.services.sending import SendRefused

    with pytest.raises(SendRefused):
        message_send(contact=contact, body="Sorry for the delay", kind=MessageKind.REPLY)


def test_quiet_hours_are_checked_again_at_delivery(twilio, sms_settings):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN, timezone="UTC")
    message = message_send(contact=contact, body="queued in the window")
    hour = timezone.now().hour
    sms_settings.SMS_QUIET_HOURS_START, sms_settings.SMS_QUIET_HOURS_END = (
        (hour + 1, hour + 2) if hour < 23 else (0, 1)
    )
    assert message_deliver(message_id=message.pk).result == "deferred"
    message.refresh_from_db()
    assert message.status == "queued" and message.attempts == 0 and message.next_attempt_at > timezone.now()
    assert len(twilio.calls) == 0


# --- double sends -----------------------------------------------------------------------


def test_after_an_ambiguous_error_a_message_twilio_has_is_not_sent_again(twilio):
    twilio.add(responses.POST, MESSAGES_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    message = message_send(contact=contact, body="Only once please")
    assert message_deliver(message_id=message.pk).result == "retry"
    message.refresh_from_db()
    assert message.verify_before_send is True
    twilio_list(twilio, [{"sid": "SM" + "8" * 32, "body": "Only once please", "to": contact.phone,
                          "from": "+15005550006", "date_created": None, "status": "sent"}])  # fmt: skip
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert message_deliver(message_id=message.pk).result == "sent"
    message.refresh_from_db()
    assert message.provider_sid == "SM" + "8" * 32 and message.verify_before_send is False
    assert [c.request.method for c in twilio.calls] == ["POST", "GET"]  # looked up, not resent


def test_after_an_ambiguous_error_a_message_twilio_lacks_is_sent(twilio):
    twilio.add(
        responses.POST, MESSAGES_URL, status=500, json={"code": 20500, "message": "oops", "status": 500}
    )
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    message = message_send(contact=contact, body="Try again")
    assert message_deliver(message_id=message.pk).result == "retry"
    twilio_list(twilio, [])
    twilio_ok(twilio, sid="SM" + "6" * 32)
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert message_deliver(message_id=message.pk).result == "sent"
    assert [c.request.method for c in twilio.calls] == ["POST", "GET", "POST"]


def test_refused_connections_retry_without_a_lookup(twilio):
    twilio.add(responses.POST, MESSAGES_URL, body=requests.exceptions.ConnectTimeout("connect timed out"))
    message = message_send(contact=ContactFactory(sms_consent=SmsConsent.OPTED_IN), body="Hi")
    assert message_deliver(message_id=message.pk).result == "retry"
    message.refresh_from_db()
    assert message.verify_before_send is False


def test_an_unreadable_success_is_treated_as_maybe_sent(twilio):
    twilio.add(responses.POST, MESSAGES_URL, status=201, body="<html>proxy page</html>")
    message = message_send(contact=ContactFactory(sms_consent=SmsConsent.OPTED_IN), body="Hi")
    assert message_deliver(message_id=message.pk).result == "retry"
    message.refresh_from_db()
    assert message.status == "queued" and message.verify_before_send is True


def test_a_broker_outage_at_enqueue_is_not_an_error_and_the_sweeper_sends_later(
    django_capture_on_commit_callbacks,
):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    with (
        mock.patch("django_q.tasks.async_task", side_effect=ConnectionError("broker down")) as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = message_send(contact=contact, body="Hi")
    assert enqueue.called
    message.refresh_from_db()
    assert message.status == "queued" and message.enqueued_at is None
    assert outbox_sweep() == 1


def test_messages_stuck_in_sending_are_recovered_for_a_lookup_first(twilio):
    message = message_send(contact=ContactFactory(sms_consent=SmsConsent.OPTED_IN), body="Hi")
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(minutes=30)
    )
    assert outbox_sweep() == 1
    message.refresh_from_db()
    assert (message.status, message.verify_before_send, message.attempts) == ("queued", True, 0)


# --- webhook input that used to 500 -----------------------------------------------------


def signed(client, path, params):
    signature = RequestValidator(AUTH_TOKEN).compute_signature("http://testserver" + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


@pytest.mark.parametrize(
    "params",
    [
        {"MessageSid": "SM" + "a" * 32, "MessageStatus": "partially_delivered"},
        {"MessageSid": "SM" + "b" * 32, "MessageStatus": "x" * 200},
    ],
)
def test_unknown_long_statuses_are_acknowledged(client, params):
    assert signed(client, "/sms/twilio/status/", params).status_code == 200


def test_whatsapp_style_addresses_and_nul_bytes_are_stored(client):
    params = {
        "MessageSid": "SM" + "e" * 32,
        "From": "+14155552671",
        "To": "whatsapp:+14155238886",
        "Body": "hi\x00there",
    }
    assert signed(client, "/sms/twilio/inbound/", params).status_code == 200
    message = Message.objects.get(provider_sid="SM" + "e" * 32)
    assert message.body == "hithere" and message.to_number == "whatsapp:+14155238886"
    assert json.dumps(message.body)


def test_deliveries_are_enqueued_in_batches_and_a_batch_hands_on_what_its_time_budget_leaves(
    django_capture_on_commit_callbacks,
):
    from sms import tasks
    from sms.services.sending import DELIVERY_BATCH, enqueue_deliveries

    with mock.patch("django_q.tasks.async_task") as enqueue:
        enqueue_deliveries(list(range(1, DELIVERY_BATCH * 2 + 2)))
    assert [len(call.args[1]) for call in enqueue.call_args_list] == [DELIVERY_BATCH, DELIVERY_BATCH, 1]
    contacts = [ContactFactory(sms_consent=SmsConsent.OPTED_IN) for _ in range(3)]
    ids = [message_send(contact=c, body="Hi").pk for c in contacts]
    sent = Message.objects.filter(status="sent")

    def provider_sends() -> int:  # the console provider queues one playback per text it sends
        return sum(call.args[0] == "sms.tasks.console_delivery_playback" for call in enqueue.call_args_list)

    # The clock runs out once two texts went out: the third is handed on, unclaimed and uncounted.
    with (
        mock.patch("sms.tasks.time.monotonic", side_effect=lambda: 0.0 if provider_sends() < 2 else 100.0),
        mock.patch("django_q.tasks.async_task") as enqueue,
    ):
        assert tasks.deliver_messages(ids) == {"sent": 2, "handed_on": 1}
    assert enqueue.call_args.args[1] == [ids[2]]
    assert sent.count() == 2
    handed_on = Message.objects.get(pk=ids[2])
    assert (handed_on.status, handed_on.attempts, handed_on.enqueued_at is not None) == ("queued", 0, True)

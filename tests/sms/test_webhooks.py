import pytest
from twilio.request_validator import RequestValidator

from crm.models import Activity, ActivityKind, Contact, SmsConsent
from sms.models import Conversation, Message, MessageKind, MessageStatus
from sms.services.delivery import message_deliver
from sms.services.sending import message_send
from tests.factories import ContactFactory
from tests.sms.conftest import AUTH_TOKEN, twilio_ok

pytestmark = pytest.mark.django_db

INBOUND = "/sms/twilio/inbound/"
STATUS = "/sms/twilio/status/"
INBOUND_SID = "SM" + "1b" * 16


def signed_post(client, path, params, *, base="http://testserver", token=AUTH_TOKEN):
    signature = RequestValidator(token).compute_signature(base + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def inbound_params(contact_phone, body, sid="SM" + "a" * 32):
    return {"MessageSid": sid, "From": contact_phone, "To": "+15005550006", "Body": body, "NumMedia": "0"}


# --- signatures -------------------------------------------------------------------------


def test_valid_signature_is_accepted_and_inbound_is_stored(client):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    response = signed_post(client, INBOUND, inbound_params(contact.phone, "Can we talk pricing?"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    message = Message.objects.get(direction="inbound")
    assert (message.contact, message.body, message.status) == (contact, "Can we talk pricing?", "received")
    conversation = Conversation.objects.get(contact=contact)
    assert conversation.status == "open" and conversation.last_inbound_at is not None
    assert Activity.objects.filter(contact=contact, kind=ActivityKind.SMS_REPLY).count() == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_X_TWILIO_SIGNATURE": "bm90IGEgc2lnbmF0dXJl"},
    ],
)
def test_bad_or_missing_signature_is_403_and_stores_nothing(client, headers, caplog):
    response = client.post(INBOUND, inbound_params("+14155552671", "hi"), **headers)
    assert response.status_code == 403
    assert not Message.objects.exists() and not Contact.objects.exists()
    assert "signature" in caplog.text


def test_signature_for_other_params_is_rejected(client):
    params = inbound_params("+14155552671", "hi")
    signature = RequestValidator(AUTH_TOKEN).compute_signature("http://testserver" + INBOUND, params)
    tampered = {**params, "Body": "STOP"}
    assert client.post(INBOUND, tampered, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403


def test_signature_with_another_token_is_rejected(client):
    response = signed_post(client, INBOUND, inbound_params("+14155552671", "hi"), token="someone-elses-token")
    assert response.status_code == 403


def test_everything_is_403_when_the_auth_token_is_unset(client, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    response = signed_post(client, INBOUND, inbound_params("+14155552671", "hi"), token="x")
    assert response.status_code == 403
    assert (
        signed_post(
            client, STATUS, {"MessageSid": "SM1", "MessageStatus": "delivered"}, token="x"
        ).status_code
        == 403
    )


def test_public_base_url_is_what_gets_signed_behind_a_proxy(client, settings):
    settings.PUBLIC_BASE_URL = "https://crm.example.com"
    params = inbound_params("+14155552671", "hello")
    assert signed_post(client, INBOUND, params, base="https://crm.example.com").status_code == 200
    assert signed_post(client, INBOUND, params, base="http://testserver").status_code == 403


def test_webhooks_need_post(client):
    assert client.get(INBOUND).status_code == 405


def test_missing_fields_are_400(client):
    assert signed_post(client, INBOUND, {"Body": "hi"}).status_code == 400
    assert signed_post(client, STATUS, {"MessageSid": "SM1"}).status_code == 400


# --- inbound ----------------------------------------------------------------------------


def test_duplicate_inbound_is_stored_once(client):
    params = inbound_params("+14155552671", "hello")
    assert signed_post(client, INBOUND, params).status_code == 200
    assert signed_post(client, INBOUND, params).status_code == 200
    assert Message.objects.filter(direction="inbound").count() == 1
    assert Activity.objects.filter(kind=ActivityKind.SMS_REPLY).count() == 1


def test_unknown_sender_becomes_a_contact(client):
    signed_post(client, INBOUND, inbound_params("(415) 555-2671", "who is this?"))
    contact = Contact.objects.get()
    assert contact.phone == "+14155552671" and contact.timezone == "America/Los_Angeles"
    assert contact.sms_consent == SmsConsent.UNKNOWN


def test_unreplyable_sender_is_acknowledged_and_ignored(client):
    assert signed_post(client, INBOUND, inbound_params("TWILIO", "promo")).status_code == 200
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "body", ["STOP", "stop", " Unsubscribe. ", "cancel!", "END", "quit", "Revoke", "optout", "STOPALL"]
)
def test_opt_out_keywords(client, settings, body):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    signed_post(client, INBOUND, inbound_params(contact.phone, body))
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT
    event = contact.consent_events.get()
    assert (event.source, event.proof["message"]) == ("keyword", body)
    reply = Message.objects.get(direction="outbound")
    assert (reply.kind, reply.body) == (MessageKind.COMPLIANCE, settings.SMS_OPT_OUT_REPLY)


@pytest.mark.parametrize("body", ["START", "yes", "Unstop"])
def test_opt_in_keywords(client, settings, body):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_OUT)
    signed_post(client, INBOUND, inbound_params(contact.phone, body))
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_IN
    assert Message.objects.get(direction="outbound").body == settings.SMS_OPT_IN_REPLY


@pytest.mark.parametrize("body", ["HELP", "info?"])
def test_help_keywords_get_the_help_text_without_changing_consent(client, settings, body):
    contact = ContactFactory(sms_consent=SmsConsent.UNKNOWN)
    signed_post(client, INBOUND, inbound_params(contact.phone, body))
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.UNKNOWN
    assert Message.objects.get(direction="outbound").body == settings.SMS_HELP_REPLY


def test_a_repeated_stop_webhook_gets_one_confirmation(client):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    params = inbound_params(contact.phone, "STOP")
    signed_post(client, INBOUND, params)
    signed_post(client, INBOUND, params)
    assert Message.objects.filter(direction="outbound").count() == 1
    assert contact.consent_events.count() == 1


def test_a_word_used_in_another_sense_is_not_a_keyword(client):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    signed_post(client, INBOUND, inbound_params(contact.phone, "don't stop the reminders"))
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_IN
    assert not Message.objects.filter(direction="outbound").exists()


def test_stop_as_the_request_of_a_sentence_is_a_keyword(client):
    # Issue 16: "please stop texting me" was left to an agent; the FCC reads it as a revocation.
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    signed_post(client, INBOUND, inbound_params(contact.phone, "please stop texting me"))
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT
    assert Message.objects.filter(direction="outbound").count() == 1


# --- status callbacks -------------------------------------------------------------------


@pytest.fixture
def sent_message(twilio):
    twilio_ok(twilio, sid="SM" + "5" * 32)
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    message = message_send(contact=contact, body="Renewal reminder")
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == "sent"
    return message


def status(client, sid, value, **extra):
    return signed_post(client, STATUS, {"MessageSid": sid, "MessageStatus": value, **extra})


def test_delivered_callback_moves_the_message_and_lands_on_the_timeline(client, sent_message):
    assert status(client, sent_message.provider_sid, "delivered").status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == "delivered" and sent_message.delivered_at is not None
    assert Activity.objects.filter(contact=sent_message.contact, kind=ActivityKind.SMS_DELIVERED).count() == 1


def test_statuses_only_move_forward(client, sent_message):
    status(client, sent_message.provider_sid, "delivered")
    status(client, sent_message.provider_sid, "sent")
    status(client, sent_message.provider_sid, "queued")
    status(client, sent_message.provider_sid, "failed", ErrorCode="30008")
    sent_message.refresh_from_db()
    assert sent_message.status == "delivered"


def test_duplicate_callbacks_apply_once(client, sent_message):
    for _ in range(3):
        assert status(client, sent_message.provider_sid, "delivered").status_code == 200
    assert Activity.objects.filter(kind=ActivityKind.SMS_DELIVERED).count() == 1


def test_undelivered_records_the_error_code(client, sent_message):
    status(client, sent_message.provider_sid, "undelivered", ErrorCode="30006")
    sent_message.refresh_from_db()
    assert (sent_message.status, sent_message.error_code) == ("undelivered", "30006")
    assert Activity.objects.filter(kind=ActivityKind.SMS_FAILED).count() == 1


def test_21610_in_a_status_callback_writes_an_opt_out(client, sent_message):
    status(client, sent_message.provider_sid, "failed", ErrorCode="21610")
    sent_message.contact.refresh_from_db()
    assert sent_message.contact.sms_consent == SmsConsent.OPTED_OUT


def test_unknown_sid_is_acknowledged(client):
    assert status(client, "SM" + "f" * 32, "delivered").status_code == 200


def test_a_callback_that_beats_the_send_response_is_applied_afterwards(client, twilio):
    sid = "SM" + "9" * 32
    assert status(client, sid, "delivered").status_code == 200  # nothing knows this SID yet
    twilio_ok(twilio, sid=sid)
    message = message_send(contact=ContactFactory(sms_consent=SmsConsent.OPTED_IN), body="Race")
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_inbound_messages_never_change_status(client):
    signed_post(client, INBOUND, inbound_params("+14155552671", "hello", sid=INBOUND_SID))
    status(client, INBOUND_SID, "failed")
    assert Message.objects.get(provider_sid=INBOUND_SID).status == "received"


# --- cost per webhook (bench scenario 3) ---------------------------------------------------


def test_a_status_callback_costs_a_few_statements(client, sent_message, django_assert_max_num_queries):
    # Record the callback (ON CONFLICT DO NOTHING), move the text, read its ids, timeline entry;
    # here inside a savepoint (the test's transaction), in production BEGIN and COMMIT.
    with django_assert_max_num_queries(6):
        assert status(client, sent_message.provider_sid, "delivered").status_code == 200
    with django_assert_max_num_queries(3):  # a repeat: the insert that inserts nothing
        assert status(client, sent_message.provider_sid, "delivered").status_code == 200
    with django_assert_max_num_queries(4):  # a late 'sent': recorded, moves nothing
        assert status(client, sent_message.provider_sid, "sent").status_code == 200
    sent_message.refresh_from_db()
    assert sent_message.status == MessageStatus.DELIVERED


def test_an_inbound_reply_is_stored_once_with_its_intent(client, django_assert_max_num_queries):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    signed_post(client, INBOUND, inbound_params(contact.phone, "thanks", sid="SM" + "1" * 32))
    # Known contact and conversation: the duplicate check, the contact with its owners, the rules'
    # version, the locked conversation, the text (stored with its intent), the conversation and
    # the timeline entry (and the savepoint's two statements), and which webhook endpoints want
    # message.received.
    with django_assert_max_num_queries(10):
        response = signed_post(client, INBOUND, inbound_params(contact.phone, "Thanks, got it!"))
    assert response.status_code == 200
    message = Message.objects.get(provider_sid="SM" + "a" * 32)
    assert (message.intent, message.intent_rule is not None) == ("positive", True)


def test_a_conflict_that_is_not_a_repeated_sid_is_not_passed_off_as_a_duplicate(monkeypatch):
    from django.db import IntegrityError

    from sms import inbound

    def conflict(**kwargs):
        raise IntegrityError("violates foreign key constraint")

    monkeypatch.setattr(inbound.crm_services, "activity_record", conflict)
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    with pytest.raises(IntegrityError):
        inbound.inbound_receive(
            provider_sid="SM" + "c" * 32, from_number=contact.phone, to_number="+15005550006", body="thanks"
        )
    # Nothing half-stored, and the webhook fails loudly instead of acknowledging a lost text.
    assert not Message.objects.filter(provider_sid="SM" + "c" * 32).exists()

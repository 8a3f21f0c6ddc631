"""An MMS may be media alone (Twilio takes MediaUrl without Body); a text with neither words nor
media stays a clear 400, in the API and in place in the inbox."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from crm.models import SmsConsent
from sms.models import Message, MessageStatus
from sms.services.delivery import message_deliver
from sms.services.sending import SendRefused, message_send
from tests.factories import ContactFactory
from tests.sms.conftest import twilio_ok
from tests.sms.inbox.test_views import make_conversation, post
from tests.sms.test_mms import PNG, _sent_form

pytestmark = pytest.mark.django_db

MESSAGES = "/api/v1/sms/messages/"
PHOTO = "https://cdn.example.com/photo.png"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.parametrize("body", [None, "", "   "])
def test_api_media_only_goes_to_twilio_without_a_body(api, twilio, body):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    payload = {"contact": contact.pk, "media_urls": [PHOTO]}
    if body is not None:
        payload["body"] = body
    response = api.post(MESSAGES, payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["body"] == "" and len(response.json()["media"]) == 1
    twilio_ok(twilio)
    assert message_deliver(message_id=response.json()["id"]).result == "sent"
    sent = _sent_form(twilio)
    assert sent["MediaUrl"] == [PHOTO] and "Body" not in sent


@pytest.mark.parametrize("payload", [{"body": "   "}, {"body": ""}, {}, {"body": "  ", "media_urls": []}])
def test_api_neither_words_nor_media_is_a_400_naming_the_body(api, payload):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    response = api.post(MESSAGES, {"contact": contact.pk, **payload}, format="json")
    assert response.status_code == 400
    assert response.json()["body"] == ["Write a message, or attach media with media_urls."]
    assert not Message.objects.exists()


def test_api_scheduled_media_only_is_stored_for_later(api):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    send_at = (timezone.now() + timedelta(days=1)).isoformat()
    response = api.post(
        MESSAGES, {"contact": contact.pk, "media_urls": [PHOTO], "send_at": send_at}, format="json"
    )
    assert response.status_code == 201, response.content
    message = Message.objects.get()
    assert (message.status, message.body, message.media.count()) == (MessageStatus.SCHEDULED, "", 1)


def test_the_service_still_refuses_a_text_with_neither_words_nor_media():
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    with pytest.raises(SendRefused) as refused:
        message_send(contact=contact, body="  ")
    assert refused.value.code == "empty_body"


def test_inbox_photo_without_text_is_sent(web, twilio):
    conversation = make_conversation(sms_consent=SmsConsent.OPTED_IN)
    upload = SimpleUploadedFile("screen.png", PNG, content_type="image/png")
    response = post(web, "inbox_reply", conversation, {"body": "  ", "attachment": upload})
    assert response.status_code == 200
    message = Message.objects.get(direction="outbound")
    assert message.body == "" and message.media.get().content_type == "image/png"
    twilio_ok(twilio)
    assert message_deliver(message_id=message.pk).result == "sent"
    sent = _sent_form(twilio)
    assert len(sent["MediaUrl"]) == 1 and "Body" not in sent


def test_inbox_only_spaces_and_no_file_is_a_400_shown_in_place(web):
    conversation = make_conversation(sms_consent=SmsConsent.OPTED_IN)
    response = post(web, "inbox_reply", conversation, {"body": "   "})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Write a reply, or attach a file." in html and 'id="inbox"' in html  # the panes, not a page
    assert not Message.objects.filter(direction="outbound").exists()


def test_inbox_reply_box_no_longer_demands_text_in_the_browser(web):
    conversation = make_conversation(sms_consent=SmsConsent.OPTED_IN)
    html = web.get(f"/inbox/?conversation={conversation.pk}").content.decode()
    textarea = html[html.index('<textarea name="body" id="inbox-reply-body"') :].split(">")[0]
    assert " required" not in textarea  # a photo alone may be sent; the server says when neither


def test_a_note_still_needs_words(web):
    conversation = make_conversation(sms_consent=SmsConsent.OPTED_IN)
    upload = SimpleUploadedFile("screen.png", PNG, content_type="image/png")
    response = post(web, "inbox_reply", conversation, {"body": " ", "note": "1", "attachment": upload})
    assert response.status_code == 400 and "The note is empty." in response.content.decode()

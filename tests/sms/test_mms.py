"""MMS: inbound media from Twilio's webhook, stored and shown through our authenticated URL
(fetched with the account's credentials); outbound media from the API (``media_urls``) and from
an inbox attachment stored by us and handed to Twilio by a signed, expiring URL; Twilio's limits
enforced with a clear message. Twilio's HTTP is mocked; the SDK is real."""

import base64
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from crm.models import SmsConsent
from sms.models import Message, MessageMedia
from sms.services.delivery import message_deliver
from tests.factories import ContactFactory
from tests.sms.conftest import ACCOUNT_SID, AUTH_TOKEN, twilio_ok
from tests.sms.inbox.test_views import make_conversation, post
from tests.sms.test_webhooks import INBOUND, inbound_params, signed_post

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"x" * 64
MEDIA_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _mms_params(phone, body="Here is the error", media=((MEDIA_URL, "image/jpeg"),)):
    params = {**inbound_params(phone, body), "NumMedia": str(len(media))}
    for index, (url, content_type) in enumerate(media):
        params[f"MediaUrl{index}"], params[f"MediaContentType{index}"] = url, content_type
    return params


def _sent_form(mock):
    return parse_qs(mock.calls[-1].request.body)


# --- inbound ------------------------------------------------------------------------------


def test_inbound_media_is_stored_and_shown_in_the_thread(client, web):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    pdf_url = MEDIA_URL.replace("ME1", "ME2")
    params = _mms_params(contact.phone, media=((MEDIA_URL, "image/jpeg"), (pdf_url, "application/pdf")))
    assert signed_post(client, INBOUND, params).status_code == 200
    message = Message.objects.get(direction="inbound")
    assert message.media_count == 2
    image, pdf = message.media.all()
    assert (image.source_url, image.content_type, pdf.content_type) == (
        MEDIA_URL,
        "image/jpeg",
        "application/pdf",
    )
    page = web.get(f"/inbox/?conversation={message.conversation_id}").text
    assert f'<img src="/sms/media/{image.pk}/"' in page  # images inline
    assert f'href="/sms/media/{pdf.pk}/" class="sms-file"' in page  # other files as links
    assert MEDIA_URL not in page  # Twilio's URL never reaches the browser


def test_inbound_media_is_fetched_with_the_account_credentials(client, web, twilio):
    contact = ContactFactory()
    signed_post(client, INBOUND, _mms_params(contact.phone))
    item = MessageMedia.objects.get()
    twilio.add(responses.GET, MEDIA_URL, body=b"\xff\xd8\xffjpeg-bytes", content_type="image/jpeg")
    response = web.get(reverse("sms_media", args=[item.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == b"\xff\xd8\xffjpeg-bytes"
    expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert twilio.calls[-1].request.headers["Authorization"] == expected


def test_credentials_never_go_to_another_host(client, web, twilio):
    contact = ContactFactory()
    elsewhere = "https://attacker.example/steal.jpg"
    signed_post(client, INBOUND, _mms_params(contact.phone, media=((elsewhere, "image/jpeg"),)))
    twilio.add(responses.GET, elsewhere, body=b"x", content_type="image/jpeg")
    web.get(reverse("sms_media", args=[MessageMedia.objects.get().pk]))
    assert "Authorization" not in twilio.calls[-1].request.headers


def test_media_needs_a_login(client):
    contact = ContactFactory()
    signed_post(client, INBOUND, _mms_params(contact.phone))
    response = client.get(reverse("sms_media", args=[MessageMedia.objects.get().pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_twilio_failing_is_a_502_not_a_500(client, web, twilio):
    contact = ContactFactory()
    signed_post(client, INBOUND, _mms_params(contact.phone))
    twilio.add(responses.GET, MEDIA_URL, status=404)
    response = web.get(reverse("sms_media", args=[MessageMedia.objects.get().pk]))
    assert response.status_code == 502 and b"Twilio answered 404" in response.content


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"NumMedia": "two"}, b"NumMedia must be a number"),
        ({"NumMedia": "11"}, b"between 0 and 10"),
        ({"NumMedia": "1"}, b"MediaUrl0 must be an https URL"),
        (
            {"NumMedia": "1", "MediaUrl0": "http://api.twilio.com/x", "MediaContentType0": "image/png"},
            b"https",
        ),
    ],
)
def test_malformed_media_params_are_400(client, extra, reason):
    contact = ContactFactory()
    params = {**inbound_params(contact.phone, "hi"), **extra}
    response = signed_post(client, INBOUND, params)
    assert response.status_code == 400 and reason in response.content
    assert not Message.objects.exists()


# --- outbound -----------------------------------------------------------------------------


def test_api_media_urls_go_to_twilio_and_come_back_in_get(api, twilio):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    urls = ["https://cdn.example.com/a.png", "https://cdn.example.com/b.pdf"]
    response = api.post(
        "/api/v1/sms/messages/",
        {"contact": contact.pk, "body": "Your invoice", "media_urls": urls},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["media"][0]["url"].startswith("http://testserver/sms/media/")
    twilio_ok(twilio)
    assert message_deliver(message_id=response.json()["id"]).result == "sent"
    assert _sent_form(twilio)["MediaUrl"] == urls
    listed = api.get("/api/v1/sms/messages/").json()["results"][0]
    assert len(listed["media"]) == 2


@pytest.mark.parametrize(
    ("media_urls", "reason"),
    [
        (["http://cdn.example.com/a.png"], "https"),
        ([f"https://cdn.example.com/{n}.png" for n in range(11)], "10"),
        (["not a url"], "URL"),
    ],
)
def test_api_bad_media_urls_are_400(api, media_urls, reason):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    response = api.post(
        "/api/v1/sms/messages/", {"contact": contact.pk, "body": "x", "media_urls": media_urls}, format="json"
    )
    assert response.status_code == 400 and reason in str(response.json())
    assert not Message.objects.exists()


def test_inbox_attachment_is_stored_and_served_to_twilio_by_a_signed_url(web, client, twilio, settings):
    settings.PUBLIC_BASE_URL = "https://crm.example.com"
    conversation = make_conversation(sms_consent=SmsConsent.OPTED_IN)
    upload = SimpleUploadedFile("quote.pdf", PDF, content_type="application/pdf")
    response = post(web, "inbox_reply", conversation, {"body": "The quote", "attachment": upload})
    assert response.status_code == 200
    message = Message.objects.get(direction="outbound")
    item = message.media.get()
    assert (item.content_type, item.size) == ("application/pdf", len(PDF))
    twilio_ok(twilio)
    assert message_deliver(message_id=message.pk).result == "sent"
    [signed] = _sent_form(twilio)["MediaUrl"]
    assert signed.startswith(f"https://crm.example.com/sms/media/{item.pk}/")
    path = urlsplit(signed).path
    # Twilio fetches it without a login...
    client.logout()
    fetched = client.get(path)
    assert fetched.status_code == 200 and b"".join(fetched.streaming_content) == PDF
    # ...but not with a forged or expired signature.
    assert client.get(path[:-3] + "abc/").status_code == 403
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert client.get(path).status_code == 403


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("virus.pdf", b"MZ\x90\x00 not a pdf", "not a type Twilio delivers"),
        ("huge.png", PNG + b"\x00" * (5 * 1024 * 1024), "limit is 5.0 MB"),
    ],
)
def test_inbox_attachment_limits_are_shown_in_place(web, name, content, reason):
    conversation = make_conversation(sms_consent=SmsConsent.OPTED_IN)
    upload = SimpleUploadedFile(name, content)
    response = post(web, "inbox_reply", conversation, {"body": "See attached", "attachment": upload})
    assert response.status_code == 400
    assert reason in response.content.decode() and 'id="inbox"' in response.content.decode()
    assert not Message.objects.filter(direction="outbound").exists()
    assert not MessageMedia.objects.exists()

import pytest
from django.urls import reverse

from crm.models import SmsConsent
from sms.inbound import inbound_receive
from sms.models import ConsentEvent, Message
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_contact_page_loads_the_sms_panel(web):
    contact = ContactFactory()
    html = web.get(reverse("contact_detail", args=[contact.pk])).content.decode()
    assert reverse("sms_contact_panel", args=[contact.pk]) in html


def test_panel_shows_thread_consent_and_a_send_box(web):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    inbound_receive(provider_sid="SMx", from_number=contact.phone, to_number="+15005550006", body="<b>hi</b>")
    html = web.get(reverse("sms_contact_panel", args=[contact.pk])).content.decode()
    assert "&lt;b&gt;hi&lt;/b&gt;" in html and "<b>hi</b>" not in html
    assert "data-segment-counter" in html and "Reply" in html
    assert "Opted in" in html


def test_send_from_the_panel_queues_through_the_send_service(web, user):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    response = web.post(
        reverse("sms_contact_send", args=[contact.pk]), {"body": "Hello from the UI"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    message = Message.objects.get()
    assert (message.body, message.sent_by, message.status, message.kind) == (
        "Hello from the UI",
        user,
        "queued",
        "manual",
    )
    assert "Hello from the UI" in response.content.decode()


def test_send_box_is_replaced_by_the_reason_when_texting_is_not_allowed(web):
    contact = ContactFactory(sms_consent=SmsConsent.UNKNOWN)
    html = web.get(reverse("sms_contact_panel", args=[contact.pk])).content.decode()
    assert "has not opted in" in html and "data-segment-counter" not in html


def test_a_refused_send_keeps_the_text_and_says_why(web):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_OUT)
    response = web.post(reverse("sms_contact_send", args=[contact.pk]), {"body": "Still there?"})
    assert response.status_code == 409
    assert "opted out" in response.content.decode()
    assert not Message.objects.exists()


def test_bad_body_is_a_form_error(web):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    response = web.post(reverse("sms_contact_send", args=[contact.pk]), {"body": "x" * 1601})
    assert response.status_code == 400
    assert not Message.objects.exists()


def test_agent_records_consent_with_proof(web, user):
    contact = ContactFactory()
    url = reverse("sms_contact_consent", args=[contact.pk])
    response = web.post(url, {"action": "opt_in", "note": ""})
    assert response.status_code == 400 and "needs proof" in response.content.decode()
    assert not ConsentEvent.objects.exists()
    response = web.post(url, {"action": "opt_in", "note": "Asked on the call of May 3"})
    assert response.status_code == 302
    event = ConsentEvent.objects.get()
    assert (event.source, event.actor, event.proof) == ("agent", user, {"note": "Asked on the call of May 3"})
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_IN


def test_thread_partial_polls_fast_only_while_messages_are_in_flight(web):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    url = reverse("sms_contact_thread", args=[contact.pk])
    assert "every 20s" in web.get(url).content.decode()
    web.post(reverse("sms_contact_send", args=[contact.pk]), {"body": "hi"})
    assert "every 2s" in web.get(url).content.decode()


def test_thread_query_count_is_constant(web, django_assert_max_num_queries):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    url = reverse("sms_contact_panel", args=[contact.pk])
    for i in range(3):
        web.post(reverse("sms_contact_send", args=[contact.pk]), {"body": f"m{i}"})
    with django_assert_max_num_queries(12) as few:
        web.get(url)
    baseline = len(few)
    for i in range(25):
        web.post(reverse("sms_contact_send", args=[contact.pk]), {"body": f"n{i}"})
    with django_assert_max_num_queries(baseline):
        web.get(url)


def test_sms_pages_need_login(client):
    contact = ContactFactory()
    response = client.get(reverse("sms_contact_panel", args=[contact.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]

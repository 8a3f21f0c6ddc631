"""Send later and private notes in the inbox and on the contact page."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from crm.models import Activity, ActivityKind, SmsConsent
from sms.models import ConversationNote, Message
from tests.factories import ContactFactory
from tests.sms.inbox.test_views import make_conversation, post

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 9, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def chicago(user):
    user.timezone = "America/Chicago"  # 10:00 CDT at NOW
    user.save()
    return user


def test_send_later_from_the_inbox_in_the_agents_zone(web, chicago):
    conversation = make_conversation(sms_consent=SmsConsent.OPTED_IN)
    response = post(
        web,
        "inbox_reply",
        conversation,
        {"body": "Call you at noon", "send_at": "2026-06-09T11:30", "schedule": "1"},
    )
    assert response.status_code == 200
    message = Message.objects.get(direction="outbound")
    assert message.status == "scheduled"
    assert message.send_at == datetime(2026, 6, 9, 16, 30, tzinfo=UTC)  # 11:30 CDT
    assert "Scheduled for Jun 9, 11:30 CDT" in response.text
    page = web.get(f"/inbox/?conversation={conversation.pk}").text
    assert f'data-scheduled="{message.pk}"' in page and "for Jun 9, 11:30 CDT" in page


def test_send_later_in_the_past_shows_the_reason_in_place(web, chicago):
    conversation = make_conversation(sms_consent=SmsConsent.OPTED_IN)
    response = post(
        web, "inbox_reply", conversation, {"body": "Too late", "send_at": "2026-06-09T09:00", "schedule": "1"}
    )
    assert response.status_code == 400
    assert "send_at is in the past" in response.text and 'id="inbox"' in response.text
    assert not Message.objects.filter(direction="outbound").exists()


def test_send_later_without_a_time(web, chicago):
    conversation = make_conversation(sms_consent=SmsConsent.OPTED_IN)
    response = post(web, "inbox_reply", conversation, {"body": "When?", "schedule": "1"})
    assert response.status_code == 400 and "Choose when to send it." in response.text


def test_edit_and_cancel_a_scheduled_text(web, chicago):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    web.post(
        reverse("sms_contact_send", args=[contact.pk]),
        {"body": "Renewal chat?", "send_at": "2026-06-10T09:00", "schedule": "1"},
    )
    message = Message.objects.get()
    assert (message.status, message.send_at) == ("scheduled", datetime(2026, 6, 10, 14, 0, tzinfo=UTC))
    panel = web.get(reverse("sms_contact_panel", args=[contact.pk])).text
    assert f'data-scheduled="{message.pk}"' in panel
    back = contact.get_absolute_url()
    response = web.post(
        reverse("sms_scheduled_edit", args=[message.pk]),
        {"body": "Renewal chat Thursday?", "send_at": "2026-06-11T09:00", "next": back},
    )
    assert response.status_code == 302 and response["Location"] == back
    message.refresh_from_db()
    assert (message.body, message.send_at) == (
        "Renewal chat Thursday?",
        datetime(2026, 6, 11, 14, 0, tzinfo=UTC),
    )
    web.post(reverse("sms_scheduled_cancel", args=[message.pk]), {"next": "https://evil.example/"})
    message.refresh_from_db()
    assert message.status == "canceled"
    # Canceled: a second cancel is refused with its reason, not a 500.
    response = web.post(reverse("sms_scheduled_cancel", args=[message.pk]), {"next": back}, follow=True)
    assert "can no longer be canceled" in response.text


def test_private_note_is_never_sent_and_lands_on_the_timeline(web, user):
    conversation = make_conversation(sms_consent=SmsConsent.OPTED_IN)
    response = post(
        web, "inbox_reply", conversation, {"body": "Customer is upset about billing", "note": "1"}
    )
    assert response.status_code == 200
    assert not Message.objects.filter(direction="outbound").exists()
    note = ConversationNote.objects.get()
    assert (note.author, note.body) == (user, "Customer is upset about billing")
    entry = Activity.objects.get(kind=ActivityKind.NOTE)
    assert entry.contact == conversation.contact and entry.data["private"] is True
    thread = web.get(reverse("inbox_messages", args=[conversation.pk])).text
    assert f'data-note="{note.pk}"' in thread and "Private note" in thread


def test_an_empty_note_is_refused_in_place(web, user):
    conversation = make_conversation()
    response = post(web, "inbox_reply", conversation, {"body": "   ", "note": "1"})
    assert response.status_code == 400
    assert not ConversationNote.objects.exists()


def test_thread_with_notes_and_scheduled_is_not_n_plus_one(web, user, django_assert_max_num_queries):
    conversation = make_conversation(sms_consent=SmsConsent.OPTED_IN)
    for n in range(10):
        post(web, "inbox_reply", conversation, {"body": f"note {n}", "note": "1"})
        post(
            web,
            "inbox_reply",
            conversation,
            {
                "body": f"later {n}",
                "send_at": (NOW + timedelta(days=n + 1)).strftime("%Y-%m-%dT%H:%M"),
                "schedule": "1",
            },
        )
    with django_assert_max_num_queries(30):
        page = web.get(f"/inbox/?conversation={conversation.pk}")
    assert page.text.count("data-note=") == 10 and page.text.count("data-scheduled=") == 10


def test_a_rejected_form_is_shown_in_place_even_in_debug(web, user, settings):
    # django-htmx's DEBUG helper would swap the whole document on a 400; the page must not load it.
    settings.DEBUG = True
    conversation = make_conversation()
    page = web.get(f"/inbox/?conversation={conversation.pk}").text
    assert "django-htmx.js" not in page and "htmx-2.min.js" in page
    response = post(web, "inbox_reply", conversation, {"body": "   "})
    assert response.status_code == 400
    assert 'id="inbox"' in response.text and "<html" not in response.text

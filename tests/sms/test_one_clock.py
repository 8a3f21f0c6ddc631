"""One clock: the same text shows the same time, in the reader's zone and named, in the inbox,
on the contact page (its SMS panel and timeline) and on the dashboard."""

from datetime import UTC, datetime

import pytest
import time_machine

from sms.inbound import inbound_receive
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

RECEIVED = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "shown", "not_shown"),
    [("Asia/Kolkata", "14:30 IST", "09:00"), ("America/Chicago", "04:00 CDT", "14:30")],
)
def test_a_reply_shows_the_same_time_on_every_page(client, settings, zone, shown, not_shown):
    settings.TIME_ZONE = "UTC"
    settings.INBOX_TIMEZONE = "Europe/Berlin"  # the SLA clock's zone, not the reader's
    reader = UserFactory(username="reader", timezone=zone)
    client.force_login(reader)
    contact = ContactFactory(first_name="Ana", last_name="Lopez", account=None)
    with time_machine.travel(RECEIVED, tick=False):
        message = inbound_receive(
            provider_sid="SMclock1",
            from_number=contact.phone,
            to_number="+15005550006",
            body="Quick question",
        ).message
    with time_machine.travel(datetime(2026, 3, 10, 10, 0, tzinfo=UTC), tick=False):
        pages = {
            "inbox": client.get(f"/inbox/?conversation={message.conversation_id}").text,
            "sms panel": client.get(f"/sms/contacts/{contact.pk}/panel/").text,
            "timeline": client.get(f"/contacts/{contact.pk}/").text,
            "dashboard": client.get("/").text,
        }
    for page, html in pages.items():
        assert shown in html, page
        assert f"{not_shown} " not in html.replace(f"{shown}", ""), page


def test_users_without_a_zone_read_the_teams(client, settings):
    settings.TIME_ZONE = "Europe/Paris"
    reader = UserFactory(username="reader")
    client.force_login(reader)
    contact = ContactFactory(account=None)
    with time_machine.travel(RECEIVED, tick=False):
        inbound_receive(
            provider_sid="SMclock2", from_number=contact.phone, to_number="+15005550006", body="hi"
        )
    assert "10:00 CET" in client.get(f"/sms/contacts/{contact.pk}/panel/").text


def test_the_api_keeps_utc(api, settings, user):
    user.timezone = "Asia/Tokyo"
    user.save()
    contact = ContactFactory(account=None)
    with time_machine.travel(RECEIVED, tick=False):
        inbound_receive(
            provider_sid="SMclock3", from_number=contact.phone, to_number="+15005550006", body="hi"
        )
    assert api.get("/api/v1/sms/messages/").json()["results"][0]["created_at"] == "2026-03-10T09:00:00Z"

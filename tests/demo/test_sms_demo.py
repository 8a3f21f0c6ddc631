from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from crm.models import Contact, SmsConsent
from sms.models import ConsentEvent, Conversation, Intent, Message, SavedReply
from tests.sms.conftest import sms_settings  # noqa: F401 - autouse: the SMS tests' settings

pytestmark = pytest.mark.django_db


def seed(*args):
    out = StringIO()
    call_command("seed_demo", "--accounts", "60", "--today", str(date.today()), *args, stdout=out)
    return out.getvalue()


def test_demo_inbox_has_every_intent_and_some_overdue_replies():
    output = seed()
    assert "conversations" in output
    intents = set(Conversation.objects.values_list("intent", flat=True))
    assert intents == set(Intent.values)
    assert Conversation.objects.filter(status="open", sla_due_at__lt=timezone.now()).exists()
    assert Conversation.objects.filter(status="snoozed").exists()
    assert SavedReply.objects.count() >= 3


def test_demo_consent_states_are_backed_by_the_ledger():
    seed()
    latest = ConsentEvent.objects.filter(contact=OuterRef("pk")).order_by("-occurred_at", "-id")
    contacts = Contact.objects.filter(attributes__demo=True).annotate(
        latest=Subquery(latest.values("action")[:1])
    )
    for contact in contacts:
        expected = {SmsConsent.OPTED_IN: "opt_in", SmsConsent.OPTED_OUT: "opt_out", SmsConsent.UNKNOWN: None}
        assert contact.latest == expected[contact.sms_consent], contact


def test_force_rebuild_leaves_no_orphans():
    seed()
    first = (Conversation.objects.count(), Message.objects.count(), ConsentEvent.objects.count())
    seed("--force")
    assert (Conversation.objects.count(), Message.objects.count(), ConsentEvent.objects.count()) == first
    assert not Message.objects.filter(contact=None).exists()
    assert not ConsentEvent.objects.filter(contact=None).exists()


def test_demo_has_mms_replies_and_a_breach_with_its_escalation(settings, tmp_path, client):
    settings.MEDIA_ROOT = tmp_path
    seed()
    from sms.models import MessageMedia, Notification

    media = MessageMedia.objects.filter(message__direction="inbound")
    assert media.count() >= 2 and all(item.file and item.content_type == "image/png" for item in media)
    breached = Conversation.objects.exclude(sla_breached_at=None)
    assert breached.exists() and breached.exclude(escalated_to=None).exists()
    assert Notification.objects.filter(kind="escalated").exists()
    # The demo's photos open offline, from our storage.
    manager = breached.exclude(escalated_to=None).first().escalated_to
    client.force_login(manager)
    response = client.get(f"/sms/media/{media.first().pk}/")
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"\x89PNG")

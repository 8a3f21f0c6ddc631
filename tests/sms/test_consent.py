from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Activity, ActivityKind, SmsConsent
from sms.models import ConsentEvent
from sms.services.consent import ConsentError, consent_record
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

PROOF = {"disclosure": "I agree to receive texts", "url": "https://example.com/signup", "ip": "203.0.113.9"}


def test_state_is_derived_from_the_latest_event_and_lands_on_the_timeline():
    contact = ContactFactory()
    assert contact.sms_consent == SmsConsent.UNKNOWN
    consent_record(contact=contact, action="opt_in", source="web_form", proof=PROOF)
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_IN
    consent_record(contact=contact, action="opt_out", source="keyword", proof={"message": "STOP"})
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT
    kinds = list(Activity.objects.filter(contact=contact).order_by("id").values_list("kind", flat=True))
    assert kinds == [ActivityKind.SMS_OPT_IN, ActivityKind.SMS_OPT_OUT]


def test_a_backdated_event_does_not_override_a_newer_one():
    contact = ContactFactory()
    consent_record(contact=contact, action="opt_out", source="keyword", proof={"message": "STOP"})
    consent_record(
        contact=contact,
        action="opt_in",
        source="import",
        proof={"file": "list.csv"},
        occurred_at=timezone.now() - timedelta(days=30),
    )
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT
    assert ConsentEvent.objects.filter(contact=contact).count() == 2


def test_opt_in_needs_proof_but_opt_out_never_does():
    contact = ContactFactory()
    with pytest.raises(ConsentError, match="proof"):
        consent_record(contact=contact, action="opt_in", source="api", proof={})
    consent_record(contact=contact, action="opt_out", source="agent")
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT


def test_ledger_is_append_only():
    event = consent_record(contact=ContactFactory(), action="opt_out", source="agent")
    event.source = "api"
    with pytest.raises(ValueError, match="append-only"):
        event.save()


def test_the_ledger_keeps_the_number_when_the_contact_is_deleted():
    contact = ContactFactory(phone="+14155550123")
    consent_record(contact=contact, action="opt_out", source="keyword", proof={"message": "stop"})
    contact.delete()
    event = ConsentEvent.objects.get()
    assert event.contact is None and event.phone == "+14155550123"

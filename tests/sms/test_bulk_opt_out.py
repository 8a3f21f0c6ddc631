"""The contact list's bulk "Record an opt-out" (issue 20): through the consent ledger with source
``agent`` and proof naming the user and the bulk action, never an opt-in, set-based."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Activity, ActivityKind, Contact, SmsConsent
from sms.models import ConsentEvent, ConsentSource, PhoneSuppression
from sms.services.consent import consent_record
from sms.services.sending import SendRefused, message_send
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

PROOF = {"disclosure": "I agree to receive texts", "url": "https://example.com/signup"}


def _opt_out(web, ids, **extra):
    data = {
        "ids": ids,
        "action": "opt_out",
        "confirm": "on",
        "note": "Asked on the call",
        "next": "/contacts/",
    }
    return web.post(reverse("contacts_bulk"), {**data, **extra})


def test_it_asks_first_and_records_nothing_until_confirmed(web):
    contacts = ContactFactory.create_batch(2)
    page = web.post(reverse("contacts_bulk"), {"ids": [c.pk for c in contacts], "action": "opt_out"})
    assert page.status_code == 200 and b"Record an opt-out for 2 contacts?" in page.content
    assert not ConsentEvent.objects.exists()


def test_confirmed_it_records_agent_opt_outs_with_proof_naming_the_user(web, user):
    chosen = ContactFactory.create_batch(2)
    for contact in chosen:
        consent_record(contact=contact, action="opt_in", source="web_form", proof=PROOF)
    other = ContactFactory()
    response = _opt_out(web, [c.pk for c in chosen])
    assert response.status_code == 302 and response.url == "/contacts/"
    events = ConsentEvent.objects.filter(action="opt_out").order_by("contact_id")
    assert [e.contact_id for e in events] == [c.pk for c in chosen]
    event = events[0]
    assert event.source == ConsentSource.AGENT and event.actor == user
    assert event.proof["recorded_by"]["username"] == "alice"
    assert event.proof["bulk_action"] == "contact list bulk action: record an opt-out"
    assert event.proof["note"] == "Asked on the call"
    assert set(
        Contact.objects.filter(pk__in=[c.pk for c in chosen]).values_list("sms_consent", flat=True)
    ) == {SmsConsent.OPTED_OUT}
    assert set(PhoneSuppression.objects.values_list("phone", flat=True)) == {c.phone for c in chosen}
    assert Contact.objects.get(pk=other.pk).sms_consent == SmsConsent.UNKNOWN
    timeline = Activity.objects.filter(kind=ActivityKind.SMS_OPT_OUT)
    assert sorted(timeline.values_list("contact_id", flat=True)) == [c.pk for c in chosen]


def test_after_the_bulk_opt_out_a_send_is_refused(web, user):
    contact = ContactFactory()
    consent_record(contact=contact, action="opt_in", source="web_form", proof=PROOF)
    _opt_out(web, [contact.pk])
    contact.refresh_from_db()
    with pytest.raises(SendRefused) as refused:
        message_send(contact=contact, body="Hi", sent_by=user)
    assert "consent" in refused.value.code or "opt" in str(refused.value).lower()


def test_a_keyword_stop_keeps_its_person_only_source(web):
    contact = ContactFactory()
    consent_record(contact=contact, action="opt_out", source="keyword", proof={"message": "STOP"})
    # A contact row whose state lags its number (as a renumbered contact's could).
    Contact.objects.filter(pk=contact.pk).update(sms_consent=SmsConsent.UNKNOWN)
    _opt_out(web, [contact.pk])
    assert ConsentEvent.objects.filter(contact=contact, source=ConsentSource.AGENT).exists()
    assert PhoneSuppression.objects.get(phone=contact.phone).source == ConsentSource.KEYWORD


def test_contacts_already_opted_out_are_counted_not_recorded_again(web):
    done = ContactFactory()
    consent_record(contact=done, action="opt_out", source="keyword", proof={"message": "STOP"})
    fresh = ContactFactory()
    gone = ContactFactory()
    gone_id = gone.pk
    gone.delete()  # deleted meanwhile: neither recorded nor counted as opted out
    response = _opt_out(web, [done.pk, fresh.pk, gone_id], next="/contacts/")
    followed = web.get(response.url)
    assert "Opt-out recorded for 1 contact. 1 already opted out." in followed.content.decode()
    assert ConsentEvent.objects.filter(contact=done).count() == 1


def test_without_a_note_it_is_a_400_and_records_nothing(web):
    contact = ContactFactory()
    response = _opt_out(web, [contact.pk], note="")
    assert response.status_code == 400 and b"field-error" in response.content
    assert not ConsentEvent.objects.exists()


def test_there_is_no_bulk_opt_in(web):
    contact = ContactFactory()
    response = web.post(
        reverse("contacts_bulk"), {"ids": [contact.pk], "action": "opt_in", "confirm": "on"}, follow=True
    )
    assert any(m.level_tag == "error" for m in response.context["messages"])
    assert not ConsentEvent.objects.exists()


def _queries_to_opt_out(web, count: int) -> int:
    ids = [c.pk for c in ContactFactory.create_batch(count)]
    with CaptureQueriesContext(connection) as queries:
        _opt_out(web, ids)
    assert ConsentEvent.objects.filter(contact_id__in=ids, action="opt_out").count() == count
    return len(queries)


def test_the_bulk_opt_out_is_a_constant_number_of_queries(web):
    assert _queries_to_opt_out(web, 2) == _queries_to_opt_out(web, 30)

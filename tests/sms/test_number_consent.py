"""Consent belongs to the phone number: a STOP survives deletion, merges and renumbering, and only
the person can undo it (issue 16). Every test also runs on PostgreSQL with DATABASE_URL set."""

import importlib
import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm import services as crm_services
from crm.merge import OTHER, contact_merge
from crm.models import Contact, SmsConsent
from plays.engine import play_run
from plays.models import Enrollment, Outcome
from sms.inbound import inbound_receive
from sms.models import ConsentEvent, ConsentSource, Message, MessageStatus, PhoneSuppression
from sms.providers import _provider
from sms.services.consent import ResubscribeRefused, consent_record
from sms.services.delivery import message_deliver
from sms.services.sending import SendRefused, message_send
from tests.crm.imports_helpers import outcomes, run
from tests.factories import AccountFactory, ContactFactory, RenewalFactory
from tests.plays.conftest import make_play

pytestmark = pytest.mark.django_db

NUMBER = "+12125550147"
OTHER_NUMBER = "+12125550148"
CONSENT = "/api/v1/sms/consent/"
MESSAGES = "/api/v1/sms/messages/"


def text_in(number: str, body: str) -> None:
    inbound_receive(
        provider_sid="SM" + uuid.uuid4().hex, from_number=number, to_number="+15550000000", body=body
    )


def opted_in(phone: str = NUMBER, **fields) -> Contact:
    contact = crm_services.contact_create(phone=phone, **fields)
    consent_record(contact=contact, action="opt_in", source="web_form", proof={"disclosure": "Texts ok"})
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_IN
    return contact


def stopped(phone: str = NUMBER, **fields) -> Contact:
    contact = opted_in(phone, **fields)
    text_in(phone, "STOP")
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT
    return contact


def form_proof(submitted_at) -> dict:
    return {
        "disclosure": "Yes, text me about my order",
        "url": "https://example.com/sms-signup",
        "ip": "203.0.113.7",
        "submitted_at": submitted_at.isoformat(),
    }


def assert_send_refused(contact: Contact) -> None:
    contact.refresh_from_db()
    with pytest.raises(SendRefused) as refused:
        message_send(contact=contact, body="Still there?")
    assert refused.value.code == "opted_out"


# --- The suppression -------------------------------------------------------------------------


def test_a_keyword_stop_suppresses_the_number_and_only_the_person_can_lift_it():
    contact = stopped()
    suppression = PhoneSuppression.objects.get(phone=NUMBER)
    assert suppression.source == ConsentSource.KEYWORD and suppression.person_only
    assert suppression.event == ConsentEvent.objects.filter(contact=contact).latest("occurred_at", "id")


def test_an_agents_opt_out_hardens_to_person_only_when_a_stop_follows_but_never_softens():
    contact = opted_in()
    consent_record(contact=contact, action="opt_out", source="keyword", proof={"message": "STOP"})
    consent_record(contact=contact, action="opt_out", source="agent", proof={"note": "asked on a call"})
    assert PhoneSuppression.objects.get(phone=NUMBER).source == ConsentSource.KEYWORD


# --- Delete and re-create --------------------------------------------------------------------


def test_deleting_and_recreating_a_contact_keeps_its_opt_out_via_services():
    stopped().delete()
    again = crm_services.contact_create(phone="(212) 555-0147", first_name="Ann")
    assert again.phone == NUMBER and again.sms_consent == SmsConsent.OPTED_OUT
    again.refresh_from_db()
    assert again.sms_consent == SmsConsent.OPTED_OUT
    assert_send_refused(again)


def test_deleting_and_recreating_a_contact_keeps_its_opt_out_via_the_api(api):
    contact = stopped()
    assert api.delete(f"/api/v1/contacts/{contact.pk}/").status_code == 204
    created = api.post("/api/v1/contacts/", {"first_name": "Ann", "phone": "212-555-0147"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["sms_consent"] == SmsConsent.OPTED_OUT
    sent = api.post(MESSAGES, {"contact": created.json()["id"], "body": "Hi again"}, format="json")
    assert sent.status_code == 409 and sent.json()["code"] == "opted_out"
    assert not Message.objects.filter(direction="outbound").exclude(kind="compliance").exists()


def test_moving_a_contact_onto_a_suppressed_number_opts_it_out_and_moving_off_does_not_opt_it_in():
    stopped().delete()
    contact = opted_in(OTHER_NUMBER)
    crm_services.contact_update(contact=contact, phone=NUMBER)
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT
    assert_send_refused(contact)
    crm_services.contact_update(contact=contact, phone=OTHER_NUMBER)
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT  # only a new opt-in re-subscribes


def test_a_contact_import_that_brings_a_suppressed_number_starts_opted_out():
    stopped().delete()
    updated = opted_in(OTHER_NUMBER, email="bo@example.com")
    job = run("contacts", f"email,phone\nann@example.com,{NUMBER}\nbo@example.com,+12125550149\n")
    assert job.counts == {"create": 1, "update": 1}
    assert Contact.objects.get(email="ann@example.com").sms_consent == SmsConsent.OPTED_OUT
    updated.refresh_from_db()
    assert updated.sms_consent == SmsConsent.OPTED_IN  # its new number never opted out
    stopped_other = Contact.objects.get(email="ann@example.com")
    stopped_other.delete()
    run("contacts", f"email,phone\nbo@example.com,{NUMBER}\n")
    updated.refresh_from_db()
    assert updated.sms_consent == SmsConsent.OPTED_OUT


def test_an_inbound_text_from_a_suppressed_number_creates_an_opted_out_contact():
    stopped().delete()
    text_in(NUMBER, "hello, is my order ready?")
    assert Contact.objects.get(phone=NUMBER).sms_consent == SmsConsent.OPTED_OUT


# --- Merges ----------------------------------------------------------------------------------


def test_merging_an_opted_in_duplicate_into_a_stopped_contact_keeps_it_opted_out():
    survivor = stopped()
    duplicate = opted_in(OTHER_NUMBER)  # opted in after the STOP: the newest event is an opt-in
    contact_merge(survivor=survivor, other=duplicate)
    survivor.refresh_from_db()
    assert survivor.phone == NUMBER and survivor.sms_consent == SmsConsent.OPTED_OUT
    assert_send_refused(survivor)


def test_merging_a_stopped_contact_into_an_opted_in_one_that_takes_its_number_opts_it_out():
    loser = stopped()
    survivor = opted_in(OTHER_NUMBER)
    contact_merge(survivor=survivor, other=loser, keep={"phone": OTHER})
    survivor.refresh_from_db()
    assert survivor.phone == NUMBER and survivor.sms_consent == SmsConsent.OPTED_OUT
    assert_send_refused(survivor)


def test_merging_a_stopped_contact_into_one_without_a_number_opts_the_survivor_out():
    loser = stopped()
    survivor = crm_services.contact_create(first_name="Ann")
    consent_record(contact=survivor, action="opt_in", source="agent", proof={"note": "on the phone"})
    contact_merge(survivor=survivor, other=loser)
    survivor.refresh_from_db()
    assert survivor.phone == NUMBER and survivor.sms_consent == SmsConsent.OPTED_OUT


def test_a_number_a_merge_drops_stays_suppressed():
    survivor = stopped()
    duplicate = opted_in(OTHER_NUMBER)
    contact_merge(survivor=survivor, other=duplicate, keep={"phone": OTHER})
    survivor.refresh_from_db()
    assert survivor.phone == OTHER_NUMBER  # that number opted in and never out
    assert PhoneSuppression.objects.filter(phone=NUMBER).exists()
    assert crm_services.contact_create(phone=NUMBER).sms_consent == SmsConsent.OPTED_OUT


# --- Who can re-subscribe --------------------------------------------------------------------


def test_an_agents_note_cannot_re_subscribe_a_number_that_texted_stop():
    contact = stopped()
    with pytest.raises(ResubscribeRefused, match="only the person can re-subscribe"):
        consent_record(contact=contact, action="opt_in", source="agent", proof={"note": "ok"})
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT
    assert ConsentEvent.objects.filter(contact=contact, action="opt_in", source="agent").count() == 0


def test_the_contact_page_answers_a_note_only_opt_in_after_stop_with_a_form_error(web):
    contact = stopped()
    response = web.post(reverse("sms_contact_consent", args=[contact.pk]), {"action": "opt_in", "note": "ok"})
    assert response.status_code == 400
    assert "only the person can re-subscribe" in response.content.decode()
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT


def test_the_api_refuses_a_note_only_opt_in_after_stop_on_proof(api):
    contact = stopped()
    response = api.post(
        CONSENT,
        {"contact": contact.pk, "action": "opt_in", "source": "agent", "proof": {"note": "ok"}},
        format="json",
    )
    assert response.status_code == 400 and "only the person can re-subscribe" in response.json()["proof"][0]


def test_after_an_agents_opt_out_an_agents_opt_in_with_proof_still_re_subscribes():
    contact = opted_in()
    consent_record(contact=contact, action="opt_out", source="agent", proof={"note": "asked on a call"})
    consent_record(contact=contact, action="opt_in", source="agent", proof={"note": "asked again by email"})
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_IN
    assert not PhoneSuppression.objects.exists()


def test_a_form_submitted_after_the_stop_re_subscribes_through_the_api(api):
    contact = stopped()
    payload = {"contact": contact.pk, "action": "opt_in", "source": "web_form"}
    before = api.post(
        CONSENT, {**payload, "proof": form_proof(timezone.now() - timedelta(days=1))}, format="json"
    )
    assert before.status_code == 400 and "before the STOP" in before.json()["proof"][0]
    after = api.post(CONSENT, {**payload, "proof": form_proof(timezone.now())}, format="json")
    assert after.status_code == 201, after.json()
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_IN
    assert not PhoneSuppression.objects.filter(phone=NUMBER).exists()


def test_a_start_text_from_the_number_re_subscribes_it():
    contact = stopped()
    text_in(NUMBER, "START")
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_IN
    assert not PhoneSuppression.objects.filter(phone=NUMBER).exists()
    message_send(contact=contact, body="Welcome back")


def test_a_carrier_unsubscribe_also_needs_the_person(twilio):
    from tests.sms.conftest import twilio_error

    contact = opted_in()
    twilio_error(twilio, 400, 21610, "Attempt to send to unsubscribed recipient")
    message_deliver(message_id=message_send(contact=contact, body="Hi").pk)
    assert PhoneSuppression.objects.get(phone=NUMBER).source == ConsentSource.PROVIDER_ERROR
    with pytest.raises(ResubscribeRefused):
        consent_record(contact=contact, action="opt_in", source="api", proof={"disclosure": "Terms"})


# --- Sources only the webhook and provider write ---------------------------------------------


@pytest.mark.parametrize("source", ["keyword", "provider_error"])
def test_the_api_cannot_claim_keyword_or_provider_sources(api, source):
    contact = opted_in()
    response = api.post(
        CONSENT,
        {"contact": contact.pk, "action": "opt_out", "source": source, "proof": {"message": "STOP"}},
        format="json",
    )
    assert response.status_code == 400 and list(response.json()) == ["source"]
    assert not ConsentEvent.objects.filter(source=source).exists()


def test_imports_record_the_import_source_and_cannot_lift_a_stop_without_a_later_form():
    contact = stopped(email="ann@example.com")
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    header = "email,consent,date,source,message,disclosure,url,ip,submitted_at\n"
    job = run("consent", header + f"ann@example.com,opt_in,{later},keyword,START,,,,\n")
    row = outcomes(job)[2]
    assert row.action == "skip" and "only the person can re-subscribe" in row.reason
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_OUT
    job = run(
        "consent",
        header
        + f"ann@example.com,opt_in,{later},Signup page,,Texts ok,https://x.example,203.0.113.7,{later}\n",
    )
    assert job.counts == {"create": 1}
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_IN
    assert set(ConsentEvent.objects.filter(contact=contact).values_list("source", flat=True)) == {
        "web_form",
        "keyword",
        "import",
    }


# --- Every send path -------------------------------------------------------------------------


@pytest.fixture
def plays_run(settings):
    settings.SMS_PROVIDER = "console"
    settings.GOVERNANCE_ACCOUNT_WEEKLY_CAP = 1000
    _provider.cache_clear()
    yield
    _provider.cache_clear()


def test_a_play_run_never_texts_a_suppressed_number_even_with_a_stale_state(plays_run):
    account = AccountFactory()
    today = timezone.now().date()
    RenewalFactory(
        account=account, start_date=today - timedelta(days=330), end_date=today + timedelta(days=35)
    )
    stale = ContactFactory(account=account, phone=NUMBER, sms_consent=SmsConsent.OPTED_IN)
    fine = ContactFactory(account=account, sms_consent=SmsConsent.OPTED_IN)
    consent_record(contact=stale, action="opt_out", source="keyword", proof={"message": "STOP"})
    Contact.objects.filter(pk=stale.pk).update(sms_consent=SmsConsent.OPTED_IN)  # e.g. a racing writer
    play = make_play()
    result = play_run(play)
    reasons = dict(Enrollment.objects.filter(play=play).values_list("contact_id", "reason"))
    assert reasons[stale.pk] == "consent:opted_out"
    assert result.outcomes[Outcome.SENT] == 1
    assert list(Message.objects.values_list("contact_id", flat=True)) == [fine.pk]


def test_suppressions_cost_play_runs_no_query_per_contact(plays_run):
    queries = {}
    for size in (10, 60):
        account = AccountFactory(attributes={"group": size})
        today = timezone.now().date()
        RenewalFactory(
            account=account, start_date=today - timedelta(days=330), end_date=today + timedelta(days=35)
        )
        for index in range(size):
            contact = ContactFactory(account=account, sms_consent=SmsConsent.OPTED_IN)
            if index % 2:
                PhoneSuppression.objects.create(phone=contact.phone, since=timezone.now(), source="keyword")
        play = make_play(audience={"account_attributes": {"group": size}})
        with CaptureQueriesContext(connection) as captured:
            result = play_run(play)
        assert result.reasons == {"consent:opted_out": size // 2}
        queries[size] = len(captured)
    assert queries[10] == queries[60]


def test_the_inbox_reply_path_refuses_a_suppressed_number():
    contact = opted_in()
    text_in(NUMBER, "what time do you open?")
    PhoneSuppression.objects.create(phone=NUMBER, since=timezone.now(), source="keyword")
    with pytest.raises(SendRefused) as refused:
        message_send(contact=contact, body="9am!", kind="reply")
    assert refused.value.code == "opted_out"


def test_delivery_refuses_a_queued_text_whose_number_opted_out_after_queueing(twilio):
    contact = opted_in()
    message = message_send(contact=contact, body="Your renewal")
    # The contact moves to another number; the person now holding the old one texts STOP.
    crm_services.contact_update(contact=contact, phone=OTHER_NUMBER)
    text_in(NUMBER, "STOP")
    contact.refresh_from_db()
    assert contact.sms_consent == SmsConsent.OPTED_IN  # its new number never opted out
    assert message_deliver(message_id=message.pk).result == "blocked"
    assert len(twilio.calls) == 0
    message.refresh_from_db()
    assert (message.status, message.error_code) == (MessageStatus.FAILED, "opted_out")


def test_delivery_recheck_costs_one_query_for_any_number_of_suppressions(
    twilio, django_assert_max_num_queries
):
    from sms.services.sending import messages_refusals

    people = [opted_in(f"+1212555{1000 + i:04d}") for i in range(12)]
    messages = [message_send(contact=person, body="Hi") for person in people]
    for person in people[::2]:
        PhoneSuppression.objects.create(phone=person.phone, since=timezone.now(), source="keyword")
    loaded = list(Message.objects.select_related("contact__account").filter(pk__in=[m.pk for m in messages]))
    with CaptureQueriesContext(connection) as few:
        refused = messages_refusals(loaded[:4])
    with django_assert_max_num_queries(len(few)):
        refused = messages_refusals(loaded)
    assert {m.contact.phone for m in loaded if m.pk in refused} == {p.phone for p in people[::2]}


# --- Backfill --------------------------------------------------------------------------------


def test_the_backfill_suppresses_numbers_whose_latest_event_is_an_opt_out():
    backfill = importlib.import_module("sms.migrations.0012_backfill_phone_suppressions").backfill
    now = timezone.now()
    a, b, c = (ContactFactory(sms_consent=SmsConsent.OPTED_IN) for _ in range(3))

    def event(contact, action, source, days_ago):
        ConsentEvent.objects.create(
            contact=contact,
            phone=contact.phone,
            action=action,
            source=source,
            occurred_at=now - timedelta(days=days_ago),
        )

    event(a, "opt_in", "web_form", 9)
    event(a, "opt_out", "keyword", 5)
    event(a, "opt_out", "agent", 2)  # a later agent opt-out does not soften the STOP
    event(b, "opt_out", "keyword", 9)
    event(b, "opt_in", "keyword", 5)  # START: not suppressed
    event(c, "opt_out", "keyword", 9)
    event(c, "opt_in", "web_form", 5)
    event(c, "opt_out", "import", 1)  # the STOP was lifted; only the import's opt-out stands
    a.delete()  # the number's record outlives the contact
    holder = ContactFactory(phone=a.phone, sms_consent=SmsConsent.OPTED_IN)
    backfill(apps, None)
    suppressed = dict(PhoneSuppression.objects.values_list("phone", "source"))
    assert suppressed == {a.phone: "keyword", c.phone: "import"}
    assert PhoneSuppression.objects.get(phone=a.phone).since == now - timedelta(days=2)
    holder.refresh_from_db()
    b.refresh_from_db()
    assert holder.sms_consent == SmsConsent.OPTED_OUT and b.sms_consent == SmsConsent.OPTED_IN
    backfill(apps, None)  # idempotent
    assert PhoneSuppression.objects.count() == 2

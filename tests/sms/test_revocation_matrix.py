"""Issue 16's Done-when matrix: after each kind of revocation (a keyword STOP, plain words, the
carrier's 21610, a reply held for review, an opt-out through the API) no path sends: a manual
send, an inbox reply after the five minutes, a play run, a text queued or scheduled before it,
imports, merges onto or from the number, API consent writes with a note as proof, delete and
re-create. Runs on PostgreSQL too (CI); the clock is pinned.

Other modules prove parts in more depth (tests/sms/test_number_consent.py: merges, imports and
re-creation after a STOP; test_revocation.py: the labelled set; test_revocation_review.py: the
review clock); this one holds every pair of the matrix in one place."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from crm import services as crm_services
from crm.merge import OTHER, contact_merge
from crm.models import Contact
from plays.engine import play_run
from plays.models import Enrollment
from sms.inbound import inbound_receive
from sms.inbox import services as inbox
from sms.models import ConsentAction, ConsentSource, Conversation, Message, MessageKind
from sms.services.consent import consent_opt_out_unsubscribed, consent_record, contact_texting
from sms.services.delivery import message_deliver
from sms.services.scheduling import message_schedule, scheduled_release
from sms.services.sending import SendRefused, message_send
from tests.crm.imports_helpers import run
from tests.factories import ContactFactory, RenewalFactory, UserFactory
from tests.plays.conftest import make_play

START = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)  # a Wednesday, noon in New York
REVOKED_AT = START + timedelta(minutes=1)
AFTER = REVOKED_AT + timedelta(minutes=10)  # past the five-minute confirmation/clarification
OPTED_IN_AT = START - timedelta(days=30)
KINDS = ["keyword", "words", "provider", "review", "api"]
BLOCKED = {"opted_out", "under_review"}

_sids = itertools.count()


def _receive(contact, body):
    inbound_receive(
        provider_sid=f"SMmx{next(_sids):020d}", from_number=contact.phone, to_number="+15005550006", body=body
    )


def _revoke(kind: str, contact, api) -> None:
    if kind == "keyword":
        _receive(contact, "STOP")
    elif kind == "words":
        _receive(contact, "please remove me from your list")
    elif kind == "review":
        _receive(contact, "how do I opt out of the auto renewal")
    elif kind == "provider":
        attempt = message_send(contact=contact, body="Renewal soon", kind=MessageKind.MANUAL)
        consent_opt_out_unsubscribed(contact=contact, message=attempt)  # what delivery does on 21610
    else:
        response = api.post(
            "/api/v1/sms/consent/",
            {
                "contact": contact.pk,
                "action": "opt_out",
                "source": "api",
                "proof": {"note": "unsubscribed in app"},
            },
            format="json",
        )
        assert response.status_code == 201


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture(params=KINDS)
def revoked(request, clock, api):
    """(kind, contact, a text queued before the revocation and due an hour after it); the test's
    node also holds ``scheduled``: a text scheduled before it, due two hours after it."""
    contact = ContactFactory(email=f"ann-{request.param}@example.com")
    consent_record(
        contact=contact,
        action=ConsentAction.OPT_IN,
        source=ConsentSource.WEB_FORM,
        proof={"disclosure": "Texts about your account", "url": "https://x.example", "ip": "203.0.113.7"},
        occurred_at=OPTED_IN_AT,
    )
    queued = message_send(contact=contact, body="Your renewal is coming up", kind=MessageKind.AUTOMATED)
    Message.objects.filter(pk=queued.pk).update(next_attempt_at=REVOKED_AT + timedelta(hours=1))
    # An agent's "send later", written before the revocation and due after it.
    scheduled = message_schedule(
        contact=contact, body="Following up on your renewal", send_at=REVOKED_AT + timedelta(hours=2)
    )
    request.node.scheduled = scheduled
    clock.move_to(REVOKED_AT)
    _revoke(request.param, contact, api)
    clock.move_to(AFTER)
    contact.refresh_from_db()
    assert contact_texting(contact).refusal() in ("consent:opted_out", "consent:under_review")
    return request.param, contact, queued


def assert_no_send(contact):
    with pytest.raises(SendRefused) as refused:
        message_send(
            contact=contact,
            body="Checking in",
            kind=MessageKind.MANUAL,
            sent_by=UserFactory(),
            clarifying=True,
        )
    assert refused.value.code in BLOCKED and refused.value.status == 409


@pytest.mark.django_db
def test_manual_send(revoked):
    assert_no_send(revoked[1])


@pytest.mark.django_db
def test_inbox_reply_outside_the_confirmation(revoked):
    contact = revoked[1]
    conversation, _ = Conversation.objects.get_or_create(contact=contact)
    with pytest.raises(SendRefused) as refused:
        inbox.conversation_reply(conversation=conversation, body="Sorry to hear that", actor=UserFactory())
    assert refused.value.code in BLOCKED


@pytest.mark.django_db
def test_play_run(revoked):
    contact = revoked[1]
    play = make_play()
    RenewalFactory(
        account=contact.account,
        start_date=timezone.now().date() - timedelta(days=330),
        end_date=timezone.now().date() + timedelta(days=35),
    )
    play_run(play)
    assert Enrollment.objects.get(play=play, contact=contact).reason in {f"consent:{b}" for b in BLOCKED}
    assert not Message.objects.filter(source=f"play:{play.pk}").exists()


@pytest.mark.django_db
def test_a_text_queued_before_it_at_delivery(revoked, clock):
    _, _, queued = revoked
    clock.move_to(REVOKED_AT + timedelta(hours=1))
    assert message_deliver(message_id=queued.pk).result == "blocked"
    queued.refresh_from_db()
    assert queued.status == "failed" and queued.error_code in BLOCKED


@pytest.mark.django_db
def test_a_text_scheduled_before_it_when_it_comes_due(revoked, clock, request):
    scheduled = request.node.scheduled
    clock.move_to(REVOKED_AT + timedelta(hours=2, minutes=1))
    released = scheduled_release()
    scheduled.refresh_from_db()
    if scheduled.status == "queued":  # released: the delivery's own check must still stop it
        assert message_deliver(message_id=scheduled.pk).result == "blocked"
        scheduled.refresh_from_db()
    assert scheduled.status == "failed" and scheduled.error_code in BLOCKED, (released, scheduled.error_code)
    assert not scheduled.provider_sid  # never handed to the provider


@pytest.mark.django_db
def test_imports(revoked):
    """Re-importing the contact and its opt-in (the old row, and one dated now) re-subscribes
    nothing; the contact import re-creates a deleted contact opted out."""
    kind, contact, _ = revoked
    header = "email,consent,date,source,disclosure\n"
    old = f"{contact.email},opt_in,{OPTED_IN_AT.isoformat()},Signup page,Texts about your account\n"
    run("consent", header + old)
    if kind != "api":  # an opt-out the API recorded yields to later proof (README); the person's never
        run("consent", header + f"{contact.email},opt_in,{timezone.now().isoformat()},CRM sync,Texts ok\n")
    contact.refresh_from_db()
    assert_no_send(contact)
    phone, email = contact.phone, contact.email
    contact.delete()
    run("contacts", f"email,phone\n{email},{phone}\n")
    assert_no_send(Contact.objects.get(email=email))


@pytest.mark.django_db
def test_merges_onto_and_from_the_number(revoked):
    _, contact, _ = revoked
    duplicate = ContactFactory(sms_consent="opted_in", account=contact.account)
    consent_record(
        contact=duplicate,
        action=ConsentAction.OPT_IN,
        source=ConsentSource.WEB_FORM,
        proof={"disclosure": "yes"},
    )
    # An opted-in duplicate merged into the contact that revoked: the survivor keeps the number.
    contact_merge(survivor=contact, other=duplicate)
    contact.refresh_from_db()
    assert_no_send(contact)
    # The contact that revoked merged into another that takes its number.
    other = ContactFactory(sms_consent="opted_in")
    consent_record(
        contact=other, action=ConsentAction.OPT_IN, source=ConsentSource.WEB_FORM, proof={"disclosure": "yes"}
    )
    contact_merge(survivor=other, other=contact, keep={"phone": OTHER})
    other.refresh_from_db()
    assert_no_send(other)


@pytest.mark.django_db
def test_api_consent_writes_with_a_note(revoked, api):
    kind, contact, _ = revoked
    # A note as proof, dated now (the API opt-out's own source may lift it with proof: dated
    # before it, the note changes nothing) and a claim of the person's own keyword.
    when = (AFTER if kind != "api" else REVOKED_AT - timedelta(seconds=30)).isoformat()
    api.post(
        "/api/v1/sms/consent/",
        {
            "contact": contact.pk,
            "action": "opt_in",
            "source": "agent",
            "proof": {"note": "ok"},
            "occurred_at": when,
        },
        format="json",
    )
    claimed = api.post(
        "/api/v1/sms/consent/",
        {"contact": contact.pk, "action": "opt_in", "source": "keyword", "proof": {"message": "START"}},
        format="json",
    )
    assert claimed.status_code == 400 and "source" in claimed.json()
    contact.refresh_from_db()
    assert_no_send(contact)
    state = api.get("/api/v1/sms/consent/state/", {"contact": contact.pk}).json()
    assert state["can_text"] is False and state["effective"] in ("opted_out", "under_review")


@pytest.mark.django_db
def test_delete_and_re_create(revoked, api):
    _, contact, _ = revoked
    phone = contact.phone
    contact.delete()
    again = crm_services.contact_create(first_name="Same", last_name="Number", phone=phone)
    assert_no_send(again)
    again.delete()  # and again, through the API
    created = api.post(
        "/api/v1/contacts/", {"first_name": "Via", "last_name": "API", "phone": phone}, format="json"
    )
    assert created.status_code == 201
    send = api.post(
        "/api/v1/sms/messages/", {"contact": created.json()["id"], "body": "Welcome back"}, format="json"
    )
    assert send.status_code == 409 and send.json()["code"] in BLOCKED

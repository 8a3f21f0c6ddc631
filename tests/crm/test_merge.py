"""Merging duplicates: chosen values, every related row moved, the timeline, and detection."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.merge import (
    OTHER,
    SURVIVOR,
    account_merge,
    contact_merge,
    default_choices,
    duplicate_groups,
    load_group_contacts,
    related_counts,
)
from crm.models import Activity, ActivityKind, Contact, Deal, Order, Renewal, SmsConsent, Task
from plays.models import Arm, Enrollment, Outcome, Play
from sms.models import ConsentEvent, Conversation, ConversationStatus, Direction, Message, MessageStatus
from sms.services.consent import consent_record
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    DealFactory,
    EventFactory,
    OrderFactory,
    RenewalFactory,
    TaskFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _message(contact, conversation=None, *, inbound=False, minutes_ago=0, body="hi"):
    return Message.objects.create(
        contact=contact,
        conversation=conversation,
        direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
        body=body,
        to_number=contact.phone or "",
        status=MessageStatus.RECEIVED if inbound else MessageStatus.SENT,
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def _play(name="Nudge"):
    return Play.objects.create(
        name=name,
        moment="renewal",
        trigger={"type": "renewal_window", "days": 60},
        template="Hi {first_name}",
    )


def test_defaults_keep_the_survivors_values_and_fill_its_blanks():
    survivor = ContactFactory(first_name="Ann", last_name="", email="ann@example.com", external_id=None)
    other = ContactFactory(first_name="Annie", last_name="Lee", email="annie@example.com", external_id="X-1")
    choices = default_choices(survivor, other)
    assert choices["first_name"] == SURVIVOR and choices["email"] == SURVIVOR
    assert choices["last_name"] == OTHER and choices["external_id"] == OTHER


def test_contact_merge_keeps_the_chosen_values_and_moves_every_crm_row():
    actor = UserFactory(username="merger")
    survivor = ContactFactory(
        first_name="Ann", last_name="Lee", email="ann@example.com", phone="+12122000101"
    )
    other = ContactFactory(
        first_name="Annie",
        last_name="",
        email="ann.lee@work.example.com",
        phone="+12122000102",
        phone_raw="(212) 200-0102",
        external_id="CRM-9",
        account=survivor.account,
        attributes={"plan": "gold", "shoe": "38"},
    )
    survivor.attributes = {"plan": "silver"}
    survivor.save()
    order = OrderFactory(contact=other, account=other.account)
    deal = DealFactory(account=other.account, contact=other)
    task = TaskFactory(account=other.account, contact=other)
    event = EventFactory(contact=other, account=other.account)
    note = ActivityFactory(contact=other, account=other.account)

    result = contact_merge(survivor=survivor, other=other, keep={"email": OTHER, "phone": OTHER}, actor=actor)

    survivor.refresh_from_db()
    assert not Contact.objects.filter(pk=other.pk).exists()
    assert (survivor.first_name, survivor.last_name) == ("Ann", "Lee")
    assert survivor.email == "ann.lee@work.example.com"
    assert (survivor.phone, survivor.phone_raw) == ("+12122000102", "(212) 200-0102")
    assert survivor.external_id == "CRM-9"  # was blank: filled from the other record
    assert survivor.attributes == {"plan": "silver", "shoe": "38"}
    for row in (order, deal, task, event, note):
        row.refresh_from_db()
        assert row.contact_id == survivor.pk
    assert result.moved["orders"] == 1 and result.moved["activities"] == 1
    merged = Activity.objects.get(kind=ActivityKind.CONTACT_MERGED)
    assert merged.contact == survivor and merged.actor == actor
    assert (
        merged.data["merged"]["id"] == other.pk
        and merged.data["merged"]["email"] == "ann.lee@work.example.com"
    )
    assert merged.data["kept_from_merged"] == ["email", "external_id", "phone"]
    assert f"(#{other.pk})" in merged.summary


def test_moved_rows_keep_the_account_they_were_filed_under():
    survivor = ContactFactory(phone="+12122000111")
    other = ContactFactory(phone="+12122000112")
    order = OrderFactory(contact=other, account=other.account)
    contact_merge(survivor=survivor, other=other)
    order.refresh_from_db()
    assert order.contact == survivor and order.account_id == other.account_id != survivor.account_id


def test_merging_a_contact_with_itself_or_bad_choices_is_refused():
    contact = ContactFactory()
    other = ContactFactory()
    with pytest.raises(ValidationError, match="cannot be merged with itself"):
        contact_merge(survivor=contact, other=contact)
    with pytest.raises(ValidationError) as error:
        contact_merge(survivor=contact, other=other, keep={"shoe_size": OTHER, "email": "both"})
    assert "Cannot choose shoe_size" in str(error.value) and "for email" in str(error.value)
    assert Contact.objects.filter(pk=other.pk).exists()


def test_sms_threads_messages_and_consent_follow_the_survivor():
    survivor = ContactFactory(phone="+12122000121")
    other = ContactFactory(phone="+12122000122")
    mine = Conversation.objects.create(contact=survivor, status=ConversationStatus.CLOSED)
    theirs = Conversation.objects.create(
        contact=other, status=ConversationStatus.OPEN, intent="pricing", last_inbound_at=timezone.now()
    )
    old = _message(survivor, mine, minutes_ago=60)
    latest = _message(other, theirs, inbound=True, minutes_ago=1, body="how much?")
    consent_record(
        contact=survivor,
        action="opt_in",
        source="web_form",
        proof={"disclosure": "yes"},
        occurred_at=timezone.now() - timedelta(days=2),
    )
    consent_record(
        contact=other, action="opt_out", source="keyword", occurred_at=timezone.now() - timedelta(days=1)
    )
    survivor.refresh_from_db()
    assert survivor.sms_consent == SmsConsent.OPTED_IN

    result = contact_merge(survivor=survivor, other=other)

    survivor.refresh_from_db()
    assert survivor.sms_consent == SmsConsent.OPTED_OUT  # the latest event in the merged ledger
    assert ConsentEvent.objects.filter(contact=survivor).count() == 2
    assert not Conversation.objects.filter(pk=theirs.pk).exists()
    mine.refresh_from_db()
    assert mine.status == ConversationStatus.OPEN and mine.intent == "pricing"
    assert mine.last_message == latest
    assert set(Message.objects.filter(conversation=mine)) == {old, latest}
    assert set(Message.objects.filter(contact=survivor)) == {old, latest}
    assert result.moved["conversation messages"] == 1 and result.moved["consent events"] == 1


def test_the_other_contacts_thread_becomes_the_survivors_when_it_has_none():
    survivor = ContactFactory(phone="+12122000131")
    other = ContactFactory(phone="+12122000132")
    theirs = Conversation.objects.create(contact=other)
    _message(other, theirs)
    contact_merge(survivor=survivor, other=other)
    theirs.refresh_from_db()
    assert theirs.contact == survivor


def test_enrollments_move_and_one_occurrence_keeps_only_its_earliest_decision():
    survivor = ContactFactory(phone="+12122000141")
    other = ContactFactory(phone="+12122000142")
    play, other_play = _play(), _play("Other")
    now = timezone.now()

    def enroll(contact, play, occurrence, minutes_ago):
        return Enrollment.objects.create(
            play=play,
            contact=contact,
            occurrence=occurrence,
            arm=Arm.TREATMENT,
            outcome=Outcome.SENT,
            decided_at=now - timedelta(minutes=minutes_ago),
        )

    mine_later = enroll(survivor, play, "renewal:1:60", 5)
    theirs_earlier = enroll(other, play, "renewal:1:60", 50)
    mine_earlier = enroll(survivor, play, "renewal:2:60", 50)
    theirs_later = enroll(other, play, "renewal:2:60", 5)
    theirs_only = enroll(other, other_play, "renewal:1:60", 5)

    result = contact_merge(survivor=survivor, other=other)

    remaining = set(Enrollment.objects.values_list("pk", flat=True))
    assert remaining == {theirs_earlier.pk, mine_earlier.pk, theirs_only.pk}
    assert not {mine_later.pk, theirs_later.pk} & remaining
    assert set(Enrollment.objects.values_list("contact_id", flat=True)) == {survivor.pk}
    assert result.moved["enrollments decided twice (later one removed)"] == 2


def test_account_merge_moves_contacts_deals_renewals_and_orders():
    survivor = AccountFactory(name="Acme", domain="")
    other = AccountFactory(name="ACME Inc", domain="acme.com", plan="enterprise")
    contact = ContactFactory(account=other)
    deal = DealFactory(account=other)
    renewal = RenewalFactory(account=other)
    order = OrderFactory(contact=contact, account=other)
    task = TaskFactory(account=other)
    result = account_merge(survivor=survivor, other=other, keep={"plan": OTHER})
    survivor.refresh_from_db()
    assert (survivor.name, survivor.domain, survivor.plan) == ("Acme", "acme.com", "enterprise")
    for row in (contact, deal, renewal, order, task):
        row.refresh_from_db()
        assert row.account_id == survivor.pk
    assert result.moved["contacts"] == 1 and result.moved["renewals"] == 1
    assert Activity.objects.filter(kind=ActivityKind.ACCOUNT_MERGED, account=survivor).exists()
    assert (
        Deal.objects.count() == Renewal.objects.count() == Order.objects.count() == Task.objects.count() == 1
    )


def test_related_counts_are_one_query(django_assert_num_queries):
    a, b = ContactFactory(), ContactFactory()
    OrderFactory(contact=a, account=a.account)
    OrderFactory(contact=a, account=a.account)
    EventFactory(contact=b, account=b.account)
    with django_assert_num_queries(1):
        counts = related_counts(Contact, [a.pk, b.pk])
    assert counts[a.pk]["orders"] == 2 and counts[b.pk] == {"events": 1}


# --- Detection ---------------------------------------------------------------------------------


def test_duplicates_are_found_by_mailbox_phone_digits_and_name_within_an_account(
    django_assert_max_num_queries,
):
    acme, globex = AccountFactory(), AccountFactory()
    email_a = ContactFactory(email="ann@example.com", first_name="A1", account=acme)
    email_b = ContactFactory(email="Ann+crm@example.com", first_name="A2", account=globex)
    phone_a = ContactFactory(email=None, phone="+13125550100", phone_raw="+1 (312) 555-0100", first_name="P1")
    phone_b = ContactFactory(
        email=None, phone=None, phone_raw="312.555.0100 ", first_name="P2", phone_valid=False
    )
    name_a = ContactFactory(first_name="Bob", last_name="Stone", account=acme)
    name_b = ContactFactory(first_name=" bob", last_name="STONE", account=acme)
    ContactFactory(first_name="Bob", last_name="Stone", account=globex)  # other account: not a duplicate
    ContactFactory(first_name="Cy", last_name="Young", account=acme)
    with django_assert_max_num_queries(6):
        groups = duplicate_groups()
    found = {g.rule: set(g.contact_ids) for g in groups}
    assert found == {
        "email": {email_a.pk, email_b.pk},
        "phone": {phone_a.pk, phone_b.pk},
        "name": {name_a.pk, name_b.pk},
    }
    with django_assert_max_num_queries(1):
        loaded = load_group_contacts(groups)
    assert all(len(g.contacts) == 2 for g in loaded)


def test_merging_a_group_removes_it_from_the_duplicates():
    acme = AccountFactory()
    a = ContactFactory(first_name="Bob", last_name="Stone", account=acme)
    b = ContactFactory(first_name="Bob", last_name="Stone", account=acme)
    assert len(duplicate_groups()) == 1
    contact_merge(survivor=a, other=b)
    assert duplicate_groups() == []

"""Replies held for review as a possible revocation (issue 16): the visible 10-business-day clock.
A held reply blocks texts to the number from its arrival, shows its deadline on the conversation
and the contact page, escalates before it expires, is treated as an opt-out at the deadline, and
is decided by an agent (confirm, or not a revocation with a reason)."""

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from crm import services as crm_services
from crm.models import Activity, SmsConsent, Task
from plays.engine import play_run
from plays.models import Enrollment
from sms import business_days
from sms.inbound import inbound_receive
from sms.models import (
    ConsentAction,
    ConsentSource,
    Conversation,
    Message,
    MessageKind,
    MessageStatus,
    PhoneSuppression,
    ReviewStatus,
    RevocationReview,
)
from sms.services import review as reviews
from sms.services.consent import REVIEW_CLARIFICATION, consent_record, contact_texting
from sms.services.delivery import message_deliver
from sms.services.sending import SendRefused, message_send
from sms.services.suppression import numbers_blocked
from tests.factories import ContactFactory, RenewalFactory, UserFactory
from tests.plays.conftest import make_play

# Wednesday 2026-11-18, noon in New York: the Thanksgiving week follows.
ARRIVAL = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)
AMBIGUOUS = "how do I opt out of the auto renewal"  # reads as an opt-out; no revocation rule

_sids = itertools.count()


def receive(contact, body, **kwargs):
    return inbound_receive(
        provider_sid=f"SMrvw{next(_sids):020d}",
        from_number=contact.phone,
        to_number="+15005550006",
        body=body,
        **kwargs,
    )


def opted_in_contact(**fields):
    contact = ContactFactory(**fields)
    consent_record(
        contact=contact,
        action=ConsentAction.OPT_IN,
        source=ConsentSource.WEB_FORM,
        proof={"disclosure": "yes"},
        occurred_at=timezone.now() - timedelta(days=1),
    )
    return contact


@pytest.fixture
def clock():
    with time_machine.travel(ARRIVAL, tick=False) as traveller:
        yield traveller


@pytest.fixture
def held(clock):
    contact = opted_in_contact()
    receive(contact, AMBIGUOUS)
    contact.refresh_from_db()
    return contact


# --- The calendar ------------------------------------------------------------------------


def test_federal_holidays_by_rule_match_the_opm_calendar():
    # OPM's published 2026 and 2027 calendars (observed dates).
    assert sorted(business_days.federal_holidays(2026)) == [
        date(2026, 1, 1), date(2026, 1, 19), date(2026, 2, 16), date(2026, 5, 25), date(2026, 6, 19),
        date(2026, 7, 3), date(2026, 9, 7), date(2026, 10, 12), date(2026, 11, 11), date(2026, 11, 26),
        date(2026, 12, 25),
    ]  # fmt: skip
    assert date(2027, 12, 24) in business_days.federal_holidays(2027)  # Christmas on a Saturday
    assert date(2027, 12, 31) in business_days.federal_holidays(2027)  # New Year's 2028 on a Saturday
    assert date(2027, 7, 5) in business_days.federal_holidays(2027)  # July 4th on a Sunday


def test_ten_business_days_skip_weekends_and_thanksgiving():
    due, remind = reviews.review_deadline(ARRIVAL)
    # Thu 19, Fri 20, Mon 23 .. Wed 25, (Thanksgiving), Fri 27, Mon 30, Tue 1, Wed 2, Thu 3 Dec.
    assert due == datetime(2026, 12, 4, 0, 0, tzinfo=business_days.BUSINESS_TZ)
    # Two business days left: from the start of Wed Dec 2.
    assert remind == datetime(2026, 12, 2, 0, 0, tzinfo=business_days.BUSINESS_TZ)
    # A reply on a Saturday late at night Pacific time counts from the Eastern calendar's Sunday.
    saturday_night_pacific = datetime(2026, 12, 6, 7, 30, tzinfo=UTC)  # Sun 02:30 ET, Sat 23:30 PT
    assert reviews.review_deadline(saturday_night_pacific)[0] == datetime(
        2026, 12, 19, 0, 0, tzinfo=business_days.BUSINESS_TZ
    )


# --- Held from the moment it arrives --------------------------------------------------------


@pytest.mark.django_db
def test_an_ambiguous_reply_is_held_not_opted_out_and_blocks_every_automated_path(held, clock):
    review = RevocationReview.objects.get(phone=held.phone)
    assert (review.status, review.received_at) == (ReviewStatus.PENDING, ARRIVAL)
    assert review.due_at == datetime(2026, 12, 4, 0, 0, tzinfo=business_days.BUSINESS_TZ)
    assert held.sms_consent == SmsConsent.OPTED_IN  # stored consent unchanged: not an opt-out
    assert contact_texting(held).effective == "under_review"
    conversation = Conversation.objects.get(contact=held)
    assert conversation.assignee is not None  # someone owns the decision

    # A play run the same minute: suppressed with the reason.
    play = make_play()
    RenewalFactory(
        account=held.account,
        start_date=timezone.now().date() - timedelta(days=330),
        end_date=timezone.now().date() + timedelta(days=35),
    )
    play_run(play)
    assert Enrollment.objects.get(play=play, contact=held).reason == "consent:under_review"
    assert not Message.objects.filter(contact=held, kind=MessageKind.AUTOMATED).exists()

    # A manual send is refused (409, like an opt-out) without a person's clarification context.
    with pytest.raises(SendRefused) as refused:
        message_send(contact=held, body="Hi there", kind=MessageKind.MANUAL)
    assert (refused.value.code, refused.value.status) == ("under_review", 409)


@pytest.mark.django_db
def test_a_queued_text_is_blocked_at_delivery_by_a_review_that_arrived_after_it(clock):
    contact = opted_in_contact()
    queued = message_send(contact=contact, body="Your renewal is coming up", kind=MessageKind.AUTOMATED)
    Message.objects.filter(pk=queued.pk).update(next_attempt_at=ARRIVAL + timedelta(hours=1))
    receive(contact, AMBIGUOUS)
    clock.shift(timedelta(hours=1))
    assert message_deliver(message_id=queued.pk).result == "blocked"
    queued.refresh_from_db()
    assert (queued.status, queued.error_code) == (MessageStatus.FAILED, "under_review")


@pytest.mark.django_db
def test_the_review_belongs_to_the_number(held):
    """Deleted and created again, or another contact moved onto the number: still held."""
    phone = held.phone
    held.delete()
    again = crm_services.contact_create(first_name="Same", last_name="Number", phone=phone)
    with pytest.raises(SendRefused) as refused:
        message_send(contact=again, body="Hello again", kind=MessageKind.MANUAL)
    assert refused.value.code == "under_review"
    assert numbers_blocked([phone]).under_review == {phone: ARRIVAL}


@pytest.mark.django_db
def test_a_second_doubtful_reply_keeps_the_first_review_and_its_deadline(held, clock):
    clock.shift(timedelta(days=3))
    receive(held, "can I opt out of paper invoices")
    review = RevocationReview.objects.get(phone=held.phone)
    assert (review.received_at, review.message.body) == (ARRIVAL, AMBIGUOUS)


@pytest.mark.django_db
def test_look_alikes_below_the_confidence_bar_are_not_held(clock):
    contact = opted_in_contact()
    receive(contact, "remove the item from my cart")  # a weak single-word cue
    assert not RevocationReview.objects.exists()
    message_send(contact=contact, body="Done, it is removed.", kind=MessageKind.MANUAL)


# --- The one clarification ------------------------------------------------------------------


@pytest.mark.django_db
def test_an_agent_may_send_one_clarification_within_five_minutes(held, clock):
    agent = UserFactory()
    conversation = Conversation.objects.get(contact=held)
    clock.shift(timedelta(minutes=2))
    from sms.inbox import services as inbox

    clarification = inbox.conversation_reply(
        conversation=conversation, body="Do you want to stop all texts from us?", actor=agent
    )
    assert clarification.source == REVIEW_CLARIFICATION
    with pytest.raises(SendRefused) as second:
        inbox.conversation_reply(conversation=conversation, body="Hello?", actor=agent)
    assert second.value.code == "under_review"
    # Not without a person behind it, and not from the automated path.
    with pytest.raises(SendRefused):
        message_send(contact=held, body="Do you want to stop?", kind=MessageKind.REPLY)
    # Delivered while the five minutes last...
    assert message_deliver(message_id=clarification.pk).result == "sent"


@pytest.mark.django_db
def test_a_clarification_after_five_minutes_is_refused_and_a_late_one_is_dropped(held, clock):
    agent = UserFactory()
    conversation = Conversation.objects.get(contact=held)
    from sms.inbox import services as inbox

    clock.shift(timedelta(minutes=4))
    late = inbox.conversation_reply(
        conversation=conversation, body="Stop all texts, or this one?", actor=agent
    )
    clock.shift(timedelta(minutes=1, seconds=1))  # five minutes and a second after the reply
    assert message_deliver(message_id=late.pk).result == "blocked"
    with pytest.raises(SendRefused) as refused:
        inbox.conversation_reply(conversation=conversation, body="Hello?", actor=UserFactory())
    assert refused.value.code == "under_review"


# --- Shown with its deadline -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_conversation_and_the_contact_page_show_the_review_and_its_deadline(held, web):
    conversation = Conversation.objects.get(contact=held)
    page = web.get(f"/inbox/?conversation={conversation.pk}&status=").content.decode()
    assert "Held for review as a possible opt-out" in page
    assert ">Thu Dec 3</time> (US Eastern)" in page
    assert "Confirm opt-out" in page and "Not a revocation" in page and "Record opt-out" not in page

    panel = web.get(reverse("sms_contact_panel", args=[held.pk])).content.decode()
    assert "Held for review" in panel and "Thu Dec 3, 2026</time> (US Eastern)" in panel
    assert "no texts until an agent" in panel and 'class="sms-send"' not in panel


@pytest.mark.django_db
def test_the_contact_page_reads_the_numbers_suppression_not_only_the_stored_state(clock, web):
    """A stale stored state (opted in) on a suppressed number: the page says no, as the send does."""
    contact = opted_in_contact()
    consent_record(contact=contact, action=ConsentAction.OPT_OUT, source=ConsentSource.AGENT)
    from crm.models import Contact

    Contact.objects.filter(pk=contact.pk).update(sms_consent=SmsConsent.OPTED_IN)  # stale
    panel = web.get(reverse("sms_contact_panel", args=[contact.pk])).content.decode()
    assert "This contact has opted out of texts." in panel and 'class="sms-send"' not in panel
    assert "badge-consent-opted_out" in panel


# --- Decided by an agent ---------------------------------------------------------------------


@pytest.mark.django_db
def test_confirming_records_the_opt_out(held):
    agent = UserFactory()
    review = RevocationReview.objects.get(phone=held.phone)
    reviews.review_decide(review=review, decision=reviews.CONFIRM_OPT_OUT, actor=agent)
    held.refresh_from_db()
    review.refresh_from_db()
    assert held.sms_consent == SmsConsent.OPTED_OUT and review.status == ReviewStatus.CONFIRMED
    assert (review.consent_event.source, review.consent_event.actor) == (ConsentSource.AGENT, agent)
    assert review.consent_event.proof["message"] == AMBIGUOUS
    assert PhoneSuppression.objects.filter(phone=held.phone).exists()
    with pytest.raises(reviews.ReviewError):  # decided once
        reviews.review_decide(review=review, decision=reviews.NOT_REVOCATION, reason="x y z w v", actor=agent)


@pytest.mark.django_db
def test_not_a_revocation_needs_a_reason_and_lifts_the_hold(held):
    agent = UserFactory()
    review = RevocationReview.objects.get(phone=held.phone)
    with pytest.raises(reviews.ReviewError) as refused:
        reviews.review_decide(review=review, decision=reviews.NOT_REVOCATION, reason="ok", actor=agent)
    assert refused.value.code == "reason_required"
    with pytest.raises(SendRefused):
        message_send(contact=held, body="Hi", kind=MessageKind.MANUAL)

    reason = "They asked about the auto renewal of their plan, not the texts"
    reviews.review_decide(review=review, decision=reviews.NOT_REVOCATION, reason=reason, actor=agent)
    review.refresh_from_db()
    assert (review.status, review.resolution_reason, review.resolved_by) == (
        ReviewStatus.NOT_REVOCATION, reason, agent,
    )  # fmt: skip
    entry = Activity.objects.get(contact=held, data__action="revocation_review_decided")
    assert reason in entry.summary and entry.actor == agent
    message_send(contact=held, body="Auto renewal is under Billing.", kind=MessageKind.MANUAL)


@pytest.mark.django_db
def test_a_clear_revocation_after_the_held_reply_supersedes_the_review(held):
    receive(held, "STOP")
    review = RevocationReview.objects.get(phone=held.phone)
    assert review.status == ReviewStatus.SUPERSEDED and review.consent_event.source == ConsentSource.KEYWORD


# --- Escalation and expiry ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_owner_is_reminded_with_two_business_days_left_and_the_manager_told_at_expiry(clock):
    manager = UserFactory(username="the-manager")
    owner = UserFactory(username="the-owner", manager=manager)
    contact = opted_in_contact(owner=owner)
    receive(contact, AMBIGUOUS)
    Conversation.objects.filter(contact=contact).update(assignee=owner)
    review = RevocationReview.objects.get(phone=contact.phone)

    clock.move_to(review.remind_at - timedelta(minutes=1))
    assert reviews.reviews_escalate() == reviews.EscalationResult(reminded=0, expired=0)
    clock.move_to(review.remind_at)
    assert reviews.reviews_escalate() == reviews.EscalationResult(reminded=1, expired=0)
    task = Task.objects.get(contact=contact)
    assert task.owner == owner and task.due_at == review.due_at and "Decide by Thu Dec 03" in task.title
    assert reviews.reviews_escalate() == reviews.EscalationResult(reminded=0, expired=0)  # once

    clock.move_to(review.due_at - timedelta(seconds=1))
    assert reviews.reviews_escalate().expired == 0
    clock.move_to(review.due_at)
    assert reviews.reviews_escalate().expired == 1
    review.refresh_from_db()
    contact.refresh_from_db()
    # When in doubt: treated as revoked, reversible by an agent with a reason like a plain-words one.
    assert review.status == ReviewStatus.EXPIRED and contact.sms_consent == SmsConsent.OPTED_OUT
    assert review.consent_event.source == ConsentSource.REPLY_WORDS
    escalation = Task.objects.exclude(pk=task.pk).get(contact=contact)
    assert escalation.owner == manager and "treated as an opt-out" in escalation.title
    assert reviews.reviews_escalate() == reviews.EscalationResult(reminded=0, expired=0)


@pytest.mark.django_db
def test_escalation_costs_a_fixed_number_of_queries(clock, django_assert_max_num_queries):
    owner = UserFactory()
    for _ in range(6):
        receive(opted_in_contact(owner=owner), AMBIGUOUS)
    clock.move_to(RevocationReview.objects.first().remind_at)
    # Two reads, contacts and conversations, the reminded mark, tasks and their timeline.
    with django_assert_max_num_queries(10):
        assert reviews.reviews_escalate().reminded == 6
    # Each to whom its conversation is assigned (the account owner routing chose).
    tasks = Task.objects.filter(title__startswith="Decide by").select_related("contact__conversation")
    assert len(tasks) == 6 and all(t.owner == t.contact.conversation.assignee for t in tasks)

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.models import Activity, ActivityKind, Deal, DealKind, SmsConsent, Task, TaskSource
from sms.inbound import inbound_receive
from sms.inbox import services as inbox
from sms.models import Conversation, ConversationStatus, Deferral, IntentLabel, Message
from tests.factories import AccountFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

_sid = iter(range(10**6))


def reply(contact, body):
    result = inbound_receive(
        provider_sid=f"SMin{next(_sid)}", from_number=contact.phone, to_number="+15005550006", body=body
    )
    return result.message, Conversation.objects.get(contact=contact)


@pytest.fixture
def business_hours(settings):
    settings.INBOX_TIMEZONE = "UTC"
    settings.INBOX_BUSINESS_HOURS_START, settings.INBOX_BUSINESS_HOURS_END = 0, 24
    settings.INBOX_BUSINESS_DAYS = "mon-sun"  # the clock always runs: SLA = now + hours
    return settings


@pytest.fixture
def customer(db):
    ae = UserFactory(username="ae", first_name="Aaron")
    account = AccountFactory(name="Acme", ae=ae)
    return ContactFactory(account=account, sms_consent=SmsConsent.OPTED_IN, first_name="Ann")


@pytest.mark.parametrize(
    ("body", "hours"), [("I can't log in, help!", 1), ("can we set up a call tomorrow?", 1)]
)
def test_help_and_meeting_go_to_the_account_owner_with_a_one_hour_sla(business_hours, customer, body, hours):
    before = timezone.now()
    message, conversation = reply(customer, body)
    assert conversation.assignee == customer.account.owner
    assert (
        before + timedelta(hours=hours) <= conversation.sla_due_at <= timezone.now() + timedelta(hours=hours)
    )
    assert conversation.status == ConversationStatus.OPEN and conversation.awaiting_since is not None
    assert message.intent in {"help", "meeting"}


def test_meeting_request_creates_a_task(business_hours, customer):
    reply(customer, "can we set up a call tomorrow?")
    task = Task.objects.get(contact=customer)
    assert task.source == TaskSource.REPLY and "meeting" in task.title.lower()
    assert task.owner == customer.account.owner


def test_pricing_interest_opens_an_expansion_deal_and_a_task_for_the_ae(business_hours, customer):
    before = timezone.now()
    _, conversation = reply(customer, "how much would it cost to upgrade to the pro plan?")
    assert conversation.intent == "pricing"
    assert conversation.sla_due_at >= before + timedelta(hours=4)
    deal = Deal.objects.get(account=customer.account)
    assert (deal.kind, deal.owner.username, deal.contact) == (DealKind.EXPANSION, "ae", customer)
    assert Task.objects.get(contact=customer).owner.username == "ae"
    reply(customer, "and what's the price for 10 more seats?")
    assert Deal.objects.count() == 1  # one open expansion deal is enough
    assert Task.objects.count() == 2


@pytest.mark.parametrize(
    ("clock", "first_of_next_month"),
    [
        ("2026-05-12T15:00:00Z", date(2026, 6, 1)),
        # The last evening of the year in New York (already Jan 1 in UTC): still "next month".
        ("2026-12-31T23:30:00Z", date(2027, 1, 1)),
        ("2028-02-29T12:00:00Z", date(2028, 3, 1)),
    ],
)
def test_deferral_snoozes_and_pauses_texts_until_the_named_date(
    business_hours, customer, clock, first_of_next_month
):
    with time_machine.travel(clock, tick=False):
        _, conversation = reply(customer, "not now, maybe next month")
    assert conversation.status == ConversationStatus.SNOOZED
    deferral = Deferral.objects.get(contact=customer)
    assert deferral.until == conversation.snoozed_until
    # The 1st of next month, 09:00 in the contact's own time.
    local = deferral.until.astimezone(ZoneInfo(customer.timezone))
    assert (local.date(), local.hour, local.minute) == (first_of_next_month, 9, 0)
    assert conversation.sla_due_at is None and conversation.assignee is None


def test_a_replayed_text_is_reckoned_from_when_it_arrived(business_hours, customer):
    """``received_at`` (history replayed, the demo) dates everything the reply sets, whatever the
    clock says: the text, the timeline, the SLA, the deferral, a deal and a task it opens, a
    keyword's consent event."""
    arrived = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    with time_machine.travel("2026-11-20T12:00:00Z", tick=False):
        help_text = inbound_receive(
            provider_sid="SMold1", from_number=customer.phone, to_number="+15005550006",
            body="I can't log in, help!", received_at=arrived,
        ).message  # fmt: skip
        conversation = Conversation.objects.get(contact=customer)
        assert help_text.created_at == arrived == Message.objects.get(pk=help_text.pk).created_at
        assert conversation.last_inbound_at == conversation.awaiting_since == arrived
        assert conversation.sla_due_at == arrived + timedelta(hours=1)
        reply_entry = Activity.objects.get(contact=customer, kind=ActivityKind.SMS_REPLY)
        assert reply_entry.occurred_at == arrived

        later = arrived + timedelta(days=1)
        inbound_receive(
            provider_sid="SMold2", from_number=customer.phone, to_number="+15005550006",
            body="not now, maybe next month", received_at=later,
        )  # fmt: skip
        deferral = Deferral.objects.get(contact=customer)
        local = deferral.until.astimezone(ZoneInfo(customer.timezone))
        assert (local.date(), local.hour) == (date(2026, 4, 1), 9)
        deferred = Activity.objects.get(contact=customer, kind=ActivityKind.INBOX_ACTION)
        assert deferred.occurred_at == later and "Apr 1, 2026" in deferred.summary
        assert deferral.created_at == later

        # A pricing question opens a deal and a task: both, and their timeline, date from it too.
        asked = later + timedelta(hours=5)
        inbound_receive(
            provider_sid="SMold4", from_number=customer.phone, to_number="+15005550006",
            body="how much would it cost to upgrade to the pro plan?", received_at=asked,
        )  # fmt: skip
        deal = Deal.objects.get(account=customer.account)
        assert (deal.created_at, deal.next_step_date) == (asked, date(2026, 3, 3))
        assert Task.objects.get(contact=customer).created_at == asked
        entries = Activity.objects.filter(
            contact=customer, kind__in=[ActivityKind.DEAL_STAGE_CHANGE, ActivityKind.TASK_CREATED]
        )
        assert sorted(entries.values_list("kind", "occurred_at")) == [
            (ActivityKind.DEAL_STAGE_CHANGE, asked), (ActivityKind.TASK_CREATED, asked),
        ]  # fmt: skip

        stop_at = later + timedelta(days=2)
        inbound_receive(
            provider_sid="SMold3", from_number=customer.phone, to_number="+15005550006",
            body="STOP", received_at=stop_at,
        )  # fmt: skip
        customer.refresh_from_db()
        assert customer.sms_consent == SmsConsent.OPTED_OUT
        assert customer.consent_events.get().occurred_at == stop_at


def test_a_revocation_in_words_is_recorded_at_once(business_hours, customer):
    # Issue 16: "please stop texting me" uses an FCC word as its request: an opt-out at once.
    reply(customer, "please stop texting me")
    customer.refresh_from_db()
    assert customer.sms_consent == SmsConsent.OPTED_OUT
    event = customer.consent_events.get()
    assert (event.source, event.proof["detection"], event.proof["message"]) == (
        "keyword", "keyword", "please stop texting me",
    )  # fmt: skip


def test_an_unclear_reply_is_flagged_and_the_agent_records_the_opt_out(business_hours, customer):
    _, conversation = reply(customer, "not interested")
    customer.refresh_from_db()
    assert customer.sms_consent == SmsConsent.OPTED_IN  # not a revocation on its own
    assert conversation.intent == "opt_out"
    agent = UserFactory()
    inbox.conversation_record_opt_out(conversation=conversation, actor=agent)
    customer.refresh_from_db()
    assert customer.sms_consent == SmsConsent.OPTED_OUT
    event = customer.consent_events.get()
    assert (event.source, event.actor, event.proof["message"]) == ("agent", agent, "not interested")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED


def test_positive_replies_wait_without_an_sla(business_hours, customer):
    _, conversation = reply(customer, "thanks so much!")
    assert conversation.intent == "positive" and conversation.sla_due_at is None


def test_no_owner_falls_back_to_round_robin_by_load(business_hours):
    busy, idle = UserFactory(username="busy"), UserFactory(username="idle")
    UserFactory(username="away", takes_conversations=False)
    for _ in range(2):
        other = ContactFactory(account=None, owner=None, sms_consent=SmsConsent.OPTED_IN)
        Conversation.objects.create(contact=other, assignee=busy)
    contact = ContactFactory(account=None, owner=None, sms_consent=SmsConsent.OPTED_IN)
    _, conversation = reply(contact, "help, my invoice is wrong")
    assert conversation.assignee == idle


def test_a_new_inbound_reopens_a_closed_conversation(business_hours, customer):
    _, conversation = reply(customer, "thanks!")
    inbox.conversation_resolve(conversation=conversation, actor=UserFactory())
    _, conversation = reply(customer, "actually, I can't log in")
    assert conversation.status == ConversationStatus.OPEN and conversation.resolved_at is None


def test_reply_records_first_and_every_response_time(business_hours, customer):
    agent = UserFactory()
    _, conversation = reply(customer, "help, the export is broken")
    Conversation.objects.filter(pk=conversation.pk).update(
        awaiting_since=timezone.now() - timedelta(minutes=12)
    )
    conversation.refresh_from_db()
    message = inbox.conversation_reply(conversation=conversation, body="Looking now!", actor=agent)
    conversation.refresh_from_db()
    assert 719 <= message.response_seconds <= 725
    assert conversation.first_response_seconds == message.response_seconds
    assert conversation.sla_due_at is None and conversation.awaiting_since is None
    Conversation.objects.filter(pk=conversation.pk).update(
        awaiting_since=timezone.now() - timedelta(minutes=3)
    )
    conversation.refresh_from_db()
    inbox.conversation_reply(conversation=conversation, body="Fixed?", actor=agent)
    conversation.refresh_from_db()
    assert 179 <= conversation.last_response_seconds <= 185
    assert 719 <= conversation.first_response_seconds <= 725
    assert Message.objects.filter(direction="outbound", sent_by=agent).count() == 2


def test_reply_records_whether_it_met_the_reply_deadline(business_hours, customer):
    agent = UserFactory()
    _, conversation = reply(customer, "help, the export is broken")
    Conversation.objects.filter(pk=conversation.pk).update(sla_due_at=timezone.now() + timedelta(hours=1))
    conversation.refresh_from_db()
    assert inbox.conversation_reply(conversation=conversation, body="On it", actor=agent).sla_met is True
    _, conversation = reply(customer, "still broken")
    Conversation.objects.filter(pk=conversation.pk).update(sla_due_at=timezone.now() - timedelta(minutes=5))
    conversation.refresh_from_db()
    late = inbox.conversation_reply(conversation=conversation, body="Sorry, looking", actor=agent)
    assert late.sla_met is False
    Conversation.objects.filter(pk=conversation.pk).update(
        sla_due_at=None, awaiting_since=timezone.now() - timedelta(minutes=1)
    )
    conversation.refresh_from_db()
    no_deadline = inbox.conversation_reply(conversation=conversation, body="And?", actor=agent)
    assert no_deadline.sla_met is None
    assert list(Message.objects.filter(pk__in=[late.pk]).values_list("sla_met", flat=True)) == [False]


def test_every_action_is_on_the_timeline_with_who_did_it(business_hours, customer):
    agent, other = UserFactory(username="agent"), UserFactory(username="other")
    _, conversation = reply(customer, "question about my bill")
    inbox.conversation_assign(conversation=conversation, assignee=other, actor=agent)
    inbox.conversation_relabel(conversation=conversation, intent="pricing", actor=agent)
    inbox.conversation_snooze(
        conversation=conversation, until=timezone.now() + timedelta(days=2), actor=agent
    )
    inbox.conversation_resolve(conversation=conversation, actor=agent)
    actions = Activity.objects.filter(kind=ActivityKind.INBOX_ACTION, contact=customer).order_by("id")
    assert [(a.data["action"], a.actor.username) for a in actions] == [
        ("assign", "agent"),
        ("relabel", "agent"),
        ("snooze", "agent"),
        ("resolve", "agent"),
    ]


def test_relabel_is_stored_for_measuring_the_classifier(business_hours, customer):
    message, conversation = reply(customer, "hmm ok")
    agent = UserFactory()
    inbox.conversation_relabel(conversation=conversation, intent="meeting", actor=agent)
    label = IntentLabel.objects.get()
    assert (label.message, label.predicted, label.intent, label.labelled_by) == (
        message,
        message.intent,
        "meeting",
        agent,
    )
    conversation.refresh_from_db()
    assert conversation.intent == "meeting" and conversation.sla_due_at is not None


def test_bad_actions_are_validation_errors(business_hours, customer):
    _, conversation = reply(customer, "hi")
    with pytest.raises(ValidationError):
        inbox.conversation_snooze(
            conversation=conversation, until=timezone.now() - timedelta(minutes=1), actor=None
        )
    with pytest.raises(ValidationError):
        inbox.conversation_relabel(conversation=conversation, intent="gossip", actor=None)


def test_snoozed_conversations_wake_up_with_a_fresh_sla(business_hours):
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    waiting = Conversation.objects.create(
        contact=ContactFactory(), status="snoozed", snoozed_until=now - timedelta(minutes=1),
        intent="help", awaiting_since=now - timedelta(days=1),
    )  # fmt: skip
    later = Conversation.objects.create(
        contact=ContactFactory(), status="snoozed", snoozed_until=now + timedelta(hours=1)
    )
    assert inbox.conversations_wake(now=now) == 1
    waiting.refresh_from_db()
    later.refresh_from_db()
    assert (waiting.status, waiting.sla_due_at) == ("open", now + timedelta(hours=1))
    assert later.status == "snoozed"


def test_snoozing_stops_the_sla_clock(business_hours, customer):
    _, conversation = reply(customer, "I can't log in, help!")
    assert conversation.sla_due_at is not None
    inbox.conversation_snooze(
        conversation=conversation, until=timezone.now() + timedelta(hours=2), actor=None
    )
    conversation.refresh_from_db()
    assert conversation.sla_due_at is None


def test_sla_uses_business_hours(settings):
    settings.INBOX_TIMEZONE = "America/New_York"
    settings.INBOX_BUSINESS_HOURS_START, settings.INBOX_BUSINESS_HOURS_END = 9, 17
    settings.INBOX_BUSINESS_DAYS = "mon-fri"
    friday_evening = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # 18:00 in New York
    assert inbox.sla_due("help", friday_evening) == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Mon 10:00
    assert inbox.sla_due("pricing", friday_evening) == datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    assert inbox.sla_due("positive", friday_evening) is None


def test_a_weak_guess_waits_for_the_agent(business_hours, customer):
    from sms.models import IntentRule

    IntentRule.objects.create(intent="deferral", pattern=r"\bbanana\b", confidence=0.5, position=1)
    _, conversation = reply(customer, "banana")
    assert conversation.intent == "deferral" and conversation.status == ConversationStatus.OPEN
    assert not Deferral.objects.exists() and conversation.sla_due_at is None


def test_intent_report_measures_relabels(business_hours, customer):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("intent_report", stdout=out)
    assert "No relabelled replies yet" in out.getvalue()
    _, conversation = reply(customer, "hmm ok")
    inbox.conversation_relabel(conversation=conversation, intent="meeting", actor=UserFactory())
    out = StringIO()
    call_command("intent_report", stdout=out)
    assert "1 relabelled replies" in out.getvalue() and "macro F1" in out.getvalue()

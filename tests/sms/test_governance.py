from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from crm.models import ActivityKind, SmsConsent
from crm.services import activity_record
from sms.governance import DEFERRED, SEND, SUPPRESSED, Candidate, decide, play_source
from sms.models import Conversation, Deferral, Message, MessageKind
from tests.factories import AccountFactory, ContactFactory, DealFactory, UserFactory, stage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def open_all_day(settings):
    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 0, 24


def opted_in(**kwargs):
    return ContactFactory(sms_consent=SmsConsent.OPTED_IN, **kwargs)


def one(contact, **kwargs):
    return decide([Candidate(contact.pk, contact.account_id, **kwargs)])[0]


def automated_message(contact, *, ago=timedelta(hours=1), source=""):
    message = Message.objects.create(
        contact=contact, direction="outbound", kind=MessageKind.AUTOMATED, body="x", to_number=contact.phone,
        status="delivered", source=source,
    )  # fmt: skip
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - ago)
    return message


def test_an_eligible_contact_is_sent_now():
    decision = one(opted_in())
    assert (decision.outcome, decision.reason) == (SEND, "") and decision.sends


@pytest.mark.parametrize(
    ("state", "reason"),
    [(SmsConsent.UNKNOWN, "consent:not_opted_in"), (SmsConsent.OPTED_OUT, "consent:opted_out")],
)
def test_consent(state, reason):
    decision = one(ContactFactory(sms_consent=state))
    assert (decision.outcome, decision.reason) == (SUPPRESSED, reason) and not decision.sends


def test_no_phone():
    assert one(opted_in(phone=None, phone_raw="")).reason == "contact:no_phone"


def test_a_deferral_of_the_contact_or_anyone_at_the_account():
    account = AccountFactory()
    deferring, colleague, elsewhere = opted_in(account=account), opted_in(account=account), opted_in()
    Deferral.objects.create(contact=deferring, until=timezone.now() + timedelta(days=10))
    Deferral.objects.create(contact=elsewhere, until=timezone.now() - timedelta(days=1))  # over
    assert one(deferring).reason == "deferral:contact"
    assert one(colleague).reason == "deferral:account"
    assert one(elsewhere).outcome == SEND


def test_an_agent_replying_in_an_open_conversation_holds_automation():
    contact = opted_in()
    conversation = Conversation.objects.create(contact=contact, status="open")
    Message.objects.create(
        contact=contact, conversation=conversation, direction="outbound", kind=MessageKind.REPLY,
        body="On it", to_number=contact.phone, status="sent", sent_by=UserFactory(),
    )  # fmt: skip
    assert one(contact).reason == "human:agent_conversation"
    conversation.status = "closed"
    conversation.save()
    assert one(contact).outcome == SEND


@pytest.mark.parametrize("kind", [ActivityKind.EMAIL, ActivityKind.CALL, ActivityKind.MEETING])
def test_another_channels_recent_touch_holds_automation(kind):
    contact = opted_in()
    activity_record(kind=kind, contact=contact, summary="talked")
    assert one(contact).reason == "human:other_channel"


def test_an_old_touch_or_a_note_does_not():
    contact = opted_in()
    activity_record(kind=ActivityKind.CALL, contact=contact, occurred_at=timezone.now() - timedelta(days=4))
    activity_record(kind=ActivityKind.NOTE, contact=contact)
    assert one(contact).outcome == SEND


def test_an_open_late_stage_deal_holds_automation():
    contact = opted_in()
    deal = DealFactory(account=contact.account, stage=stage("negotiation"))
    assert one(contact).reason == "human:late_stage_deal"
    deal.stage = stage("closed-won")
    deal.save()
    assert one(contact).outcome == SEND


def test_contact_daily_and_weekly_caps():
    daily, weekly = opted_in(), opted_in()
    automated_message(daily, ago=timedelta(hours=3))
    for days in (2, 3, 4):
        automated_message(weekly, ago=timedelta(days=days))
    assert one(daily).reason == "cap:contact_daily"
    assert one(weekly).reason == "cap:contact_weekly"
    old = opted_in()
    automated_message(old, ago=timedelta(days=8))
    assert one(old).outcome == SEND


def test_manual_texts_do_not_count_towards_caps():
    contact = opted_in()
    Message.objects.create(
        contact=contact, direction="outbound", kind=MessageKind.MANUAL, body="hi", to_number=contact.phone,
        status="sent",
    )  # fmt: skip
    assert one(contact).outcome == SEND


def test_account_weekly_cap_counts_texts_already_sent_and_planned_in_this_batch():
    account = AccountFactory()
    people = [opted_in(account=account) for _ in range(7)]
    for person in people[:3]:
        automated_message(person, ago=timedelta(days=2))
    fresh = people[3:]
    decisions = decide([Candidate(p.pk, account.pk) for p in fresh])
    assert [d.outcome for d in decisions] == [SEND, SEND, SUPPRESSED, SUPPRESSED]
    assert decisions[2].reason == "cap:account_weekly"


def test_play_cooldown():
    contact = opted_in()
    automated_message(contact, ago=timedelta(days=9), source=play_source(7))
    assert one(contact, play_id=7, cooldown_days=14).reason == "cap:play_cooldown"
    assert one(contact, play_id=7, cooldown_days=7).outcome == SEND
    assert one(contact, play_id=8, cooldown_days=14).outcome == SEND


def test_renewal_and_risk_outrank_adoption_and_expansion_in_one_run():
    contact = opted_in()
    decisions = decide(
        [
            Candidate(contact.pk, contact.account_id, play_id=1, moment="adoption"),
            Candidate(contact.pk, contact.account_id, play_id=2, moment="renewal"),
            Candidate(contact.pk, contact.account_id, play_id=3, moment="expansion"),
        ]
    )
    assert [d.outcome for d in decisions] == [SUPPRESSED, SEND, SUPPRESSED]
    assert decisions[0].reason == "priority:another_play_this_run"


def test_precedence_consent_first_then_deferral_then_human_then_caps():
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_OUT)
    Deferral.objects.create(contact=contact, until=timezone.now() + timedelta(days=3))
    activity_record(kind=ActivityKind.CALL, contact=contact)
    automated_message(contact)
    assert one(contact).reason == "consent:opted_out"
    Message.objects.all().delete()
    contact.sms_consent = SmsConsent.OPTED_IN
    contact.save()
    assert one(contact).reason == "deferral:contact"
    Deferral.objects.all().delete()
    automated_message(contact)
    assert one(contact).reason == "human:other_channel"


def test_quiet_hours_defer_to_the_window_without_dropping(settings):
    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 8, 21
    contact = opted_in(timezone="America/Chicago")
    now = datetime(2026, 6, 10, 3, 0, tzinfo=UTC)  # 22:00 CDT
    decision = decide([Candidate(contact.pk, contact.account_id)], now=now)[0]
    assert (decision.outcome, decision.reason) == (DEFERRED, "quiet_hours") and decision.sends
    assert decision.send_at == datetime(2026, 6, 10, 13, 0, tzinfo=UTC)  # 08:00 CDT


def test_manual_sends_only_check_consent_and_quiet_hours():
    contact = opted_in()
    Deferral.objects.create(contact=contact, until=timezone.now() + timedelta(days=3))
    automated_message(contact)
    assert decide([Candidate(contact.pk)], automated=False)[0].outcome == SEND
    assert decide([Candidate(ContactFactory().pk)], automated=False)[0].reason == "consent:not_opted_in"


def test_a_batch_costs_a_fixed_number_of_queries(django_assert_max_num_queries):
    accounts = [AccountFactory() for _ in range(3)]
    small = [opted_in(account=accounts[i % 3]) for i in range(5)]
    with django_assert_max_num_queries(20) as captured:
        decide([Candidate(c.pk, c.account_id, play_id=1, cooldown_days=3) for c in small])
    baseline = len(captured)
    big = small + [opted_in(account=accounts[i % 3]) for i in range(60)]
    with django_assert_max_num_queries(baseline):
        decide([Candidate(c.pk, c.account_id, play_id=1, cooldown_days=3) for c in big])


def test_the_send_service_uses_governance_for_automated_texts():
    from sms.services.sending import SendRefused, message_send

    contact = opted_in()
    message_send(contact=contact, body="first nudge", kind=MessageKind.AUTOMATED)
    with pytest.raises(SendRefused) as refused:
        message_send(contact=contact, body="second nudge", kind=MessageKind.AUTOMATED)
    assert (refused.value.code, refused.value.consent) == ("contact_daily", False)
    # A person can still text them.
    assert message_send(contact=contact, body="Hi, it's Sam", kind=MessageKind.MANUAL).status == "queued"

"""SMS health, the ROI model and its assumptions, opt-out leakage and the maturity scorecard."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from analytics.assumptions import assumption_update, assumption_values
from analytics.metrics.health import sms_health
from analytics.metrics.maturity import maturity
from analytics.metrics.roi import roi
from analytics.models import Assumption
from analytics.scope import Scope
from crm.models import RenewalStatus, SmsConsent
from plays.models import Arm, Enrollment, Outcome, Play, PlayStatus
from sms.models import ConsentEvent, Conversation, Direction, Message, MessageKind, MessageStatus, ShortLink
from tests.factories import AccountFactory, ContactFactory, RenewalFactory, UserFactory

pytestmark = pytest.mark.django_db

YEAR = Scope(start=date(2025, 1, 1), end=date(2025, 12, 31))
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def at(m, d, h=12):
    return datetime(2025, m, d, h, tzinfo=UTC)


def text(
    contact,
    when,
    *,
    source="",
    kind=MessageKind.MANUAL,
    status=MessageStatus.DELIVERED,
    segments=1,
    direction=Direction.OUTBOUND,
    **extra,
):
    message = Message.objects.create(
        contact=contact,
        direction=direction,
        kind=kind,
        source=source,
        body="hi",
        to_number=contact.phone,
        status=status,
        segments=segments,
        **extra,
    )
    Message.objects.filter(pk=message.pk).update(created_at=when)
    return message


def make_play(**fields):
    defaults = {
        "name": "Renewal 60",
        "moment": "renewal",
        "trigger": {"type": "renewal_window", "days": 60},
        "template": "Hi",
        "holdout_percent": 50,
        "status": PlayStatus.ACTIVE,
    }
    return Play.objects.create(**{**defaults, **fields})


@pytest.fixture
def texts():
    play = make_play()
    source = f"play:{play.pk}"
    a, b, c, d = ContactFactory.create_batch(4)
    auto = {"source": source, "kind": MessageKind.AUTOMATED}
    text(a, at(3, 1), **auto)
    text(a, at(3, 2), direction=Direction.INBOUND, kind=MessageKind.INBOUND, status=MessageStatus.RECEIVED)
    text(b, at(3, 1), status=MessageStatus.FAILED, segments=2, **auto)
    text(c, at(3, 1), **auto)
    ConsentEvent.objects.create(
        contact=c, phone=c.phone, action="opt_out", source="keyword", occurred_at=at(3, 3)
    )
    text(d, at(3, 1), status=MessageStatus.SENT, **auto)
    text(a, at(5, 1))  # manual, not answered
    text(a, at(5, 1), kind=MessageKind.COMPLIANCE)  # keyword confirmations are not counted
    text(a, datetime(2024, 3, 1, tzinfo=UTC), **auto)  # before the period
    ShortLink.objects.create(
        code="abc1", target_url="https://example.com", contact=a, source=source, click_count=2
    )
    ShortLink.objects.create(code="abc2", target_url="https://example.com", contact=b, source=source)
    ShortLink.objects.update(created_at=at(3, 1))
    return play


def test_health_rates_by_play_and_overall(texts):
    result = sms_health(YEAR)
    [row] = result["plays"]
    assert row["name"] == "Renewal 60"
    assert (row["texts"], row["segments"], row["delivered"], row["failed"]) == (4, 5, 2, 1)
    assert row["delivery_rate"] == round(2 / 3, 4)
    assert (row["replies"], row["reply_rate"]) == (1, 0.25)
    assert (row["opt_outs"], row["opt_out_rate"]) == (1, 0.25)
    assert (row["links"], row["links_clicked"], row["click_rate"]) == (2, 1, 0.5)
    assert result["manual"]["texts"] == 1 and result["manual"]["replies"] == 0
    assert result["overall"]["texts"] == 5 and result["overall"]["delivery_rate"] == 0.75


def test_median_first_response_and_sla_attainment():
    for seconds, intent in ((60, "help"), (120, "pricing"), (600, "meeting"), (5, "positive")):
        Conversation.objects.create(
            contact=ContactFactory(),
            intent=intent,
            first_response_at=at(4, 1),
            first_response_seconds=seconds,
        )
    contact = ContactFactory()
    for met in (True, True, False):
        text(contact, at(4, 2), kind=MessageKind.REPLY, sla_met=met)
    text(contact, at(4, 2), kind=MessageKind.REPLY)  # no deadline: not counted
    inbox = sms_health(YEAR)["inbox"]
    assert inbox["high_intent_conversations_answered"] == 3
    assert inbox["median_first_response_seconds"] == 120
    assert (inbox["replies_with_deadline"], inbox["replies_in_time"]) == (3, 2)
    assert inbox["sla_attainment"] == round(2 / 3, 4)


def test_empty_period_has_no_rates_and_no_errors():
    result = sms_health(YEAR)
    assert result["plays"] == [] and result["overall"]["delivery_rate"] is None
    assert result["inbox"]["median_first_response_seconds"] is None


def test_assumption_changes_keep_who_and_when_and_reject_out_of_range():
    manager = UserFactory(username="manager")
    assumption_update(key="gross_margin", value=Decimal("0.6"), actor=manager)
    gross = Assumption.objects.get(key="gross_margin")
    assert gross.value == Decimal("0.6") and gross.updated_by == manager
    [change] = gross.changes.all()
    assert (change.old_value, change.new_value, change.changed_by) == (
        Decimal("0.75"),
        Decimal("0.6"),
        manager,
    )
    with pytest.raises(ValidationError):
        assumption_update(key="gross_margin", value=Decimal("1.5"), actor=manager)
    with pytest.raises(Assumption.DoesNotExist):
        assumption_update(key="nope", value=Decimal(1), actor=manager)
    assert assumption_values()["gross_margin"] == Decimal("0.6")


def enroll(play, arm, renewed: bool):
    contact = ContactFactory(account=AccountFactory(signed_up_at=datetime(2024, 2, 1, tzinfo=UTC)))
    Enrollment.objects.create(
        play=play,
        contact=contact,
        account=contact.account,
        occurrence=f"t:{contact.pk}",
        arm=arm,
        outcome=Outcome.SENT if arm == Arm.TREATMENT else Outcome.SUPPRESSED,
        decided_at=at(3, 1),
    )
    if renewed:
        RenewalFactory(
            account=contact.account,
            start_date=date(2024, 4, 1),
            end_date=date(2025, 4, 1),
            status=RenewalStatus.RENEWED,
            renewed_acv=Decimal(10000),
            decided_at=at(4, 1),
        )


def test_roi_turns_measured_lift_into_money_with_the_assumptions():
    play = make_play()
    for i in range(40):
        enroll(play, Arm.TREATMENT, renewed=i < 32)
        enroll(play, Arm.CONTROL, renewed=i < 20)
    assumption_update(key="acv", value=Decimal(10000))
    health = {"plays": [{"play": play.pk, "texts": 7, "segments": 7, "opt_outs": 1}]}
    ltv_result = {
        "subscription": {"ltv": "3000.00", "inputs": {"paying_accounts": 1}},
        "purchase": {"ltv": "100"},
    }
    result = roi(YEAR, assumption_values(), health=health, ltv_result=ltv_result, now=NOW)
    [row] = result["plays"]
    assert row["component"] == "extra renewals" and row["lift"] == pytest.approx(0.3)
    assert row["significant"] and row["counted"]
    assert row["value"] == "90000.00"  # 0.3 x 40 treated x 10,000 ACV x 0.75 margin
    assert row["time_saved"] == "21.00"  # 7 texts x 4 min / 60 x 45/h
    assert row["sms_cost"] == "0.06"  # 7 segments x 0.0083
    per_contact = Decimal(3000)  # the account's LTV; one contact per account here
    assert row["opt_out_leakage"] == "3000.00"
    net = Decimal(90000) + Decimal(21) - Decimal("0.0581") - per_contact
    assert row["net"] == f"{net:.2f}"
    assert row["roi"] == round(float(net / (Decimal("0.0581") + per_contact)), 4)
    assert Decimal(row["low"]) < Decimal(row["value"]) < Decimal(row["high"])
    assert result["totals"]["net"] == row["net"]


def test_roi_shows_but_does_not_count_a_lift_whose_interval_includes_zero():
    play = make_play()
    for i in range(10):
        enroll(play, Arm.TREATMENT, renewed=i < 8)
        enroll(play, Arm.CONTROL, renewed=i < 5)
    assumption_update(key="acv", value=Decimal(10000))
    ltv_result = {"subscription": {"ltv": None, "inputs": {"paying_accounts": 0}}, "purchase": {"ltv": None}}
    result = roi(YEAR, assumption_values(), health={"plays": []}, ltv_result=ltv_result, now=NOW)
    [row] = result["plays"]
    assert row["value"] == "22500.00" and row["counted"] is False and "not counted" in row["note"]
    assert result["totals"]["value_of_lift"] == "0.00" and row["net"] == "0.00"


def test_roi_does_not_count_plays_without_a_control_arm():
    play = make_play(holdout_percent=0)
    for i in range(4):
        enroll(play, Arm.TREATMENT, renewed=i < 2)
    ltv_result = {"subscription": {"ltv": None, "inputs": {"paying_accounts": 0}}, "purchase": {"ltv": None}}
    result = roi(YEAR, assumption_values(), health={"plays": []}, ltv_result=ltv_result, now=NOW)
    assert result["plays"][0]["value"] is None and "control" in result["plays"][0]["note"]


def test_opt_out_leakage_counts_opted_out_contacts():
    ContactFactory(sms_consent=SmsConsent.OPTED_OUT)
    ContactFactory(account=None, sms_consent=SmsConsent.OPTED_OUT)
    ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    ltv_result = {
        "subscription": {"ltv": "1000.00", "inputs": {"paying_accounts": 2}},
        "purchase": {"ltv": "50.00"},
    }
    leakage = roi(YEAR, assumption_values(), health={"plays": []}, ltv_result=ltv_result, now=NOW)[
        "opt_out_leakage"
    ]
    assert leakage["inputs"]["opted_out_b2b_contacts"] == 1 and leakage["inputs"]["opted_out_consumers"] == 1
    assert leakage["lost_value"] == "1050.00"


def test_maturity_stages_follow_the_data(texts):
    # texts: 4 automated (none with a decision on record) and 1 manual
    result = maturity(YEAR, health=sms_health(YEAR))
    dims = {d["dimension"]: d for d in result["dimensions"]}
    assert dims["execution"]["evidence"]["share_triggered"] == 0.8 and dims["execution"]["stage"] == 3
    assert dims["governance"]["stage"] == 1 and dims["governance"]["next_step"]
    assert dims["data and visibility"]["evidence"]["replies"] == 1
    assert dims["data and visibility"]["stage"] == 1
    assert dims["LTV measurement"]["evidence"]["share_with_holdout"] == 1.0
    assert dims["LTV measurement"]["stage"] == 2  # no control enrollments yet
    assert result["overall_stage"] == 1


def test_maturity_renewal_coverage():
    play = make_play()
    covered, uncovered = AccountFactory(), AccountFactory()
    for account in (covered, uncovered):
        RenewalFactory(account=account, start_date=date(2024, 6, 1), end_date=date(2025, 6, 1))
    contact = ContactFactory(account=covered)
    Enrollment.objects.create(
        play=play,
        contact=contact,
        account=covered,
        occurrence="r",
        arm=Arm.CONTROL,
        outcome=Outcome.SUPPRESSED,
        decided_at=at(5, 1),
    )
    result = maturity(YEAR, health={"overall": {"opt_out_rate": None}})
    retention = {d["dimension"]: d for d in result["dimensions"]}["retention"]
    assert retention["evidence"]["coverage"] == 0.5 and retention["stage"] == 2

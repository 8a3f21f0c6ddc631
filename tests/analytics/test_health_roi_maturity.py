"""SMS health, the ROI model and its assumptions, opt-out leakage and the maturity scorecard."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from analytics.assumptions import assumption_update, assumption_values
from analytics.metrics.health import sms_health
from analytics.metrics.lift import play_lift
from analytics.metrics.maturity import maturity
from analytics.metrics.roi import roi
from analytics.models import Assumption
from analytics.scope import Scope
from crm.models import RenewalStatus
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
    assert row["time_saved"] == "21.00"  # 7 texts x 4 min / 60 x 45/h: shown, not in the net
    assert row["sms_cost"] == "0.06"  # 7 segments x 0.0083
    # No opt-out in either arm: no incremental leakage (the one opt-out after a text that the
    # health answer counted is not incremental), but an interval around zero all the same.
    assert row["opt_out_leakage"] == "0.00"
    assert Decimal(row["opt_out_leakage_low"]) < 0 < Decimal(row["opt_out_leakage_high"])
    assert row["net"] == "90000.00" and row["roi"] is None
    assert Decimal(row["low"]) < Decimal(row["value"]) < Decimal(row["high"])
    assert Decimal(row["net_low"]) < Decimal(row["low"])  # the leakage's uncertainty widens it
    assert result["totals"]["net"] == row["net"] and result["totals"]["time_saved"] == "21.00"
    assert result["totals"]["roi"] is None
    assert result["totals"]["roi_note"] == (
        "ROI not shown: cost base incomplete (missing: the tool's monthly cost, staff hours per month)"
    )


def test_roi_counts_a_lift_whose_interval_includes_zero():
    """No significance cut (issue 17: counting only significant lifts is the winner's curse)."""
    play = make_play()
    for i in range(10):
        enroll(play, Arm.TREATMENT, renewed=i < 8)
        enroll(play, Arm.CONTROL, renewed=i < 5)
    assumption_update(key="acv", value=Decimal(10000))
    ltv_result = {"subscription": {"ltv": None, "inputs": {"paying_accounts": 0}}, "purchase": {"ltv": None}}
    result = roi(YEAR, assumption_values(), health={"plays": []}, ltv_result=ltv_result, now=NOW)
    [row] = result["plays"]
    assert row["value"] == "22500.00" and row["counted"] is True and row["significant"] is False
    assert Decimal(row["low"]) < 0 < Decimal(row["high"])
    assert result["totals"]["value_of_lift"] == "22500.00" and row["net"] == "22500.00"


def test_roi_does_not_count_plays_without_a_control_arm():
    play = make_play(holdout_percent=0)
    for i in range(4):
        enroll(play, Arm.TREATMENT, renewed=i < 2)
    ltv_result = {"subscription": {"ltv": None, "inputs": {"paying_accounts": 0}}, "purchase": {"ltv": None}}
    result = roi(YEAR, assumption_values(), health={"plays": []}, ltv_result=ltv_result, now=NOW)
    [row] = result["plays"]
    assert row["value"] is None and "control" in row["note"]
    assert row["opt_out_leakage"] is None and "No control arm" in row["opt_out_leakage_detail"]["note"]
    assert result["totals"]["plays_without_estimate"] == [play.name]


def enroll_opting_out(play, arm, *, consumer=False, opt_out_after=None):
    """An enrollment decided on 1 March 2025 whose contact opts out ``opt_out_after`` later."""
    account = None if consumer else AccountFactory(signed_up_at=datetime(2024, 2, 1, tzinfo=UTC))
    contact = ContactFactory(account=account)
    Enrollment.objects.create(
        play=play,
        contact=contact,
        account=account,
        occurrence=f"t:{contact.pk}",
        arm=arm,
        outcome=Outcome.SENT if arm == Arm.TREATMENT else Outcome.SUPPRESSED,
        decided_at=at(3, 1),
    )
    if opt_out_after is not None:
        ConsentEvent.objects.create(
            contact=contact,
            phone=contact.phone,
            action="opt_out",
            source="keyword",
            occurred_at=at(3, 1) + opt_out_after,
        )


def test_opt_out_leakage_is_incremental_over_the_holdout():
    """Treatment 20 enrollments (16 B2B contacts, 4 consumers), control 20 (B2B), decided 1 March;
    attribution window 7 days. Within it 4 treatment contacts opt out (3 B2B, 1 consumer) and 1
    control contact; an opt-out after 8 days (treatment) or 10 (control), or the day before the
    decision, does not count.

    Rates: treatment 4/20 = 0.20, control 1/20 = 0.05, difference 0.15.
    Wilson 95% (z = 1.959964): 4/20 -> (0.080658, 0.416017), 1/20 -> (0.008881, 0.236131).
    Newcombe method 10: lower = 0.15 - sqrt((0.20 - 0.080658)^2 + (0.236131 - 0.05)^2)
    = 0.15 - sqrt(0.014243 + 0.034645) = 0.15 - 0.221105 = -0.071105;
    upper = 0.15 + sqrt((0.416017 - 0.20)^2 + (0.05 - 0.008881)^2)
    = 0.15 + sqrt(0.046664 + 0.001691) = 0.15 + 0.219896 = 0.369896.
    Incremental opt-outs = 0.15 x 20 treated = 3.0, interval (-1.422100, 7.397921).
    LTV of who opted out: subscription LTV 3,000 per account, one contact per account -> 3,000 per
    B2B contact; purchase LTV 100 per consumer; (3 x 3,000 + 1 x 100) / 4 = 2,275.
    Leakage = 3.0 x 2,275 = 6,825.00, interval (-3,235.28, 16,830.27).
    All opt-outs after texts (not incremental): 4 x 2,275 = 9,100.00.
    Net value: no renewals in either arm and no ACV, so the primary outcome is worth 0 (0, 0);
    net = 0 - 6,825 = -6,825.00, interval (-16,830.27, 3,235.28)."""
    play = make_play()
    for i in range(16):
        enroll_opting_out(play, Arm.TREATMENT, opt_out_after=timedelta(days=2) if i < 3 else None)
    for i in range(4):
        enroll_opting_out(
            play, Arm.TREATMENT, consumer=True, opt_out_after=timedelta(days=6) if i < 1 else None
        )
    enroll_opting_out(play, Arm.TREATMENT, consumer=True, opt_out_after=timedelta(days=-1))
    Enrollment.objects.filter(decided_at=at(3, 1)).order_by("-pk").first().delete()  # keep 20 treated
    for i in range(20):
        after = {0: timedelta(hours=1), 1: timedelta(days=10)}.get(i)
        enroll_opting_out(play, Arm.CONTROL, opt_out_after=after)
    late = Enrollment.objects.filter(play=play, arm=Arm.TREATMENT, contact__account__isnull=False).last()
    ConsentEvent.objects.create(
        contact=late.contact,
        phone=late.contact.phone,
        action="opt_out",
        source="keyword",
        occurred_at=at(3, 9),
    )

    block = play_lift(play, YEAR, now=NOW, opt_out_days=7)["opt_out_leakage"]
    assert block["label"] == "Opt-out leakage (incremental, vs holdout)"
    assert (block["treated"], block["treatment_opt_outs"], block["treatment_opt_outs_b2b"]) == (20, 4, 3)
    assert (block["control"], block["control_opt_outs"]) == (20, 1)
    assert block["rate_difference"] == pytest.approx(0.15)
    assert (block["ci_low"], block["ci_high"]) == (
        pytest.approx(-0.071105, abs=1e-6),
        pytest.approx(0.369896, abs=1e-6),
    )
    assert block["incremental_opt_outs"] == pytest.approx(3.0)
    assert block["incremental_low"] == pytest.approx(-1.422100, abs=1e-5)
    assert block["incremental_high"] == pytest.approx(7.397921, abs=1e-5)

    ltv_result = {
        "subscription": {"ltv": "3000.00", "inputs": {"paying_accounts": 1}},
        "purchase": {"ltv": "100.00"},
    }
    result = roi(YEAR, assumption_values(), health={"plays": []}, ltv_result=ltv_result, now=NOW)
    [row] = result["plays"]
    assert row["opt_out_leakage_detail"]["ltv_per_opted_out_contact"] == "2275.00"
    assert (row["opt_out_leakage"], row["opt_out_leakage_low"], row["opt_out_leakage_high"]) == (
        "6825.00",
        "-3235.28",
        "16830.27",
    )
    assert (row["value"], row["net"], row["net_low"], row["net_high"]) == (
        "0.00",
        "-6825.00",
        "-16830.27",
        "3235.28",
    )
    assert result["opt_out_leakage"]["value"] == result["opt_out_leakage"]["lost_value"] == "6825.00"
    assert result["all_opt_outs_after_texts"]["opt_outs"] == 4
    assert result["all_opt_outs_after_texts"]["value"] == "9100.00"


def test_programme_value_sums_the_plays_with_their_interval_and_roi_needs_the_whole_cost_base():
    """Two renewal plays, ACV 10,000 x margin 0.75 = 7,500 per extra renewal; no LTV, so no leakage.

    Lift answers carry rates to 6 places, and the values are computed from those.
    A: 32/40 vs 20/40 renewed, lift 0.30, Newcombe (0.090995, 0.475870); x 40 x 7,500 ->
       90,000 (27,298.50, 142,761.00).
    B: 15/30 vs 12/30, lift 0.10, Newcombe (-0.144203, 0.328305); x 30 x 7,500 ->
       22,500 (-32,445.675, 73,868.625): not significant, counted all the same.
    Total by MOVER: 112,500; lower = 112,500 - sqrt(62,701.5^2 + 54,945.675^2) = 29,130.31;
    upper = 112,500 + sqrt(52,761^2 + 51,368.625^2) = 186,137.35.
    Cost base over the year (365 / 30.4375 = 11.9918 months): tool 100/month -> 1,199.18, staff
    10 h/month x 45/h -> 5,396.30, SMS 0: 6,595.48; ROI = (112,500 - 6,595.48) / 6,595.48 = 16.06."""
    a, b = make_play(name="Renewal A"), make_play(name="Renewal B")
    for i in range(40):
        enroll(a, Arm.TREATMENT, renewed=i < 32)
        enroll(a, Arm.CONTROL, renewed=i < 20)
    for i in range(30):
        enroll(b, Arm.TREATMENT, renewed=i < 15)
        enroll(b, Arm.CONTROL, renewed=i < 12)
    assumption_update(key="acv", value=Decimal(10000))
    assumption_update(key="tool_monthly_cost", value=Decimal(100))
    assumption_update(key="staff_hours_per_month", value=Decimal(10))
    ltv_result = {"subscription": {"ltv": None, "inputs": {"paying_accounts": 0}}, "purchase": {"ltv": None}}
    result = roi(YEAR, assumption_values(), health={"plays": []}, ltv_result=ltv_result, now=NOW)
    rows = {row["play"]["name"]: row for row in result["plays"]}
    assert (rows["Renewal A"]["value"], rows["Renewal A"]["low"], rows["Renewal A"]["high"]) == (
        "90000.00",
        "27298.50",
        "142761.00",
    )
    assert (rows["Renewal B"]["value"], rows["Renewal B"]["low"], rows["Renewal B"]["high"]) == (
        "22500.00",
        "-32445.68",
        "73868.63",
    )
    totals = result["totals"]
    assert (totals["value_of_lift"], totals["value_low"], totals["value_high"]) == (
        "112500.00",
        "29130.31",
        "186137.35",
    )
    assert (totals["net"], totals["net_low"], totals["net_high"]) == ("112500.00", "29130.31", "186137.35")
    assert totals["cost_base"]["complete"] and totals["cost_base"]["total"] == "6595.48"
    assert (totals["cost_base"]["tool_cost"], totals["cost_base"]["staff_cost"]) == ("1199.18", "5396.30")
    assert totals["roi"] == pytest.approx((112500 - 6595.4825) / 6595.4825, abs=1e-4)
    assert totals["roi_low"] < totals["roi"] < totals["roi_high"]


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


def test_roi_with_leakage_is_four_queries_however_many_plays(django_assert_max_num_queries):
    """The plays, one grouped lift query (opt-outs included) per window, the measured ACV and the
    contacts per account: no query per play or per opt-out."""
    plays = [make_play(name=f"Renewal {i}") for i in range(6)]
    for play in plays:
        for i in range(3):
            enroll_opting_out(play, Arm.TREATMENT, opt_out_after=timedelta(days=1) if i == 0 else None)
            enroll_opting_out(play, Arm.CONTROL)
    ltv_result = {
        "subscription": {"ltv": "3000.00", "inputs": {"paying_accounts": 1}},
        "purchase": {"ltv": "100.00"},
    }
    values = assumption_values()
    with django_assert_max_num_queries(4):
        result = roi(YEAR, values, health={"plays": []}, ltv_result=ltv_result, now=NOW)
    assert [row["opt_out_leakage_detail"]["treatment_opt_outs"] for row in result["plays"]] == [1] * 6
    assert result["all_opt_outs_after_texts"]["opt_outs"] == 6

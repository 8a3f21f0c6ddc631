"""Play lift: treatment vs control outcomes in the window, their statistics, strata, the
observational fallback and the query bound."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from scipy import stats as sps

from analytics import stats
from analytics.metrics.lift import play_lift, plays_lift
from analytics.scope import Scope
from crm.models import RenewalStatus
from plays.models import Arm, Enrollment, Outcome, Play
from tests.factories import AccountFactory, ContactFactory, EventFactory, OrderFactory, RenewalFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = Scope(start=date(2025, 1, 1), end=date(2025, 12, 31))
DECIDED = datetime(2025, 3, 1, 15, tzinfo=UTC)
EARLY_2024 = datetime(2024, 2, 1, 12, tzinfo=UTC)


def at(y, m, d):
    return datetime(y, m, d, 12, tzinfo=UTC)


def make_play(name, moment, trigger, holdout):
    return Play.objects.create(
        name=name, moment=moment, trigger=trigger, template="Hi {first_name}", holdout_percent=holdout
    )


def enroll(play, arm, *, signed_up=EARLY_2024, outcome=None, decided=DECIDED):
    contact = ContactFactory(account=AccountFactory(signed_up_at=signed_up))
    if outcome is None:
        outcome = Outcome.SENT if arm == Arm.TREATMENT else Outcome.SUPPRESSED
    Enrollment.objects.create(
        play=play,
        contact=contact,
        account=contact.account,
        occurrence=f"test:{contact.pk}",
        arm=arm,
        outcome=outcome,
        reason="" if outcome == Outcome.SENT else "holdout",
        decided_at=decided,
    )
    return contact


def renewal(contact, status, decided_at):
    RenewalFactory(
        account=contact.account,
        start_date=date(2024, 4, 1),
        end_date=date(2025, 4, 1),
        status=status,
        renewed_acv=Decimal(12000) if status != RenewalStatus.CHURNED else None,
        decided_at=decided_at,
    )


@pytest.fixture
def renewal_play():
    play = make_play("Renewal 60", "renewal", {"type": "renewal_window", "days": 60}, 50)
    treated = [
        enroll(
            play,
            Arm.TREATMENT,
            outcome=Outcome.SENT if i < 7 else Outcome.SUPPRESSED,
            signed_up=at(2024, 2, 1) if i < 5 else at(2024, 5, 1),
        )
        for i in range(10)
    ]
    control = [
        enroll(play, Arm.CONTROL, signed_up=at(2024, 2, 1) if i < 5 else at(2024, 5, 1)) for i in range(10)
    ]
    for contact in treated[:8]:
        renewal(contact, RenewalStatus.RENEWED, at(2025, 4, 1))
    renewal(treated[8], RenewalStatus.CHURNED, at(2025, 4, 15))
    for contact in control[:5]:
        renewal(contact, RenewalStatus.RENEWED, at(2025, 4, 1))
    renewal(control[5], RenewalStatus.RENEWED, at(2025, 7, 1))  # after the 90-day window
    for contact in control[6:8]:
        renewal(contact, RenewalStatus.CHURNED, at(2025, 5, 1))
    OrderFactory(contact=treated[0], amount=Decimal(100), ordered_at=at(2025, 3, 10))
    OrderFactory(contact=treated[1], amount=Decimal(50), ordered_at=at(2025, 4, 10))
    OrderFactory(contact=treated[2], amount=Decimal(70), ordered_at=at(2025, 2, 10))  # before enrollment
    OrderFactory(contact=control[0], amount=Decimal(30), ordered_at=at(2025, 3, 20))
    enroll(play, Arm.TREATMENT, decided=at(2025, 12, 1))  # window still open on NOW: left out
    return play


def test_rates_compare_treatment_with_control_in_the_window(renewal_play):
    result = play_lift(renewal_play, YEAR, now=NOW)
    assert result["design"] == "randomised holdout" and result["observational"] is False
    assert result["primary_outcome"] == "renewed"
    inputs = result["inputs"]
    assert (inputs["treatment"], inputs["control"], inputs["treatment_texted"]) == (10, 10, 7)
    assert inputs["not_yet_matured"] == 1
    renewed = result["outcomes"]["renewed"]
    assert (renewed["treatment_successes"], renewed["control_successes"]) == (8, 5)
    assert renewed["absolute_lift"] == pytest.approx(0.3)
    low, high = stats.newcombe_difference_interval(8, 10, 5, 10)
    assert (renewed["ci_low"], renewed["ci_high"]) == (
        pytest.approx(low, abs=1e-6),
        pytest.approx(high, abs=1e-6),
    )
    assert renewed["p_value"] == pytest.approx(stats.two_proportion_test(8, 10, 5, 10).p_value, abs=1e-6)
    churned = result["outcomes"]["churned"]
    assert (churned["treatment_successes"], churned["control_successes"]) == (1, 2)
    assert "milestone" not in result["outcomes"]  # a renewal play has no milestone event


def test_revenue_lift_with_too_few_buyers_says_how_many_more_it_needs(renewal_play):
    revenue = play_lift(renewal_play, YEAR, now=NOW)["outcomes"]["revenue"]
    assert revenue["treatment_mean"] == pytest.approx(15.0)  # (100 + 50) / 10
    assert revenue["control_mean"] == pytest.approx(3.0)  # 30 / 10
    assert (revenue["treatment_nonzero"], revenue["control_nonzero"]) == (2, 1)
    # 3 buyers among 20, 10 in control: P(no buyer in control) = (10 * 9 * 8) / (20 * 19 * 18).
    assert revenue["rise_p_floor"] == pytest.approx(720 / 6840, abs=1e-6)
    assert revenue["fall_p_floor"] == pytest.approx(720 / 6840, abs=1e-6)  # balanced arms: the same
    assert revenue["enough_data"] is False and revenue["significant"] is False
    assert revenue["absolute_lift"] is None and revenue["ci_low"] is None and revenue["p_value"] is None
    assert revenue["more_needed_treatment"] == revenue["more_needed_control"] > 0
    more = revenue["more_needed_control"]
    assert revenue["note"].startswith(f"Not enough data yet: about {more} more per arm")


def test_revenue_lift_is_the_permutation_test_on_revenue_per_enrollment():
    play = make_play("Win back", "reactivation", {"type": "days_since_order", "days": 60}, 50)
    treated = [enroll(play, Arm.TREATMENT) for _ in range(6)]
    control = [enroll(play, Arm.CONTROL) for _ in range(6)]
    for contact, amount in zip(treated, (100, 80, 60, 40), strict=False):
        OrderFactory(contact=contact, amount=Decimal(amount), ordered_at=DECIDED + timedelta(days=5))
    OrderFactory(contact=control[0], amount=Decimal(20), ordered_at=DECIDED + timedelta(days=5))
    result = play_lift(play, YEAR, now=NOW, window_days=30)
    revenue = result["outcomes"]["revenue"]
    assert revenue["absolute_lift"] == pytest.approx(280 / 6 - 20 / 6, abs=1e-6)
    # 12 enrollments, 6 in control: all 924 splits, so scipy's exact test gives the same p-value.
    assert (revenue["permutations"], revenue["permutations_exact"]) == (924, True)
    t, c = np.array([100, 80, 60, 40, 0, 0.0]), np.array([20, 0, 0, 0, 0, 0.0])
    expected = sps.permutation_test(
        (t, c),
        lambda x, y, axis: sps.ttest_ind(x, y, equal_var=False, axis=axis).statistic,
        n_resamples=np.inf,
        vectorized=True,
    )
    assert revenue["p_value"] == pytest.approx(expected.pvalue, abs=1e-6)
    assert revenue["test_method"] == "studentized_permutation"
    assert revenue["ci_method"] == "permutation_shift_inversion"
    assert revenue["ci_low"] <= revenue["absolute_lift"] <= revenue["ci_high"]
    assert "Ernst (2004)" in result["inputs"]["method_definitions"]["revenue"]


def test_the_primary_outcome_is_the_verdict_and_the_others_are_secondary_with_holm(renewal_play):
    result = play_lift(renewal_play, YEAR, now=NOW)
    outcomes = result["outcomes"]
    assert result["primary_outcome"] == "renewed" and outcomes["renewed"]["role"] == "primary"
    assert "holm_p_value" not in outcomes["renewed"]
    secondary = [name for name in outcomes if name != "renewed"]
    assert {outcomes[name]["role"] for name in secondary} == {"secondary"}
    expected = stats.holm_adjust([outcomes[name]["p_value"] for name in secondary])
    for name, p_value in zip(secondary, expected, strict=True):
        holm = outcomes[name]["holm_p_value"]
        assert holm == (None if p_value is None else pytest.approx(p_value, abs=1e-6))
    # 8/10 vs 5/10 renewed: the interval includes no effect.
    assert result["verdict"] == {
        "outcome": "renewed",
        "significant": False,
        "better": None,
        "label": "no measurable effect: the 95% interval includes none",
    }


def test_a_play_can_name_its_own_primary_outcome(renewal_play):
    renewal_play.primary_outcome = "revenue"
    renewal_play.save()
    result = play_lift(renewal_play, YEAR, now=NOW)
    assert result["primary_outcome"] == "revenue" and result["outcomes"]["revenue"]["role"] == "primary"
    assert result["outcomes"]["renewed"]["role"] == "secondary"
    assert result["verdict"]["label"] == "not enough data yet"
    assert result["verdict"]["note"].startswith("Not enough data yet: about")


def test_a_primary_outcome_the_play_cannot_measure_says_so(renewal_play):
    renewal_play.primary_outcome = "milestone"  # a renewal window has no milestone event
    renewal_play.save()
    verdict = play_lift(renewal_play, YEAR, now=NOW)["verdict"]
    assert verdict["label"] == "not measured: this play has no milestone outcome"


def test_lift_is_stratified_by_signup_quarter(renewal_play):
    strata = {s["cohort"]: s for s in play_lift(renewal_play, YEAR, now=NOW)["strata"]}
    assert set(strata) == {"2024-Q1", "2024-Q2"}
    q1 = strata["2024-Q1"]
    assert (q1["treatment"], q1["control"]) == (5, 5)
    assert q1["renewed"]["treatment_successes"] == 5 and q1["renewed"]["control_successes"] == 5


def test_play_without_control_arm_is_labelled_observational():
    play = make_play(
        "Onboarding",
        "onboarding",
        {"type": "milestone_missing", "event": "integration_connected", "days": 3},
        0,
    )
    sent = [enroll(play, Arm.TREATMENT) for _ in range(4)]
    for _ in range(2):
        enroll(play, Arm.TREATMENT, outcome=Outcome.SUPPRESSED)
    for contact in sent[:2]:
        EventFactory(contact=contact, name="integration_connected", occurred_at=DECIDED + timedelta(days=3))
    EventFactory(contact=sent[3], name="login", occurred_at=DECIDED + timedelta(days=3))
    result = play_lift(play, YEAR, now=NOW)
    assert result["observational"] is True and result["design"].startswith("observational")
    milestone = result["outcomes"]["milestone"]
    assert (milestone["treatment_successes"], milestone["treatment_n"]) == (2, 4)
    assert (milestone["control_successes"], milestone["control_n"]) == (0, 2)


def test_zero_control_and_empty_play_do_not_divide_by_zero():
    play = make_play("Quiet", "risk", {"type": "inactivity", "events": ["login"], "days": 14}, 10)
    result = play_lift(play, YEAR, now=NOW)
    assert result["inputs"]["treatment"] == 0
    assert result["outcomes"]["churned"]["absolute_lift"] is None
    assert result["outcomes"]["churned"]["note"]


def test_mean_lift_from_sums_matches_scipy_and_mean_lift_on_raw_values():
    rng = np.random.default_rng(7)
    t, c = rng.gamma(2, 30, 200), rng.gamma(2, 25, 150)
    result = stats.mean_lift_from_sums(t.size, t.sum(), (t**2).sum(), c.size, c.sum(), (c**2).sum())
    assert result.ci_low == pytest.approx(stats.mean_lift(t, c).ci_low, rel=1e-9)
    expected = sps.ttest_ind(t, c, equal_var=False)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-6)
    assert result.ci_low == pytest.approx(expected.confidence_interval().low, rel=1e-6)
    assert result.ci_high == pytest.approx(expected.confidence_interval().high, rel=1e-6)


def test_lift_for_many_plays_is_two_queries(renewal_play, django_assert_max_num_queries):
    other = make_play("Renewal 30", "renewal", {"type": "renewal_window", "days": 30}, 10)
    for _ in range(5):
        enroll(other, Arm.CONTROL)
    with django_assert_max_num_queries(2):
        results = plays_lift([renewal_play, other], YEAR, now=NOW)
    assert [r["inputs"]["control"] for r in results] == [10, 5]

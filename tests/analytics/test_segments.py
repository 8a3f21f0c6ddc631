"""Lift by segment and the recommendation per play (issue 21): hand-built splits, the
family-wise error rate under no effect (seeded simulation), the four recommendations, the API
section and the page."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.urls import reverse

from analytics import stats
from analytics.metrics import segments
from analytics.metrics.lift import play_lift
from analytics.metrics.segments import recommend, segment_lift, with_segments
from analytics.scope import Scope
from crm.models import ClvTier, Contact, HealthBand, LifecycleStage
from plays.models import Arm, Enrollment, Outcome, Play
from tests.factories import AccountFactory, ContactFactory, OrderFactory

NOW = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = Scope(start=date(2025, 1, 1), end=date(2025, 12, 31))
DECIDED = datetime(2025, 3, 1, 15, tzinfo=UTC)


def _enroll(play, arm, *, tier="", band=None, reorders=False, amount=40, decided=DECIDED, recorded=True):
    """One enrollment, with the segments at entry the engine records (the contact's tier, the
    account's band and stage); ``recorded=False``: an enrollment from before they were kept."""
    account = (
        None if band is None else AccountFactory(health_band=band, lifecycle_stage=LifecycleStage.ACTIVE)
    )
    contact = ContactFactory(account=account, clv_tier=tier)
    entry = (tier, band or "", LifecycleStage.ACTIVE if account else "") if recorded else (None,) * 3
    Enrollment.objects.create(
        clv_tier_at_entry=entry[0],
        health_band_at_entry=entry[1],
        lifecycle_stage_at_entry=entry[2],
        play=play,
        contact=contact,
        account=account,
        occurrence=f"test:{contact.pk}",
        arm=arm,
        outcome=Outcome.SENT if arm == Arm.TREATMENT else Outcome.SUPPRESSED,
        reason="" if arm == Arm.TREATMENT else "holdout",
        decided_at=decided,
    )
    if reorders:
        OrderFactory(
            contact=contact, account=account, amount=Decimal(amount), ordered_at=decided + timedelta(days=5)
        )


HIGH_TIERS_HELPED = (
    (Arm.TREATMENT, ClvTier.HIGH, HealthBand.GOOD, 20, 14),
    (Arm.CONTROL, ClvTier.HIGH, HealthBand.GOOD, 20, 4),
    (Arm.TREATMENT, ClvTier.LOW, None, 20, 5),
    (Arm.CONTROL, ClvTier.LOW, None, 20, 5),
    (Arm.TREATMENT, ClvTier.MID, None, 3, 1),
    (Arm.CONTROL, ClvTier.MID, None, 2, 0),
)


def reorder_play_helping_high_tiers(decided=DECIDED, name="Reorder", cohorts=HIGH_TIERS_HELPED) -> Play:
    """By default: helps high-tier customers (14/20 vs 4/20 reorder), not low ones (5/20 vs
    5/20); the mid tier is too small to tell (1/3 vs 0/2). ``cohorts``: (arm, tier, band, n,
    how many reorder)."""
    play = Play.objects.create(
        name=name,
        moment="reactivation",
        trigger={"type": "days_since_order", "days": 45},
        template="Hi {first_name}",
        holdout_percent=50,
    )
    for arm, tier, band, n, reordered in cohorts:
        for i in range(n):
            _enroll(play, arm, tier=tier, band=band, reorders=i < reordered, decided=decided)
    return play


@pytest.fixture
def reorder_play(db):
    return reorder_play_helping_high_tiers()


def _rows(answer, key):
    dimension = next(d for d in answer["dimensions"] if d["key"] == key)
    return {row["segment"]: row for row in dimension["segments"]}


@pytest.mark.django_db
def test_the_split_compares_each_tier_with_the_play_lift_statistics(
    reorder_play, django_assert_max_num_queries
):
    with django_assert_max_num_queries(1):
        answer = segment_lift(reorder_play, YEAR, now=NOW)
    assert answer["outcome"] == "reordered" and answer["segment_values"] == "at_entry"
    tiers = _rows(answer, "clv_tier")
    assert list(tiers) == ["high", "mid", "low"]
    high, low, mid = tiers["high"], tiers["low"], tiers["mid"]
    assert (
        high["treatment_successes"],
        high["treatment_n"],
        high["control_successes"],
        high["control_n"],
    ) == (
        14,
        20,
        4,
        20,
    )
    assert high["absolute_lift"] == pytest.approx(0.5)
    ci_low, ci_high = stats.newcombe_difference_interval(14, 20, 4, 20)
    assert (high["ci_low"], high["ci_high"]) == (
        pytest.approx(ci_low, abs=1e-6),
        pytest.approx(ci_high, abs=1e-6),
    )
    p_high = stats.two_proportion_test(14, 20, 4, 20).p_value
    p_low = stats.two_proportion_test(5, 20, 5, 20).p_value
    assert low["absolute_lift"] == 0 and low["p_value"] == pytest.approx(p_low, abs=1e-6) == 1.0
    # Holm over the two tiers that could be compared: 2 x the smaller, then the running max.
    assert high["holm_p_value"] == pytest.approx(2 * p_high, abs=1e-6)
    assert low["holm_p_value"] == 1.0
    assert high["significant_after_holm"] and high["better"] and not low["significant_after_holm"]
    # 1 of 3 vs 0 of 2: even that reorder landing in either arm could not be significant.
    assert mid["enough_data"] is False and mid["absolute_lift"] is None and mid["holm_p_value"] is None
    more_t, more_c = mid["more_needed_treatment"], mid["more_needed_control"]
    assert mid[
        "note"
    ] == f"too small to tell (about {more_t:,} more treatment and {more_c:,} more control contacts)" or (
        more_t == more_c and mid["note"] == f"too small to tell (about {more_t:,} more per arm)"
    )
    bands = _rows(answer, "health_band")
    assert list(bands) == ["good", "not scored"]  # consumers without an account have no band
    assert bands["not scored"]["treatment_n"] == 23
    assert list(_rows(answer, "lifecycle_stage")) == ["active", "no account"]


def test_a_segment_is_too_small_exactly_when_no_split_could_be_significant():
    # 5 reorders among 10 + 10: P(all 5 in treatment) = C(10,5)/C(20,5) = 252/15504 = 0.0163 < 0.025.
    assert segments.rate_segment(5, 10, 0, 10)["enough_data"] is True
    # 4 reorders: C(10,4)/C(20,4) = 210/4845 = 0.0433 > 0.025, and fewer than MIN_BUYERS.
    small = segments.rate_segment(4, 10, 0, 10)
    assert small["enough_data"] is False and small["note"].startswith("too small to tell (about ")
    # The rarer side decides: 9 of 10 vs 10 of 10 is 1 non-reorder, as small as 1 reorder.
    assert segments.rate_segment(9, 10, 10, 10)["enough_data"] is False
    assert segments.rate_segment(0, 0, 3, 10)["note"] == "too small to tell (an arm is empty)"


def test_revenue_segments_use_the_permutation_test():
    t = np.array([100, 80, 60, 40, 0, 0.0])
    c = np.array([20, 0, 0, 0, 0, 0.0])
    row = segments.revenue_segment(t, c)
    expected = stats.permutation_lift(t, c)
    assert row["p_value"] == pytest.approx(expected.p_value, abs=1e-6)
    assert row["test_method"] == "studentized_permutation"
    small = segments.revenue_segment(np.array([10.0, 0, 0]), np.array([0.0, 0]))
    assert small["enough_data"] is False and small["note"].startswith("too small to tell (about ")


def test_holm_within_a_dimension_keeps_the_family_wise_error_rate_under_no_effect():
    """No effect anywhere: each segment's rate is the same in both arms (different between
    segments). The chance that any segment of a dimension reads significant after Holm, and that
    the recommendation retargets, stays at or below 6% (400 seeded replications)."""
    rng = np.random.default_rng(2026)
    shares = np.array([0.3, 0.3, 0.3, 0.1])
    base = np.array([0.30, 0.15, 0.05, 0.10])
    names = ["high", "mid", "low", "not scored"]
    replications, any_positive, retargeted = 400, 0, 0
    for _ in range(replications):
        dimensions = []
        for _dimension in segments.DIMENSIONS:
            n = rng.multinomial(800, shares)
            n_c = rng.binomial(n, 0.2)  # a 20% holdout
            n_t = n - n_c
            x_t, x_c = rng.binomial(n_t, base), rng.binomial(n_c, base)
            counts = {name: (x_t[i], n_t[i], x_c[i], n_c[i]) for i, name in enumerate(names)}
            rows = segments.adjusted(segments.rate_rows(counts, names), lower_is_better=False)
            dimensions.append(rows)
        any_positive += any(row["significant_after_holm"] for row in dimensions[0])
        result = {
            "primary_outcome": "reordered",
            "observational": False,
            "outcomes": {
                "reordered": {
                    "ci_low": -0.05,
                    "ci_high": 0.05,
                    "absolute_lift": 0.0,
                    "significant": False,
                    "treatment_rate": 0.2,
                    "control_rate": 0.2,
                }
            },
            "segments": {
                "dimensions": [
                    {"key": key, "label": label, "segments": rows}
                    for (key, label, *_), rows in zip(segments.DIMENSIONS, dimensions, strict=True)
                ]
            },
        }
        retargeted += recommend(result)["action"] == "retarget"
    assert any_positive / replications <= 0.06
    assert retargeted / replications <= 0.06


# --- The four recommendations, hand-built --------------------------------------------------


def _answer(ci_low, ci_high, *, lift=None, leakage=None, dimensions=(), primary="renewed"):
    lift = (ci_low + ci_high) / 2 if lift is None else lift
    return {
        "primary_outcome": primary,
        "lower_is_better": primary == "churned",
        "observational": False,
        "outcomes": {
            primary: {
                "ci_low": ci_low,
                "ci_high": ci_high,
                "absolute_lift": lift,
                "significant": ci_low > 0 or ci_high < 0,
                "treatment_rate": 0.5 + lift,
                "control_rate": 0.5,
            }
        },
        "opt_out_leakage": leakage or {"ci_low": -0.01, "ci_high": 0.01},
        "segments": {"dimensions": list(dimensions)},
    }


def _tier(name, holm, lift, significant=None):
    return {
        "segment": name,
        "holm_p_value": holm,
        "absolute_lift": lift,
        "ci_low": lift - 0.1,
        "ci_high": lift + 0.1,
        "treatment_rate": 0.5 + lift,
        "better": lift > 0,
        "significant_after_holm": holm < 0.05 if significant is None else significant,
    }


def test_promote_when_the_interval_is_above_zero():
    verdict = recommend(_answer(0.03, 0.15))
    assert verdict["action"] == "promote" and verdict["label"] == "Promote: renewed is better with the play"
    assert verdict["evidence"] == [
        "Overall renewed: 59.0% with the play vs 50.0% in the holdout (+9.0 points), "
        "95% interval +3.0 to +15.0 points."
    ]


def test_a_promoted_play_says_where_its_effect_shows():
    tiers = {
        "key": "clv_tier",
        "label": "CLV tier",
        "segments": [_tier("high", 0.0087, 0.347), _tier("mid", 0.16, 0.23), _tier("low", 0.7, 0.08)],
    }
    verdict = recommend(_answer(0.08, 0.38, dimensions=[tiers]))
    assert verdict["action"] == "promote"
    assert verdict["evidence"][1] == (
        "By CLV tier: high better (+34.7 points, Holm p 0.0087); mid, low not significant on their own."
    )


def test_retarget_to_the_one_segment_that_benefits():
    tiers = {
        "key": "clv_tier",
        "label": "CLV tier",
        "segments": [_tier("high", 0.004, 0.3), _tier("mid", 0.9, 0.01), _tier("low", 0.9, -0.02)],
    }
    verdict = recommend(_answer(-0.02, 0.12, dimensions=[tiers]))
    assert verdict["action"] == "retarget" and verdict["label"] == "Retarget to CLV tier high"
    assert verdict["segment"] == {"dimension": "clv_tier", "label": "CLV tier", "name": "high"}
    assert verdict["evidence"][1].startswith(
        "CLV tier high: +30.0 points, 95% interval +20.0 to +40.0 points"
    )
    assert "no other CLV tier (mid, low) shows a significant effect" in verdict["evidence"][1]
    # Two tiers benefiting, a harmed one, or a Holm p between 0.0167 and 0.05: no retargeting.
    for rows in (
        [_tier("high", 0.004, 0.3), _tier("mid", 0.01, 0.2)],
        [_tier("high", 0.004, 0.3), _tier("low", 0.03, -0.2)],
        [_tier("high", 0.03, 0.3), _tier("low", 0.9, 0.0)],
        [_tier("not scored", 0.001, 0.3), _tier("low", 0.9, 0.0)],
    ):
        assert (
            recommend(_answer(-0.02, 0.12, dimensions=[{**tiers, "segments": rows}]))["action"]
            == "keep_testing"
        )


def test_retire_when_harmful_or_the_interval_rules_out_a_useful_effect():
    worse = recommend(_answer(-0.15, -0.03))
    assert worse["action"] == "retire" and worse["label"] == "Retire: renewed is worse with the play"
    leaking = recommend(
        _answer(
            -0.02,
            0.10,
            leakage={
                "ci_low": 0.01,
                "ci_high": 0.04,
                "incremental_opt_outs": 4.2,
                "incremental_low": 1.5,
                "incremental_high": 7.0,
            },
        )
    )
    assert leaking["action"] == "retire" and leaking["label"] == "Retire: it costs opt-outs and shows no gain"
    assert (
        "Opt-outs: 4.2 more than the holdout would have had (95% interval 1.5 to 7.0)." in leaking["evidence"]
    )
    useless = recommend(_answer(-0.012, 0.015))
    assert (
        useless["action"] == "retire" and useless["label"] == "Retire: the interval rules out a useful effect"
    )
    assert useless["evidence"][-1] == "The interval rules out a useful effect (at least 2 points)."
    # Fewer churned is better: a reduction of at most 1.5 points is not useful either.
    assert recommend(_answer(-0.015, 0.01, primary="churned"))["action"] == "retire"
    assert recommend(_answer(-0.08, 0.01, primary="churned"))["action"] == "keep_testing"


def test_keep_testing_while_the_interval_includes_no_effect_and_a_useful_one():
    verdict = recommend(_answer(-0.05, 0.10))
    assert verdict["action"] == "keep_testing" and verdict["label"] == "Keep testing"
    assert verdict["evidence"][-1] == "The interval still includes both no effect and a useful one."
    no_holdout = recommend({**_answer(0.05, 0.2), "observational": True})
    assert no_holdout["action"] == "keep_testing" and "No control arm" in no_holdout["evidence"][0]


# --- The answer and the page ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_lift_answer_carries_segments_and_the_recommendation(reorder_play):
    result = with_segments(play_lift(reorder_play, YEAR, now=NOW), reorder_play, YEAR, now=NOW)
    overall = result["outcomes"]["reordered"]
    assert (overall["treatment_successes"], overall["control_successes"]) == (20, 9)
    assert result["segments"]["dimensions"][0]["key"] == "clv_tier"
    assert result["recommendation"]["action"] in segments.ACTIONS
    assert "values at entry" in result["inputs"]["method_definitions"]["segments"]
    assert "retarget" in result["inputs"]["method_definitions"]["recommendation"]
    assert "segments" not in play_lift(reorder_play, YEAR, now=NOW)["inputs"]["method_definitions"]


@pytest.mark.django_db
def test_the_api_and_the_page_show_segments_and_the_recommendation(reorder_play, api, web, time_machine):
    time_machine.move_to(NOW)
    query = "?start=2025-01-01&end=2025-12-31"
    body = api.get(f"/api/v1/analytics/plays/{reorder_play.pk}/lift/{query}").json()
    assert [d["key"] for d in body["segments"]["dimensions"]] == [
        "clv_tier",
        "health_band",
        "lifecycle_stage",
    ]
    assert body["recommendation"]["action"] == recommend(body)["action"]
    response = web.get(reverse("analytics_play_lift", args=[reorder_play.pk]) + query)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="segments-clv_tier"' in page and "too small to tell (about" in page
    assert f"Recommendation: {body['recommendation']['label']}" in page


# Mid 5/20 vs 8/20 and low 4/20 vs 7/20: no tier helped.
MID_LOW_NO_EFFECT = (
    (Arm.TREATMENT, ClvTier.MID, None, 20, 5),
    (Arm.CONTROL, ClvTier.MID, None, 20, 8),
    (Arm.TREATMENT, ClvTier.LOW, None, 20, 4),
    (Arm.CONTROL, ClvTier.LOW, None, 20, 7),
)


@pytest.mark.django_db
def test_a_play_that_helps_only_high_tiers_is_retargeted_to_them(api, time_machine):
    """Overall 24/60 vs 18/60 (not significant); high 15/20 vs 3/20 (Holm p far below 0.0167);
    mid 5/20 vs 8/20 and low 4/20 vs 7/20, neither significant."""
    time_machine.move_to(NOW)
    play = reorder_play_helping_high_tiers(
        cohorts=(
            (Arm.TREATMENT, ClvTier.HIGH, None, 20, 15),
            (Arm.CONTROL, ClvTier.HIGH, None, 20, 3),
            *MID_LOW_NO_EFFECT,
        )
    )
    body = api.get(f"/api/v1/analytics/plays/{play.pk}/lift/?start=2025-01-01&end=2025-12-31").json()
    assert body["verdict"]["significant"] is False
    tiers = {row["segment"]: row for row in body["segments"]["dimensions"][0]["segments"]}
    assert tiers["high"]["holm_p_value"] < segments.RETARGET_ALPHA and tiers["high"]["better"]
    assert not tiers["mid"]["significant_after_holm"] and not tiers["low"]["significant_after_holm"]
    recommendation = body["recommendation"]
    assert recommendation["action"] == "retarget" and recommendation["label"] == "Retarget to CLV tier high"
    assert recommendation["segment"] == {"dimension": "clv_tier", "label": "CLV tier", "name": "high"}


@pytest.mark.django_db
def test_the_lift_page_needs_a_signed_in_user(client, reorder_play):
    response = client.get(reverse("analytics_play_lift", args=[reorder_play.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_the_split_uses_the_tier_at_entry_not_the_tier_the_play_moved_contacts_to(reorder_play):
    """The play's reorders lift treated low-tier customers into the high tier after entry (and
    the holdout's stay put): the split still counts them where they entered. By the current tier
    the high tier would read 14 + 5 of 25 treated vs 4 of 20 held out, a lift the play did not
    cause there."""
    before = segment_lift(reorder_play, YEAR, now=NOW)
    moved = Contact.objects.filter(
        enrollments__play=reorder_play,
        enrollments__arm=Arm.TREATMENT,
        clv_tier=ClvTier.LOW,
        orders__isnull=False,
    )
    assert Contact.objects.filter(pk__in=moved).update(clv_tier=ClvTier.HIGH) == 5
    after = segment_lift(reorder_play, YEAR, now=NOW)
    assert after == before
    tiers = _rows(after, "clv_tier")
    high, low = tiers["high"], tiers["low"]
    assert (high["treatment_successes"], high["treatment_n"]) == (14, 20)
    assert (low["treatment_successes"], low["treatment_n"], low["control_successes"]) == (5, 20, 5)
    assert (
        Enrollment.objects.filter(
            play=reorder_play, contact__clv_tier=ClvTier.HIGH, arm=Arm.TREATMENT
        ).count()
    ) == 25


@pytest.mark.django_db
def test_enrollments_without_values_at_entry_are_not_recorded_and_never_recommended(api, time_machine):
    """Older enrollments (no values at entry): their own "not recorded" segment in every
    dimension, compared like the others, but the recommendation neither retargets to it nor cites
    it. Here only they hold an effect (15/20 vs 3/20); the recorded tiers show none."""
    time_machine.move_to(NOW)
    play = reorder_play_helping_high_tiers(cohorts=MID_LOW_NO_EFFECT)
    for arm, reordered in ((Arm.TREATMENT, 15), (Arm.CONTROL, 3)):
        for i in range(20):
            _enroll(play, arm, tier=ClvTier.HIGH, reorders=i < reordered, recorded=False)
    body = api.get(f"/api/v1/analytics/plays/{play.pk}/lift/?start=2025-01-01&end=2025-12-31").json()
    for dimension in body["segments"]["dimensions"]:
        rows = {row["segment"]: row for row in dimension["segments"]}
        assert list(rows)[-1] == "not recorded", dimension["key"]
        unknown = rows["not recorded"]
        assert (unknown["treatment_successes"], unknown["control_successes"]) == (15, 3)
    tiers = {row["segment"]: row for row in body["segments"]["dimensions"][0]["segments"]}
    assert list(tiers) == ["mid", "low", "not recorded"]  # the current high tier is not used
    assert tiers["not recorded"]["significant_after_holm"] and tiers["not recorded"]["better"]
    assert body["verdict"]["significant"] is False
    recommendation = body["recommendation"]
    assert recommendation["action"] == "keep_testing", recommendation
    assert not any("not recorded" in line for line in recommendation["evidence"])
    # Promoted on the same evidence, the not-recorded segment is not cited as where it shows.
    promoted = recommend(
        {
            **body,
            "outcomes": {
                "reordered": {
                    **body["outcomes"]["reordered"],
                    "ci_low": 0.01,
                    "significant": True,
                    "absolute_lift": 0.1,
                }
            },
        }
    )
    assert promoted["action"] == "promote"
    assert not any("not recorded" in line for line in promoted["evidence"])

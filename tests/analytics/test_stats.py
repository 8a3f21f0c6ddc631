"""Statistics behind play lift, checked against published values and independent implementations."""

import json
import math
from decimal import Decimal

import numpy as np
import pytest
from scipy import stats as sps

from analytics import stats
from analytics.stats import (
    mean_lift,
    newcombe_difference_interval,
    rate_lift,
    required_n_per_arm_for_means,
    required_n_per_arm_for_proportions,
    two_proportion_test,
    wilson_interval,
)

# --- Wilson -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe (1998a) Table I, method 3 (Wilson score without continuity correction).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe_1998a(successes, n, low, high):
    lower, upper = wilson_interval(successes, n)
    assert lower == pytest.approx(low, abs=5e-5)
    assert upper == pytest.approx(high, abs=5e-5)


def test_wilson_interval_hand_computed_and_bounded():
    # 5/10 at 95%: centre (0.5 + z^2/20) / (1 + z^2/10) = 0.5;
    # half-width z sqrt(0.025 + z^2/400) / (1 + z^2/10).
    z = 1.959963984540054
    half = z * math.sqrt(0.025 + z * z / 400) / (1 + z * z / 10)
    assert wilson_interval(5, 10) == pytest.approx((0.5 - half, 0.5 + half))
    # All successes: the upper limit is exactly 1 and the lower limit mirrors 0/n.
    assert wilson_interval(20, 20) == pytest.approx((1 - 0.1611, 1.0), abs=5e-5)
    assert wilson_interval(20, 20)[1] == 1.0
    assert wilson_interval(0, 20)[0] == 0.0


def test_wilson_interval_widens_with_confidence():
    low95, high95 = wilson_interval(30, 100)
    low99, high99 = wilson_interval(30, 100, confidence=0.99)
    assert low99 < low95 < 0.3 < high95 < high99


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((11, 10), "cannot exceed"),
        ((-1, 10), "must not be negative"),
        ((1.5, 10), "whole number"),
        ((True, 10), "boolean"),
        ((0, 0), "at least 1"),
    ],
)
def test_wilson_interval_rejects_bad_counts(args, message):
    with pytest.raises(ValueError, match=message):
        wilson_interval(*args)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.2])
def test_confidence_must_be_inside_0_1(confidence):
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(3, 10, confidence=confidence)


# --- Newcombe method 10 -----------------------------------------------------------------------

# Newcombe (1998b) Table II, examples (a)-(h), column for method 10. Each was recomputed here from
# the method's definition and agrees to 4 places; (a) and (b) also match the published values quoted
# by the propint R package's tests. (The task brief quoted 0.1333 / 0.0524-0.2720 for (a) and
# 0.0616-0.8064 for (c); neither is what method 10 gives: 56/70 - 48/80 is 0.2000.)
NEWCOMBE_TABLE_II = [
    (56, 70, 48, 80, 0.2000, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.6000, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.5714, 0.0582, 0.8062),
    (5, 56, 0, 29, 0.0893, -0.0381, 0.1926),
    (0, 10, 0, 20, 0.0000, -0.1611, 0.2775),
    (0, 10, 0, 10, 0.0000, -0.2775, 0.2775),
    (10, 10, 0, 20, 1.0000, 0.6791, 1.0000),
    (10, 10, 0, 10, 1.0000, 0.6075, 1.0000),
]


@pytest.mark.parametrize(("x1", "n1", "x2", "n2", "difference", "low", "high"), NEWCOMBE_TABLE_II)
def test_newcombe_method_10_matches_table_ii(x1, n1, x2, n2, difference, low, high):
    lower, upper = newcombe_difference_interval(x1, n1, x2, n2)
    assert lower == pytest.approx(low, abs=5e-5)
    assert upper == pytest.approx(high, abs=5e-5)
    assert rate_lift(x1, n1, x2, n2).absolute_lift == pytest.approx(difference, abs=5e-5)


def test_newcombe_interval_is_antisymmetric_in_the_arms():
    lower, upper = newcombe_difference_interval(56, 70, 48, 80)
    swapped = newcombe_difference_interval(48, 80, 56, 70)
    assert swapped == pytest.approx((-upper, -lower))


def test_newcombe_interval_differs_from_wald():
    # The Wald interval for (a) is 0.0575 to 0.3425 (symmetric); method 10 is asymmetric.
    lower, upper = newcombe_difference_interval(56, 70, 48, 80)
    assert 0.2 - lower != pytest.approx(upper - 0.2, abs=1e-3)


def test_newcombe_interval_rejects_empty_arm():
    with pytest.raises(ValueError):
        newcombe_difference_interval(0, 0, 3, 10)


# --- Two-proportion test ----------------------------------------------------------------------


def test_pooled_z_test_hand_computed():
    # pooled p = 104/150; se = sqrt(p (1 - p) (1/70 + 1/80)) = 0.075467; z = 0.2 / se = 2.6502.
    result = two_proportion_test(56, 70, 48, 80)
    assert result.method == stats.Z_TEST
    assert result.statistic == pytest.approx(2.6502, abs=1e-4)
    assert result.p_value == pytest.approx(0.008045, abs=1e-6)


def test_pooled_z_test_equals_uncorrected_chi_square():
    table = [[130, 870], [100, 900]]
    chi2, p_value, _dof, _expected = sps.chi2_contingency(table, correction=False)
    result = two_proportion_test(130, 1000, 100, 1000)
    assert result.statistic**2 == pytest.approx(chi2)
    assert result.p_value == pytest.approx(p_value)


def test_small_expected_counts_fall_back_to_fisher_exact():
    # Fisher's tea-tasting table: 4/4 vs 0/4, two-sided p = 2/70.
    result = two_proportion_test(4, 4, 0, 4)
    assert result.method == stats.FISHER_EXACT
    assert result.statistic is None
    assert result.p_value == pytest.approx(2 / 70)


def test_fisher_threshold_is_an_expected_count_of_5():
    # 10 successes in 20 split over two arms of 10: every expected count is exactly 5 -> z test.
    assert two_proportion_test(7, 10, 3, 10).method == stats.Z_TEST
    # 9 successes: the smallest expected count is 4.5 -> Fisher.
    assert two_proportion_test(6, 10, 3, 10).method == stats.FISHER_EXACT


def test_identical_all_or_nothing_arms_have_p_value_1():
    assert two_proportion_test(50, 50, 80, 80).p_value == pytest.approx(1.0)
    assert two_proportion_test(0, 50, 0, 80).p_value == pytest.approx(1.0)


# --- Sample size ------------------------------------------------------------------------------


def test_required_n_for_proportions_textbook_example():
    # Fleiss et al. eq. 4.14 (no continuity correction): 0.10 vs 0.15 -> 685.6 -> 686 per arm.
    assert required_n_per_arm_for_proportions(0.10, 0.15) == 686
    assert required_n_per_arm_for_proportions(0.15, 0.10) == 686
    assert required_n_per_arm_for_proportions(0.10, 0.15, power=0.90) > 686
    assert required_n_per_arm_for_proportions(0.2, 0.2) is None
    with pytest.raises(ValueError, match="proportion"):
        required_n_per_arm_for_proportions(1.2, 0.1)


def test_required_n_for_means_textbook_example():
    # Half an SD at 80% power, alpha 0.05: 2 (1.96 + 0.8416)^2 / 0.25 = 62.8 -> 63 per arm.
    assert required_n_per_arm_for_means(0.5, 1.0) == 63
    assert required_n_per_arm_for_means(-5, 10) == 63
    assert required_n_per_arm_for_means(0, 1.0) is None
    assert required_n_per_arm_for_means(1.0, 0) is None


# --- Rate lift --------------------------------------------------------------------------------


def test_rate_lift_reports_every_number_and_serialises():
    lift = rate_lift(56, 70, 48, 80)
    assert lift.treatment_rate == pytest.approx(0.8)
    assert lift.control_rate == pytest.approx(0.6)
    assert lift.absolute_lift == pytest.approx(0.2)
    assert lift.relative_lift == pytest.approx(0.2 / 0.6)
    assert (lift.ci_low, lift.ci_high) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert lift.p_value == pytest.approx(0.008045, abs=1e-6)
    assert (lift.ci_method, lift.test_method) == (stats.NEWCOMBE, stats.Z_TEST)
    assert lift.required_n_per_arm == required_n_per_arm_for_proportions(0.8, 0.6) == 82
    assert lift.significant
    payload = json.loads(json.dumps(lift.to_dict()))
    assert payload["treatment_successes"] == 56 and payload["control_n"] == 80
    assert payload["significant"] is True and payload["note"] == ""


def test_rate_lift_not_significant_when_ci_spans_zero():
    lift = rate_lift(12, 100, 10, 100)
    assert lift.ci_low < 0 < lift.ci_high
    assert not lift.significant
    assert lift.p_value > 0.05


@pytest.mark.parametrize(
    ("args", "empty"),
    [((5, 10, 0, 0), "control arm is"), ((0, 0, 5, 10), "treatment arm is"), ((0, 0, 0, 0), "arms are")],
)
def test_rate_lift_with_an_empty_arm_has_no_comparison(args, empty):
    lift = rate_lift(*args)
    assert lift.absolute_lift is None and lift.relative_lift is None
    assert lift.ci_low is None and lift.ci_high is None
    assert lift.p_value is None and lift.required_n_per_arm is None
    assert empty in lift.note
    assert not lift.significant
    json.dumps(lift.to_dict())


def test_rate_lift_zero_control_rate_has_no_relative_lift():
    lift = rate_lift(5, 56, 0, 29)
    assert lift.control_rate == 0
    assert lift.relative_lift is None
    assert "control rate is 0" in lift.note
    assert lift.test_method == stats.FISHER_EXACT
    assert lift.absolute_lift == pytest.approx(5 / 56)


@pytest.mark.parametrize(("successes_t", "successes_c"), [(40, 60), (0, 0)])
def test_rate_lift_all_or_no_successes(successes_t, successes_c):
    lift = rate_lift(successes_t, 40, successes_c, 60)
    assert lift.absolute_lift == 0
    assert lift.p_value == pytest.approx(1.0)
    assert lift.required_n_per_arm is None
    assert lift.ci_low < 0 < lift.ci_high


def test_rate_lift_never_divides_by_zero():
    for x_t, n_t, x_c, n_c in [
        (a, n, b, m) for n in (0, 1, 3) for m in (0, 1, 3) for a in (0, n) for b in (0, m)
    ]:
        lift = rate_lift(x_t, n_t, x_c, n_c)
        json.dumps(lift.to_dict())


def test_rate_lift_rejects_impossible_counts():
    with pytest.raises(ValueError, match="control successes"):
        rate_lift(1, 10, 11, 10)


# --- Mean lift --------------------------------------------------------------------------------

# Wikipedia's worked example for Welch's t-test (sample sets A1, A2): t = -2.46, df = 24.99, p = 0.021.
A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_welch_matches_published_example_and_scipy():
    lift = mean_lift(A1, A2)
    reference = sps.ttest_ind(A1, A2, equal_var=False)
    assert lift.p_value == pytest.approx(0.021378, abs=1e-6)
    assert lift.p_value == pytest.approx(reference.pvalue)
    interval = reference.confidence_interval(0.95)
    assert (lift.ci_low, lift.ci_high) == pytest.approx((interval.low, interval.high))
    assert lift.absolute_lift == pytest.approx(np.mean(A1) - np.mean(A2))
    assert lift.relative_lift == pytest.approx((np.mean(A1) - np.mean(A2)) / np.mean(A2))
    assert (lift.ci_method, lift.test_method) == (stats.WELCH, stats.WELCH)


def test_welch_on_unequal_variances_and_sizes_matches_scipy():
    rng = np.random.default_rng(7)
    treatment = rng.normal(12, 9, size=40)
    control = rng.normal(10, 2, size=300)
    lift = mean_lift(treatment, control, confidence=0.9)
    reference = sps.ttest_ind(treatment, control, equal_var=False)
    interval = reference.confidence_interval(0.9)
    assert lift.p_value == pytest.approx(reference.pvalue)
    assert (lift.ci_low, lift.ci_high) == pytest.approx((interval.low, interval.high))
    # A pooled-variance t test would give a different answer here.
    assert lift.p_value != pytest.approx(sps.ttest_ind(treatment, control).pvalue)


def test_required_n_for_means_uses_pooled_sd():
    lift = mean_lift(A1, A2)
    sd = math.sqrt((14 * np.var(A1, ddof=1) + 14 * np.var(A2, ddof=1)) / 28)
    assert lift.pooled_sd == pytest.approx(sd)
    assert lift.required_n_per_arm == required_n_per_arm_for_means(lift.absolute_lift, sd) == 20


def test_bootstrap_interval_agrees_with_welch_on_a_large_normal_sample():
    rng = np.random.default_rng(42)
    treatment = rng.normal(105, 20, size=3000)
    control = rng.normal(100, 20, size=3000)
    welch = mean_lift(treatment, control)
    boot = mean_lift(treatment, control, method="bootstrap", seed=1)
    width = welch.ci_high - welch.ci_low
    assert boot.ci_low == pytest.approx(welch.ci_low, abs=0.05 * width)
    assert boot.ci_high == pytest.approx(welch.ci_high, abs=0.05 * width)
    assert boot.p_value == welch.p_value
    assert (boot.ci_method, boot.test_method, boot.resamples, boot.seed) == (
        stats.BOOTSTRAP,
        stats.WELCH,
        2000,
        1,
    )


def test_bootstrap_is_deterministic_for_a_seed():
    first = mean_lift(A1, A2, method="bootstrap", seed=3)
    again = mean_lift(A1, A2, method="bootstrap", seed=3)
    other = mean_lift(A1, A2, method="bootstrap", seed=4)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)


def test_bootstrap_in_small_chunks_gives_the_same_distribution(monkeypatch):
    rng = np.random.default_rng(5)
    treatment, control = rng.exponential(50, size=500), rng.exponential(40, size=500)
    whole = mean_lift(treatment, control, method="bootstrap")
    monkeypatch.setattr(stats, "_BOOTSTRAP_CHUNK_DRAWS", 1_000)  # two resamples per chunk
    chunked = mean_lift(treatment, control, method="bootstrap")
    width = whole.ci_high - whole.ci_low
    assert chunked.ci_low == pytest.approx(whole.ci_low, abs=0.1 * width)
    assert chunked.ci_high == pytest.approx(whole.ci_high, abs=0.1 * width)


def test_bootstrap_percentile_interval_is_asymmetric_for_skewed_revenue():
    rng = np.random.default_rng(11)
    treatment = rng.lognormal(3, 1.5, size=60)
    control = rng.lognormal(3, 1.5, size=60)
    boot = mean_lift(treatment, control, method="bootstrap")
    assert boot.ci_low < boot.absolute_lift < boot.ci_high
    assert boot.ci_high - boot.absolute_lift != pytest.approx(boot.absolute_lift - boot.ci_low, rel=0.02)


def test_mean_lift_accepts_decimal_money():
    lift = mean_lift(
        [Decimal("10.00"), Decimal("12.50"), Decimal("11.25")], [Decimal("9.00"), Decimal("10.00")]
    )
    assert lift.treatment_mean == pytest.approx(11.25)
    assert lift.absolute_lift == pytest.approx(1.75)
    json.dumps(lift.to_dict())


@pytest.mark.parametrize(
    ("treatment", "control", "arm"), [([1.0], [1.0, 2.0], "treatment"), ([1.0, 2.0], [], "control")]
)
def test_mean_lift_needs_two_values_per_arm(treatment, control, arm):
    lift = mean_lift(treatment, control)
    assert lift.absolute_lift is None and lift.ci_low is None and lift.p_value is None
    assert lift.required_n_per_arm is None
    assert f"{arm} arm needs at least 2 values" in lift.note
    json.dumps(lift.to_dict())


def test_mean_lift_without_variance_has_no_interval():
    lift = mean_lift([5.0, 5.0, 5.0], [3.0, 3.0])
    assert lift.absolute_lift == 2.0
    assert lift.ci_low is None and lift.p_value is None
    assert lift.required_n_per_arm is None
    assert "identical" in lift.note


def test_mean_lift_zero_control_mean_has_no_relative_lift():
    lift = mean_lift([1.0, 3.0], [-1.0, 1.0])
    assert lift.relative_lift is None
    assert "control mean is 0" in lift.note


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "median"}, "method"),
        ({"confidence": 95}, "confidence"),
        ({"method": "bootstrap", "resamples": 10}, "resamples"),
    ],
)
def test_mean_lift_rejects_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mean_lift(A1, A2, **kwargs)


@pytest.mark.parametrize("bad", [[1.0, float("nan")], [1.0, "abc"], [1.0, None]])
def test_mean_lift_rejects_values_that_are_not_finite_numbers(bad):
    with pytest.raises(ValueError, match="treatment values"):
        mean_lift(bad, A2)


@pytest.mark.parametrize(
    ("p_values", "adjusted"),
    [
        # By hand: sorted 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> max(0.06, 0.04).
        ([0.01, 0.04, 0.03], [0.03, 0.06, 0.06]),
        ([0.5, None, 0.2], [0.5, None, 0.4]),
        ([0.9, 0.8], [1.0, 1.0]),  # 0.8 x 2 caps at 1, and adjusted p never falls
        ([], []),
    ],
)
def test_holm_adjusted_p_values_by_hand(p_values, adjusted):
    assert stats.holm_adjust(p_values) == pytest.approx(adjusted)

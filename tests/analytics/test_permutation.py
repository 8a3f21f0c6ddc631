"""Revenue lift by the permutation test: against scipy's permutation test, the interval against
the test it inverts, the "not enough data yet" floor by hand, and the large-sample path."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from analytics import permutation, stats


def welch_t(x, y, axis):
    return sps.ttest_ind(x, y, equal_var=False, axis=axis).statistic


def zero_inflated(rng, n, share, mu=4.0, sigma=1.2):
    return np.where(rng.random(n) < share, rng.lognormal(mu, sigma, n), 0.0)


TREATMENT = np.array([5.0, 0, 10, 0, 0, 40])
CONTROL = np.array([0.0, 3, 0])


def test_few_splits_are_all_enumerated_and_match_scipy_exactly():
    test = permutation.shift_test(TREATMENT, CONTROL, confidence=0.95)
    expected = sps.permutation_test((TREATMENT, CONTROL), welch_t, n_resamples=np.inf, vectorized=True)
    assert (test.permutations, test.permutations_exact) == (math.comb(9, 3), True)  # 84 splits
    assert test.p_value == pytest.approx(expected.pvalue, abs=1e-12)  # 40 / 84


def test_random_splits_match_scipy_within_monte_carlo_error():
    rng = np.random.default_rng(3)
    treatment, control = zero_inflated(rng, 40, 0.3), zero_inflated(rng, 8, 0.3)
    draws = 20_000
    test = permutation.shift_test(treatment, control, confidence=0.95, permutations=draws, seed=1)
    expected = sps.permutation_test(
        (treatment, control), welch_t, n_resamples=draws, vectorized=True, random_state=1
    )
    assert test.permutations_exact is False
    # Two independent Monte Carlo estimates of the same p (about 0.32): SD of their difference
    # sqrt(2 p (1 - p) / draws) = 0.0047; four of those.
    assert test.p_value == pytest.approx(expected.pvalue, abs=4 * math.sqrt(2 * 0.25 / draws))


def test_interval_is_the_set_of_shifts_the_test_does_not_reject():
    test = permutation.shift_test(TREATMENT, CONTROL, confidence=0.9)
    for limit, outward in ((test.ci_low, -1), (test.ci_high, +1)):
        outside = permutation.shift_test(TREATMENT - (limit + outward * 1e-4), CONTROL, confidence=0.9)
        inside = permutation.shift_test(TREATMENT - (limit - outward * 1e-4), CONTROL, confidence=0.9)
        assert outside.p_value <= 0.1 < inside.p_value, (limit, outside, inside)


def test_interval_excludes_zero_exactly_when_the_test_rejects():
    rng = np.random.default_rng(11)
    for _ in range(40):
        treatment, control = zero_inflated(rng, 180, 0.08), zero_inflated(rng, 20, 0.08)
        test = permutation.shift_test(treatment, control, confidence=0.95, permutations=499)
        if test is not None:
            assert (test.ci_low > 0 or test.ci_high < 0) == (test.p_value <= 0.05), test


def test_draws_are_deterministic_for_a_seed():
    rng = np.random.default_rng(5)
    treatment, control = zero_inflated(rng, 300, 0.1), zero_inflated(rng, 60, 0.1)
    first = permutation.shift_test(treatment, control, confidence=0.95, seed=3)
    assert first == permutation.shift_test(treatment, control, confidence=0.95, seed=3)
    assert first != permutation.shift_test(treatment, control, confidence=0.95, seed=4)


def test_many_buyers_in_both_arms_use_welch_and_say_so():
    rng = np.random.default_rng(2)
    treatment, control = zero_inflated(rng, 3000, 0.5), zero_inflated(rng, 3000, 0.5)
    test = permutation.shift_test(treatment, control, confidence=0.95)
    expected = sps.ttest_ind(treatment, control, equal_var=False)
    assert test.test_method == permutation.WELCH_LARGE_SAMPLE and test.permutations is None
    assert test.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert test.ci_low == pytest.approx(expected.confidence_interval().low, rel=1e-9)


def test_identical_values_have_nothing_to_test():
    assert permutation.shift_test(np.zeros(5), np.zeros(3), confidence=0.95) is None


def test_rise_floor_is_the_chance_the_control_arm_gets_no_buyer():
    # 100 enrollments, 10 in control, 5 buyers: C(95, 10) / C(100, 10).
    floor = permutation.rise_p_floor(90, 4, 10, 1)
    assert floor == pytest.approx(math.comb(95, 10) / math.comb(100, 10), rel=1e-9)
    assert floor == pytest.approx(0.5838, abs=1e-4)


def test_more_needed_reaches_the_floor_and_not_much_later():
    more_t, more_c = permutation.more_needed_for_a_rise(90, 4, 10, 1, 0.025)
    # At 5% buyers and a 10% holdout a rise needs (0.9)^m <= 0.025, m >= 36 buyers, ~700 contacts.
    assert (more_t, more_c) == (540, 61)
    total, buyers = 100 + more_t + more_c, round((100 + more_t + more_c) * 0.05)
    assert sps.hypergeom.pmf(0, total, buyers, 10 + more_c) <= 0.025
    smaller = int(total * 0.95)
    assert sps.hypergeom.pmf(0, smaller, round(smaller * 0.05), int((10 + more_c) * 0.95)) > 0.025
    assert permutation.more_needed_for_a_rise(90, 0, 10, 0, 0.025) is None


def test_revenue_lift_below_the_floor_gives_no_number_but_how_many_more():
    # One buyer among 100: a split puts it in control 10% of the time, in treatment 90%.
    lift = stats.mean_lift([100] + [0] * 89, [0] * 10, method="permutation")
    assert (lift.rise_p_floor, lift.fall_p_floor) == (pytest.approx(0.9), pytest.approx(0.1))
    assert lift.enough_data is False
    assert lift.absolute_lift is None and lift.ci_low is None and lift.p_value is None
    assert lift.treatment_mean == pytest.approx(100 / 90)
    assert lift.note.startswith("Not enough data yet: about ")
    assert "more control enrollments" in lift.note and lift.more_needed_control > 0


def test_a_fall_can_be_significant_where_a_rise_could_not():
    # 90/10, every one of 5 buyers in control: a rise could not be significant (the control arm
    # has no buyer in C(95, 10) / C(100, 10) = 58% of splits), a fall can: every buyer lands in
    # control in C(10, 5) / C(100, 5) = 3.3e-6 of splits, and the rule looks at both.
    lift = stats.mean_lift([0.0] * 90, [100.0, 80, 60, 40, 20] + [0] * 5, method="permutation")
    assert lift.rise_p_floor == pytest.approx(math.comb(95, 10) / math.comb(100, 10))
    assert lift.fall_p_floor == pytest.approx(math.comb(10, 5) / math.comb(100, 5))
    assert lift.enough_data is True and lift.significant
    assert lift.absolute_lift == pytest.approx(-30.0) and lift.ci_high < 0 and lift.p_value <= 0.05
    # The same buyers in treatment: a number too (the rule depends on the counts, not on which
    # way the data point), and no rise can be significant: p = 2 x at least 58%, capped at 1.
    mirrored = stats.mean_lift([100.0, 80, 60, 40, 20] + [0] * 85, [0.0] * 10, method="permutation")
    assert mirrored.enough_data is True and mirrored.p_value == 1.0 and not mirrored.significant
    assert mirrored.absolute_lift == pytest.approx(300 / 90)


def test_under_five_buyers_no_interval_even_where_a_fall_could_be_significant():
    # 90/10, 4 buyers all in control: a fall could be significant (C(10, 4) / C(100, 4) = 5.3e-5),
    # but 4 values carry revenue per enrollment, where the inverted interval covered a real
    # effect about 74% of the time in the simulation: no number. 5 buyers at 4/100 takes
    # ceil(5 x 100 / 4) = 125 enrollments, ceil(125 x 10 / 100) = 13 of them in control.
    lift = stats.mean_lift([0.0] * 90, [100.0, 80, 60, 40] + [0] * 6, method="permutation")
    assert lift.fall_p_floor == pytest.approx(math.comb(10, 4) / math.comb(100, 4))
    assert lift.fall_p_floor < 0.025 and lift.enough_data is False
    assert lift.absolute_lift is None and lift.ci_low is None and lift.p_value is None
    assert (lift.more_needed_treatment, lift.more_needed_control) == (22, 3)
    assert lift.note.startswith("Not enough data yet: about 22 more treatment and 3 more control enrollments")
    assert "from 5 buyers in both arms together" in lift.note
    assert permutation.enough_data(90, 0, 10, 4, 0.025) is False
    assert permutation.enough_data(90, 0, 10, 5, 0.025) is True  # the case above: a number


def test_more_needed_for_buyers_by_hand():
    assert permutation.more_needed_for_buyers(90, 3, 10, 1) == (22, 3)
    assert permutation.more_needed_for_buyers(10, 1, 10, 1) == (15, 15)  # ceil(5 x 20 / 2) = 50
    assert permutation.more_needed_for_buyers(90, 5, 10, 0) == (0, 0)
    assert permutation.more_needed_for_buyers(90, 0, 10, 0) is None


def test_revenue_lift_without_any_buyer_says_so():
    lift = stats.mean_lift([0.0] * 20, [0.0] * 20, method="permutation")
    assert lift.enough_data is False and lift.more_needed_control is None
    assert "no enrollment in either arm has revenue" in lift.note


def test_revenue_lift_serialises_its_new_fields():
    rng = np.random.default_rng(8)
    lift = stats.mean_lift(zero_inflated(rng, 900, 0.06), zero_inflated(rng, 100, 0.06), method="permutation")
    data = lift.to_dict()
    assert data["enough_data"] is True and data["permutations"] == permutation.PERMUTATIONS
    assert data["ci_method"] == permutation.SHIFT_INVERSION
    assert data["test_method"] == permutation.PERMUTATION
    assert data["ci_low"] <= data["absolute_lift"] <= data["ci_high"]


def test_revenue_lift_rejects_too_few_permutations():
    with pytest.raises(ValueError, match="permutations"):
        stats.mean_lift([1.0, 2.0], [3.0, 4.0], method="permutation", permutations=10)

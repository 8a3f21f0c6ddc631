"""The NRR/GRR difference's permutation test over accounts: its p-value against scipy's
permutation test of the same statistic (every split enumerated), the interval's equivariance
under a proportional shift, and the minimum-size rule by hand."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from analytics import ratio_permutation as rp

X_T = np.array([12.0, 30.0, 8.0, 15.0, 22.0, 9.0])
Y_T = np.array([13.0, 36.0, 0.0, 15.0, 26.0, 9.5])
X_C = np.array([10.0, 40.0, 7.0, 12.0, 5.0])
Y_C = np.array([10.0, 28.0, 7.5, 0.0, 5.0])


def studentised_ratio_difference(x, y, treated):
    """The statistic written plainly: (R_t - R_c) / sqrt(v_t + v_c), v = sum((y - R x)^2) /
    (n (n - 1) mean(x)^2)."""

    def arm(mask):
        xs, ys = x[mask], y[mask]
        ratio = ys.sum() / xs.sum()
        return ratio, ((ys - ratio * xs) ** 2).sum() / (xs.size * (xs.size - 1)) / xs.mean() ** 2

    (r_t, v_t), (r_c, v_c) = arm(treated), arm(~treated)
    return (r_t - r_c) / math.sqrt(v_t + v_c)


def test_every_split_enumerated_matches_a_plain_computation_and_scipy():
    result = rp.ratio_differences(X_T, [Y_T], X_C, [Y_C], permutations=2000)[0]
    assert result.permutations_exact and result.permutations == math.comb(11, 5)
    assert result.difference == pytest.approx(Y_T.sum() / X_T.sum() - Y_C.sum() / X_C.sum())
    # scipy permutes (x, y) pairs between the arms: the same splits, the same statistic.
    pairs_t, pairs_c = np.column_stack([X_T, Y_T]), np.column_stack([X_C, Y_C])

    def statistic(a, b, axis=0):
        x = np.concatenate([a[:, 0], b[:, 0]])
        y = np.concatenate([a[:, 1], b[:, 1]])
        return studentised_ratio_difference(x, y, np.arange(x.size) < len(a))

    index_t, index_c = np.arange(6), np.arange(6, 11)
    pooled = np.vstack([pairs_t, pairs_c])
    expected = sps.permutation_test(
        (index_t, index_c),
        lambda a, b: statistic(pooled[a], pooled[b]),
        n_resamples=np.inf,
        vectorized=False,
        alternative="two-sided",
    )
    assert result.p_value == pytest.approx(expected.pvalue, abs=1e-12)
    # The interval inverts the test: 0 outside exactly when p <= 0.05.
    assert (result.ci_low > 0 or result.ci_high < 0) == (result.p_value <= 0.05)


def test_a_proportional_shift_moves_the_estimate_and_the_interval_by_itself():
    rng = np.random.default_rng(3)
    x_t, x_c = rng.lognormal(9, 1, 80), rng.lognormal(9, 1, 30)
    y_t, y_c = x_t * rng.uniform(0.6, 1.4, 80), x_c * rng.uniform(0.6, 1.4, 30)
    before = rp.ratio_differences(x_t, [y_t], x_c, [y_c])[0]
    after = rp.ratio_differences(x_t, [y_t + 0.1 * x_t], x_c, [y_c])[0]
    assert not before.permutations_exact
    assert after.difference == pytest.approx(before.difference + 0.1)
    shifted = (before.ci_low + 0.1, before.ci_high + 0.1)
    assert (after.ci_low, after.ci_high) == pytest.approx(shifted, abs=1e-6)
    # Scale-free: the same accounts in cents give the same answer.
    cents = rp.ratio_differences(x_t * 100, [y_t * 100], x_c * 100, [y_c * 100])[0]
    assert (cents.p_value, cents.ci_low) == pytest.approx((before.p_value, before.ci_low), rel=1e-6)


def test_nothing_to_test_when_every_account_kept_its_ratio():
    x = np.array([5.0, 7.0, 9.0])
    assert rp.ratio_differences(x, [x * 1.0], x, [x * 1.0]) == [None]


def test_the_minimum_size_rule_by_hand():
    # 40 accounts of equal ARR split 10/30: Kish share 1, smaller side 10 >= 8.
    assert rp.enough_accounts(np.ones(30), np.ones(10))
    assert rp.more_accounts_needed(np.ones(30), np.ones(10)) == 0
    # Split 6/24: 6 < 8; total needed 8 x 30 / (1 x 6 / 30) = 40 (smaller share 0.2), 10 more.
    assert not rp.enough_accounts(np.ones(24), np.ones(6))
    assert rp.more_accounts_needed(np.ones(24), np.ones(6)) == 10
    # One account with nine times the ARR of the others: Kish 12^2 / (81 + 3) = 1.714 of 4.
    x = np.array([9.0, 1.0, 1.0, 1.0])
    assert rp.effective_accounts(x) == pytest.approx(144 / 84)

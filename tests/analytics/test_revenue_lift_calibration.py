"""Seeded simulation: does revenue lift hold its error rate at every arm size?

Revenue per contact is zero-inflated and heavy-tailed: each replication draws a buyer share
p ~ U(3%, 8%), and each buyer spends lognormal(mu 4, sigma 1.2) (mean $112, SD $209). Arms
90/10, 180/20, 450/50, 900/100 (a 10% holdout) and 2000/2000.

- Null (no effect): the false-positive rate of the method (p <= 0.05) and the coverage of its
  95% interval (it contains 0), over every replication, also those where the product would
  answer "not enough data yet" (so the method itself is checked, not only what is shown).
- Effect: the treatment arm buys 1.5x as often (+50% revenue per contact, a large effect for a
  text message): coverage of the true difference (1.5 - 1) p E[amount], the share of
  replications the product answers with a number, and power (answered and interval above 0).
- Welch's t on the same draws, for contrast: it is what the product used before.

Monte Carlo error of the simulation itself: with R replications a rate's SD is sqrt(r (1 - r) / R)
(R = 400: 1.1 points at 5%), so the assertions allow a one-sided 99% binomial margin,
2.326 x sqrt(r (1 - r) / R), around the targets (FPR <= 6%, coverage >= 93%). The permutation
test is exact, so its true rate is at most 5% whatever the margin; the margin only keeps the
assertion from depending on a lucky seed. Welch's rates exceed the same bound, so the check can fail.

Reproduce the table (about 40 s): ``.venv/bin/python -m tests.analytics.test_revenue_lift_calibration``
"""

import math

import numpy as np
import pytest
from scipy import stats as sps

from analytics import permutation

pytestmark = pytest.mark.simulation

MU, SIGMA = 4.0, 1.2
MEAN_AMOUNT = math.exp(MU + SIGMA**2 / 2)
ARMS = ((90, 10), (180, 20), (450, 50), (900, 100), (2000, 2000))
EFFECT = 1.5  # treatment buyer share multiplier
NULL_REPLICATIONS, EFFECT_REPLICATIONS = 400, 200
# The Monte Carlo p-value is exact for any count; the product draws 2,000, the simulation 499 to
# stay within a minute on a shared laptop.
PERMUTATIONS = 499
CONFIDENCE, ALPHA = 0.95, 0.05
FPR_TARGET, COVERAGE_TARGET = 0.06, 0.93
Z99 = 2.326


def margin(rate: float, replications: int) -> float:
    return Z99 * math.sqrt(rate * (1 - rate) / replications)


def _arm(rng, n: int, share: float) -> np.ndarray:
    buys = rng.random(n) < share
    return np.where(buys, rng.lognormal(MU, SIGMA, n), 0.0)


def _welch_rejects(treatment: np.ndarray, control: np.ndarray) -> bool:
    if np.ptp(np.concatenate([treatment, control])) == 0 or (np.ptp(treatment) == 0 == np.ptp(control)):
        return False
    return bool(sps.ttest_ind(treatment, control, equal_var=False).pvalue <= ALPHA)


def simulate_arms(n_t: int, n_c: int, *, lift: float, replications: int, seed: int) -> dict:
    """Rates over ``replications`` seeded experiments with the treatment buyer share x ``lift``."""
    rng = np.random.default_rng(seed)
    rejected = covered = answered = detected = welch = 0
    answered_covered = 0
    for replication in range(replications):
        share = rng.uniform(0.03, 0.08)
        treatment, control = _arm(rng, n_t, share * lift), _arm(rng, n_c, share)
        truth = (lift - 1) * share * MEAN_AMOUNT
        test = permutation.shift_test(
            treatment, control, confidence=CONFIDENCE, permutations=PERMUTATIONS, seed=replication
        )
        floor = permutation.rise_p_floor(n_t, np.count_nonzero(treatment), n_c, np.count_nonzero(control))
        shown = floor <= (1 - CONFIDENCE) / 2 and test is not None
        inside = test is None or test.ci_low <= truth <= test.ci_high
        rejected += test is not None and test.p_value <= ALPHA
        covered += inside
        answered += shown
        answered_covered += shown and inside
        detected += shown and test.ci_low > 0
        welch += _welch_rejects(treatment, control)
    return {
        "arms": f"{n_t}/{n_c}",
        "replications": replications,
        "rejection_rate": rejected / replications,
        "coverage": covered / replications,
        "answered": answered / replications,
        "answered_coverage": answered_covered / answered if answered else None,
        "answered_count": answered,
        "power": detected / replications,
        "welch_rejection_rate": welch / replications,
    }


def simulate(seed: int = 2026) -> list[dict]:
    """One row per arm size: the null's false-positive rate and coverage, and at the effect the
    coverage, the share answered with a number, power, and Welch's rejection rate for both."""
    rows = []
    for index, (n_t, n_c) in enumerate(ARMS):
        null = simulate_arms(n_t, n_c, lift=1.0, replications=NULL_REPLICATIONS, seed=seed + index)
        effect_seed = seed + 100 + index
        effect = simulate_arms(n_t, n_c, lift=EFFECT, replications=EFFECT_REPLICATIONS, seed=effect_seed)
        rows.append({"arms": null["arms"], "null": null, "effect": effect})
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        f"Revenue lift, {NULL_REPLICATIONS} null and {EFFECT_REPLICATIONS} effect replications per size, "
        f"{PERMUTATIONS} permutations; effect: treatment buys {EFFECT}x as often (+50% revenue/contact)",
        "arms       FPR   cover0  | cover@eff  answered  cover(answered)  power  | Welch FPR  Welch power",
    ]
    for row in rows:
        null, effect = row["null"], row["effect"]
        answered_cover = effect["answered_coverage"]
        lines.append(
            f"{row['arms']:<9} {null['rejection_rate']:5.1%} {null['coverage']:7.1%}  | "
            f"{effect['coverage']:8.1%} {effect['answered']:9.1%} "
            f"{'-' if answered_cover is None else f'{answered_cover:.1%}':>15}  {effect['power']:6.1%} | "
            f"{null['welch_rejection_rate']:8.1%} {effect['welch_rejection_rate']:11.1%}"
        )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def report():
    rows = simulate()
    print("\n" + table(rows))  # the report is the point: pytest -s shows it
    return rows


@pytest.mark.parametrize("arms", [f"{t}/{c}" for t, c in ARMS])
def test_false_positive_rate_and_null_coverage_hold_at_every_arm_size(report, arms):
    null = next(row["null"] for row in report if row["arms"] == arms)
    bound = FPR_TARGET + margin(FPR_TARGET, null["replications"])
    assert null["rejection_rate"] <= bound, (arms, null)
    assert null["coverage"] >= COVERAGE_TARGET - margin(COVERAGE_TARGET, null["replications"]), (arms, null)


@pytest.mark.parametrize("arms", [f"{t}/{c}" for t, c in ARMS])
def test_intervals_the_product_shows_cover_the_true_effect(report, arms):
    effect = next(row["effect"] for row in report if row["arms"] == arms)
    if effect["answered_count"] < 50:
        # The product answers "not enough data yet" in most of these experiments.
        assert effect["answered"] < 0.5, (arms, effect)
        return
    bound = COVERAGE_TARGET - margin(COVERAGE_TARGET, effect["answered_count"])
    assert effect["answered_coverage"] >= bound, (arms, effect)


def test_welch_fails_the_same_check_so_the_simulation_can_fail(report):
    welch = [row["null"]["welch_rejection_rate"] for row in report]
    bound = FPR_TARGET + margin(FPR_TARGET, NULL_REPLICATIONS)
    assert max(welch) > bound, welch


def test_balanced_arms_detect_a_large_effect(report):
    balanced = report[-1]["effect"]
    assert balanced["power"] >= 0.2, balanced


if __name__ == "__main__":
    print(table(simulate()))

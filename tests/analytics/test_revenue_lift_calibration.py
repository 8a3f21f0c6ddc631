"""Seeded simulation: does revenue lift hold its error rate at every arm size?

Revenue per contact is zero-inflated and heavy-tailed: each replication draws a buyer share
p ~ U(3%, 8%), and each buyer spends lognormal(mu 4, sigma 1.2) (mean $112, SD $209). Arms
90/10, 180/20, 450/50, 900/100 (a 10% holdout) and 2000/2000.

- Null (no effect): the false-positive rate of the method (p <= 0.05) over NULL_REPLICATIONS
  experiments per size (the p-value alone), also among those the product answers with a number,
  and the coverage of its 95% interval (it contains 0)
  over the first NULL_INTERVAL_REPLICATIONS of them, also those where the product would answer
  "not enough data yet" (so the method itself is checked, not only what is shown).
- Effect: the treatment arm buys 1.5x as often (+50% revenue per contact, a large effect for a
  text message): coverage of the true difference (1.5 - 1) p E[amount] over every replication
  and over those the product answers with a number (a rise or a fall could be significant and
  both arms together hold 5 buyers: ``permutation.enough_data``), the share answered, and power
  (answered and interval above 0). What the product shows is held to 93% at every size.
- Welch's t on the same draws, for contrast: it is what the product used before.

The targets are met by the point estimates (FPR <= 6%, coverage >= 93%), with enough
replications that Monte Carlo error cannot carry a 5% test over 6%: at R = 2,000 a rate's SD is
sqrt(r (1 - r) / R) = 0.49 points at 5%, so 6% is two SDs above it, and the table prints each
rate's 95% Clopper-Pearson interval. An earlier version ran 400 replications (SD 1.1 points) and
read 7.0% at 2000/2000: the test is exact (every split is equally likely under the null, the
Monte Carlo p-value (1 + hits) / (1 + draws) is valid for any number of draws, and at 2000/2000
no arm reaches the 1,000 buyers that switch to Welch), and 4,000 replications on another seed
read 4.1%: the 7.0% was the simulation's own noise. Welch's rates exceed the same bound at small
control arms, so the check can fail.

Reproduce the table: ``.venv/bin/python -m tests.analytics.test_revenue_lift_calibration``
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
NULL_REPLICATIONS, NULL_INTERVAL_REPLICATIONS, EFFECT_REPLICATIONS = 2000, 400, 400
# The Monte Carlo p-value is exact for any count; the product draws 2,000, the simulation 499 to
# stay within a minute on a shared laptop.
PERMUTATIONS = 499
CONFIDENCE, ALPHA = 0.95, 0.05
FPR_TARGET, COVERAGE_TARGET = 0.06, 0.93


def clopper_pearson(count: int, replications: int, level: float = 0.95) -> tuple[float, float]:
    return tuple(sps.binomtest(count, replications).proportion_ci(level, method="exact"))


def _arm(rng, n: int, share: float) -> np.ndarray:
    buys = rng.random(n) < share
    return np.where(buys, rng.lognormal(MU, SIGMA, n), 0.0)


def _welch_rejects(treatment: np.ndarray, control: np.ndarray) -> bool:
    """scipy's ttest_ind(equal_var=False) p <= ALPHA, by its formula (ten times faster per call)."""
    v_t, v_c = treatment.var(ddof=1) / treatment.size, control.var(ddof=1) / control.size
    if v_t + v_c == 0:
        return False
    t = (treatment.mean() - control.mean()) / math.sqrt(v_t + v_c)
    df = (v_t + v_c) ** 2 / (v_t**2 / (treatment.size - 1) + v_c**2 / (control.size - 1))
    return bool(2 * sps.t.sf(abs(t), df) <= ALPHA)


def simulate_arms(n_t: int, n_c: int, *, lift: float, replications: int, intervals: int, seed: int) -> dict:
    """Rates over ``replications`` seeded experiments with the treatment buyer share x ``lift``;
    the first ``intervals`` of them also compute the interval (coverage, answered, power)."""
    rng = np.random.default_rng(seed)
    rejected = covered = answered = detected = welch = 0
    shown_tests = shown_rejected = 0
    answered_covered = inconsistent = 0
    for replication in range(replications):
        share = rng.uniform(0.03, 0.08)
        treatment, control = _arm(rng, n_t, share * lift), _arm(rng, n_c, share)
        welch += _welch_rejects(treatment, control)
        truth = (lift - 1) * share * MEAN_AMOUNT
        with_interval = replication < intervals
        test = permutation.shift_test(
            treatment,
            control,
            confidence=CONFIDENCE,
            permutations=PERMUTATIONS,
            seed=replication,
            interval=with_interval,
        )
        rejected += test is not None and test.p_value <= ALPHA
        counts = (n_t, np.count_nonzero(treatment), n_c, np.count_nonzero(control))
        # The product's rule: a number once a rise or a fall could be significant and both arms
        # together hold 5 buyers.
        shown = permutation.enough_data(*counts, (1 - CONFIDENCE) / 2) and test is not None
        shown_tests += shown
        shown_rejected += shown and test.p_value <= ALPHA
        if not with_interval:
            continue
        inside = test is None or test.ci_low <= truth <= test.ci_high
        covered += inside
        # The interval inverts the test: it leaves out 0 exactly when p <= ALPHA.
        inconsistent += test is not None and (test.ci_low > 0 or test.ci_high < 0) != (test.p_value <= ALPHA)
        answered += shown
        answered_covered += shown and inside
        detected += shown and test.ci_low > 0
    return {
        "arms": f"{n_t}/{n_c}",
        "replications": replications,
        "rejections": rejected,
        "rejection_rate": rejected / replications,
        "shown_rejections": shown_rejected,
        "shown_tests": shown_tests,
        "shown_rejection_rate": shown_rejected / shown_tests if shown_tests else None,
        "intervals": intervals,
        "coverage": covered / intervals,
        "inconsistent": inconsistent,
        "answered": answered / intervals,
        "answered_coverage": answered_covered / answered if answered else None,
        "answered_count": answered,
        "power": detected / intervals,
        "welch_rejection_rate": welch / replications,
    }


def simulate(seed: int = 2026) -> list[dict]:
    """One row per arm size: the null's false-positive rate and coverage, and at the effect the
    coverage, the share answered with a number, power, and Welch's rejection rate for both."""
    rows = []
    for index, (n_t, n_c) in enumerate(ARMS):
        null = simulate_arms(
            n_t,
            n_c,
            lift=1.0,
            replications=NULL_REPLICATIONS,
            intervals=NULL_INTERVAL_REPLICATIONS,
            seed=seed + index,
        )
        effect = simulate_arms(
            n_t,
            n_c,
            lift=EFFECT,
            replications=EFFECT_REPLICATIONS,
            intervals=EFFECT_REPLICATIONS,
            seed=seed + 100 + index,
        )
        rows.append({"arms": null["arms"], "null": null, "effect": effect})
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        f"Revenue lift: {NULL_REPLICATIONS} null replications per size (intervals on the first "
        f"{NULL_INTERVAL_REPLICATIONS}), {EFFECT_REPLICATIONS} at the effect, {PERMUTATIONS} permutations; "
        f"effect: treatment buys {EFFECT}x as often (+50% revenue/contact)",
        "arms       FPR  (95% CI)       shown FPR  cover0 | cover@eff  answered  cover(answered)  power  "
        "| Welch FPR  Welch power",
    ]
    for row in rows:
        null, effect = row["null"], row["effect"]
        answered_cover = effect["answered_coverage"]
        low, high = clopper_pearson(null["rejections"], null["replications"])
        lines.append(
            f"{row['arms']:<9} {null['rejection_rate']:5.1%} ({low:4.1%}-{high:4.1%}) "
            f"{null['shown_rejection_rate']:9.1%} "
            f"{null['coverage']:7.1%} | "
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


def _row(report, arms: str, kind: str) -> dict:
    return next(row[kind] for row in report if row["arms"] == arms)


@pytest.mark.parametrize("arms", [f"{t}/{c}" for t, c in ARMS])
def test_false_positive_rate_holds_at_every_arm_size(report, arms):
    null = _row(report, arms, "null")
    assert null["rejection_rate"] <= FPR_TARGET, (arms, null)
    # The replications make the estimate worth its word: the upper end of its 95% interval is
    # within a point and a half of the target.
    assert clopper_pearson(null["rejections"], null["replications"])[1] <= FPR_TARGET + 0.015, null
    # Among the experiments the product answers with a number too: its rule reads only the pooled
    # values, so the test stays exact there (at 90/10 it answers about 5 in 6).
    assert null["shown_rejection_rate"] <= FPR_TARGET, (arms, null)


@pytest.mark.parametrize("arms", [f"{t}/{c}" for t, c in ARMS])
def test_interval_covers_no_effect_at_every_arm_size(report, arms):
    null, effect = _row(report, arms, "null"), _row(report, arms, "effect")
    assert null["coverage"] >= COVERAGE_TARGET, (arms, null)
    # So the coverage of 0 over every null replication is 1 - the false-positive rate.
    assert null["inconsistent"] == effect["inconsistent"] == 0, (null, effect)


# Under the effect the arms differ by more than a shift (the treatment arm buys more often). With a
# 10-contact control arm (about half a buyer) the inverted interval, computed on every replication,
# covers the true difference 91.5% of the time: its misses sit where both arms together hold
# fewer than 5 buyers (about 74% coverage there). The product shows no interval there but "not
# enough data yet: about N more" (``permutation.enough_data``), so every interval it shows holds
# 93% at every size, with no exception; the all-replication coverage stays in the printed table.
@pytest.mark.parametrize("arms", [f"{t}/{c}" for t, c in ARMS])
def test_intervals_the_product_shows_cover_the_true_effect(report, arms):
    effect = _row(report, arms, "effect")
    assert effect["answered_coverage"] >= COVERAGE_TARGET, (arms, effect)
    # The rule hides the few experiments it must, not most of them: at 90/10 about 5 in 6 are
    # answered with a number, from 180/20 on nearly all.
    assert effect["answered"] >= 0.75, (arms, effect)


def test_welch_fails_the_same_check_so_the_simulation_can_fail(report):
    welch = [row["null"]["welch_rejection_rate"] for row in report]
    assert max(welch) > FPR_TARGET, welch


def test_balanced_arms_detect_a_large_effect(report):
    balanced = _row(report, "2000/2000", "effect")
    assert balanced["power"] >= 0.2, balanced


if __name__ == "__main__":
    print(table(simulate()))

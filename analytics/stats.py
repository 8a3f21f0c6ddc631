"""Statistics behind play lift: treatment arm vs control arm, for rates and for revenue.

Pure Python + numpy/scipy, no Django, so the maths can be tested (and reused by the benchmark)
without a database. Every function validates its input and raises ``ValueError`` with the reason;
callers that take numbers from users turn that into a 4xx.

Methods and references
- Single proportion: Wilson (1927) score interval, as recommended by Newcombe (1998a),
  "Two-sided confidence intervals for the single proportion", Stat Med 17:857-872, method 3.
- Difference of proportions: Newcombe (1998b), "Interval estimation for the difference between
  independent proportions: comparison of eleven methods", Stat Med 17:873-890, method 10
  (hybrid score interval built from the two Wilson intervals).
- Test of two proportions: pooled two-sample z test (equivalent to Pearson's chi-square without
  continuity correction); Fisher's exact test when an expected cell count is below 5 (Cochran's
  rule), where the normal approximation is unreliable.
- Sample size for two proportions: Fleiss, Levin & Paik (2003), Statistical Methods for Rates and
  Proportions, 3rd ed., eq. 4.14 without continuity correction.
- Difference of means: Welch (1947) t interval and test with Welch-Satterthwaite degrees of
  freedom; or the bootstrap percentile interval (Efron & Tibshirani 1993, ch. 13); sample size
  from the normal approximation n = 2 (z_a + z_b)^2 sd^2 / delta^2.
- Revenue lift (what the product shows): the studentised permutation test and the interval that
  inverts it for a shift (``analytics.permutation``; Ernst 2004, Good 2005), because Welch's
  interval called zero-inflated revenue significant in up to 23% of no-effect experiments with a
  10% holdout. Below the size where neither a rise nor a fall could reach significance, or under
  5 buyers in both arms together (where the interval covers a real effect well under 95%), it
  answers "not enough data yet" with how many more enrollments that takes.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Literal

import numpy as np
from scipy import stats as sps

from analytics import permutation

DEFAULT_CONFIDENCE = 0.95
SAMPLE_SIZE_ALPHA = 0.05
SAMPLE_SIZE_POWER = 0.80
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
# Cochran's rule: below this expected count per cell the z approximation is not trusted.
MIN_EXPECTED_COUNT = 5
# Bootstrap resamples are drawn in chunks of at most this many index draws, so a 100k-contact arm
# needs tens of MB, not (resamples x n) integers at once.
_BOOTSTRAP_CHUNK_DRAWS = 4_000_000

Z_TEST = "pooled_z"
FISHER_EXACT = "fisher_exact"
NEWCOMBE = "newcombe_hybrid_score"
WELCH = "welch_t"
BOOTSTRAP = "bootstrap_percentile"


# --- Validation -------------------------------------------------------------------------------


def _count(value, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number, not a boolean")
    try:
        count = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if count < 0:
        raise ValueError(f"{name} must not be negative, got {count}")
    return count


def _counts(successes, n, label: str = "") -> tuple[int, int]:
    x = _count(successes, f"{label}successes")
    total = _count(n, f"{label}n")
    if x > total:
        raise ValueError(f"{label}successes ({x}) cannot exceed {label}n ({total})")
    return x, total


def _z(confidence: float) -> float:
    """Two-sided normal quantile for a confidence level, e.g. 0.95 -> 1.959964."""
    return float(sps.norm.ppf(0.5 + _confidence(confidence) / 2))


def _confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")
    return float(confidence)


def _values(values: Iterable, name: str) -> np.ndarray:
    try:
        array = np.array([float(v) for v in values], dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains a value that is not a finite number")
    return array


# --- Proportions ------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Wilson (1927) score interval for a single proportion successes/n.

    Newcombe (1998a) method 3. Unlike the Wald interval it never leaves [0, 1] and stays
    informative at 0/n and n/n (e.g. 0/20 -> 0 to 0.1611 at 95%).
    """
    x, total = _counts(successes, n)
    if total == 0:
        raise ValueError("n must be at least 1 for an interval")
    z = _z(confidence)
    p = x / total
    z2 = z * z
    centre = p + z2 / (2 * total)
    half_width = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    denominator = 1 + z2 / total
    # Clamp away floating-point dust (e.g. -1e-17 at x = 0).
    return max(0.0, (centre - half_width) / denominator), min(1.0, (centre + half_width) / denominator)


def newcombe_difference_interval(
    x1: int, n1: int, x2: int, n2: int, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Newcombe (1998b) method 10, the hybrid score interval for p1 - p2 (p1 = x1/n1, p2 = x2/n2).

    With Wilson limits (l1, u1) and (l2, u2) and d = p1 - p2:
    lower = d - sqrt((p1 - l1)^2 + (u2 - p2)^2), upper = d + sqrt((u1 - p1)^2 + (p2 - l2)^2).
    Example from the paper's Table II: 56/70 - 48/80 = 0.2000, 95% CI 0.0524 to 0.3339.
    """
    x1, n1 = _counts(x1, n1, "first arm ")
    x2, n2 = _counts(x2, n2, "second arm ")
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(-1.0, lower), min(1.0, upper)


@dataclass(frozen=True)
class ProportionTest:
    p_value: float
    method: str  # Z_TEST or FISHER_EXACT
    statistic: float | None  # z for the z test; None for Fisher's exact test


def two_proportion_test(x1: int, n1: int, x2: int, n2: int) -> ProportionTest:
    """Two-sided test of p1 == p2.

    The pooled z test, z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2)) with p = (x1 + x2)/(n1 + n2);
    when any expected cell count of the 2x2 table is below 5 (Cochran's rule) Fisher's exact test
    (scipy.stats.fisher_exact) instead. ``method`` says which one produced the p-value.
    """
    x1, n1 = _counts(x1, n1, "first arm ")
    x2, n2 = _counts(x2, n2, "second arm ")
    if n1 == 0 or n2 == 0:
        raise ValueError("both arms need at least one observation for a test")
    total = n1 + n2
    successes = x1 + x2
    failures = total - successes
    smallest_expected = min(n1, n2) * min(successes, failures) / total
    if smallest_expected < MIN_EXPECTED_COUNT:
        _odds_ratio, p_value = sps.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]], alternative="two-sided")
        return ProportionTest(p_value=min(1.0, float(p_value)), method=FISHER_EXACT, statistic=None)
    pooled = successes / total
    # pooled is strictly inside (0, 1) here: both expected successes and failures are >= 5.
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (x1 / n1 - x2 / n2) / se
    return ProportionTest(p_value=float(2 * sps.norm.sf(abs(z))), method=Z_TEST, statistic=z)


def required_n_per_arm_for_proportions(
    p1: float, p2: float, *, alpha: float = SAMPLE_SIZE_ALPHA, power: float = SAMPLE_SIZE_POWER
) -> int | None:
    """Contacts needed in EACH arm to detect p1 vs p2 with a two-sided test at ``alpha``.

    Fleiss, Levin & Paik (2003) eq. 4.14 without continuity correction:
    n = (z_{1-a/2} sqrt(2 pbar qbar) + z_{1-b} sqrt(p1 q1 + p2 q2))^2 / (p1 - p2)^2,
    pbar = (p1 + p2)/2. E.g. 0.10 vs 0.15 at 80% power, alpha 0.05 -> 686 per arm.
    None when p1 == p2 (no difference to detect).
    """
    for name, p in (("p1", p1), ("p2", p2)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name} must be a proportion between 0 and 1, got {p!r}")
    if p1 == p2:
        return None
    z_alpha = _z(1 - alpha)
    z_beta = float(sps.norm.ppf(_confidence(power)))
    p_bar = (p1 + p2) / 2
    numerator = z_alpha * math.sqrt(2 * p_bar * (1 - p_bar)) + z_beta * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    return math.ceil(numerator**2 / (p1 - p2) ** 2)


@dataclass(frozen=True)
class RateLift:
    """Treatment vs control for a rate (conversion, renewal, reply...). Lift = treatment - control."""

    treatment_successes: int
    treatment_n: int
    control_successes: int
    control_n: int
    treatment_rate: float | None
    control_rate: float | None
    absolute_lift: float | None
    relative_lift: float | None  # absolute / control rate; None when the control rate is 0
    ci_low: float | None
    ci_high: float | None
    confidence: float
    p_value: float | None
    ci_method: str
    test_method: str | None
    required_n_per_arm: int | None  # to detect the observed difference, 80% power, alpha 0.05
    note: str = ""

    @property
    def significant(self) -> bool:
        """The CI excludes zero (equivalently, at the CI's level, the difference is significant)."""
        return self.ci_low is not None and (self.ci_low > 0 or self.ci_high < 0)

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def rate_lift(x_t: int, n_t: int, x_c: int, n_c: int, confidence: float = DEFAULT_CONFIDENCE) -> RateLift:
    """Lift of the treatment rate x_t/n_t over the control rate x_c/n_c.

    CI: Newcombe method 10; p-value: pooled z test or Fisher's exact test (see
    ``two_proportion_test``); required n: Fleiss eq. 4.14 at the observed rates. An empty arm
    gives no comparison (lift, CI, p-value None) and a ``note`` saying which arm is empty.
    """
    x_t, n_t = _counts(x_t, n_t, "treatment ")
    x_c, n_c = _counts(x_c, n_c, "control ")
    confidence = _confidence(confidence)
    treatment_rate = x_t / n_t if n_t else None
    control_rate = x_c / n_c if n_c else None
    inputs = {
        "treatment_successes": x_t,
        "treatment_n": n_t,
        "control_successes": x_c,
        "control_n": n_c,
        "treatment_rate": treatment_rate,
        "control_rate": control_rate,
        "confidence": confidence,
        "ci_method": NEWCOMBE,
    }
    empty = [arm for arm, n in (("treatment", n_t), ("control", n_c)) if n == 0]
    if empty:
        note = f"No comparison: the {' and '.join(empty)} arm{'s are' if len(empty) > 1 else ' is'} empty."
        return RateLift(
            **inputs,
            absolute_lift=None,
            relative_lift=None,
            ci_low=None,
            ci_high=None,
            p_value=None,
            test_method=None,
            required_n_per_arm=None,
            note=note,
        )
    absolute = treatment_rate - control_rate
    ci_low, ci_high = newcombe_difference_interval(x_t, n_t, x_c, n_c, confidence)
    test = two_proportion_test(x_t, n_t, x_c, n_c)
    return RateLift(
        **inputs,
        absolute_lift=absolute,
        relative_lift=absolute / control_rate if control_rate else None,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=test.p_value,
        test_method=test.method,
        required_n_per_arm=required_n_per_arm_for_proportions(treatment_rate, control_rate),
        note="" if control_rate else "Relative lift is undefined: the control rate is 0.",
    )


def holm_adjust(p_values: list[float | None]) -> list[float | None]:
    """Holm (1979) step-down adjusted p-values, in the order given; None stays None and is not
    counted. Sorted ascending p_(1..k): adjusted p_(i) = max over j <= i of min(1, (k - j + 1) p_(j)),
    e.g. [0.01, 0.04, 0.03] -> [0.03, 0.06, 0.06]. Controls the family-wise error rate."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        running = max(running, min(1.0, (len(present) - rank) * p))
        adjusted[index] = running
    return adjusted


# --- Means (revenue per contact, order value...) ----------------------------------------------


def required_n_per_arm_for_means(
    difference: float, sd: float, *, alpha: float = SAMPLE_SIZE_ALPHA, power: float = SAMPLE_SIZE_POWER
) -> int | None:
    """Observations needed in EACH arm to detect a difference of means with a two-sided test.

    Normal approximation for two equal arms with common SD: n = 2 (z_{1-a/2} + z_{1-b})^2 sd^2 / d^2
    (e.g. d = 0.5 sd at 80% power, alpha 0.05 -> 63). None when the difference or the SD is 0.
    """
    difference, sd = float(difference), float(sd)
    if not (math.isfinite(difference) and math.isfinite(sd)) or sd < 0:
        raise ValueError("difference must be finite and sd a finite non-negative number")
    if difference == 0 or sd == 0:
        return None
    z_sum = _z(1 - alpha) + float(sps.norm.ppf(_confidence(power)))
    return math.ceil(2 * z_sum**2 * sd**2 / difference**2)


@dataclass(frozen=True)
class MeanLift:
    """Treatment vs control for a mean (e.g. revenue per contact). Lift = treatment - control."""

    treatment_n: int
    control_n: int
    treatment_mean: float | None
    control_mean: float | None
    absolute_lift: float | None
    relative_lift: float | None  # absolute / control mean; None when the control mean is 0
    ci_low: float | None
    ci_high: float | None
    confidence: float
    p_value: float | None
    ci_method: str
    test_method: str
    pooled_sd: float | None
    required_n_per_arm: int | None  # to detect the observed difference, 80% power, alpha 0.05
    resamples: int | None = None  # bootstrap only
    seed: int | None = None  # bootstrap and permutation
    note: str = ""
    # Permutation only (``method="permutation"``): random splits drawn (or every split, exact),
    # values that are not zero (buyers) per arm, the smallest one-sided p-value a rise and a fall
    # could reach with these buyers and this holdout, and, when both are above
    # (1 - confidence) / 2, enough_data False and how many more enrollments per arm a change (rise
    # or fall, whichever comes first) needs to be able to show.
    permutations: int | None = None
    permutations_exact: bool | None = None
    treatment_nonzero: int | None = None
    control_nonzero: int | None = None
    rise_p_floor: float | None = None
    fall_p_floor: float | None = None
    enough_data: bool | None = None
    more_needed_treatment: int | None = None
    more_needed_control: int | None = None

    @property
    def significant(self) -> bool:
        return self.ci_low is not None and (self.ci_low > 0 or self.ci_high < 0)

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def _welch(n_t: int, mean_t: float, var_t: float, n_c: int, mean_c: float, var_c: float, confidence: float):
    """(ci_low, ci_high, p_value) by Welch's t with Welch-Satterthwaite df, from each arm's size,
    mean and sample variance; None when both variances are 0."""
    se_t, se_c = var_t / n_t, var_c / n_c
    se = math.sqrt(se_t + se_c)
    if se == 0:
        return None
    df = (se_t + se_c) ** 2 / (se_t**2 / (n_t - 1) + se_c**2 / (n_c - 1))
    difference = mean_t - mean_c
    t_crit = float(sps.t.ppf(0.5 + confidence / 2, df))
    p_value = float(2 * sps.t.sf(abs(difference / se), df))
    return difference - t_crit * se, difference + t_crit * se, p_value


def _bootstrap_differences(
    treatment: np.ndarray, control: np.ndarray, resamples: int, seed: int
) -> np.ndarray:
    """Differences of means over ``resamples`` independent resamples (with replacement) of each arm."""
    rng = np.random.default_rng(seed)
    means = []
    for arm in (treatment, control):
        chunk = max(1, _BOOTSTRAP_CHUNK_DRAWS // arm.size)
        parts = [
            arm[rng.integers(0, arm.size, size=(min(chunk, resamples - start), arm.size))].mean(axis=1)
            for start in range(0, resamples, chunk)
        ]
        means.append(np.concatenate(parts))
    return means[0] - means[1]


def mean_lift(
    treatment_values: Iterable[float | Decimal],
    control_values: Iterable[float | Decimal],
    confidence: float = DEFAULT_CONFIDENCE,
    method: Literal["welch", "bootstrap", "permutation"] = "welch",
    seed: int = BOOTSTRAP_SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
    permutations: int = permutation.PERMUTATIONS,
) -> MeanLift:
    """Difference of means, treatment - control, with a CI by Welch's t, the bootstrap or the
    permutation test.

    ``method="welch"``: Welch t interval. ``method="bootstrap"``: percentile interval of the
    difference of means over ``resamples`` seeded resamples of each arm (deterministic for a seed);
    the p-value is Welch's t test for both. ``method="permutation"``: see ``permutation_lift``.
    Required n uses the pooled SD. Fewer than 2 values in an arm gives no comparison and a ``note``.
    """
    if method not in ("welch", "bootstrap", "permutation"):
        raise ValueError(f"method must be 'welch', 'bootstrap' or 'permutation', got {method!r}")
    confidence = _confidence(confidence)
    treatment = _values(treatment_values, "treatment values")
    control = _values(control_values, "control values")
    if method == "permutation":
        return permutation_lift(treatment, control, confidence, permutations=permutations, seed=seed)
    is_bootstrap = method == "bootstrap"
    if is_bootstrap and _count(resamples, "resamples") < 100:
        raise ValueError("resamples must be at least 100 for a percentile interval")
    bootstrap = None
    if is_bootstrap and treatment.size >= 2 and control.size >= 2:
        tail = (1 - confidence) / 2
        low, high = np.quantile(_bootstrap_differences(treatment, control, resamples, seed), [tail, 1 - tail])
        bootstrap = (float(low), float(high))
    return _mean_lift(
        _moments(treatment),
        _moments(control),
        confidence,
        bootstrap_ci=bootstrap,
        extra={
            "ci_method": BOOTSTRAP if is_bootstrap else WELCH,
            "resamples": resamples if is_bootstrap else None,
            "seed": seed if is_bootstrap else None,
        },
    )


def _moments(values: np.ndarray) -> tuple[int, float | None, float | None]:
    """(n, mean, sample variance); the mean is None for no values, the variance for fewer than 2."""
    n = int(values.size)
    return n, float(values.mean()) if n else None, float(values.var(ddof=1)) if n >= 2 else None


def mean_lift_from_sums(
    n_t: int,
    sum_t: float,
    sum_sq_t: float,
    n_c: int,
    sum_c: float,
    sum_sq_c: float,
    confidence: float = DEFAULT_CONFIDENCE,
) -> MeanLift:
    """``mean_lift`` (Welch) from each arm's count, sum and sum of squares, so the values can
    be aggregated in the database instead of being fetched row by row."""

    def moments(n, total, squares):
        n, total, squares = _count(n, "n"), float(total), float(squares)
        mean = total / n if n else None
        var = max((squares - n * mean * mean) / (n - 1), 0.0) if n >= 2 else None
        return n, mean, var

    return _mean_lift(moments(n_t, sum_t, sum_sq_t), moments(n_c, sum_c, sum_sq_c), _confidence(confidence))


def _mean_lift(treatment, control, confidence: float, *, bootstrap_ci=None, extra=None) -> MeanLift:
    (n_t, mean_t, var_t), (n_c, mean_c, var_c) = treatment, control
    base = {
        "treatment_n": n_t,
        "control_n": n_c,
        "treatment_mean": mean_t,
        "control_mean": mean_c,
        "confidence": confidence,
        "ci_method": WELCH,
        "test_method": WELCH,
        "resamples": None,
        "seed": None,
        **(extra or {}),
    }
    short = [arm for arm, n in (("treatment", n_t), ("control", n_c)) if n < 2]
    if short:
        return MeanLift(
            **base,
            absolute_lift=None,
            relative_lift=None,
            ci_low=None,
            ci_high=None,
            p_value=None,
            pooled_sd=None,
            required_n_per_arm=None,
            note=f"No comparison: the {' and '.join(short)} arm needs at least 2 values.",
        )
    difference = mean_t - mean_c
    pooled_sd = math.sqrt(((n_t - 1) * var_t + (n_c - 1) * var_c) / (n_t + n_c - 2))
    notes = [] if mean_c else ["Relative lift is undefined: the control mean is 0."]
    welch = _welch(n_t, mean_t, var_t, n_c, mean_c, var_c, confidence)
    if welch is None:
        ci_low = ci_high = p_value = None
        notes.append("Every value within each arm is identical: no interval or test is defined.")
    else:
        ci_low, ci_high, p_value = welch
        if bootstrap_ci is not None:
            ci_low, ci_high = bootstrap_ci
    return MeanLift(
        **base,
        absolute_lift=difference,
        relative_lift=difference / mean_c if mean_c else None,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        pooled_sd=pooled_sd,
        required_n_per_arm=required_n_per_arm_for_means(difference, pooled_sd),
        note=" ".join(notes),
    )


def permutation_lift(
    treatment: np.ndarray,
    control: np.ndarray,
    confidence: float = DEFAULT_CONFIDENCE,
    *,
    permutations: int = permutation.PERMUTATIONS,
    seed: int = permutation.PERMUTATION_SEED,
) -> MeanLift:
    """Difference of means with the studentised permutation test and the interval that inverts it
    (``analytics.permutation.shift_test``): exact at every arm size, seeded, so deterministic.

    When neither "every buyer in the treatment arm" nor "every buyer in the control arm" would be
    significant (``rise_p_floor`` and ``fall_p_floor`` both above (1 - confidence) / 2), or both
    arms together hold fewer than ``permutation.MIN_BUYERS`` buyers (where the interval does not
    hold its coverage), no lift, interval or p-value is given: ``enough_data`` is False and the
    note says how many more enrollments per arm, at this holdout and buyer share, both conditions
    need. Either direction counts: a play can lower revenue as well as raise it.
    """
    confidence = _confidence(confidence)
    if _count(permutations, "permutations") < 100:
        raise ValueError("permutations must be at least 100")
    base = _mean_lift(
        _moments(treatment),
        _moments(control),
        confidence,
        extra={
            "ci_method": permutation.SHIFT_INVERSION,
            "test_method": permutation.PERMUTATION,
            "seed": seed,
            "treatment_nonzero": int(np.count_nonzero(treatment)),
            "control_nonzero": int(np.count_nonzero(control)),
        },
    )
    if base.absolute_lift is None:  # an arm with fewer than 2 values
        return base
    counts = (treatment.size, base.treatment_nonzero, control.size, base.control_nonzero)
    floor, alpha_half = permutation.rise_p_floor(*counts), (1 - confidence) / 2
    fall_floor = permutation.fall_p_floor(*counts)
    if not permutation.enough_data(*counts, alpha_half):
        more = permutation.more_needed_for_a_change(*counts, alpha_half)
        if more is not None:  # both conditions at once: the larger count of each arm
            more = tuple(map(max, more, permutation.more_needed_for_buyers(*counts)))
        return replace(
            base,
            absolute_lift=None,
            relative_lift=None,
            ci_low=None,
            ci_high=None,
            p_value=None,
            rise_p_floor=floor,
            fall_p_floor=fall_floor,
            enough_data=False,
            more_needed_treatment=more[0] if more else None,
            more_needed_control=more[1] if more else None,
            note=_not_enough_data_note(counts, min(floor, fall_floor), more),
        )
    test = permutation.shift_test(
        treatment, control, confidence=confidence, permutations=permutations, seed=seed
    )
    if test is None:
        return replace(base, rise_p_floor=floor, fall_p_floor=fall_floor, enough_data=True)
    return replace(base, **asdict(test), rise_p_floor=floor, fall_p_floor=fall_floor, enough_data=True)


def _not_enough_data_note(counts, floor: float, more: tuple[int, int] | None) -> str:
    n_t, nonzero_t, n_c, nonzero_c = counts
    if more is None:
        return "Not enough data yet: no enrollment in either arm has revenue in the window."
    more_t, more_c = more
    amount = (
        f"about {more_t:,} more per arm"
        if more_t == more_c
        else f"about {more_t:,} more treatment and {more_c:,} more control enrollments"
    )
    buyers = nonzero_t + nonzero_c
    if buyers < permutation.MIN_BUYERS:
        return (
            f"Not enough data yet: {amount} (at this holdout and buyer share). With {buyers:,} "
            f"buyer{'s' if buyers != 1 else ''} among {n_t + n_c:,} enrollments, revenue per "
            f"enrollment rests on too few purchases for an interval that holds its error rate: one "
            f"is shown from {permutation.MIN_BUYERS} buyers in both arms together."
        )
    return (
        f"Not enough data yet: {amount} (at this holdout and buyer share). With "
        f"{nonzero_t + nonzero_c:,} buyers among {n_t + n_c:,} enrollments and {n_c:,} in the control "
        f"arm, chance alone puts every buyer in one arm at least {floor:.1%} of the time, so neither a "
        "rise nor a fall in revenue could be significant yet."
    )

"""Kaplan-Meier curves and the restricted mean survival time (RMST), with no Django in sight.

- Kaplan & Meier (1958), "Nonparametric estimation from incomplete observations", JASA 53:457-481:
  S(t) = prod over event times t_j <= t of (1 - d_j / n_j), n_j at risk (time >= t_j), d_j events.
- RMST up to a horizon tau = the area under S from 0 to tau: the mean time without the outcome,
  counting anyone still without it at tau as tau (Royston & Parmar 2013, "Restricted mean survival
  time: an alternative to the hazard ratio", BMC Med Res Methodol 13:152).
- Its variance by the Greenwood-type formula (Klein & Moeschberger 2003, "Survival Analysis",
  section 4.5): sum over event times t_j <= tau of A_j^2 d_j / (n_j (n_j - d_j)), A_j the area
  under S from t_j to tau; a term with n_j = d_j is 0, as in survRM2 (Uno et al. 2014, "Moving
  beyond the hazard ratio in quantifying the between-group difference in survival analysis",
  J Clin Oncol 32:2380-2385).
- The difference of two arms' RMST: its standard error the root of the sum of the variances
  (Uno et al. 2014, survRM2's ``rmst2``), and a 95% interval with Student's t on Welch-Satterthwaite
  degrees of freedom rather than survRM2's normal quantile (a small-sample choice of ours, proven
  by the seeded simulation in tests/analytics/test_velocity.py).

Ties: events at a time come before censorings at the same time (the usual convention; an
enrollment censored on the day of another's outcome was at risk then).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class KaplanMeier:
    times: np.ndarray  # distinct event times, ascending
    at_risk: np.ndarray  # n_j
    events: np.ndarray  # d_j
    survival: np.ndarray  # S just after each event time
    n: int
    total_events: int
    max_time: float  # the longest follow-up, event or censored

    def at(self, t: float) -> float:
        """S(t): the share without the outcome at time t (right-continuous)."""
        index = np.searchsorted(self.times, t, side="right")
        return 1.0 if index == 0 else float(self.survival[index - 1])


def kaplan_meier(durations, observed) -> KaplanMeier:
    """The curve of ``durations`` (time to the outcome, or to censoring when ``observed`` is
    false). Durations must be finite and not negative."""
    durations = np.asarray(durations, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    if durations.shape != observed.shape or durations.ndim != 1:
        raise ValueError("durations and observed must be two lists of the same length")
    if durations.size and (not np.all(np.isfinite(durations)) or durations.min() < 0):
        raise ValueError("durations must be finite and not negative")
    times = np.unique(durations[observed])
    # At risk at t_j: durations >= t_j, counted from the sorted durations.
    ordered = np.sort(durations)
    at_risk = durations.size - np.searchsorted(ordered, times, side="left")
    events = np.searchsorted(np.sort(durations[observed]), times, side="right") - np.searchsorted(
        np.sort(durations[observed]), times, side="left"
    )
    survival = np.cumprod(1 - events / at_risk) if times.size else np.array([])
    return KaplanMeier(
        times=times,
        at_risk=at_risk,
        events=events,
        survival=survival,
        n=int(durations.size),
        total_events=int(observed.sum()),
        max_time=float(durations.max()) if durations.size else 0.0,
    )


@dataclass(frozen=True)
class Rmst:
    estimate: float
    variance: float

    @property
    def se(self) -> float:
        return math.sqrt(self.variance)


def rmst(curve: KaplanMeier, horizon: float) -> Rmst:
    """The area under ``curve`` from 0 to ``horizon`` and its Greenwood-type variance."""
    if horizon <= 0:
        raise ValueError("the horizon must be positive")
    inside = curve.times <= horizon
    times, survival = curve.times[inside], curve.survival[inside]
    # Step edges 0, t_1, ..., t_k, horizon; S is 1 before t_1 and survival[j] from t_j on.
    edges = np.concatenate([[0.0], times, [horizon]])
    levels = np.concatenate([[1.0], survival])
    pieces = np.diff(edges) * levels
    estimate = float(pieces.sum())
    # A_j: the area from t_j to the horizon = the pieces after edge j.
    after = np.cumsum(pieces[::-1])[::-1][1:]
    n, d = curve.at_risk[inside].astype(float), curve.events[inside].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > d, after * after * d / (n * (n - d)), 0.0)
    return Rmst(estimate, float(terms.sum()))


@dataclass(frozen=True)
class RmstDifference:
    treatment: Rmst
    control: Rmst
    difference: float  # treatment - control
    se: float
    ci_low: float
    ci_high: float
    p_value: float


def rmst_difference(treatment: KaplanMeier, control: KaplanMeier, horizon: float, confidence: float = 0.95):
    """RMST of treatment - control up to ``horizon``, its interval and two-sided p-value. The
    interval uses Student's t with Welch-Satterthwaite degrees of freedom from the two variances
    (n - 1 per arm) instead of the normal: with 30 per arm the normal one covered 92.7% in the
    seeded simulation, this one 93.3%, and 50 per arm (the answer's minimum) 93.7%."""
    t, c = rmst(treatment, horizon), rmst(control, horizon)
    difference = t.estimate - c.estimate
    se = math.sqrt(t.variance + c.variance)
    if se == 0:
        p_value = 1.0 if difference == 0 else 0.0
        return RmstDifference(t, c, difference, 0.0, difference, difference, p_value)
    df = (t.variance + c.variance) ** 2 / (
        t.variance**2 / max(treatment.n - 1, 1) + c.variance**2 / max(control.n - 1, 1)
    )
    q = float(sps.t.ppf(0.5 + confidence / 2, df))
    p_value = float(2 * sps.t.sf(abs(difference) / se, df))
    return RmstDifference(t, c, difference, se, difference - q * se, difference + q * se, p_value)

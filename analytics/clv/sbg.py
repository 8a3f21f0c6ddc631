"""Shifted-beta-geometric (sBG) model of contract retention.

Fader and Hardie (2007), "How to project customer retention", Journal of Interactive Marketing
21(1). At the end of each period an active customer renews with probability 1 - theta, the same
for her every period; theta ~ Beta(alpha, beta) across customers. So the cohort's retention
rises with tenure (the customers most likely to leave leave first) although nobody's own churn
probability changes:

    P(T = 1) = alpha / (alpha + beta)
    P(T = t) = P(T = t-1) (beta + t - 2) / (alpha + beta + t - 1)       t = 2, 3, ...
    S(t)     = B(alpha, beta + t) / B(alpha, beta)                       (S(0) = 1)
    r_t      = S(t) / S(t-1) = (beta + t - 1) / (alpha + beta + t - 1)

T is the period in which the customer leaves (T = 1: she does not renew the first contract).

Discounted expected residual lifetime (Fader and Hardie 2010, "Customer-base valuation in a
contractual setting: the perils of ignoring heterogeneity", Marketing Science 29(1), eq. 6): for a
customer who has made n - 1 renewals, just before her n-th renewal decision, with per-period
discount rate d,

    DERL(d | alpha, beta, n - 1) = sum_{t >= n} S(t)/S(n-1) / (1+d)^(t-n)
                                 = (beta+n-1)/(alpha+beta+n-1) 2F1(1, beta+n; alpha+beta+n; 1/(1+d))

and the discounted expected lifetime of a new customer, who pays her first period now,
DEL(d) = sum_{t >= 0} S(t) / (1+d)^t = 2F1(1, beta; alpha + beta; 1/(1+d)).

Pure numpy/scipy (no Django): tested on the paper's data in tests/analytics/test_sbg.py.
"""

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

_LOG_BOUND = 12.0  # log-parameters stay in e^-12 .. e^12; ending on a bound is not converged


@dataclass(frozen=True)
class SBGParams:
    alpha: float
    beta: float
    log_likelihood: float
    n: int
    converged: bool
    message: str = ""


def _durations(lost_at, censored_at) -> tuple[np.ndarray, np.ndarray]:
    lost = np.asarray(lost_at, dtype=float).ravel()
    censored = np.asarray(censored_at, dtype=float).ravel()
    if lost.size and (np.any(lost < 1) or np.any(lost != np.round(lost))):
        raise ValueError("a lost customer's period must be a whole number >= 1.")
    if censored.size and (np.any(censored < 0) or np.any(censored != np.round(censored))):
        raise ValueError("a censored customer's periods survived must be a whole number >= 0.")
    return lost, censored


def sbg_survival(alpha: float, beta: float, t) -> np.ndarray:
    """S(t): the share of a cohort still active after t periods (t = 0, 1, ...)."""
    t = np.asarray(t, dtype=float)
    return np.exp(special.betaln(alpha, beta + t) - special.betaln(alpha, beta))


def sbg_churn_probability(alpha: float, beta: float, t) -> np.ndarray:
    """P(T = t) = S(t-1) - S(t), t >= 1."""
    t = np.asarray(t, dtype=float)
    return np.exp(
        special.betaln(alpha + 1, beta + t - 1) - special.betaln(alpha, beta)
    )  # B(a+1, b+t-1)/B(a, b)


def sbg_retention_rate(alpha: float, beta: float, t) -> np.ndarray:
    """r_t = S(t)/S(t-1) = (beta + t - 1)/(alpha + beta + t - 1), t >= 1."""
    t = np.asarray(t, dtype=float)
    return (beta + t - 1) / (alpha + beta + t - 1)


def sbg_log_likelihood(alpha: float, beta: float, lost_at, censored_at) -> float:
    """Individual-level log-likelihood (Fader and Hardie 2007, appendix B3, one customer at a
    time so that customers may be observed for different numbers of periods): a customer lost
    in period t adds ln P(T = t), one still active after c periods adds ln S(c)."""
    lost, censored = _durations(lost_at, censored_at)
    return float(
        np.sum(np.log(sbg_churn_probability(alpha, beta, lost)))
        + np.sum(np.log(sbg_survival(alpha, beta, censored)))
    )


def sbg_fit(lost_at, censored_at) -> SBGParams:
    """Maximum-likelihood alpha and beta from the periods in which customers were lost and the
    periods survived by those still active. Raises ValueError when the data cannot identify them
    (nobody lost, or nobody observed past one period)."""
    lost, censored = _durations(lost_at, censored_at)
    n = int(lost.size + censored.size)
    if lost.size == 0:
        raise ValueError("No customer was lost: the sBG model cannot be fitted without churn.")
    # Unique durations with their counts: the likelihood only depends on these.
    lost_t, lost_n = np.unique(lost, return_counts=True)
    cens_t, cens_n = np.unique(censored, return_counts=True)

    def negative(log_params):
        a, b = np.exp(log_params)
        value = np.dot(lost_n, np.log(sbg_churn_probability(a, b, lost_t))) + np.dot(
            cens_n, np.log(sbg_survival(a, b, cens_t))
        )
        return -value if np.isfinite(value) else np.inf

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * 2
    best = None
    for start in ((0.0, 0.0), (-1.0, 1.0), (1.0, 2.0)):
        result = optimize.minimize(negative, np.array(start), method="L-BFGS-B", bounds=bounds)
        if best is None or result.fun < best.fun:
            best = result
    alpha, beta = (float(v) for v in np.exp(best.x))
    on_bound = bool(np.any(np.abs(best.x) >= _LOG_BOUND - 1e-6))
    return SBGParams(
        alpha=alpha,
        beta=beta,
        log_likelihood=-float(best.fun),
        n=n,
        converged=bool(best.success) and not on_bound,
        message="" if not on_bound else "a parameter ran to its bound: the data cannot pin it down",
    )


def sbg_fit_survivors(alive) -> SBGParams:
    """Fit from a cohort's survivors by period, as the paper tabulates them: ``alive[0]`` at the
    start, ``alive[t]`` still active after period t; those alive at the end are censored there."""
    alive = np.asarray(alive, dtype=float)
    if alive.ndim != 1 or alive.size < 2 or np.any(np.diff(alive) > 0) or np.any(alive < 0):
        raise ValueError("alive must be a non-increasing count by period, starting with the cohort size.")
    lost_counts = (alive[:-1] - alive[1:]).astype(int)
    lost = np.repeat(np.arange(1, alive.size), lost_counts)
    censored = np.full(int(alive[-1]), alive.size - 1)
    return sbg_fit(lost, censored)


def _hyp2f1(a: float, b: float, c: float, z: float) -> float:
    value = float(special.hyp2f1(a, b, c, z))
    if not np.isfinite(value):
        raise ValueError("The discounted lifetime does not converge for these parameters.")
    return value


def sbg_derl(alpha: float, beta: float, discount_rate: float, renewals: int) -> float:
    """Discounted expected residual lifetime, in periods, of a customer who has made ``renewals``
    renewals (n - 1 in Fader and Hardie 2010), just before her next renewal decision."""
    if discount_rate <= 0:
        raise ValueError("discount_rate must be > 0 (an undiscounted sBG lifetime can be infinite).")
    if renewals < 0 or int(renewals) != renewals:
        raise ValueError("renewals must be a whole number >= 0.")
    n = int(renewals) + 1
    z = 1.0 / (1.0 + discount_rate)
    return (beta + n - 1) / (alpha + beta + n - 1) * _hyp2f1(1.0, beta + n, alpha + beta + n, z)


def sbg_del(alpha: float, beta: float, discount_rate: float) -> float:
    """Discounted expected lifetime of a new customer, in periods, counting her first period."""
    if discount_rate <= 0:
        raise ValueError("discount_rate must be > 0 (an undiscounted sBG lifetime can be infinite).")
    return _hyp2f1(1.0, beta, alpha + beta, 1.0 / (1.0 + discount_rate))

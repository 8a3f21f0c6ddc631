"""BG/NBD ("beta-geometric / negative binomial") model of repeat purchasing.

Fader, Hardie and Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
Pareto/NBD Model", Marketing Science 24(2). Each customer buys at a Poisson rate lambda while
alive (lambda ~ Gamma(r, alpha) across customers) and, after each *repeat* purchase, drops out
for good with probability p (p ~ Beta(a, b)). A customer is summarised by ``frequency`` x
(repeat purchases), ``recency`` t_x (time from the first to the last purchase) and ``T`` (time
from the first purchase to the end of observation), all in one time unit.

Pure numpy/scipy: no Django here, so the maths can be tested and benchmarked on its own.
"""

from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special

# The optimiser works on log-parameters; these bounds (e^-20 .. e^20) only stop it from
# wandering to 0 or infinity on data that cannot pin a parameter down. Ending on one is
# reported as not converged.
_LOG_BOUND = 20.0


@dataclass(frozen=True)
class BGNBDParams:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n: int
    converged: bool
    message: str = ""


def _as_arrays(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(frequency, dtype=float).ravel()
    t_x = np.asarray(recency, dtype=float).ravel()
    T = np.asarray(T, dtype=float).ravel()
    if not (x.shape == t_x.shape == T.shape):
        raise ValueError("frequency, recency and T must have the same length.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t_x)) and np.all(np.isfinite(T))):
        raise ValueError("frequency, recency and T must be finite numbers.")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("frequency must be a whole number of repeat purchases (>= 0).")
    if np.any(t_x < 0) or np.any(t_x > T):
        raise ValueError("recency must be between 0 and T for every customer.")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("recency must be 0 for customers without repeat purchases.")
    return x, t_x, T


def bgnbd_log_likelihood(r, alpha, a, b, frequency, recency, T) -> np.ndarray:
    """Each customer's log-likelihood (FHL 2005, eq. 6), in log-sum-exp form.

    L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
        + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))
    """
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    common = common + special.betaln(a, b + x) - special.betaln(a, b)
    # Term for "still alive at T"; the second term is "dropped out right after the last
    # purchase", which only exists for x > 0. B(a+1, b+x-1)/B(a, b+x) = a/(b+x-1).
    alive = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        dropped = np.where(
            repeat,
            np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return common + np.logaddexp(alive, dropped)


def bgnbd_log_likelihood_gradient(r, alpha, a, b, frequency, recency, T) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's log-likelihood and its gradient in (r, alpha, a, b), shape (n, 4).

    With w = the posterior weight of "dropped out after the last purchase" (0 when x = 0):
      d/dr     = psi(r+x) - psi(r) + ln alpha - (1-w) ln(alpha+T) - w ln(alpha+t_x)
      d/dalpha = r/alpha - (r+x) [(1-w)/(alpha+T) + w/(alpha+t_x)]
      d/da     = psi(a+b) - psi(a+b+x) + w/a
      d/db     = psi(b+x) - psi(b) + psi(a+b) - psi(a+b+x) - w/(b+x-1)
    """
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    repeat = x > 0
    log_alive_T, log_alive_tx = np.log(alpha + T), np.log(alpha + t_x)
    b_x_1 = np.where(repeat, b + x - 1, 1.0)
    alive = -(r + x) * log_alive_T
    with np.errstate(divide="ignore", invalid="ignore"):
        dropped = np.where(repeat, np.log(a) - np.log(b_x_1) - (r + x) * log_alive_tx, -np.inf)
    mixture = np.logaddexp(alive, dropped)
    ll = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.betaln(a, b + x)
        - special.betaln(a, b)
        + mixture
    )
    w = np.exp(dropped - mixture)
    d_r = (
        special.digamma(r + x) - special.digamma(r) + np.log(alpha) - (1 - w) * log_alive_T - w * log_alive_tx
    )
    d_alpha = r / alpha - (r + x) * ((1 - w) / (alpha + T) + w / (alpha + t_x))
    ab = special.digamma(a + b) - special.digamma(a + b + x)
    d_a = ab + w / a
    d_b = special.digamma(b + x) - special.digamma(b) + ab - w / b_x_1
    return ll, np.column_stack([d_r, d_alpha, d_a, d_b])


def _unique_rows(x, t_x, T):
    # Purchase histories on a day grid repeat a lot; fitting on distinct (x, t_x, T) rows
    # weighted by their count gives the same likelihood for a fraction of the work.
    rows, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    return rows[:, 0], rows[:, 1], rows[:, 2], counts.astype(float)


def bgnbd_fit(frequency, recency, T, *, penalizer: float = 0.0) -> BGNBDParams:
    """Maximum-likelihood estimates of (r, alpha, a, b), in the time unit of recency and T.

    Only alpha carries the unit (a rate's scale: alpha in days = 7 x alpha in weeks); r, a and b
    are unitless. A customer with T = 0 (first purchase on the last observed day) adds nothing to
    the likelihood, as in lifetimes.

    ``penalizer`` adds ``penalizer * sum(params**2)`` to the negative log-likelihood (an L2
    shrinkage that keeps thin data from running off to extreme parameters); 0 is plain ML.
    """
    x, t_x, T = _as_arrays(frequency, recency, T)
    if x.size == 0:
        raise ValueError("No customers to fit: there are no purchases before the observation end.")
    if not np.any(x > 0):
        raise ValueError(
            "No customer has a repeat purchase, so the BG/NBD model is not identifiable "
            "(purchase rate and dropout cannot be told apart); a longer observation period is needed."
        )
    if penalizer < 0:
        raise ValueError("penalizer must be >= 0.")
    ux, ut_x, uT, weight = _unique_rows(x, t_x, T)
    # Fit on a rescaled clock (longest T = 10) so that alpha starts near the data's scale;
    # only alpha depends on the time unit, and it is scaled back afterwards.
    scale = 10.0 / float(uT.max())
    ut_x_s, uT_s = ut_x * scale, uT * scale
    total = float(weight.sum())

    def objective(log_params):
        params = np.exp(log_params)
        ll, gradient = bgnbd_log_likelihood_gradient(*params, ux, ut_x_s, uT_s)
        value = -float(np.dot(weight, ll)) / total + penalizer * float(np.sum(params**2)) / total
        # d/d log(theta) = theta * d/d theta
        jac = -(weight @ gradient) * params / total + 2 * penalizer * params**2 / total
        if not (np.isfinite(value) and np.all(np.isfinite(jac))):
            return 1e100, np.zeros(4)
        return value, jac

    start = np.log([1.0, 1.0, 1.0, 1.0])
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * 4
    result = optimize.minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds)
    if not result.success:
        # L-BFGS-B can stop in a flat, curved valley ("ABNORMAL_TERMINATION_IN_LNSRCH"); Nelder-
        # Mead from where it ended is slower but needs no line search.
        result = optimize.minimize(
            lambda log_params: objective(log_params)[0],
            result.x,
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000},
        )
    r, alpha_s, a, b = np.exp(result.x)
    alpha = alpha_s / scale
    at_bound = bool(np.any(np.abs(result.x) >= _LOG_BOUND - 1e-6))
    log_likelihood = float(np.dot(weight, bgnbd_log_likelihood(r, alpha, a, b, ux, ut_x, uT)))
    if not (np.all(np.isfinite([r, alpha, a, b])) and np.isfinite(log_likelihood)):
        raise ValueError("The BG/NBD fit did not reach finite parameters; the purchase data is too thin.")
    converged = bool(result.success) and not at_bound
    message = (
        str(result.message) if not result.success else ("a parameter ran to its bound" if at_bound else "")
    )
    return BGNBDParams(
        r=float(r),
        alpha=float(alpha),
        a=float(a),
        b=float(b),
        log_likelihood=log_likelihood,
        n=int(x.size),
        converged=converged,
        message=message,
    )


def _params(params) -> tuple[float, float, float, float]:
    return float(params.r), float(params.alpha), float(params.a), float(params.b)


def bgnbd_probability_alive(params, frequency, recency, T) -> np.ndarray:
    """P(alive at T | x, t_x, T) (FHL 2005, eq. 11 / Fader, Hardie and Lee's note).

    Dropout only happens right after a repeat purchase, so a customer without one (x = 0)
    is alive with probability 1: the model has seen no moment at which they could have left.
    """
    r, alpha, a, b = _params(params)
    x, t_x, T = _as_arrays(frequency, recency, T)
    repeat = x > 0
    # log of a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x); expit(-z) = 1/(1+e^z) without overflow.
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds_dead = (
            np.log(a)
            - np.log(np.where(repeat, b + x - 1, 1.0))
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
    return np.where(repeat, special.expit(-log_odds_dead), 1.0)


def _future_share_hyp2f1(r, alpha, a, b, t, x, T) -> np.ndarray:
    """(a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)],
    z = t/(alpha+T+t): eq. 10 of FHL 2005 without its P(alive) denominator.

    Uses Euler's transformation 2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z), which turns
    the bracket into 1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): no huge 2F1 times a tiny
    power for frequent buyers. Where that is not finite, the untransformed form is tried.
    """
    z = t / (alpha + T + t)
    c = a + b + x - 1
    with np.errstate(all="ignore"):
        euler = (1 - z) ** (a - 1) * special.hyp2f1(a + b - 1 - r, a - 1, c, z)
        direct = np.exp((r + x) * np.log1p(-z)) * special.hyp2f1(r + x, b + x, c, z)
        bracket_term = np.where(np.isfinite(euler), euler, direct)
        return c / (a - 1) * (1 - bracket_term)


def _future_share_quad(r, alpha, a, b, t, x, T) -> float:
    """The same quantity as ``_future_share_hyp2f1`` for one customer, by integrating over p:
    E[Y(t) | alive, x, T] = int_0^1 [1 - (1 + p t/(alpha+T))^-(r+x)] / p * Beta(p | a, b+x) dp.

    Integrating out lambda in closed form leaves this one-dimensional integral, finite for any
    a, b > 0 (the integrand behaves like p^(a-1) at 0). Slow, so only a fallback.
    """
    log_beta = special.betaln(a, b + x)
    k = t / (alpha + T)

    def integrand(p):
        if p <= 0.0:
            return 0.0
        future = -np.expm1(-(r + x) * np.log1p(p * k))
        return float(np.exp(np.log(future) + (a - 2) * np.log(p) + (b + x - 1) * np.log1p(-p) - log_beta))

    value, _ = integrate.quad(integrand, 0.0, 1.0, limit=200)
    return value


# Eq. 10 has a removable singularity at a = 1: (a+b+x-1)/(a-1) blows up while the bracket goes
# to 0. Close to it, the average of the two sides is accurate to O(_A_NEAR_ONE^2).
_A_NEAR_ONE = 1e-4


def bgnbd_expected_purchases(params, t, frequency, recency, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` time units (FHL 2005, eq. 10)."""
    r, alpha, a, b = _params(params)
    x, t_x, T = _as_arrays(frequency, recency, T)
    t = float(t)
    if t < 0 or not np.isfinite(t):
        raise ValueError("The prediction horizon t must be a finite number >= 0.")
    if t == 0:
        return np.zeros_like(x)
    if abs(a - 1) < _A_NEAR_ONE:
        share = 0.5 * (
            _future_share_hyp2f1(r, alpha, 1 - _A_NEAR_ONE, b, t, x, T)
            + _future_share_hyp2f1(r, alpha, 1 + _A_NEAR_ONE, b, t, x, T)
        )
    else:
        share = _future_share_hyp2f1(r, alpha, a, b, t, x, T)
    # hyp2f1 loses its way for some parameter corners (e.g. a+b+x-1 near a non-positive
    # integer); those customers get the integral instead.
    bad = ~np.isfinite(share) | (share < 0)
    for i in np.flatnonzero(bad):
        share[i] = _future_share_quad(r, alpha, a, b, t, x[i], T[i])
    return share * bgnbd_probability_alive(params, x, t_x, T)

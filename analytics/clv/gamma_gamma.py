"""Gamma-Gamma model of the value of repeat purchases.

Fader and Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note building on Colombo
and Jiang 1999). Each purchase value is Gamma(p, nu) around a customer's own mean p/nu, and nu
is Gamma(q, v) across customers. A customer is summarised by ``frequency`` x (repeat purchases)
and ``monetary_value`` m_x, the mean value of those x repeat purchases: the first purchase is
left out because it is often unlike the ones that follow (FHL's and Fader-Hardie's convention).
"""

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

_LOG_BOUND = 20.0


@dataclass(frozen=True)
class GGParams:
    p: float
    q: float
    v: float
    log_likelihood: float
    n: int
    converged: bool
    message: str = ""

    @property
    def population_mean(self) -> float | None:
        """E[M] = p v / (q - 1): the mean spend per purchase across customers, unbounded for q <= 1."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else None


def _repeaters(frequency, monetary_value) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(frequency, dtype=float).ravel()
    m = np.asarray(monetary_value, dtype=float).ravel()
    if x.shape != m.shape:
        raise ValueError("frequency and monetary_value must have the same length.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(m[x > 0]))):
        raise ValueError("frequency and monetary_value must be finite numbers.")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("frequency must be a whole number of repeat purchases (>= 0).")
    return x, m


def gamma_gamma_log_likelihood(p, q, v, frequency, monetary_value) -> np.ndarray:
    """Each repeat customer's log density of m_x (Fader and Hardie 2013, eq. 5):

    f(m_x | p, q, v; x) = G(px+q) / (G(px) G(q)) * v^q m_x^(px-1) x^(px) / (v + m_x x)^(px+q)
    """
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + m * x)
    )


def gamma_gamma_log_likelihood_gradient(p, q, v, frequency, monetary_value) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's log density and its gradient in (p, q, v), shape (n, 3):
    d/dp = x [psi(px+q) - psi(px) + ln(x m_x) - ln(v + x m_x)]
    d/dq = psi(px+q) - psi(q) + ln v - ln(v + x m_x)
    d/dv = q/v - (px+q)/(v + x m_x)
    """
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    px = p * x
    log_v_xm = np.log(v + m * x)
    ll = gamma_gamma_log_likelihood(p, q, v, x, m)
    psi_pxq = special.digamma(px + q)
    d_p = x * (psi_pxq - special.digamma(px) + np.log(x * m) - log_v_xm)
    d_q = psi_pxq - special.digamma(q) + np.log(v) - log_v_xm
    d_v = q / v - (px + q) / (v + m * x)
    return ll, np.column_stack([d_p, d_q, d_v])


def gamma_gamma_fit(frequency, monetary_value, *, penalizer: float = 0.0) -> GGParams:
    """Maximum-likelihood (p, q, v) from the customers with at least one repeat purchase
    (the others carry no information on spend per repeat purchase and are ignored)."""
    x, m = _repeaters(frequency, monetary_value)
    keep = x > 0
    x, m = x[keep], m[keep]
    if x.size == 0:
        raise ValueError(
            "No customer has a repeat purchase, so the Gamma-Gamma spend model has nothing to fit."
        )
    if np.any(m <= 0):
        raise ValueError("monetary_value must be positive for every customer with repeat purchases.")
    if x.size < 2 or np.ptp(m) == 0:
        raise ValueError(
            "The Gamma-Gamma spend model needs at least two repeat customers whose average spend differs."
        )
    if penalizer < 0:
        raise ValueError("penalizer must be >= 0.")
    # Money on a unit scale (mean spend 1) so that v starts near the data; only v carries
    # the currency scale and is scaled back afterwards.
    scale = 1.0 / float(m.mean())
    m_s = m * scale

    def objective(log_params):
        params = np.exp(log_params)
        ll, gradient = gamma_gamma_log_likelihood_gradient(*params, x, m_s)
        value = -float(np.sum(ll)) / x.size + penalizer * float(np.sum(params**2)) / x.size
        # d/d log(theta) = theta * d/d theta
        jac = -gradient.sum(axis=0) * params / x.size + 2 * penalizer * params**2 / x.size
        if not (np.isfinite(value) and np.all(np.isfinite(jac))):
            return 1e100, np.zeros(3)
        return value, jac

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * 3
    result = optimize.minimize(objective, np.log([1.0, 2.0, 1.0]), jac=True, method="L-BFGS-B", bounds=bounds)
    if not result.success:
        result = optimize.minimize(
            lambda log_params: objective(log_params)[0],
            result.x,
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000},
        )
    p, q, v_s = np.exp(result.x)
    v = v_s / scale
    at_bound = bool(np.any(np.abs(result.x) >= _LOG_BOUND - 1e-6))
    log_likelihood = float(np.sum(gamma_gamma_log_likelihood(p, q, v, x, m)))
    if not (np.all(np.isfinite([p, q, v])) and np.isfinite(log_likelihood)):
        raise ValueError("The Gamma-Gamma fit did not reach finite parameters; the spend data is too thin.")
    converged = bool(result.success) and not at_bound
    message = (
        str(result.message) if not result.success else ("a parameter ran to its bound" if at_bound else "")
    )
    return GGParams(
        p=float(p),
        q=float(q),
        v=float(v),
        log_likelihood=log_likelihood,
        n=int(x.size),
        converged=converged,
        message=message,
    )


def gamma_gamma_expected_value(params, frequency, monetary_value) -> np.ndarray:
    """E[M | p, q, v, m_x, x] = p (v + x m_x) / (p x + q - 1) (Fader and Hardie 2013, eq. 8): a
    weighted mean of the population mean p v/(q-1) and the customer's own m_x, leaning on m_x
    the more repeat purchases there are. Customers without repeat purchases get the population
    mean, which is NaN when q <= 1 (the mean spend is then unbounded)."""
    p, q, v = float(params.p), float(params.q), float(params.v)
    x, m = _repeaters(frequency, monetary_value)
    m = np.where(x > 0, m, 0.0)
    denominator = p * x + q - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, p * (v + x * m) / denominator, np.nan)

"""Predictive customer value: BG/NBD and Gamma-Gamma fits, predictions and the order summary.

Parameter recovery uses purchase histories simulated from the models themselves with fixed
seeds. Each tolerance is about 3 standard deviations of the estimate across 20-40 simulated
data sets of the same size (Monte Carlo over seeds, noted at each test), so a correct fit
passes for any seed and a wrong likelihood fails.
"""

import json
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from scipy import integrate, optimize

from analytics.clv import (
    BGNBDParams,
    GGParams,
    bgnbd_expected_purchases,
    bgnbd_fit,
    bgnbd_log_likelihood,
    bgnbd_probability_alive,
    clv_report,
    expected_customer_value,
    gamma_gamma_expected_value,
    gamma_gamma_fit,
    gamma_gamma_log_likelihood,
    purchase_summary,
)
from analytics.clv.bgnbd import _future_share_hyp2f1, _future_share_quad, bgnbd_log_likelihood_gradient
from analytics.clv.gamma_gamma import gamma_gamma_log_likelihood_gradient
from crm.models import Order
from tests.factories import AccountFactory, ContactFactory, OrderFactory

# Fader, Hardie and Lee (2005), CDNOW sample, time in weeks.
CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
CDNOW_PARAMS = BGNBDParams(**CDNOW, log_likelihood=0.0, n=0, converged=True)
# Fader and Hardie (2013), CDNOW spend per repeat purchase.
GG = {"p": 6.25, "q": 3.74, "v": 15.44}
GG_PARAMS = GGParams(**GG, log_likelihood=0.0, n=0, converged=True)


def simulate_bgnbd(r, alpha, a, b, T, rng):
    """(x, t_x, T) per customer: Poisson purchases at rate lambda ~ Gamma(r, alpha) from a first
    purchase at 0 until T, dropping out after each repeat purchase with p ~ Beta(a, b)."""
    n = T.size
    rate = rng.gamma(r, 1 / alpha, n)
    dropout = rng.beta(a, b, n)
    x, t_x, clock = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        clock[idx] += rng.exponential(1 / rate[idx])
        bought = clock[idx] <= T[idx]
        buyers = idx[bought]
        x[buyers] += 1
        t_x[buyers] = clock[buyers]
        active[idx[~bought]] = False
        active[buyers[rng.random(buyers.size) < dropout[buyers]]] = False
    return x, t_x, T


def simulate_gamma_gamma(p, q, v, x, rng):
    """Mean of x purchase values per customer, each value Gamma(p, nu) with nu ~ Gamma(q, v)."""
    nu = rng.gamma(q, 1 / v, x.size)
    values = rng.gamma(p, 1 / np.repeat(nu, x))
    return np.add.reduceat(values, np.concatenate([[0], np.cumsum(x)[:-1]])) / x


def assert_within(estimate, truth, tolerance, name):
    relative = abs(estimate / truth - 1)
    assert relative <= tolerance, f"{name}: {estimate:.4f} vs {truth} ({relative:.1%} > {tolerance:.0%})"


# ---------------------------------------------------------------------------------------------
# BG/NBD: recovery


def test_bgnbd_recovers_cdnow_purchase_rate_and_mean_dropout_at_cdnow_scale():
    """5,000 customers observed 27-39 weeks, like CDNOW's 2,357 over 39. Monte Carlo over 40 seeds:
    relative sd r 3.4%, alpha 6.0%, a/(a+b) 5.8%; a and b alone 14% and 22% (they trade off along a
    ridge at this size, as in the paper's own standard errors), so they are checked on a larger base."""
    rng = np.random.default_rng(2005)
    x, t_x, T = simulate_bgnbd(**CDNOW, T=rng.uniform(27, 39, 5000), rng=rng)
    fit = bgnbd_fit(x, t_x, T)
    assert fit.converged and fit.n == 5000
    assert_within(fit.r, CDNOW["r"], 0.12, "r")
    assert_within(fit.alpha, CDNOW["alpha"], 0.20, "alpha")
    assert_within(
        fit.a / (fit.a + fit.b), CDNOW["a"] / (CDNOW["a"] + CDNOW["b"]), 0.20, "mean dropout a/(a+b)"
    )


def test_bgnbd_recovers_all_four_parameters_on_a_large_base():
    """40,000 customers, 27-39 weeks. Monte Carlo over 20 seeds: relative sd r 1.2%, alpha 2.0%,
    a 6.1%, b 7.9%."""
    rng = np.random.default_rng(39)
    x, t_x, T = simulate_bgnbd(**CDNOW, T=rng.uniform(27, 39, 40_000), rng=rng)
    fit = bgnbd_fit(x, t_x, T)
    assert fit.converged
    assert_within(fit.r, CDNOW["r"], 0.06, "r")
    assert_within(fit.alpha, CDNOW["alpha"], 0.08, "alpha")
    assert_within(fit.a, CDNOW["a"], 0.20, "a")
    assert_within(fit.b, CDNOW["b"], 0.25, "b")
    # The maximum: the fitted log-likelihood is at least that of the true parameters.
    assert fit.log_likelihood >= bgnbd_log_likelihood(**CDNOW, frequency=x, recency=t_x, T=T).sum()


def test_bgnbd_alpha_carries_the_time_unit_and_the_rest_do_not():
    rng = np.random.default_rng(7)
    x, t_x, T = simulate_bgnbd(**CDNOW, T=rng.uniform(27, 39, 3000), rng=rng)
    weeks = bgnbd_fit(x, t_x, T)
    days = bgnbd_fit(x, t_x * 7, T * 7)
    assert days.alpha == pytest.approx(weeks.alpha * 7, rel=1e-3)
    for name in ("r", "a", "b"):
        assert getattr(days, name) == pytest.approx(getattr(weeks, name), rel=1e-3)
    # Densities in days are 1/7 of those in weeks per repeat purchase.
    assert days.log_likelihood == pytest.approx(weeks.log_likelihood - x.sum() * math.log(7), rel=1e-6)


def test_bgnbd_penalizer_shrinks_parameters():
    rng = np.random.default_rng(11)
    x, t_x, T = simulate_bgnbd(**CDNOW, T=rng.uniform(27, 39, 2000), rng=rng)
    plain = bgnbd_fit(x, t_x, T)
    shrunk = bgnbd_fit(x, t_x, T, penalizer=50.0)
    assert shrunk.alpha**2 + shrunk.b**2 < plain.alpha**2 + plain.b**2


# ---------------------------------------------------------------------------------------------
# BG/NBD: known values against slow, obviously correct versions


SMALL = [  # (x, t_x, T) in weeks: nobody repeats, a few repeats, a recent and a lapsed buyer
    (0, 0.0, 38.86),
    (2, 30.43, 38.86),
    (1, 1.71, 38.86),
    (5, 10.0, 39.0),
    (7, 36.5, 37.0),
    (0, 0.0, 27.5),
]


def _prior_density(r, alpha, a, b):
    log_gamma = r * math.log(alpha) - math.lgamma(r)
    log_beta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)

    def density(lam, p):
        return math.exp(
            log_gamma
            + (r - 1) * math.log(lam)
            - alpha * lam
            + log_beta
            + (a - 1) * math.log(p)
            + (b - 1) * math.log1p(-p)
        )

    return density


def _individual_likelihood(x, t_x, T):
    """FHL 2005 eq. 3, given lambda and p: alive through T, or dropped out after the last purchase."""

    def alive(lam, p):
        return (1 - p) ** x * lam**x * math.exp(-lam * T)

    def dropped(lam, p):
        return p * (1 - p) ** (x - 1) * lam**x * math.exp(-lam * t_x) if x > 0 else 0.0

    return alive, dropped


def _integrate(function):
    return integrate.dblquad(function, 0, 1, 0, math.inf, epsabs=0, epsrel=1e-9)[0]


def _posterior_mass(alive, dropped, prior):
    return lambda lam, p: (alive(lam, p) + dropped(lam, p)) * prior(lam, p)


def test_bgnbd_log_likelihood_matches_integrating_over_rate_and_dropout():
    prior = _prior_density(**CDNOW)
    expected = []
    for x, t_x, T in SMALL:
        alive, dropped = _individual_likelihood(x, t_x, T)
        expected.append(math.log(_integrate(_posterior_mass(alive, dropped, prior))))
    x, t_x, T = (np.array(column, dtype=float) for column in zip(*SMALL, strict=True))
    assert bgnbd_log_likelihood(**CDNOW, frequency=x, recency=t_x, T=T) == pytest.approx(expected, rel=1e-7)


def test_bgnbd_gradient_matches_finite_differences():
    theta = np.array(list(CDNOW.values()))
    for x, t_x, T in SMALL:
        ll, gradient = bgnbd_log_likelihood_gradient(*theta, np.array([x]), np.array([t_x]), np.array([T]))
        assert ll[0] == pytest.approx(bgnbd_log_likelihood(*theta, x, t_x, T))
        numeric = optimize.approx_fprime(
            theta, lambda t, x=x, t_x=t_x, T=T: bgnbd_log_likelihood(*t, x, t_x, T), 1e-7
        )
        assert gradient[0] == pytest.approx(numeric, rel=1e-4, abs=1e-5)


def _expected_purchases_by_integration(params, t, x, t_x, T):
    """E[Y(t) | data]: an alive customer buys (1 - exp(-lambda p t))/p more times in t (FHL 2005
    eq. 7), weighted by the posterior probability of (lambda, p) and of being alive."""
    prior = _prior_density(params["r"], params["alpha"], params["a"], params["b"])
    alive, dropped = _individual_likelihood(x, t_x, T)
    numerator = _integrate(lambda lam, p: alive(lam, p) * -math.expm1(-lam * p * t) / p * prior(lam, p))
    denominator = _integrate(lambda lam, p: (alive(lam, p) + dropped(lam, p)) * prior(lam, p))
    return numerator / denominator


@pytest.mark.parametrize(
    "params",
    [CDNOW, {"r": 2.0, "alpha": 10.0, "a": 2.5, "b": 4.0}],
    ids=["cdnow-a-below-1", "a-above-1"],
)
def test_bgnbd_expected_purchases_match_integrating_the_posterior(params):
    model = BGNBDParams(**params, log_likelihood=0.0, n=0, converged=True)
    for x, t_x, T in SMALL[:4]:
        expected = _expected_purchases_by_integration(params, 39.0, x, t_x, T)
        assert bgnbd_expected_purchases(model, 39.0, [x], [t_x], [T])[0] == pytest.approx(expected, rel=1e-6)


def test_bgnbd_expected_purchases_for_the_papers_worked_example():
    # FHL 2005, section 5: customer 1516 (x=2, t_x=30.43, T=38.86) is expected to make 1.226
    # purchases in the next 39 weeks.
    assert bgnbd_expected_purchases(CDNOW_PARAMS, 39, [2], [30.43], [38.86])[0] == pytest.approx(
        1.226, abs=5e-4
    )


def test_bgnbd_expected_purchases_where_hyp2f1_fails_use_the_integral():
    # a + b = 1 and x = 0 put the 2F1's third argument on 0, where scipy returns nan.
    params = {"r": 0.5, "alpha": 3.0, "a": 0.4, "b": 0.6}
    model = BGNBDParams(**params, log_likelihood=0.0, n=0, converged=True)
    share = _future_share_hyp2f1(0.5, 3.0, 0.4, 0.6, 26.0, np.array([0.0]), np.array([20.0]))
    assert not np.isfinite(share[0])
    expected = _expected_purchases_by_integration(params, 26.0, 0, 0.0, 20.0)
    assert bgnbd_expected_purchases(model, 26.0, [0], [0.0], [20.0])[0] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("a", [1.0, 1 + 1e-11, 1 - 1e-9])
def test_bgnbd_expected_purchases_at_a_near_one_stay_accurate(a):
    # Eq. 10 divides by a - 1 and multiplies by a bracket that vanishes with it: at a = 1 it is
    # 0/0, and just beside it the cancellation costs about 4 digits without the guard.
    x, t_x, T = [0, 2, 6], [0.0, 30.0, 20.0], [39.0, 39.0, 39.0]
    model = BGNBDParams(r=0.243, alpha=4.414, a=a, b=2.4, log_likelihood=0.0, n=0, converged=True)
    expected = [_future_share_quad(0.243, 4.414, a, 2.4, 39.0, xi, Ti) for xi, Ti in zip(x, T, strict=True)]
    expected = np.array(expected) * bgnbd_probability_alive(model, x, t_x, T)
    assert bgnbd_expected_purchases(model, 39.0, x, t_x, T) == pytest.approx(expected, rel=1e-6)


def test_bgnbd_expected_purchases_grow_with_the_horizon_and_start_at_zero():
    x, t_x, T = [0, 2, 7], [0.0, 30.43, 36.5], [38.86, 38.86, 37.0]
    horizons = [0, 1, 13, 26, 52, 104]
    series = np.array([bgnbd_expected_purchases(CDNOW_PARAMS, t, x, t_x, T) for t in horizons])
    assert np.all(series[0] == 0)
    assert np.all(np.diff(series, axis=0) > 0)


def test_bgnbd_probability_alive():
    alive = bgnbd_probability_alive(
        CDNOW_PARAMS, [0, 0, 2, 2, 2], [0, 0, 30.43, 30.43, 5.0], [1, 80, 38.86, 60, 38.86]
    )
    # Dropout only happens after a repeat purchase: no repeat purchase, no evidence of leaving.
    assert alive[0] == alive[1] == 1.0
    # The same history looks more lapsed the longer nothing has happened since.
    assert 0 < alive[3] < alive[2] < 1
    assert alive[4] < alive[2]
    # Against the posterior computed by integration.
    prior = _prior_density(**CDNOW)
    still, dropped = _individual_likelihood(2, 30.43, 38.86)
    alive_mass = _integrate(lambda lam, p: still(lam, p) * prior(lam, p))
    dropped_mass = _integrate(lambda lam, p: dropped(lam, p) * prior(lam, p))
    assert alive[2] == pytest.approx(alive_mass / (alive_mass + dropped_mass), rel=1e-7)


def test_bgnbd_fit_rejects_data_it_cannot_fit():
    with pytest.raises(ValueError, match="no purchases"):
        bgnbd_fit([], [], [])
    with pytest.raises(ValueError, match="not identifiable"):
        bgnbd_fit([0, 0, 0], [0, 0, 0], [10, 20, 30])
    with pytest.raises(ValueError, match="recency must be between 0 and T"):
        bgnbd_fit([1, 2], [5, 40], [10, 30])
    with pytest.raises(ValueError, match="same length"):
        bgnbd_fit([1, 2], [5], [10, 30])


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma


def test_gamma_gamma_recovers_the_papers_parameters():
    """20,000 repeat customers with 1 + Poisson(2) repeat purchases. Monte Carlo over 20 seeds:
    relative sd p 5.5%, q 1.9%, v 7.4% (p and v trade off along a ridge of equal mean spend)."""
    rng = np.random.default_rng(2013)
    x = 1 + rng.poisson(2.0, 20_000)
    m = simulate_gamma_gamma(**GG, x=x, rng=rng)
    fit = gamma_gamma_fit(x, m)
    assert fit.converged and fit.n == 20_000
    assert_within(fit.p, GG["p"], 0.18, "p")
    assert_within(fit.q, GG["q"], 0.07, "q")
    assert_within(fit.v, GG["v"], 0.22, "v")
    assert fit.log_likelihood >= gamma_gamma_log_likelihood(**GG, frequency=x, monetary_value=m).sum()


def test_gamma_gamma_ignores_customers_without_repeat_purchases_and_scales_v_with_money():
    rng = np.random.default_rng(5)
    x = 1 + rng.poisson(2.0, 3000)
    m = simulate_gamma_gamma(**GG, x=x, rng=rng)
    fit = gamma_gamma_fit(x, m)
    with_one_timers = gamma_gamma_fit(np.append(x, [0, 0]), np.append(m, [0.0, 999.0]))
    assert (with_one_timers.p, with_one_timers.q, with_one_timers.v) == pytest.approx((fit.p, fit.q, fit.v))
    in_cents = gamma_gamma_fit(x, m * 100)
    assert in_cents.v == pytest.approx(fit.v * 100, rel=1e-3)
    assert (in_cents.p, in_cents.q) == pytest.approx((fit.p, fit.q), rel=1e-3)


def _spend_density_by_integration(p, q, v, x, m):
    """m_x given nu is the mean of x Gamma(p, nu) values, i.e. Gamma(p x, x nu); nu ~ Gamma(q, v)."""

    def integrand(nu):
        log_mean = (p * x) * math.log(x * nu) + (p * x - 1) * math.log(m) - x * nu * m - math.lgamma(p * x)
        log_prior = q * math.log(v) + (q - 1) * math.log(nu) - v * nu - math.lgamma(q)
        return math.exp(log_mean + log_prior)

    return integrand


def test_gamma_gamma_log_likelihood_and_expected_value_match_integration():
    for x, m in [(1, 20.0), (3, 35.5), (10, 12.25)]:
        density = _spend_density_by_integration(**GG, x=x, m=m)
        mass = integrate.quad(density, 0, math.inf, epsabs=0, epsrel=1e-10)[0]
        assert gamma_gamma_log_likelihood(**GG, frequency=x, monetary_value=m) == pytest.approx(
            math.log(mass), rel=1e-8
        )
        # E[M | data] = p E[1/nu | data]: a customer's mean spend is p/nu.
        posterior_mean = (
            integrate.quad(lambda nu, density=density: GG["p"] / nu * density(nu), 0, math.inf, epsrel=1e-10)[
                0
            ]
            / mass
        )
        assert gamma_gamma_expected_value(GG_PARAMS, [x], [m])[0] == pytest.approx(posterior_mean, rel=1e-7)


def test_gamma_gamma_gradient_matches_finite_differences():
    theta = np.array(list(GG.values()))
    for x, m in [(1, 20.0), (3, 35.5), (10, 12.25)]:
        ll, gradient = gamma_gamma_log_likelihood_gradient(*theta, np.array([x]), np.array([m]))
        assert ll[0] == pytest.approx(gamma_gamma_log_likelihood(*theta, x, m))
        numeric = optimize.approx_fprime(
            theta, lambda t, x=x, m=m: gamma_gamma_log_likelihood(*t, x, m), 1e-7
        )
        assert gradient[0] == pytest.approx(numeric, rel=1e-4, abs=1e-5)


def test_gamma_gamma_expected_value_leans_on_own_spend_with_more_purchases():
    population = GG["p"] * GG["v"] / (GG["q"] - 1)
    values = gamma_gamma_expected_value(GG_PARAMS, [0, 1, 5, 50], [0.0, 100.0, 100.0, 100.0])
    assert values[0] == pytest.approx(population) == GG_PARAMS.population_mean
    assert population < values[1] < values[2] < values[3] < 100
    heavy_tail = GGParams(p=2.0, q=0.8, v=10.0, log_likelihood=0.0, n=0, converged=True)
    assert heavy_tail.population_mean is None
    assert np.isnan(gamma_gamma_expected_value(heavy_tail, [0], [0.0])[0])
    assert np.isfinite(gamma_gamma_expected_value(heavy_tail, [2], [30.0])[0])


def test_gamma_gamma_fit_rejects_data_it_cannot_fit():
    with pytest.raises(ValueError, match="nothing to fit"):
        gamma_gamma_fit([0, 0], [0.0, 0.0])
    with pytest.raises(ValueError, match="at least two repeat customers"):
        gamma_gamma_fit([0, 3], [0.0, 25.0])
    with pytest.raises(ValueError, match="at least two repeat customers"):
        gamma_gamma_fit([2, 3], [25.0, 25.0])
    with pytest.raises(ValueError, match="positive"):
        gamma_gamma_fit([2, 3], [25.0, -4.0])


# ---------------------------------------------------------------------------------------------
# Value over a horizon


def test_expected_customer_value_is_purchases_times_value_times_margin():
    x, t_x, T = [0, 2, 7], [0.0, 30.43, 36.5], [38.86, 38.86, 37.0]
    avg = gamma_gamma_expected_value(GG_PARAMS, x, [0.0, 40.0, 25.0])
    purchases, value = expected_customer_value(
        CDNOW_PARAMS,
        frequency=x,
        recency=t_x,
        T=T,
        expected_avg_value=avg,
        horizon_months=12,
        time_unit="week",
        margin=0.5,
    )
    weeks_in_a_year = 365.2425 / 7
    assert purchases == pytest.approx(bgnbd_expected_purchases(CDNOW_PARAMS, weeks_in_a_year, x, t_x, T))
    assert value == pytest.approx(purchases * avg * 0.5)
    _, discounted = expected_customer_value(
        CDNOW_PARAMS,
        frequency=x,
        recency=t_x,
        T=T,
        expected_avg_value=avg,
        horizon_months=12,
        time_unit="week",
        margin=0.5,
        monthly_discount_rate=0.01,
    )
    # Every month's purchases are discounted by between 1/1.01 and 1/1.01^12.
    assert np.all(discounted < value / 1.01)
    assert np.all(discounted > value / 1.01**12)
    with pytest.raises(ValueError, match="time_unit"):
        expected_customer_value(
            CDNOW_PARAMS,
            frequency=x,
            recency=t_x,
            T=T,
            expected_avg_value=avg,
            horizon_months=12,
            time_unit="month",
        )


# ---------------------------------------------------------------------------------------------
# From orders: conventions

END = datetime(2025, 3, 1, tzinfo=UTC)


def at(day: str, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def by_customer(summary) -> dict:
    return {
        (kind, int(cid)): {
            "frequency": summary.frequency[i],
            "recency": summary.recency[i],
            "T": summary.T[i],
            "monetary_value": summary.monetary_value[i],
        }
        for i, (kind, cid) in enumerate(zip(summary.kind, summary.customer_id, strict=True))
    }


@pytest.fixture
def account(db):
    return AccountFactory()


def test_several_orders_on_one_day_are_one_purchase_and_value_excludes_the_first(account):
    contact = ContactFactory(account=account)
    OrderFactory(contact=contact, account=account, amount=Decimal("100.00"), ordered_at=at("2025-01-01", 9))
    OrderFactory(contact=contact, account=account, amount=Decimal("30.00"), ordered_at=at("2025-01-11", 8))
    OrderFactory(contact=contact, account=account, amount=Decimal("20.00"), ordered_at=at("2025-01-11", 20))
    OrderFactory(contact=contact, account=account, amount=Decimal("10.00"), ordered_at=at("2025-01-15"))
    summary = purchase_summary(observation_end=END, time_unit="day")
    row = by_customer(summary)[("contact", contact.pk)]
    assert row["frequency"] == 2  # three purchase days: the 1st, the 11th (two orders), the 15th
    assert row["recency"] == 14
    assert row["T"] == 58  # Jan 1 to Feb 28, the last day before END (lifetimes: (end - first).days)
    assert row["monetary_value"] == pytest.approx((50 + 10) / 2)
    assert summary.orders == 4


def test_days_are_utc_calendar_days(account):
    contact = ContactFactory(account=account)
    # 40 minutes apart but on two UTC days: two purchases.
    OrderFactory(contact=contact, account=account, ordered_at=at("2025-01-01", 23, 40))
    OrderFactory(contact=contact, account=account, ordered_at=at("2025-01-02", 0, 20))
    row = by_customer(purchase_summary(observation_end=END, time_unit="day"))[("contact", contact.pk)]
    assert row["frequency"] == 1
    assert row["recency"] == 1


def test_recency_and_T_in_weeks_are_days_over_seven(account):
    contact = ContactFactory(account=account)
    OrderFactory(contact=contact, account=account, ordered_at=at("2025-01-01"))
    OrderFactory(contact=contact, account=account, ordered_at=at("2025-01-11"))
    days = by_customer(purchase_summary(observation_end=END, time_unit="day"))[("contact", contact.pk)]
    weeks = by_customer(purchase_summary(observation_end=END, time_unit="week"))[("contact", contact.pk)]
    assert (days["recency"], days["T"]) == (10, 58)
    assert weeks["recency"] == pytest.approx(10 / 7)
    assert weeks["T"] == pytest.approx(58 / 7)
    with pytest.raises(ValueError, match="time_unit must be one of day, week"):
        purchase_summary(observation_end=END, time_unit="month")


def test_only_orders_before_the_observation_end_count(account):
    contact = ContactFactory(account=account)
    late = ContactFactory(account=account)
    OrderFactory(contact=contact, account=account, ordered_at=at("2025-02-01"))
    OrderFactory(contact=contact, account=account, ordered_at=END - timedelta(seconds=1))
    OrderFactory(contact=contact, account=account, ordered_at=END)  # the bound is exclusive
    OrderFactory(contact=contact, account=account, ordered_at=at("2025-04-01"))
    OrderFactory(contact=late, account=account, ordered_at=at("2025-03-02"))
    summary = purchase_summary(observation_end=END, time_unit="day")
    rows = by_customer(summary)
    assert set(rows) == {("contact", contact.pk)}  # first purchase after the end: not a customer yet
    assert rows[("contact", contact.pk)]["frequency"] == 1
    assert rows[("contact", contact.pk)]["T"] == 27  # Feb 1 to Feb 28
    assert summary.orders == 2
    # A date is inclusive: the whole of Feb 28 is observed, the same bound as END.
    assert by_customer(purchase_summary(observation_end=date(2025, 2, 28), time_unit="day")) == rows
    with pytest.raises(ValueError, match="timezone-aware"):
        purchase_summary(observation_end=datetime(2025, 3, 1), time_unit="day")


def test_customer_is_the_contact_else_the_account_and_refunds_are_not_purchases(account):
    contact = ContactFactory(account=account)
    OrderFactory(contact=contact, account=account, amount=Decimal("40.00"), ordered_at=at("2025-01-05"))
    OrderFactory(contact=None, account=account, amount=Decimal("500.00"), ordered_at=at("2025-01-05"))
    OrderFactory(contact=None, account=account, amount=Decimal("700.00"), ordered_at=at("2025-02-05"))
    OrderFactory(contact=contact, account=account, amount=Decimal("-40.00"), ordered_at=at("2025-01-20"))
    # The contact's own order without the account, same day: still the contact's one purchase.
    OrderFactory(contact=contact, account=None, amount=Decimal("5.00"), ordered_at=at("2025-01-05", 18))
    rows = by_customer(purchase_summary(observation_end=END, time_unit="day"))
    assert set(rows) == {("contact", contact.pk), ("account", account.pk)}
    assert rows[("contact", contact.pk)]["frequency"] == 0  # the refund day is no purchase
    assert rows[("account", account.pk)]["frequency"] == 1
    assert rows[("account", account.pk)]["monetary_value"] == 700


def test_zero_dollar_orders_are_purchases_and_refunds_are_not(account):
    contact = ContactFactory(account=account)
    OrderFactory(contact=contact, account=account, amount=Decimal("50.00"), ordered_at=at("2025-01-01"))
    OrderFactory(contact=contact, account=account, amount=Decimal("0.00"), ordered_at=at("2025-01-10"))
    OrderFactory(contact=contact, account=account, amount=Decimal("-50.00"), ordered_at=at("2025-01-20"))
    free_first = ContactFactory(account=account)  # a customer from a free order
    OrderFactory(contact=free_first, account=account, amount=Decimal("0.00"), ordered_at=at("2025-02-01"))
    refund_only = ContactFactory(account=account)
    OrderFactory(contact=refund_only, account=account, amount=Decimal("-9.00"), ordered_at=at("2025-02-01"))
    summary = purchase_summary(observation_end=END, time_unit="day")
    rows = by_customer(summary)
    assert set(rows) == {("contact", contact.pk), ("contact", free_first.pk)}
    row = rows[("contact", contact.pk)]
    assert (row["frequency"], row["recency"], row["T"]) == (1, 9, 58)  # the $0 day is the repeat
    assert row["monetary_value"] == 0
    assert (rows[("contact", free_first.pk)]["frequency"], rows[("contact", free_first.pk)]["T"]) == (0, 27)
    assert summary.orders == 3


def test_a_first_purchase_on_the_last_observed_day_has_T_zero_and_fits(account):
    _simulated_orders(account, 120, seed=6)
    newcomer = ContactFactory(account=account)
    OrderFactory(contact=newcomer, account=account, ordered_at=at("2025-02-28", 23, 59))
    summary = purchase_summary(observation_end=date(2025, 2, 28), time_unit="day")
    assert by_customer(summary)[("contact", newcomer.pk)]["T"] == 0
    with_newcomer = bgnbd_fit(summary.frequency, summary.recency, summary.T)
    others = summary.customer_id != newcomer.pk
    without = bgnbd_fit(summary.frequency[others], summary.recency[others], summary.T[others])
    # As in lifetimes: T = 0 and x = 0 have likelihood 1, so the customer changes nothing.
    assert with_newcomer.converged and with_newcomer.log_likelihood == pytest.approx(without.log_likelihood)
    assert with_newcomer.a == pytest.approx(without.a, rel=1e-4)


def test_summary_respects_the_given_orders(account):
    one, two = ContactFactory(account=account), ContactFactory(account=account)
    OrderFactory(contact=one, account=account, ordered_at=at("2025-01-05"))
    OrderFactory(contact=two, account=account, ordered_at=at("2025-01-05"))
    summary = purchase_summary(observation_end=END, time_unit="day", orders=Order.objects.filter(contact=two))
    assert list(summary.customer_id) == [two.pk]


def _orders_for(account, customers: int):
    contacts = [ContactFactory(account=account) for _ in range(customers)]
    Order.objects.bulk_create(
        Order(
            contact=c,
            account=account,
            amount=Decimal(10 + i),
            ordered_at=at("2025-01-01") + timedelta(days=3 * i),
        )
        for c in contacts
        for i in range(4)
    )


def test_summary_and_report_take_a_constant_number_of_queries(account, django_assert_max_num_queries):
    _orders_for(account, 5)
    with django_assert_max_num_queries(1):
        small = purchase_summary(observation_end=END, time_unit="week")
    _orders_for(account, 45)
    with django_assert_max_num_queries(1):
        large = purchase_summary(observation_end=END, time_unit="week")
    assert (small.customers, large.customers) == (5, 50)
    assert large.orders == 200


# ---------------------------------------------------------------------------------------------
# The report


def _simulated_orders(account, customers: int, seed: int):
    """Orders from BG/NBD + Gamma-Gamma histories (days), first purchases over Jan-Apr 2024."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    first_day = rng.integers(0, 120, customers)
    T = (END - start).days - first_day
    x, t_x, _ = simulate_bgnbd(r=0.6, alpha=20.0, a=0.8, b=3.0, T=T.astype(float), rng=rng)
    contacts = [ContactFactory(account=account) for _ in range(customers)]
    orders = []
    for i, contact in enumerate(contacts):
        spend = rng.gamma(3.74, 1 / 15.44)
        repeat_days = [*np.sort(rng.uniform(0, t_x[i], int(x[i]) - 1)), t_x[i]] if x[i] else []
        for offset in [0.0, *repeat_days]:
            orders.append(
                Order(
                    contact=contact,
                    account=account,
                    amount=Decimal(str(round(rng.gamma(6.25, 1 / spend), 2))) + Decimal("0.01"),
                    gross_margin=Decimal("0.5") if i % 2 else Decimal("0.7"),
                    ordered_at=start + timedelta(days=int(first_day[i]) + offset),
                )
            )
    Order.objects.bulk_create(orders)
    return orders


def test_report_fits_both_models_and_shows_its_arithmetic(account, django_assert_max_num_queries):
    orders = _simulated_orders(account, 300, seed=3)
    with django_assert_max_num_queries(1):
        report = clv_report(observation_end=END, time_unit="week")
    assert json.loads(json.dumps(report)) == report  # JSON-ready as it is (snapshots store it)
    inputs = report["inputs"]
    assert report["time_unit"] == "week" and report["horizon_months"] == 12
    assert report["observation_end"] == "2025-03-01T00:00:00+00:00"
    assert inputs["customers"] == 300 == len(report["customers"])
    assert inputs["orders"] == len(orders)
    assert 0 < inputs["repeat_customers"] < 300
    assert inputs["first_order_day"] == min(o.ordered_at for o in orders).date().isoformat()
    revenue = sum(o.amount for o in orders)
    weighted = sum(o.amount * o.gross_margin for o in orders) / revenue
    assert Decimal(inputs["margin"]) == weighted.quantize(Decimal("0.0001"))
    assert inputs["margin_source"].startswith("orders")
    assert report["bgnbd"]["converged"] and report["gamma_gamma"]["converged"]
    assert report["bgnbd"]["customers"] == 300
    assert report["gamma_gamma"]["customers"] == inputs["repeat_customers"]

    margin = float(inputs["margin"])
    params = BGNBDParams(
        **{k: report["bgnbd"][k] for k in ("r", "alpha", "a", "b")}, log_likelihood=0, n=0, converged=True
    )
    for row in report["customers"][:20]:
        purchases = bgnbd_expected_purchases(
            params, 365.2425 / 7, [row["frequency"]], [row["recency"]], [row["T"]]
        )[0]
        assert row["expected_purchases_12m"] == pytest.approx(purchases, abs=2e-3)
        value = row["expected_purchases_12m"] * float(row["expected_avg_value"]) * margin
        assert float(row["expected_value_12m"]) == pytest.approx(value, rel=2e-3, abs=0.02)
        assert (row["monetary_value"] is None) == (row["frequency"] == 0)
    values = [Decimal(row["expected_value_12m"]) for row in report["customers"]]
    assert values == sorted(values, reverse=True)

    cohorts = report["cohorts"]
    assert [c["cohort"] for c in cohorts] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert sum(c["customers"] for c in cohorts) == 300
    for cohort in cohorts:
        members = [row for row in report["customers"] if row["cohort"] == cohort["cohort"]]
        total = sum(Decimal(row["expected_value_12m"]) for row in members)
        assert Decimal(cohort["expected_value_12m_sum"]) == pytest.approx(
            total, abs=Decimal("0.01") * len(members)
        )
        alive = sum(row["probability_alive"] for row in members) / len(members)
        assert cohort["mean_probability_alive"] == pytest.approx(alive, abs=1e-4)


def test_report_counts_free_repeat_purchases_but_fits_spend_on_paid_ones(account):
    _simulated_orders(account, 120, seed=7)
    free = ContactFactory(account=account)
    OrderFactory(contact=free, account=account, amount=Decimal("30.00"), ordered_at=at("2024-06-01"))
    OrderFactory(contact=free, account=account, amount=Decimal("0.00"), ordered_at=at("2024-09-01"))
    report = clv_report(observation_end=END)
    inputs = report["inputs"]
    assert (
        report["time_unit"] == "day" and "$0 orders count as purchases" in report["definitions"]["purchase"]
    )
    assert inputs["repeat_customers_without_spend"] == 1
    assert report["gamma_gamma"]["customers"] == inputs["repeat_customers"] - 1
    row = next(r for r in report["customers"] if r["customer_id"] == free.pk)
    assert (row["frequency"], row["recency"], row["T"]) == (1, 92, (END.date() - date(2024, 6, 1)).days - 1)
    assert row["monetary_value"] == "0.00" and Decimal(row["expected_avg_value"]) > 0


def test_report_margin_falls_back_to_the_argument_then_to_revenue(account):
    _simulated_orders(account, 120, seed=4)
    Order.objects.update(gross_margin=None)
    given = clv_report(observation_end=END, time_unit="day", margin=Decimal("0.25"), horizon_months=6)
    revenue = clv_report(observation_end=END, time_unit="day", horizon_months=6)
    assert given["inputs"]["margin"] == "0.25" and given["inputs"]["margin_source"].startswith("argument")
    assert revenue["inputs"]["margin"] == "1" and revenue["inputs"]["margin_source"].startswith("none")
    first = given["customers"][0]
    same = next(r for r in revenue["customers"] if r["customer_id"] == first["customer_id"])
    assert Decimal(first["expected_value_6m"]) == pytest.approx(
        Decimal(same["expected_value_6m"]) / 4, abs=Decimal("0.01")
    )
    with pytest.raises(ValueError, match="margin must be a fraction"):
        clv_report(observation_end=END, margin=Decimal("62"))


def test_report_moves_a_future_observation_end_to_now(account):
    _simulated_orders(account, 80, seed=5)
    report = clv_report(observation_end=datetime.now(UTC) + timedelta(days=30))
    assert "moved to now" in " ".join(report["warnings"])
    assert datetime.fromisoformat(report["observation_end"]) <= datetime.now(UTC)


def test_report_on_too_thin_data_is_a_clear_error(account):
    with pytest.raises(ValueError, match="No orders before the observation end"):
        clv_report(observation_end=END)
    contact = ContactFactory(account=account)
    OrderFactory(contact=contact, account=account, ordered_at=at("2025-01-05"))
    OrderFactory(contact=ContactFactory(account=account), account=account, ordered_at=at("2025-01-05"))
    with pytest.raises(ValueError, match="not identifiable"):
        clv_report(observation_end=END)
    OrderFactory(contact=contact, account=account, ordered_at=at("2025-01-25"))
    with pytest.raises(ValueError, match="at least two repeat customers"):
        clv_report(observation_end=END)

"""The shifted-beta-geometric model against Fader & Hardie (2007)'s published fits, a hand-computed
DERL, and the subscription-clv answer on a small contract fixture."""

import math
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest

from analytics.answers import parse
from analytics.assumptions import assumption_values
from analytics.clv.sbg import (
    sbg_churn_probability,
    sbg_del,
    sbg_derl,
    sbg_fit,
    sbg_fit_survivors,
    sbg_log_likelihood,
    sbg_retention_rate,
    sbg_survival,
)
from analytics.metrics.subscription_clv import subscription_clv
from crm.models import RenewalStatus
from tests.factories import AccountFactory, RenewalFactory

# Fader & Hardie (2007), "How to project customer retention", J. Interactive Marketing 21(1),
# table 1: customers alive out of 1000 at the start of years 0-7 (the calibration period), and
# the ML estimates from those seven years: regular alpha 0.704, beta 1.182; high end alpha 0.668,
# beta 3.806 (checked against the paper's appendix and two independent re-fits).
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


def sig3(value: float) -> str:
    return f"{value:.3g}"


@pytest.mark.parametrize(
    ("alive", "alpha", "beta"),
    [(REGULAR, 0.704, 1.182), (HIGH_END, 0.668, 3.806)],
    ids=["regular", "high-end"],
)
def test_fit_reproduces_the_papers_published_parameters(alive, alpha, beta):
    fit = sbg_fit_survivors(alive)
    assert fit.converged and fit.n == 1000
    assert sig3(fit.alpha) == sig3(alpha)
    assert sig3(fit.beta) == sig3(beta)
    # And to the published third decimal.
    assert round(fit.alpha, 3) == alpha and round(fit.beta, 3) == beta


def test_regular_fit_is_the_maximum_and_tracks_the_data():
    fit = sbg_fit_survivors(REGULAR)
    # A maximum: no better than the fit at the published (rounded) parameters, and close to it.
    lost = np.repeat(np.arange(1, 8), -np.diff(REGULAR))
    published = sbg_log_likelihood(0.704, 1.182, lost, [7] * REGULAR[-1])
    assert published <= fit.log_likelihood < published + 0.01
    assert round(fit.log_likelihood, 1) == -1680.3
    # The fitted curve runs through the calibration data (within 6 of 1000 every year).
    projected = sbg_survival(fit.alpha, fit.beta, np.arange(1, 8)) * 1000
    assert np.all(np.abs(projected - np.array(REGULAR[1:])) < 12)


def test_probabilities_are_consistent():
    a, b = 0.704, 1.182
    t = np.arange(1, 30)
    # P(T = t) = S(t-1) - S(t); r_t = S(t) / S(t-1).
    assert np.allclose(sbg_churn_probability(a, b, t), sbg_survival(a, b, t - 1) - sbg_survival(a, b, t))
    assert np.allclose(sbg_retention_rate(a, b, t), sbg_survival(a, b, t) / sbg_survival(a, b, t - 1))
    # alpha = beta = 1 by hand: P(T=1) = 1/2, P(T=2) = 1/6, P(T=3) = 1/12, S(t) = 1/(t+1).
    assert np.allclose(sbg_churn_probability(1, 1, [1, 2, 3]), [1 / 2, 1 / 6, 1 / 12])
    assert np.allclose(sbg_survival(1, 1, [0, 1, 4]), [1, 1 / 2, 1 / 5])
    # The individual log-likelihood of 2 lost in period 1 and 1 still active after 2 periods.
    assert math.isclose(sbg_log_likelihood(1, 1, [1, 1], [2]), 2 * math.log(0.5) + math.log(1 / 3))


def test_derl_by_hand():
    """alpha = beta = 1, d = 10%: S(t) = 1/(t+1), so DEL = sum_t z^t/(t+1) = -ln(1-z)/z with
    z = 1/1.1: 1.1 ln 11 = 2.637685; DERL after 0 renewals = sum_t>=1 S(t) z^(t-1) = (DEL - 1)/z
    = 1.1 (1.1 ln 11 - 1) = 1.801453."""
    assert math.isclose(sbg_del(1, 1, 0.10), 2.637685, abs_tol=1e-6)
    assert math.isclose(sbg_derl(1, 1, 0.10, 0), 1.801453, abs_tol=1e-6)
    # After 1 renewal: sum_t>=2 [S(t)/S(1)] z^(t-2) = 2 sum_t>=2 z^(t-2)/(t+1)
    # = 2 z^-3 (-ln(1-z) - z - z^2/2) = 2 x 1.331 x (ln 11 - 0.909091 - 0.413223) = 2.863197.
    assert math.isclose(sbg_derl(1, 1, 0.10, 1), 2.863197, abs_tol=1e-6)
    # The paper's regular segment: DEL agrees with the sum of the discounted survival curve.
    fit = sbg_fit_survivors(REGULAR)
    s = sbg_survival(fit.alpha, fit.beta, np.arange(0, 4000))
    assert math.isclose(
        sbg_del(fit.alpha, fit.beta, 0.1), float(np.sum(s / 1.1 ** np.arange(0, 4000))), rel_tol=1e-9
    )


def test_fit_refuses_data_without_churn():
    with pytest.raises(ValueError, match="without churn"):
        sbg_fit([], [1, 2, 3])
    with pytest.raises(ValueError):
        sbg_derl(1, 1, 0, 0)


# --- the answer, through the API -------------------------------------------------------------


def _account(signed_up: date, terms: list[tuple[str, str]]):
    """An account with consecutive annual terms: (status, acv) each, from its sign-up."""
    account = AccountFactory(
        signed_up_at=datetime(signed_up.year, signed_up.month, signed_up.day, tzinfo=UTC)
    )
    start = signed_up
    for status, acv in terms:
        end = date(start.year + 1, start.month, start.day)
        renewed = None if status in (RenewalStatus.UPCOMING, RenewalStatus.CHURNED) else Decimal(acv)
        RenewalFactory(
            account=account,
            start_date=start,
            end_date=end,
            acv=Decimal(acv),
            status=status,
            renewed_acv=renewed,
        )
        start = end
    return account


R, C, U = RenewalStatus.RENEWED, RenewalStatus.CHURNED, RenewalStatus.UPCOMING


@pytest.mark.django_db
def test_subscription_clv_api_on_a_contract_fixture(api, django_assert_max_num_queries):
    """2021 cohort, 3 accounts (too few for the sBG: constant churn):
    A renews twice then churns (lost in period 3), B renews once and its next term is open (active
    after 1), C churns at its first decision (lost in period 1). Decisions: period 1 3 (2 renewed),
    period 2 1 (1), period 3 1 (0): churn = 2 lost / 5 decisions = 0.4, lifetime 2.5 periods,
    remaining 1.5. Revenue per period = (3 x 1000 + 2 x 2000 + 1000) / 6 terms = 1333.33; x margin
    0.75 = 1000: LTV 2500.00, residual 1500.00.
    2022 cohort, 20 accounts: 6 lost in period 1, 3 in period 2, 11 active after 2: the sBG."""
    _account(date(2021, 2, 1), [(R, "1000"), (R, "1000"), (C, "1000")])
    _account(date(2021, 3, 1), [(R, "2000"), (U, "2000")])
    _account(date(2021, 4, 1), [(C, "1000")])
    for i in range(20):
        day = date(2022, 1, 1 + i)
        if i < 6:
            _account(day, [(C, "500")])
        elif i < 9:
            _account(day, [(R, "500"), (C, "500")])
        else:
            _account(day, [(R, "500"), (R, "500"), (U, "500")])
    scope = parse("subscription-clv", {"end": "2025-12-31"})
    values = assumption_values()
    with django_assert_max_num_queries(1):  # one grouped query, whatever the number of accounts
        subscription_clv(scope, values)
    body = api.get("/api/v1/analytics/subscription-clv/", {"end": "2025-12-31"}).json()
    assert body["cohort"] == "year" and body["inputs"]["discount_rate"] == 0.1
    small, big = body["cohorts"]
    assert small["cohort"] == "2021" and small["method"] == "constant churn"
    assert "3 accounts" in small["note"]
    assert (small["accounts"], small["lost"], small["active"], small["decisions"]) == (3, 2, 1, 5)
    assert [(p["decided"], p["renewed"]) for p in small["observed"]] == [(3, 2), (1, 1), (1, 0)]
    assert small["churn_per_period"] == 0.4
    assert small["revenue_per_period"] == "1333.33"
    assert (small["expected_lifetime_periods"], small["expected_remaining_periods"]) == (2.5, 1.5)
    assert (small["subscription_ltv"], small["residual_value_per_active_account"]) == ("2500.00", "1500.00")

    assert big["cohort"] == "2022" and big["method"] == "sBG"
    fit = sbg_fit([1] * 6 + [2] * 3, [2] * 11)
    assert (big["alpha"], big["beta"]) == (round(fit.alpha, 4), round(fit.beta, 4))
    assert [p["retention"] for p in big["observed"]] == [round(14 / 20, 4), round(11 / 14, 4)]
    assert big["projected"][0]["retention"] == round(fit.beta / (fit.alpha + fit.beta), 4)
    lifetime, remaining = sbg_del(fit.alpha, fit.beta, 0.1), sbg_derl(fit.alpha, fit.beta, 0.1, 2)
    assert big["expected_lifetime_periods"] == round(lifetime, 4)
    assert big["expected_remaining_periods"] == round(remaining, 4)
    per_period = Decimal("500") * Decimal("0.75")
    assert big["subscription_ltv"] == str((per_period * Decimal(str(lifetime))).quantize(Decimal("0.01")))
    # The headline alpha and beta are the pooled fit over every account.
    assert body["overall"]["accounts"] == 23 and body["alpha"] == body["overall"]["alpha"]
    for key in ("beta", "observed", "projected", "expected_remaining_periods", "subscription_ltv"):
        assert body[key] == body["overall"][key]

    quarter = api.get(
        "/api/v1/analytics/subscription-clv/", {"end": "2025-12-31", "cohort": "quarter"}
    ).json()
    assert [c["cohort"] for c in quarter["cohorts"]] == ["2021-Q1", "2021-Q2", "2022-Q1"]
    bad = api.get("/api/v1/analytics/subscription-clv/", {"cohort": "month"})
    assert bad.status_code == 400 and "cohort" in bad.json()


@pytest.mark.django_db
def test_undecided_terms_after_the_end_are_not_decisions(api):
    """A churn decided after the scope's end does not count: the account is active as of then."""
    _account(date(2021, 2, 1), [(R, "1000"), (C, "1000")])  # churn decided at 2023-02-01
    body = api.get("/api/v1/analytics/subscription-clv/", {"end": "2022-12-31", "start": "2022-01-01"}).json()
    (cohort,) = body["cohorts"]
    assert (cohort["lost"], cohort["active"]) == (0, 1)
    assert "no account lost" in cohort["note"] or "accounts" in cohort["note"]

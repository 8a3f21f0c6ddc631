"""Subscription LTV by sign-up cohort from contract renewals: the shifted-beta-geometric model
(analytics/clv/sbg.py) where a cohort has enough history, the constant-churn formula otherwise.

A period is one contract term (Renewal row); the n-th renewal decision of an account ends its
n-th term. As of the scope's end, each account with terms is either lost in period
``renewals + 1`` (a term ended churned) or still active after ``renewals`` periods (censored).
Only terms that ended on or before the scope's end count as decided.
"""

from collections import defaultdict
from decimal import Decimal

import numpy as np
from django.db.models import Count, Min, Q, Sum

from analytics.clv.sbg import (
    sbg_del,
    sbg_derl,
    sbg_fit,
    sbg_retention_rate,
    sbg_survival,
)
from analytics.metrics.common import money, rate, ratio
from analytics.scope import Scope
from crm.models import Renewal, RenewalStatus

COHORT_KINDS = ("year", "quarter")
# The rule for using the sBG fit on a cohort (else: constant churn, and the answer says why).
MIN_ACCOUNTS = 20
MIN_PERIODS_DECIDED = 2  # renewal decisions seen in at least 2 different periods
PROJECTED_PERIODS = 10
KEPT = (RenewalStatus.RENEWED, RenewalStatus.EXPANDED, RenewalStatus.DOWNGRADED)
SBG = "sBG"
CONSTANT = "constant churn"

SOURCE = (
    "Fader & Hardie (2007), How to project customer retention, Journal of Interactive Marketing 21(1) "
    "(sBG); Fader & Hardie (2010), Customer-base valuation in a contractual setting: the perils of "
    "ignoring heterogeneity, Marketing Science 29(1) (DERL)"
)
DEFINITIONS = {
    "cohort": "the year or quarter (UTC) of the account's signed_up_at; accounts with contract terms only",
    "period": "one contract term (a Renewal row; annual contracts make it a year)",
    "renewal": "a term that ended by the scope's end with status renewed, expanded or downgraded",
    "lost": "an account with a term that ended churned by the scope's end: lost in period renewals + 1",
    "active": "an account not lost: censored after its renewals (undecided terms are not decisions)",
    "observed_retention": "renewed / decided among the cohort's accounts at the n-th renewal decision",
    "projected_retention": "sBG r_t = (beta + t - 1) / (alpha + beta + t - 1)",
    "projected_survival": "sBG S(t) = B(alpha, beta + t) / B(alpha, beta)",
    "revenue_per_period": "mean ACV of the cohort's terms",
    "margin": "the gross_margin assumption",
    "discount_rate": "the annual_discount_rate assumption, per period",
    "expected_lifetime_periods": (
        "sBG: DEL = sum_t>=0 S(t)/(1+d)^t = 2F1(1, beta; alpha+beta; 1/(1+d)), the discounted expected "
        "lifetime of a new customer counting her first term; constant churn: 1 / churn (undiscounted)"
    ),
    "expected_remaining_periods": (
        "sBG: mean over the cohort's active accounts of DERL(d | alpha, beta, renewals) = "
        "(beta+n-1)/(alpha+beta+n-1) 2F1(1, beta+n; alpha+beta+n; 1/(1+d)) with n - 1 = renewals made "
        "(Fader & Hardie 2010, eq. 6); constant churn: (1 - churn) / churn"
    ),
    "subscription_ltv": "revenue per period x margin x expected_lifetime_periods (a new customer's value)",
    "residual_value_per_active_account": "revenue per period x margin x expected_remaining_periods",
    "method": (
        f"sBG when the cohort has >= {MIN_ACCOUNTS} accounts, >= 1 lost, decisions in >= "
        f"{MIN_PERIODS_DECIDED} periods and the fit converges; otherwise constant churn (ARPA x margin / "
        "churn, the formula of analytics/ltv/, with churn = lost / decisions in the cohort), and the "
        "cohort's note says why"
    ),
}


def _cohort_label(signed_up_at, kind: str) -> str:
    if kind == "year":
        return str(signed_up_at.year)
    return f"{signed_up_at.year}-Q{(signed_up_at.month - 1) // 3 + 1}"


def _accounts(scope: Scope):
    """Per account with terms: sign-up, renewals made, lost or not, ACV total and terms. One query."""
    decided = Q(end_date__lte=scope.end)
    rows = (
        scope.segment(Renewal.objects.all())
        .values("account_id")
        .annotate(
            signed_up_at=Min("account__signed_up_at"),
            renewals=Count("id", filter=decided & Q(status__in=KEPT)),
            lost=Count("id", filter=decided & Q(status=RenewalStatus.CHURNED)),
            acv=Sum("acv"),
            terms=Count("id"),
        )
        .order_by()
    )
    return [row for row in rows if row["signed_up_at"] is not None]


def observed_retention(lost_at: np.ndarray, censored_at: np.ndarray) -> list[dict]:
    """By period t: accounts that faced their t-th renewal decision, how many renewed, and the
    survival so far (product of the retention rates: a Kaplan-Meier estimate on whole periods)."""
    last = int(max(lost_at.max(initial=0), censored_at.max(initial=0)))
    rows, survival = [], 1.0
    for t in range(1, last + 1):
        renewed = int(np.count_nonzero(censored_at >= t) + np.count_nonzero(lost_at > t))
        decided = renewed + int(np.count_nonzero(lost_at == t))
        if decided == 0:
            break
        survival *= renewed / decided
        rows.append(
            {
                "period": t,
                "decided": decided,
                "renewed": renewed,
                "retention": rate(renewed / decided),
                "survival": rate(survival),
            }
        )
    return rows


def _projection(alpha: float, beta: float, periods: int) -> list[dict]:
    t = np.arange(1, periods + 1)
    retention, survival = sbg_retention_rate(alpha, beta, t), sbg_survival(alpha, beta, t)
    return [
        {"period": int(p), "retention": rate(r), "survival": rate(s)}
        for p, r, s in zip(t, retention, survival, strict=True)
    ]


def cohort_clv(
    name: str,
    lost_at: np.ndarray,
    censored_at: np.ndarray,
    revenue_per_period: Decimal | None,
    margin: Decimal,
    discount_rate: float,
) -> dict:
    accounts = int(lost_at.size + censored_at.size)
    observed = observed_retention(lost_at, censored_at)
    decisions = sum(row["decided"] for row in observed)
    lost = int(lost_at.size)
    per_period = None if revenue_per_period is None else revenue_per_period * margin
    row = {
        "cohort": name,
        "accounts": accounts,
        "lost": lost,
        "active": int(censored_at.size),
        "decisions": decisions,
        "revenue_per_period": money(revenue_per_period),
        "observed": observed,
        "alpha": None,
        "beta": None,
        "log_likelihood": None,
        "projected": [],
        "churn_per_period": None,
        "expected_lifetime_periods": None,
        "expected_remaining_periods": None,
        "subscription_ltv": None,
        "residual_value_per_active_account": None,
    }
    why = ""
    if accounts < MIN_ACCOUNTS:
        why = f"{accounts} accounts (the sBG fit needs {MIN_ACCOUNTS})"
    elif lost == 0:
        why = "no account lost yet"
    elif len(observed) < MIN_PERIODS_DECIDED:
        why = f"decisions in {len(observed)} period(s) (the sBG fit needs {MIN_PERIODS_DECIDED})"
    fit = None
    if not why:
        fit = sbg_fit(lost_at, censored_at)
        if not fit.converged:
            why, fit = f"the sBG fit did not converge ({fit.message})", None
    if fit is not None:
        lifetime = sbg_del(fit.alpha, fit.beta, discount_rate)
        remaining = None
        if censored_at.size:  # weight by how many active accounts made each number of renewals
            values, counts = np.unique(censored_at, return_counts=True)
            derl = [sbg_derl(fit.alpha, fit.beta, discount_rate, int(c)) for c in values]
            remaining = float(np.dot(derl, counts) / counts.sum())
        periods = max(PROJECTED_PERIODS, len(observed) + 5)
        row.update(
            method=SBG,
            note="",
            alpha=round(fit.alpha, 4),
            beta=round(fit.beta, 4),
            log_likelihood=round(fit.log_likelihood, 3),
            projected=_projection(fit.alpha, fit.beta, periods),
            expected_lifetime_periods=rate(lifetime),
            expected_remaining_periods=rate(remaining),
        )
        lifetime_d = Decimal(str(lifetime))
        remaining_d = None if remaining is None else Decimal(str(remaining))
    else:
        churn = lost / decisions if decisions else None
        row.update(method=CONSTANT, note=f"Constant churn: {why}.", churn_per_period=rate(churn))
        lifetime_d = remaining_d = None
        if churn:
            lifetime_d = Decimal(1) / Decimal(str(churn))
            remaining_d = (Decimal(1) - Decimal(str(churn))) / Decimal(str(churn))
            row.update(
                expected_lifetime_periods=rate(lifetime_d), expected_remaining_periods=rate(remaining_d)
            )
        else:
            row["note"] += " No churn: the constant-churn lifetime is unbounded on this data."
    if per_period is not None and lifetime_d is not None:
        row["subscription_ltv"] = money(per_period * lifetime_d)
        if remaining_d is not None:
            row["residual_value_per_active_account"] = money(per_period * remaining_d)
    return row


def subscription_clv(scope: Scope, assumptions: dict[str, Decimal], *, cohort: str = "year") -> dict:
    if cohort not in COHORT_KINDS:
        raise ValueError(f"cohort must be one of {', '.join(COHORT_KINDS)}.")
    margin = assumptions["gross_margin"]
    discount = float(assumptions["annual_discount_rate"])
    groups: dict[str, dict[str, list]] = defaultdict(
        lambda: {"lost": [], "censored": [], "acv": [], "terms": []}
    )
    for row in _accounts(scope):
        group = groups[_cohort_label(row["signed_up_at"], cohort)]
        if row["lost"]:
            group["lost"].append(row["renewals"] + 1)
        else:
            group["censored"].append(row["renewals"])
        group["acv"].append(row["acv"])
        group["terms"].append(row["terms"])

    def build(name, lost, censored, acv, terms):
        revenue = ratio(sum(acv, Decimal(0)), sum(terms)) if terms else None
        return cohort_clv(
            name, np.asarray(lost, dtype=float), np.asarray(censored, dtype=float), revenue, margin, discount
        )

    cohorts = [build(name, **groups[name]) for name in sorted(groups)]
    every = {
        key: [v for g in groups.values() for v in g[key]] for key in ("lost", "censored", "acv", "terms")
    }
    overall = build("all", **every) if groups else None
    return {
        "scope": scope.as_dict(),
        "cohort": cohort,
        "source": SOURCE,
        "definitions": DEFINITIONS,
        "inputs": {
            "accounts": sum(c["accounts"] for c in cohorts),
            "gross_margin": rate(margin),
            "gross_margin_source": "assumption",
            "discount_rate": rate(discount),
            "discount_rate_source": "assumption annual_discount_rate",
            "min_accounts": MIN_ACCOUNTS,
            "min_periods_decided": MIN_PERIODS_DECIDED,
        },
        # The pooled fit over every cohort: the headline figures (API.md's fields), then by cohort.
        **{
            key: overall[key] if overall else default
            for key, default in (
                ("method", None),
                ("alpha", None),
                ("beta", None),
                ("observed", []),
                ("projected", []),
                ("expected_lifetime_periods", None),
                ("expected_remaining_periods", None),
                ("subscription_ltv", None),
            )
        },
        "overall": overall,
        "cohorts": cohorts,
    }

"""The predictive customer value report: BG/NBD + Gamma-Gamma fitted on the orders, with
per-customer and per-cohort predictions, as a JSON-ready dict that shows its inputs."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from django.db.models import QuerySet

from .bgnbd import BGNBDParams, bgnbd_fit, bgnbd_probability_alive
from .gamma_gamma import GGParams, gamma_gamma_expected_value, gamma_gamma_fit
from .summary import PurchaseSummary, purchase_summary
from .value import expected_customer_value

CENT = Decimal("0.01")


def _money(value: float | Decimal | None) -> str | None:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    return str(Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP))


def _round(value: float, digits: int = 4) -> float:
    return round(float(value), digits)


def _sig(value: float, digits: int = 6) -> float:
    """Parameters span orders of magnitude; keep significant digits rather than decimals."""
    return float(f"{float(value):.{digits}g}")


def _margin(summary, margin) -> tuple[Decimal, str]:
    if summary.margin_orders and summary.margin_revenue > 0:
        # Revenue-weighted: the margin of a currency unit of revenue, which is what multiplies
        # the predicted revenue. A plain mean over orders would let small orders count as much
        # as large ones.
        weighted = (summary.margin_amount / summary.margin_revenue).quantize(Decimal("0.0001"))
        return weighted, f"orders: revenue-weighted mean gross_margin of {summary.margin_orders} orders"
    if margin is not None:
        margin = Decimal(str(margin))
        if not (Decimal(-1) <= margin <= Decimal(1)):
            raise ValueError("margin must be a fraction between -1 and 1 (0.62 = 62%).")
        return margin, "argument: no order in the calibration has a gross_margin"
    return Decimal(1), "none: no order has a gross_margin and none was given, so values are revenue"


SOURCE = (
    "Fader, Hardie & Lee (2005), Counting your customers the easy way, Marketing Science 24(2) (BG/NBD); "
    "Fader & Hardie (2013), The Gamma-Gamma model of monetary value; purchase histories as lifetimes' "
    "summary_data_from_transaction_data (freq='D') and pymc-marketing's rfm_summary"
)


def definitions(time_unit: str) -> dict:
    per_unit = " (divided by 7: weeks, the paper's unit)" if time_unit == "week" else ""
    return {
        "customer": "the order's contact, or its account for orders without a contact",
        "purchase": (
            "a UTC day with orders of amount >= 0: several orders on one day are one purchase; "
            "$0 orders count as purchases, refunds and other negative orders do not"
        ),
        "frequency": "purchase days - 1 (repeat purchases)",
        "recency": f"last purchase day - first purchase day, in whole days{per_unit}",
        "T": (
            "last observed day (the UTC date of the observation end) - first purchase day, "
            f"in whole days{per_unit}"
        ),
        "monetary_value": "mean of the repeat purchase days' totals (the first purchase is left out)",
        "time_unit": f"recency, T and alpha are in {time_unit}s; r, a and b have no unit",
        "spend_model": (
            "Gamma-Gamma is fitted on repeat customers whose repeat days total more than $0 "
            "(inputs.repeat_customers_without_spend are left out of the fit and valued from it)"
        ),
    }


@dataclass(frozen=True)
class Prediction:
    bgnbd: BGNBDParams
    gg: GGParams
    margin: Decimal
    margin_source: str
    alive: np.ndarray  # P(alive) per customer of the summary
    avg_value: np.ndarray  # expected value per purchase (Gamma-Gamma)
    purchases: np.ndarray  # expected purchases over the horizon
    value: np.ndarray  # expected value over the horizon, margin applied


def predict(
    summary: PurchaseSummary,
    *,
    horizon_months: int = 12,
    margin: Decimal | float | None = None,
    monthly_discount_rate: float = 0.0,
    penalizer: float = 0.0,
) -> Prediction:
    """Fit BG/NBD and Gamma-Gamma on ``summary`` and predict each customer's P(alive) and value
    over the next ``horizon_months``: what the CLV answer shows and the tier job stores."""
    if summary.customers == 0:
        raise ValueError("No orders before the observation end: there is nothing to fit.")
    bgnbd = bgnbd_fit(summary.frequency, summary.recency, summary.T, penalizer=penalizer)
    # $0 orders are purchases, so a repeat customer can have spent $0 after the first purchase;
    # spend per purchase is Gamma-distributed (positive), so the spend model leaves them out
    # (the usual filter with lifetimes and pymc-marketing) and predicts their value from it.
    spend_frequency = np.where(summary.monetary_value > 0, summary.frequency, 0)
    gg = gamma_gamma_fit(spend_frequency, summary.monetary_value, penalizer=penalizer)
    margin_used, margin_source = _margin(summary, margin)
    x, t_x, T = summary.frequency, summary.recency, summary.T
    alive = bgnbd_probability_alive(bgnbd, x, t_x, T)
    avg_value = gamma_gamma_expected_value(gg, x, summary.monetary_value)
    purchases, value = expected_customer_value(
        bgnbd,
        frequency=x,
        recency=t_x,
        T=T,
        expected_avg_value=avg_value,
        horizon_months=horizon_months,
        time_unit=summary.time_unit,
        margin=float(margin_used),
        monthly_discount_rate=monthly_discount_rate,
    )
    return Prediction(bgnbd, gg, margin_used, margin_source, alive, avg_value, purchases, value)


def clv_report(
    *,
    observation_end: date | datetime,
    time_unit: str = "day",
    horizon_months: int = 12,
    orders: QuerySet | None = None,
    margin: Decimal | float | None = None,
    monthly_discount_rate: float = 0.0,
    penalizer: float = 0.0,
) -> dict:
    """Fit both models on ``orders`` (default: all) before ``observation_end`` and predict the
    next ``horizon_months``. Raises ValueError with a user-facing message when the data cannot
    support a fit (no orders, nobody repeats, too few repeat customers)."""
    summary = purchase_summary(observation_end=observation_end, time_unit=time_unit, orders=orders)
    p = predict(
        summary,
        horizon_months=horizon_months,
        margin=margin,
        monthly_discount_rate=monthly_discount_rate,
        penalizer=penalizer,
    )
    bgnbd, gg, margin_used, margin_source = p.bgnbd, p.gg, p.margin, p.margin_source
    x, t_x, T = summary.frequency, summary.recency, summary.T
    alive, avg_value, purchases, value = p.alive, p.avg_value, p.purchases, p.value
    repeaters = summary.frequency > 0

    warnings = []
    if not bgnbd.converged:
        warnings.append(f"BG/NBD optimiser did not converge ({bgnbd.message}); treat predictions with care.")
    if not gg.converged:
        warnings.append(f"Gamma-Gamma optimiser did not converge ({gg.message}); treat values with care.")
    if gg.population_mean is None:
        warnings.append(
            "Gamma-Gamma q <= 1: mean spend per purchase is unbounded in the population, so customers "
            "without repeat purchases get no value."
        )
    if summary.observation_end != summary.observation_end_requested:
        warnings.append("observation_end was in the future and was moved to now.")

    purchases_key = f"expected_purchases_{horizon_months}m"
    value_key = f"expected_value_{horizon_months}m"
    months = [str(month) for month in summary.first_purchase.astype("datetime64[M]")]
    customers = []
    for i in range(summary.customers):
        customers.append(
            {
                "customer_id": int(summary.customer_id[i]),
                "kind": summary.kind[i],
                "first_purchase": str(summary.first_purchase[i]),
                "cohort": months[i],
                "frequency": int(x[i]),
                "recency": _round(t_x[i]),
                "T": _round(T[i]),
                "monetary_value": _money(summary.monetary_value[i]) if x[i] > 0 else None,
                purchases_key: _round(purchases[i]),
                "probability_alive": _round(alive[i]),
                "expected_avg_value": _money(avg_value[i]),
                value_key: _money(value[i]),
            }
        )
    # Most valuable first; ties (and customers without a value) in a stable order.
    customers.sort(
        key=lambda row: (
            row[value_key] is None,
            -Decimal(row[value_key] or 0),
            row["kind"],
            row["customer_id"],
        )
    )

    cohorts = []
    months_array = np.array(months)
    for month in sorted(set(months)):
        members = months_array == month
        valued = members & np.isfinite(value)
        total = float(value[valued].sum())
        cohorts.append(
            {
                "cohort": month,
                "customers": int(members.sum()),
                "repeat_customers": int((members & (x > 0)).sum()),
                purchases_key: _round(purchases[members].sum()),
                f"{value_key}_sum": _money(total),
                f"{value_key}_mean": _money(total / valued.sum()) if valued.any() else None,
                "customers_without_value": int((members & ~valued).sum()),
                "mean_probability_alive": _round(alive[members].mean()),
            }
        )

    return {
        "time_unit": time_unit,
        "definitions": definitions(time_unit),
        "source": SOURCE,
        "observation_end": summary.observation_end.isoformat(),
        "horizon_months": horizon_months,
        "inputs": {
            "customers": summary.customers,
            "repeat_customers": summary.repeat_customers,
            "orders": summary.orders,
            "first_order_day": summary.first_order_day.isoformat(),
            "last_order_day": summary.last_order_day.isoformat(),
            "observation_end_requested": summary.observation_end_requested.isoformat(),
            "margin": str(margin_used),
            "margin_source": margin_source,
            "monthly_discount_rate": monthly_discount_rate,
            "penalizer": penalizer,
            "repeat_customers_without_spend": int(
                np.count_nonzero(repeaters & (summary.monetary_value <= 0))
            ),
        },
        "bgnbd": {
            "r": _sig(bgnbd.r),
            "alpha": _sig(bgnbd.alpha),
            "a": _sig(bgnbd.a),
            "b": _sig(bgnbd.b),
            "log_likelihood": _round(bgnbd.log_likelihood, 3),
            "customers": bgnbd.n,
            "converged": bgnbd.converged,
        },
        "gamma_gamma": {
            "p": _sig(gg.p),
            "q": _sig(gg.q),
            "v": _sig(gg.v),
            "population_mean_value": _money(gg.population_mean),
            "log_likelihood": _round(gg.log_likelihood, 3),
            "customers": gg.n,
            "converged": gg.converged,
        },
        "warnings": warnings,
        "customers": customers,
        "cohorts": cohorts,
    }

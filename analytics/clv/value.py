"""Customer value over a horizon: expected purchases x expected value per purchase x margin,
optionally discounted month by month. Pure numpy."""

import numpy as np

from .bgnbd import bgnbd_expected_purchases

# The time units the model can be calibrated in, in days. Months are average Gregorian months.
TIME_UNIT_DAYS = {"day": 1.0, "week": 7.0}
DAYS_PER_MONTH = 365.2425 / 12


def time_units_per_month(time_unit: str) -> float:
    if time_unit not in TIME_UNIT_DAYS:
        raise ValueError(f"time_unit must be one of {', '.join(TIME_UNIT_DAYS)}, not {time_unit!r}.")
    return DAYS_PER_MONTH / TIME_UNIT_DAYS[time_unit]


def expected_customer_value(
    bgnbd_params,
    *,
    frequency,
    recency,
    T,
    expected_avg_value,
    horizon_months: int,
    time_unit: str,
    margin: float = 1.0,
    monthly_discount_rate: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(expected purchases, expected value) per customer over the next ``horizon_months``.

    Without discounting the value is E[Y(H)] * E[M] * margin. With a monthly rate d, each
    month's expected purchases E[Y(m)] - E[Y(m-1)] are worth 1/(1+d)^m of undiscounted money.
    """
    if horizon_months < 1 or int(horizon_months) != horizon_months:
        raise ValueError("horizon_months must be a whole number of months >= 1.")
    if not (0 <= monthly_discount_rate < 1):
        raise ValueError("monthly_discount_rate must be in [0, 1).")
    per_month = time_units_per_month(time_unit)
    value_per_purchase = np.asarray(expected_avg_value, dtype=float) * float(margin)
    purchases = bgnbd_expected_purchases(bgnbd_params, horizon_months * per_month, frequency, recency, T)
    if monthly_discount_rate == 0:
        return purchases, purchases * value_per_purchase
    discounted = np.zeros_like(purchases)
    previous = np.zeros_like(purchases)
    for month in range(1, int(horizon_months) + 1):
        cumulative = (
            purchases
            if month == horizon_months
            else bgnbd_expected_purchases(bgnbd_params, month * per_month, frequency, recency, T)
        )
        discounted += (cumulative - previous) / (1 + monthly_discount_rate) ** month
        previous = cumulative
    return purchases, discounted * value_per_purchase

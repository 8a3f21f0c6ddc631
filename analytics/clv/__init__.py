"""Predictive customer value: BG/NBD (Fader, Hardie and Lee 2005) for purchase counts and
Gamma-Gamma (Fader and Hardie 2013) for spend, fitted with scipy.

``bgnbd``, ``gamma_gamma`` and ``value`` are pure numpy/scipy; ``summary`` reads orders and
``report`` builds the JSON answer for ``GET /api/v1/analytics/clv/``. Those two import Django
models, so they load on first use: the numeric core imports without a configured Django.
"""

from .bgnbd import (
    BGNBDParams,
    bgnbd_expected_purchases,
    bgnbd_fit,
    bgnbd_log_likelihood,
    bgnbd_probability_alive,
)
from .gamma_gamma import GGParams, gamma_gamma_expected_value, gamma_gamma_fit, gamma_gamma_log_likelihood
from .value import TIME_UNIT_DAYS, expected_customer_value, time_units_per_month

__all__ = [
    "TIME_UNIT_DAYS",
    "BGNBDParams",
    "GGParams",
    "PurchaseSummary",
    "bgnbd_expected_purchases",
    "bgnbd_fit",
    "bgnbd_log_likelihood",
    "bgnbd_probability_alive",
    "clv_report",
    "expected_customer_value",
    "gamma_gamma_expected_value",
    "gamma_gamma_fit",
    "gamma_gamma_log_likelihood",
    "observation_end_at",
    "purchase_summary",
    "time_units_per_month",
]

_DJANGO_SIDE = {
    "clv_report": "report",
    "PurchaseSummary": "summary",
    "observation_end_at": "summary",
    "purchase_summary": "summary",
}


def __getattr__(name):
    if name in _DJANGO_SIDE:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_DJANGO_SIDE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

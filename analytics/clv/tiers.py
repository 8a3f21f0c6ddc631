"""CLV tiers: each order customer (a contact) gets P(alive), expected 12-month value and a tier
from the BG/NBD + Gamma-Gamma prediction the CLV answer shows (report.predict, same inputs as
``GET analytics/clv/``: weeks, 12 months, the gross_margin assumption where orders carry none),
stored through crm.services.contacts_clv_scores_set.

Tiers rank the scored contacts by expected 12-month value: ``high`` at or above the
(100 - CLV_TIER_HIGH_PERCENTILE)th percentile, ``low`` below the CLV_TIER_LOW_PERCENTILE-th
percentile (and not high), ``mid`` between (numpy's linear percentile). Contacts with no purchase
are not scored: blank tier, no P(alive) (a score they had is cleared). Orders without a contact
(account purchases) take part in the fit but score no contact. When the models cannot be fitted
(too few repeat buyers) nothing is written and the job says why.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from django.conf import settings
from django.utils import timezone

from crm.models import ClvTier
from crm.services import contacts_clv_scores_set

from .report import predict
from .summary import CONTACT, purchase_summary

TIME_UNIT, HORIZON_MONTHS = "week", 12
CENT = Decimal("0.01")


@dataclass(frozen=True)
class TierRun:
    scored: int
    cleared: int
    high_threshold: float | None
    low_threshold: float | None
    skipped: str = ""


def tier_of(
    values: np.ndarray, *, high_percentile: int, low_percentile: int
) -> tuple[np.ndarray, float, float]:
    """Tiers of ``values`` and the two thresholds (value >= high: high; value < low: low)."""
    high = float(np.percentile(values, 100 - high_percentile))
    low = float(np.percentile(values, low_percentile)) if low_percentile else -np.inf
    tiers = np.where(values >= high, ClvTier.HIGH, np.where(values < low, ClvTier.LOW, ClvTier.MID))
    return tiers, high, low


def clv_tiers_score(*, now: datetime | None = None, margin: Decimal | None = None) -> TierRun:
    """Fit on every order before ``now`` and store each contact's score as of ``now``."""
    from analytics.assumptions import assumption_values

    now = now or timezone.now()
    margin = assumption_values()["gross_margin"] if margin is None else margin
    summary = purchase_summary(observation_end=now, time_unit=TIME_UNIT)
    try:
        prediction = predict(summary, horizon_months=HORIZON_MONTHS, margin=margin)
    except ValueError as exc:
        return TierRun(0, 0, None, None, skipped=str(exc))
    contacts = (summary.kind == CONTACT) & np.isfinite(prediction.value)
    if not contacts.any():
        return TierRun(0, 0, None, None, skipped="No contact has a purchase with a finite value.")
    ids = summary.customer_id[contacts]
    alive = np.clip(prediction.alive[contacts], 0.0, 1.0)
    values = prediction.value[contacts]
    tiers, high, low = tier_of(
        values,
        high_percentile=settings.CLV_TIER_HIGH_PERCENTILE,
        low_percentile=settings.CLV_TIER_LOW_PERCENTILE,
    )
    scores = (
        (
            int(contact_id),
            round(float(p_alive), 6),
            Decimal(str(float(value))).quantize(CENT, rounding=ROUND_HALF_UP),
            str(tier),
        )
        for contact_id, p_alive, value, tier in zip(ids, alive, values, tiers, strict=True)
    )
    written = contacts_clv_scores_set(scores=scores, scored_at=now)
    return TierRun(written.scored, written.cleared, high, low if np.isfinite(low) else None)

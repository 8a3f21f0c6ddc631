"""django-q2 entry points of analytics."""

import logging

from django.utils import timezone

from analytics.answers import DAILY_METRICS, METRICS, answer, parse
from analytics.scores import health
from analytics.snapshots import snapshot_get_or_compute
from crm import services as crm_services

logger = logging.getLogger(__name__)


def refresh_snapshots() -> dict[str, int]:
    """Recompute the dashboard's answers (default period, no segment) so pages open instantly."""
    timings = {}
    for metric in METRICS:
        if metric in DAILY_METRICS:
            continue
        try:
            result = answer(metric, parse(metric, {}), refresh=True)
        except ValueError as exc:  # e.g. too few repeat buyers to fit the CLV model yet
            logger.info("analytics %s not refreshed: %s", metric, exc)
            continue
        timings[metric] = result["snapshot"]["duration_ms"]
    logger.info("analytics snapshots refreshed: %s", timings)
    return timings


def score_account_health(now=None) -> dict[str, object]:
    """Daily: train the health model on the history (rules while it is small), score every
    account set-based, then derive every lifecycle stage (which reads the new health bands).
    The model's report becomes the `health-model` answer's snapshot. Idempotent."""
    now = now or timezone.now()
    trained = health.train(now)
    scored = crm_services.accounts_health_write(rows=health.score(trained, now), scored_at=now)
    staged = crm_services.lifecycle_stages_refresh(now=now)
    snapshot_get_or_compute("health-model", parse("health-model", {}), lambda: trained.report, refresh=True)
    result = {"source": trained.source, "scored": scored, "staged": staged}
    logger.info("account health scored: %s", result)
    return result


def score_clv_tiers() -> dict:
    """Nightly: each order customer's P(alive), expected 12-month value and CLV tier
    (analytics.clv.tiers), stored on the contact."""
    from analytics.clv.tiers import clv_tiers_score

    run = clv_tiers_score()
    if run.skipped:
        logger.info("CLV tiers not scored: %s", run.skipped)
    else:
        logger.info("CLV tiers: %s contacts scored, %s cleared", run.scored, run.cleared)
    return {"scored": run.scored, "cleared": run.cleared, "skipped": run.skipped}

"""django-q2 entry points of analytics."""

import logging

from analytics.answers import METRICS, answer, parse

logger = logging.getLogger(__name__)


def refresh_snapshots() -> dict[str, int]:
    """Recompute the dashboard's answers (default period, no segment) so pages open instantly."""
    timings = {}
    for metric in METRICS:
        try:
            result = answer(metric, parse(metric, {}), refresh=True)
        except ValueError as exc:  # e.g. too few repeat buyers to fit the CLV model yet
            logger.info("analytics %s not refreshed: %s", metric, exc)
            continue
        timings[metric] = result["snapshot"]["duration_ms"]
    logger.info("analytics snapshots refreshed: %s", timings)
    return timings


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

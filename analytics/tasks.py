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

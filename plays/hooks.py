"""The EVENT_HOOKS entry: product events arrived; run the event plays in the background."""

import logging
from collections.abc import Sequence

from plays.models import Play, PlayStatus
from plays.triggers import EVENT_TRIGGERS

logger = logging.getLogger(__name__)


def events_ingested(*, event_ids: Sequence[int]) -> None:
    """Called after the events' transaction commits. Enqueues one task; it is idempotent, so a
    duplicate delivery of the task decides nothing twice."""
    if not event_ids:
        return
    if not Play.objects.filter(status=PlayStatus.ACTIVE, trigger__type__in=list(EVENT_TRIGGERS)).exists():
        return
    from django_q.tasks import async_task

    try:
        async_task("plays.tasks.run_event_plays", list(event_ids), task_name=f"plays-events-{min(event_ids)}")
    except Exception:
        logger.exception("Could not enqueue event plays for %s event(s)", len(event_ids))

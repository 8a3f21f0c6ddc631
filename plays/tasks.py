"""django-q2 entry points for plays. Safe to repeat: an occurrence is decided once, ever."""

import logging
import time
from collections.abc import Sequence
from datetime import timedelta

from django.utils import timezone

from crm.models import Event
from plays.engine import PlayNotRunnable, play_run
from plays.journey import journeys_advance_all
from plays.models import Play, PlayStatus
from plays.triggers import event_driven_types, fired_by_events

logger = logging.getLogger(__name__)

# An event run that found its play busy tries again this much later, this many times.
BUSY_RETRY_AFTER = timedelta(seconds=60)
BUSY_RETRIES = 5


def run_scheduled_plays() -> dict[int, int]:
    """Run every active play. Event-driven plays normally run when their events arrive; the
    schedule runs them too, over their recent events, so an event whose run was lost (a
    broker outage) is still decided — occurrences already decided are skipped."""
    decided = {}
    for play in Play.objects.filter(status=PlayStatus.ACTIVE):
        result = _run(play)
        if result is not None:
            decided[play.pk] = result
    return decided


# Well inside the django-q task timeout (60 s), which would kill the worker mid-batch: no batch
# starts after this long (a batch of 5,000 takes about a second), and what is left goes straight
# back on the queue instead of waiting for the next tick of the schedule.
ADVANCE_TIME_BUDGET = 40.0


def advance_journeys() -> dict[int, int]:
    """Every active journey's enrollments whose wait has elapsed take their next steps. Safe to
    repeat or to run beside a play's run: each batch locks its rows, and a step is decided once.
    A backlog longer than the time budget continues in a new task at once."""
    moved, unfinished = journeys_advance_all(deadline=time.monotonic() + ADVANCE_TIME_BUDGET)
    if unfinished:
        from django_q.tasks import async_task

        logger.info("Journeys: time budget spent after %s enrollments; continuing", sum(moved.values()))
        async_task("plays.tasks.advance_journeys", task_name="advance-journeys-continued")
    return moved


def run_event_plays(
    event_ids: Sequence[int], play_ids: Sequence[int] | None = None, attempt: int = 0
) -> dict:
    """Run the active event-driven plays that these events fire, for these events only."""
    names = set(Event.objects.filter(pk__in=event_ids).values_list("name", flat=True))
    if not names:
        return {}
    plays = Play.objects.filter(status=PlayStatus.ACTIVE, trigger__type__in=event_driven_types())
    if play_ids is not None:
        plays = plays.filter(pk__in=play_ids)
    decided, busy = {}, []
    for play in plays:
        if not fired_by_events(play.trigger, names):
            continue
        result = _run(play, event_ids=list(event_ids))
        if result is None:
            busy.append(play.pk)
        else:
            decided[play.pk] = result
    if busy and attempt < BUSY_RETRIES:
        _retry_later(list(event_ids), busy, attempt + 1)
    return decided


def _run(play: Play, **options) -> int | None:
    """Decisions made, or None when another run of the play holds it."""
    try:
        return play_run(play, **options).decided
    except PlayNotRunnable as refused:
        if refused.code == "running":
            return None
        return 0  # paused or retired since it was listed
    except Exception:
        # One broken play must not stop the others; the next run retries it.
        logger.exception("Play %s failed to run", play.pk)
        return 0


def _retry_later(event_ids: list[int], play_ids: list[int], attempt: int) -> None:
    from django_q.models import Schedule

    Schedule.objects.create(
        name=f"plays: retry events for plays {play_ids[:5]} ({timezone.now():%H%M%S%f})"[:100],
        func="plays.tasks.run_event_plays",
        args=repr((event_ids, play_ids, attempt)),
        schedule_type=Schedule.ONCE,
        repeats=1,
        next_run=timezone.now() + BUSY_RETRY_AFTER,
    )

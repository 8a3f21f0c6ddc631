"""Hooks the lower layers call: product events arrived (EVENT_HOOKS), and who answers a reply
to a play's text (REPLY_OWNER_HOOKS)."""

import logging
from collections.abc import Sequence

from crm.models import Event
from plays import journey_exits
from plays.models import Play, PlayStatus
from plays.triggers import event_driven_types

logger = logging.getLogger(__name__)


def contacts_signalled(*, contact_ids: Sequence[int] = (), account_ids: Sequence[int] = ()) -> None:
    """A reply, an opt-out or a deal opened (CONTACT_SIGNAL_HOOKS, after commit): the journeys
    these contacts are in whose exits it meets end now."""
    journey_exits.journeys_exit(contact_ids=contact_ids, account_ids=account_ids)


def events_ingested(*, event_ids: Sequence[int]) -> None:
    """Called after the events' transaction commits: journeys that exit on these events end
    for their contacts (or accounts) at once, then one task runs the event plays; it is
    idempotent, so a duplicate delivery of the task decides nothing twice."""
    if not event_ids:
        return
    subjects = list(Event.objects.filter(pk__in=event_ids).values_list("contact_id", "account_id"))
    journey_exits.journeys_exit(
        contact_ids=[contact_id for contact_id, _ in subjects if contact_id],
        account_ids=[account_id for _, account_id in subjects if account_id],
    )
    if not Play.objects.filter(status=PlayStatus.ACTIVE, trigger__type__in=event_driven_types()).exists():
        return
    from django_q.tasks import async_task

    try:
        async_task("plays.tasks.run_event_plays", list(event_ids), task_name=f"plays-events-{min(event_ids)}")
    except Exception:
        logger.exception("Could not enqueue event plays for %s event(s)", len(event_ids))


def reply_owner(*, contact):
    """Who answers a reply to a play's text: the play's owner, when the play routes replies to
    its owner and its text was the last automated one this contact got (within 14 days)."""
    from datetime import timedelta

    from django.utils import timezone

    from sms.models import Direction, Message, MessageKind

    source = (
        Message.objects.filter(
            contact=contact,
            direction=Direction.OUTBOUND,
            kind=MessageKind.AUTOMATED,
            source__startswith="play:",
            created_at__gte=timezone.now() - timedelta(days=14),
        )
        .order_by("-created_at")
        .values_list("source", flat=True)
        .first()
    )
    if not source:
        return None
    play = Play.objects.select_related("owner").filter(pk=int(source.split(":", 1)[1])).first()
    if play and (play.next_step or {}).get("route_replies_to_owner") and play.owner and play.owner.is_active:
        return play.owner
    return None

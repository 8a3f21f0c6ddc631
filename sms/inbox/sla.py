"""The reply deadline's alarms (a periodic job): warn the assignee 15 minutes before; at the
deadline record the breach on the conversation and the timeline, tell the assignee, escalate
to their manager and, when ``INBOX_ESCALATION_REASSIGN`` is on, hand the conversation to the
next available agent. Set-based: a few queries per sweep, whatever the number of conversations,
and each deadline alarmed once (a locked claim of the rows, a unique key per notification)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from crm import services as crm_services
from crm.models import Activity, ActivityKind
from sms.models import Conversation, ConversationStatus, NotificationKind
from sms.notifications.services import NotificationDraft, notifications_create

DUE_SOON = timedelta(minutes=15)


@dataclass(frozen=True)
class SlaSweep:
    due_soon: int
    breached: int
    escalated: int
    reassigned: int


def _name(conversation_contact) -> str:
    return str(conversation_contact) or "a customer"


def _minutes(delta: timedelta) -> int:
    return max(1, round(delta.total_seconds() / 60))


def _agents_by_load(exclude_ids: set[int] | None = None) -> list[list[int]]:
    """[load, id] of every agent taking conversations, least loaded first (one query)."""
    User = get_user_model()
    return [
        [load, pk]
        for pk, load in User.objects.filter(is_active=True, takes_conversations=True)
        .annotate(load=Count("conversations", filter=Q(conversations__status=ConversationStatus.OPEN)))
        .order_by("load", "id")
        .values_list("pk", "load")
    ]


def _next_agent(agents: list[list[int]], *, not_id: int | None) -> int | None:
    candidates = [entry for entry in agents if entry[1] != not_id]
    if not candidates:
        return None
    chosen = min(candidates)
    chosen[0] += 1  # the next breach in this sweep sees the new load
    return chosen[1]


@transaction.atomic
def sla_sweep(*, now: datetime | None = None) -> SlaSweep:
    now = now or timezone.now()
    open_ = Conversation.objects.filter(status=ConversationStatus.OPEN)
    soon = list(
        open_.filter(assignee__isnull=False, sla_due_at__gt=now, sla_due_at__lte=now + DUE_SOON)
        .select_related("contact")
        .only(
            "pk", "assignee_id", "sla_due_at", "contact__first_name", "contact__last_name", "contact__phone"
        )
    )
    drafts = [
        NotificationDraft(
            recipient_id=c.assignee_id,
            kind=NotificationKind.SLA_DUE_SOON,
            conversation_id=c.pk,
            text=f"Reply to {_name(c.contact)} due in {_minutes(c.sla_due_at - now)} min",
            key=f"sla_due_soon:{c.pk}:{c.sla_due_at.isoformat()}",
        )
        for c in soon
    ]
    # Claimed under lock (other sweepers skip these rows): a breach is recorded once.
    breached = list(
        open_.select_for_update(skip_locked=True, of=("self",))
        .filter(sla_due_at__lte=now)
        .exclude(sla_breached_at=F("sla_due_at"))
        .select_related("contact", "assignee__manager")
    )
    reassign = settings.INBOX_ESCALATION_REASSIGN
    agents = _agents_by_load() if reassign and breached else []
    timeline: list[Activity] = []
    escalated = reassigned = 0
    for conversation in breached:
        who, assignee = _name(conversation.contact), conversation.assignee
        due = conversation.sla_due_at
        conversation.sla_breached_at = due
        base = {"conversation": conversation.pk, "due": due.isoformat()}
        timeline.append(
            Activity(
                kind=ActivityKind.INBOX_ACTION,
                contact=conversation.contact,
                occurred_at=due,
                summary=f"Reply deadline missed{f' by {assignee}' if assignee else ''}",
                data={**base, "action": "sla_breached", "assignee": assignee.pk if assignee else None},
            )
        )
        if assignee is not None:
            drafts.append(
                NotificationDraft(
                    recipient_id=assignee.pk,
                    kind=NotificationKind.SLA_BREACHED,
                    conversation_id=conversation.pk,
                    text=f"Reply deadline missed: {who} is waiting",
                    key=f"sla_breached:{conversation.pk}:{due.isoformat()}",
                )
            )
        manager = assignee.manager if assignee is not None else None
        if manager is not None and manager.is_active:
            escalated += 1
            conversation.escalated_to = manager
            drafts.append(
                NotificationDraft(
                    recipient_id=manager.pk,
                    kind=NotificationKind.ESCALATED,
                    conversation_id=conversation.pk,
                    text=f"Escalated: {assignee} missed the reply deadline for {who}",
                    key=f"escalated:{conversation.pk}:{due.isoformat()}",
                )
            )
            timeline.append(
                Activity(
                    kind=ActivityKind.INBOX_ACTION,
                    contact=conversation.contact,
                    occurred_at=due,
                    summary=f"Escalated to {manager} (the deadline was missed)",
                    data={**base, "action": "escalated", "manager": manager.pk},
                )
            )
        if reassign:
            new_id = _next_agent(agents, not_id=conversation.assignee_id)
            if new_id is not None:
                reassigned += 1
                conversation.assignee_id = new_id
                drafts.append(
                    NotificationDraft(
                        recipient_id=new_id,
                        kind=NotificationKind.ASSIGNED,
                        conversation_id=conversation.pk,
                        text=f"Assigned to you: {who} (the reply deadline was missed)",
                        key=f"assigned:{conversation.pk}:breach:{due.isoformat()}",
                    )
                )
                timeline.append(
                    Activity(
                        kind=ActivityKind.INBOX_ACTION,
                        contact=conversation.contact,
                        occurred_at=due,
                        summary="Reassigned to the next available agent (the deadline was missed)",
                        data={**base, "action": "assign", "assignee": new_id, "reason": "sla_breached"},
                    )
                )
    if breached:
        for conversation in breached:
            conversation.updated_at = now
        Conversation.objects.bulk_update(
            breached, ["sla_breached_at", "escalated_to", "assignee", "updated_at"], batch_size=500
        )
        crm_services.activities_record_bulk(timeline)
    notifications_create(drafts, now=now)
    return SlaSweep(due_soon=len(soon), breached=len(breached), escalated=escalated, reassigned=reassigned)

"""The reply inbox: routing inbound replies to an owner with an SLA, and the agent's actions.

Every action is recorded on the contact's timeline with the agent who took it."""

import zoneinfo
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from core.errors import DomainError
from core.events import events_publish
from crm import services as crm_services
from crm.models import ActivityKind, Contact, DealKind, PipelineStage, Task, TaskSource, TaskStatus
from sms import quiet_hours
from sms.inbox.business_hours import add_business_hours, parse_workdays, public_holidays
from sms.inbox.deferral_dates import deferral_until
from sms.inbox.intents import Classification
from sms.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Conversation,
    ConversationNote,
    ConversationRead,
    ConversationStatus,
    Deferral,
    Direction,
    Intent,
    IntentLabel,
    Message,
    MessageKind,
    NotificationKind,
)
from sms.notifications.services import NotificationDraft, notifications_create
from sms.revocation import KEYWORD, Revocation
from sms.services.consent import consent_record
from sms.services.sending import message_send

HIGH_INTENTS = (Intent.HELP, Intent.MEETING, Intent.PRICING, Intent.OPT_OUT)


def team_tz() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.INBOX_TIMEZONE)


def sla_due(intent: str, start: datetime) -> datetime | None:
    hours = settings.INBOX_SLA_HOURS.get(intent)
    if hours is None:
        return None
    return add_business_hours(
        start,
        hours,
        team_tz(),
        open_hour=settings.INBOX_BUSINESS_HOURS_START,
        close_hour=settings.INBOX_BUSINESS_HOURS_END,
        workdays=parse_workdays(settings.INBOX_BUSINESS_DAYS),
        holidays=public_holidays(settings.INBOX_HOLIDAYS_COUNTRY, settings.INBOX_HOLIDAYS_SUBDIVISION),
    )


def _record(conversation: Conversation, actor, summary: str, *, occurred_at=None, **data) -> None:
    crm_services.activity_record(
        kind=ActivityKind.INBOX_ACTION,
        contact=conversation.contact,
        actor=actor,
        occurred_at=occurred_at,
        summary=summary,
        data={"conversation": conversation.pk, **data},
    )


# --- Routing ----------------------------------------------------------------------------


def round_robin_agent():
    """The available agent with the fewest open conversations (ties: lowest id)."""
    User = get_user_model()
    return (
        User.objects.filter(is_active=True, takes_conversations=True)
        .annotate(
            load=Count(
                "conversations", filter=Q(conversations__status=ConversationStatus.OPEN), distinct=True
            )
        )
        .order_by("load", "id")
        .first()
    )


def route_owner(contact: Contact):
    """Who should answer: the account owner, else the owner of the play whose text they
    answered (when the play routes replies to its owner), the contact's owner, whoever last
    texted them by hand, else the next agent in the round-robin."""
    if contact.account_id and contact.account.owner_id and contact.account.owner.is_active:
        return contact.account.owner
    for path in settings.REPLY_OWNER_HOOKS:  # modules above sms (plays) name an owner
        owner = import_string(path)(contact=contact)
        if owner is not None:
            return owner
    if contact.owner_id and contact.owner.is_active:
        return contact.owner
    last_sender = (
        Message.objects.filter(contact=contact, direction=Direction.OUTBOUND, sent_by__is_active=True)
        .order_by("-created_at")
        .values_list("sent_by", flat=True)
        .first()
    )
    if last_sender is not None:
        return get_user_model().objects.get(pk=last_sender)
    return round_robin_agent()


def inbound_route(
    *, message: Message, conversation: Conversation, contact: Contact, result: Classification
) -> None:
    """Act on a (non-keyword) inbound reply, stored with its classification ``result``, when
    the classification is confident: high intent is assigned with an SLA (pricing also opens an
    expansion deal and a task for the AE, a meeting request a task); a deferral snoozes the
    conversation and pauses the contact's texts until the date it names. Everything else waits
    in the queue. ``contact``: the sender. Every date is reckoned from when the text arrived
    (``message.created_at``), never from the clock."""
    now = message.created_at or timezone.now()
    assignee_before = conversation.assignee_id
    conversation.intent, conversation.intent_confidence = result.intent, result.confidence
    conversation.awaiting_since = conversation.awaiting_since or now
    conversation.status, conversation.snoozed_until, conversation.resolved_at = (
        ConversationStatus.OPEN,
        None,
        None,
    )
    if not result.is_confident:
        pass  # a weak guess: shown to the agent, who confirms or relabels; nothing automatic
    elif result.intent == Intent.DEFERRAL:
        _defer(conversation, contact, message, actor=None, now=now)
    elif result.intent in HIGH_INTENTS:
        if conversation.assignee_id is None:
            conversation.assignee = route_owner(contact)
            events_publish("conversation.assigned", [conversation] if conversation.assignee_id else [])
        due = sla_due(result.intent, now)
        conversation.sla_due_at = min(filter(None, [conversation.sla_due_at, due]), default=None)
        if result.intent == Intent.PRICING:
            _pricing_interest(contact, conversation, message)
        elif result.intent == Intent.MEETING:
            _task(contact, conversation, f"Book a meeting with {contact}", message, once=True)
    conversation.save()
    _notify_inbound(
        conversation, message, contact, newly_assigned=conversation.assignee_id != assignee_before
    )


def _notify_inbound(conversation: Conversation, message: Message, contact: Contact, *, newly_assigned: bool):
    """The assignee hears of a reply in their conversation, or of the conversation routed to them."""
    if conversation.assignee_id is None:
        return
    excerpt = message.body[:120]
    if newly_assigned:
        draft = NotificationDraft(
            recipient_id=conversation.assignee_id,
            kind=NotificationKind.ASSIGNED,
            conversation_id=conversation.pk,
            text=f"Assigned to you: {contact}: “{excerpt}”",
            key=f"assigned:{conversation.pk}:message:{message.pk}",
        )
    else:
        draft = NotificationDraft(
            recipient_id=conversation.assignee_id,
            kind=NotificationKind.REPLY,
            conversation_id=conversation.pk,
            text=f"{contact} replied: “{excerpt}”",
            key=f"reply:{message.pk}",
        )
    notifications_create([draft], now=message.created_at)


def _task(contact: Contact, conversation: Conversation, title: str, message: Message, owner=None, once=False):
    """A follow-up task from a reply. ``once``: a repeated ask ("call me" twice) keeps the open
    task (each pricing question, by contrast, is its own follow-up)."""
    if once:
        open_task = Task.objects.filter(
            contact=contact, status=TaskStatus.OPEN, source=TaskSource.REPLY, title=title
        ).first()
        if open_task is not None:
            return open_task
    return crm_services.task_create(
        created_at=message.created_at,  # when the text arrived
        title=title,
        contact=contact,
        owner=owner or conversation.assignee,
        due_at=conversation.sla_due_at,
        source=TaskSource.REPLY,
        notes=f"They texted: “{message.body[:500]}”",
    )


def _pricing_interest(contact: Contact, conversation: Conversation, message: Message) -> None:
    now = message.created_at or timezone.now()
    account = contact.account
    ae = (account.ae or account.owner) if account else None
    owner = ae or conversation.assignee
    if account is not None:
        recent_open = account.deals.filter(
            kind=DealKind.EXPANSION,
            stage__is_closed=False,
            created_at__gte=now - timedelta(days=30),
        ).exists()
        if not recent_open:
            crm_services.deal_create(
                name=f"{account.name} - expansion interest (SMS)",
                account=account,
                contact=contact,
                owner=owner,
                kind=DealKind.EXPANSION,
                stage=PipelineStage.objects.filter(is_closed=False).order_by("position").first(),
                next_step="Answer the pricing question",
                next_step_date=timezone.localdate(now),
                created_at=now,
            )
    _task(contact, conversation, f"Pricing interest from {contact}: follow up", message, owner=owner)


def _defer(
    conversation: Conversation, contact: Contact, message: Message | None, actor, until=None, now=None
) -> Deferral:
    """``now``: the moment the deferral was asked for; "next month" is reckoned from it."""
    now = now or timezone.now()
    if until is None:
        tz = quiet_hours.contact_tz(contact)
        until, _ = deferral_until(message.body if message else "", now, tz)
    conversation.status = ConversationStatus.SNOOZED
    conversation.snoozed_until = until
    conversation.sla_due_at = None
    conversation.awaiting_since = None
    deferral = Deferral.objects.create(
        contact=contact,
        until=until,
        reason=(message.body[:300] if message else ""),
        message=message,
        created_by=actor,
        created_at=now,
    )
    _record(
        conversation,
        actor,
        f"Deferred until {timezone.localtime(until, team_tz()):%b %-d, %Y}: automated texts paused",
        occurred_at=now,
        deferral=deferral.pk,
        until=until.isoformat(),
    )
    return deferral


# --- Agent actions ----------------------------------------------------------------------


@transaction.atomic
def conversation_reply(*, conversation: Conversation, body: str, actor, attachments=()) -> Message:
    """Answer in the thread (``attachments``: files sent as MMS). Records the response time
    (since the oldest unanswered message) on the message, the conversation and, when it is
    sent, the timeline."""
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("contact__account")
        .get(pk=conversation.pk)
    )
    # An agent typing in the thread: possibly the one clarification a held reply allows.
    message = message_send(
        contact=conversation.contact,
        body=body,
        kind=MessageKind.REPLY,
        sent_by=actor,
        clarifying=True,
        attachments=attachments,
    )
    now = timezone.now()
    if conversation.awaiting_since is not None:
        seconds = max(0, int((now - conversation.awaiting_since).total_seconds()))
        sla_met = None if conversation.sla_due_at is None else now <= conversation.sla_due_at
        Message.objects.filter(pk=message.pk).update(response_seconds=seconds, sla_met=sla_met)
        message.response_seconds, message.sla_met = seconds, sla_met
        conversation.last_response_seconds = seconds
        if conversation.first_response_at is None:
            conversation.first_response_at, conversation.first_response_seconds = now, seconds
    conversation.awaiting_since = None
    conversation.sla_due_at = None
    conversation.last_message = message
    if conversation.assignee_id is None:
        conversation.assignee = actor
    conversation.save()
    return message


def conversation_mark_read(*, conversation: Conversation, user, now: datetime | None = None) -> None:
    """``user`` has read the conversation up to now (one upsert; safe when two tabs race)."""
    ConversationRead.objects.bulk_create(
        [ConversationRead(user=user, conversation=conversation, read_at=now or timezone.now())],
        update_conflicts=True,
        unique_fields=["user", "conversation"],
        update_fields=["read_at"],
    )


def conversation_mark_unread(*, conversation: Conversation, user) -> None:
    """Show the conversation as unread to ``user`` again (while it has a reply from the customer)."""
    ConversationRead.objects.filter(user=user, conversation=conversation).delete()


def _locked(conversation: Conversation) -> Conversation:
    """The row, locked, so an inbound reply arriving at the same moment is not overwritten."""
    return (
        Conversation.objects.select_for_update(of=("self",)).select_related("contact").get(pk=conversation.pk)
    )


@transaction.atomic
def conversation_assign(*, conversation: Conversation, assignee, actor) -> Conversation:
    conversation = _locked(conversation)
    previous = conversation.assignee_id
    conversation.assignee = assignee
    conversation.save(update_fields=["assignee", "updated_at"])
    events_publish("conversation.assigned", [conversation])
    if assignee is not None and assignee.pk != previous and assignee.pk != getattr(actor, "pk", None):
        notifications_create(
            [
                NotificationDraft(
                    recipient_id=assignee.pk,
                    kind=NotificationKind.ASSIGNED,
                    conversation_id=conversation.pk,
                    text=f"{actor or 'The inbox'} assigned you the conversation with {conversation.contact}",
                    key=f"assigned:{conversation.pk}:{timezone.now().isoformat()}",
                )
            ]
        )
    _record(
        conversation,
        actor,
        f"Assigned to {assignee}" if assignee else "Unassigned",
        action="assign",
        assignee=assignee.pk if assignee else None,
    )
    return conversation


@transaction.atomic
def conversation_resolve(*, conversation: Conversation, actor) -> Conversation:
    conversation = _locked(conversation)
    conversation.status = ConversationStatus.CLOSED
    conversation.resolved_at = timezone.now()
    conversation.sla_due_at = None
    conversation.awaiting_since = None
    conversation.snoozed_until = None
    conversation.save(
        update_fields=["status", "resolved_at", "sla_due_at", "awaiting_since", "snoozed_until", "updated_at"]
    )
    _record(conversation, actor, "Resolved", action="resolve")
    return conversation


@transaction.atomic
def conversation_snooze(*, conversation: Conversation, until: datetime, actor) -> Conversation:
    """Hide the conversation until ``until``; it reopens then (or when they text again)."""
    if until <= timezone.now():
        raise ValidationError({"until": "Snooze until a time in the future."})
    conversation = _locked(conversation)
    conversation.status = ConversationStatus.SNOOZED
    conversation.snoozed_until = until
    # The SLA clock stops while snoozed and starts again when it wakes up.
    conversation.sla_due_at = None
    conversation.save(update_fields=["status", "snoozed_until", "sla_due_at", "updated_at"])
    _record(
        conversation,
        actor,
        f"Snoozed until {timezone.localtime(until, team_tz()):%b %-d %H:%M}",
        action="snooze",
        until=until.isoformat(),
    )
    return conversation


NOTE_MAX_CHARS = 5000


@transaction.atomic
def conversation_note_add(*, conversation: Conversation, body: str, actor) -> ConversationNote:
    """A private note in the thread: for the team, never sent; on the contact's timeline."""
    body = (body or "").replace("\x00", "").strip()
    if not body:
        raise ValidationError({"body": "The note is empty."})
    if len(body) > NOTE_MAX_CHARS:
        raise ValidationError({"body": f"The note is {len(body)} characters; the limit is {NOTE_MAX_CHARS}."})
    note = ConversationNote.objects.create(conversation=conversation, author=actor, body=body)
    crm_services.activity_record(
        kind=ActivityKind.NOTE,
        contact=conversation.contact,
        actor=actor,
        occurred_at=note.created_at,
        summary=body[:300],
        data={"conversation": conversation.pk, "note": note.pk, "private": True},
    )
    return note


@transaction.atomic
def conversation_relabel(*, conversation: Conversation, intent: str, actor) -> Conversation:
    """Correct the intent of the latest inbound reply. The label is kept to measure the
    classifier; a relabel to a high intent starts its SLA if none is running."""
    if intent not in Intent.values:
        raise ValidationError({"intent": f"Unknown intent {intent!r}."})
    message = (
        Message.objects.filter(conversation=conversation, direction=Direction.INBOUND)
        .order_by("-created_at")
        .first()
    )
    previous = conversation.intent
    if message is not None:
        IntentLabel.objects.create(
            message=message, predicted=message.intent, intent=intent, labelled_by=actor
        )
        Message.objects.filter(pk=message.pk).update(intent=intent)
    conversation.intent = intent
    if (
        intent in HIGH_INTENTS
        and conversation.sla_due_at is None
        and conversation.status == ConversationStatus.OPEN
    ):
        conversation.sla_due_at = sla_due(intent, timezone.now())
    conversation.save()
    _record(
        conversation,
        actor,
        f"Intent relabelled: {previous or '—'} → {intent}",
        action="relabel",
        intent=intent,
    )
    return conversation


@transaction.atomic
def conversation_record_opt_out(*, conversation: Conversation, actor) -> Conversation:
    """The one click for 'please stop texting me': record the opt-out with the reply as proof."""
    message = (
        Message.objects.filter(conversation=conversation, direction=Direction.INBOUND)
        .order_by("-created_at")
        .first()
    )
    consent_record(
        contact=conversation.contact,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.AGENT,
        proof={"message": message.body if message else "", "note": "Asked in plain words"},
        actor=actor,
    )
    return conversation_resolve(conversation=conversation, actor=actor)


def conversation_revocation_record(
    *, conversation: Conversation, message: Message, revocation: Revocation
) -> None:
    """Put on the timeline why a reply was read as a revocation (the rule and the words), so
    the agent sees it and can reverse a misread plain-words one."""
    what = "keyword" if revocation.kind == KEYWORD else "plain words"
    _record(
        conversation,
        None,
        f"Opted out by their reply ({what}, rule “{revocation.rule}”, matched “{revocation.matched}”)",
        occurred_at=message.created_at,
        action="revocation",
        message=message.pk,
        **revocation.as_proof(),
    )


class OptOutNotReversible(DomainError):
    """An agent may only reverse an opt-out read from plain words, and only with a reason:
    after a keyword (STOP and its family) only the person can re-subscribe."""

    code = "opt_out_not_reversible"
    status = 409


# A reason is a sentence a reviewer can follow, not "ok".
REVERSAL_REASON_MIN_WORDS = 4


@transaction.atomic
def conversation_reverse_opt_out(*, conversation: Conversation, reason: str, actor) -> ConsentEvent:
    """Reverse a misread plain-words revocation (the contact's latest consent event): restore
    the opt-in it ended, with the agent's written reason, on the ledger (source agent, proof
    ``reason`` and ``reversed_event``) and the timeline. Never a keyword opt-out, never one
    that did not end an opt-in."""
    reason = " ".join((reason or "").split())
    if len(reason.split()) < REVERSAL_REASON_MIN_WORDS:
        raise OptOutNotReversible(
            "Write why the reply was not a request to stop (a sentence, at least "
            f"{REVERSAL_REASON_MIN_WORDS} words).",
            code="reason_required",
            status=400,
        )
    contact = Contact.objects.select_for_update().get(pk=conversation.contact_id)
    events = ConsentEvent.objects.filter(contact=contact).order_by("-occurred_at", "-id")
    latest = events.first()
    if latest is None or latest.action != ConsentAction.OPT_OUT or latest.source != ConsentSource.REPLY_WORDS:
        raise OptOutNotReversible(
            "Only an opt-out read from a reply in plain words, and still in force, can be reversed. "
            "After STOP (or another keyword) only the person can re-subscribe, by texting START."
        )
    restored = events.filter(occurred_at__lte=latest.occurred_at).exclude(pk=latest.pk).first()
    if restored is None or restored.action != ConsentAction.OPT_IN:
        raise OptOutNotReversible(
            "They had not opted in before this reply, so there is no opt-in to restore; "
            "a new opt-in needs their own consent."
        )
    event = consent_record(
        contact=contact,
        action=ConsentAction.OPT_IN,
        source=ConsentSource.AGENT,
        proof={
            "reason": reason,
            "reversed_event": latest.pk,
            "restored_event": restored.pk,
            "note": "An agent reversed a reply misread as a revocation",
        },
        actor=actor,
        reversal=True,
    )
    conversation.contact.sms_consent = contact.sms_consent
    _record(
        conversation,
        actor,
        f"Opt-out reversed (the reply was misread): {reason}",
        action="reverse_opt_out",
        reversed_event=latest.pk,
        consent_event=event.pk,
        reason=reason,
    )
    return event


def conversations_wake(*, now: datetime | None = None) -> int:
    """Reopen snoozed conversations whose time has come (a periodic job). One still waiting
    for an answer to a high-intent reply gets a fresh SLA from now."""
    now = now or timezone.now()
    due = list(Conversation.objects.filter(status=ConversationStatus.SNOOZED, snoozed_until__lte=now))
    for conversation in due:
        conversation.status, conversation.snoozed_until = ConversationStatus.OPEN, None
        if conversation.awaiting_since and conversation.intent in HIGH_INTENTS:
            conversation.sla_due_at = sla_due(conversation.intent, now)
    Conversation.objects.bulk_update(due, ["status", "snoozed_until", "sla_due_at"])
    return len(due)

"""Writes of the SMS module: consent, sending, delivery, provider callbacks and inbound texts.

Every outbound text goes through ``message_send``; every delivery through ``message_deliver``.
"""

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from crm import services as crm_services
from crm.models import ActivityKind, Contact, SmsConsent
from sms import keywords
from sms.models import (
    STATUS_RANK,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    SenderPace,
    StatusCallback,
)
from sms.providers import ProviderError, get_provider
from sms.quiet_hours import next_send_time, resolve_timezone
from sms.segments import MAX_BODY_CHARS, count_segments

logger = logging.getLogger(__name__)

UNSUBSCRIBED_CODE = "21610"
PROOF_KEYS = ("disclosure", "url", "ip", "message", "note", "form", "file")


# --- Consent ----------------------------------------------------------------------------


class ConsentError(ValueError):
    pass


@transaction.atomic
def consent_record(
    *,
    contact: Contact,
    action: str,
    source: str,
    proof: dict | None = None,
    actor=None,
    occurred_at=None,
) -> ConsentEvent:
    """Append a consent event and re-derive the contact's state from the ledger.

    An opt-in needs proof (what the person agreed to and how); an opt-out is always honoured.
    The contact row is locked so concurrent events serialise."""
    if action not in ConsentAction.values:
        raise ConsentError(f"Unknown consent action {action!r}.")
    if source not in ConsentSource.values:
        raise ConsentError(f"Unknown consent source {source!r}.")
    proof = dict(proof or {})
    if action == ConsentAction.OPT_IN and not any(proof.get(key) for key in PROOF_KEYS):
        raise ConsentError(
            "An opt-in needs proof: at least one of " + ", ".join(PROOF_KEYS) + " (e.g. the disclosure text)."
        )
    locked = Contact.objects.select_for_update().get(pk=contact.pk)
    event = ConsentEvent.objects.create(
        contact=locked,
        phone=locked.phone or "",
        action=action,
        source=source,
        proof=proof,
        actor=actor,
        occurred_at=occurred_at or timezone.now(),
    )
    latest = ConsentEvent.objects.filter(contact=locked).order_by("-occurred_at", "-id").first()
    state = SmsConsent.OPTED_IN if latest.action == ConsentAction.OPT_IN else SmsConsent.OPTED_OUT
    if locked.sms_consent != state:
        Contact.objects.filter(pk=locked.pk).update(sms_consent=state, updated_at=timezone.now())
    contact.sms_consent = state
    crm_services.activity_record(
        kind=ActivityKind.SMS_OPT_IN if action == ConsentAction.OPT_IN else ActivityKind.SMS_OPT_OUT,
        contact=locked,
        actor=actor,
        occurred_at=event.occurred_at,
        summary=f"{event.get_action_display()} via {event.get_source_display().lower()}",
        data={"consent_event": event.pk, "source": source},
    )
    return event


# --- Sending ----------------------------------------------------------------------------


class SendRefused(Exception):
    """A send that governance does not allow. ``code`` is machine-readable."""

    def __init__(self, code: str, reason: str, *, consent: bool = False):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.consent = consent  # 409 on the API; other refusals are 422


def _check_consent(contact: Contact, kind: str) -> None:
    state = contact.sms_consent
    if kind == MessageKind.COMPLIANCE:
        return
    if state == SmsConsent.OPTED_IN:
        return
    if state == SmsConsent.OPTED_OUT:
        raise SendRefused("opted_out", f"{contact} has opted out of texts.", consent=True)
    if kind == MessageKind.REPLY and _customer_started_conversation(contact):
        return
    raise SendRefused("not_opted_in", f"{contact} has not opted in to texts.", consent=True)


def _customer_started_conversation(contact: Contact) -> bool:
    return Message.objects.filter(contact=contact, direction=Direction.INBOUND).exists()


def send_window_tz(contact: Contact):
    """The timezone quiet hours use for a contact: its own, its account's, or the default."""
    return resolve_timezone(
        contact.timezone,
        contact.account.timezone if contact.account_id else "",
        settings.SMS_DEFAULT_TIMEZONE,
    )


def send_window_opens(contact: Contact, now: datetime) -> datetime:
    tz = send_window_tz(contact)
    return next_send_time(now, tz, settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END)


def message_send(
    *,
    contact: Contact,
    body: str,
    kind: str = MessageKind.MANUAL,
    sent_by=None,
    idempotency_key: str | None = None,
    now=None,
) -> Message:
    """Queue one outbound text after every check; delivery is enqueued when the caller's
    transaction commits. Outside quiet hours the message waits for the next window (it is
    never dropped). Raises SendRefused. A repeated ``idempotency_key`` returns the first
    message instead of sending again."""
    now = now or timezone.now()
    if idempotency_key:
        existing = Message.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    body = (body or "").strip()
    if not body:
        raise SendRefused("empty_body", "The message is empty.")
    if len(body) > MAX_BODY_CHARS:
        raise SendRefused(
            "too_long", f"The message is {len(body)} characters; the limit is {MAX_BODY_CHARS}."
        )
    if not contact.phone:
        raise SendRefused("no_phone", f"{contact} has no phone number.")
    if contact.attributes.get("demo") and settings.SMS_PROVIDER != "console":
        # Demo contacts carry real, valid numbers: never text strangers from a demo data set.
        raise SendRefused(
            "demo_contact", f"{contact} is demo data; demo contacts are only texted via the console provider."
        )
    _check_consent(contact, kind)
    due = now
    deferred_reason = ""
    if kind in (MessageKind.MANUAL, MessageKind.AUTOMATED):
        due = send_window_opens(contact, now)
        if due > now:
            deferred_reason = "quiet_hours"
    info = count_segments(body)
    conversation = Conversation.objects.filter(contact=contact).first()
    try:
        with transaction.atomic():
            message = Message.objects.create(
                contact=contact,
                conversation=conversation,
                direction=Direction.OUTBOUND,
                kind=kind,
                body=body,
                to_number=contact.phone,
                status=MessageStatus.QUEUED,
                segments=info.segments,
                encoding=info.encoding,
                idempotency_key=idempotency_key or None,
                next_attempt_at=due,
                deferred_reason=deferred_reason,
                sent_by=sent_by,
            )
    except IntegrityError:
        if idempotency_key:  # a concurrent call with the same key won the race
            return Message.objects.get(idempotency_key=idempotency_key)
        raise
    if due <= now:
        transaction.on_commit(lambda: enqueue_delivery(message.pk))
    return message


def enqueue_delivery(message_id: int) -> None:
    from django_q.tasks import async_task

    Message.objects.filter(pk=message_id, status=MessageStatus.QUEUED).update(enqueued_at=timezone.now())
    async_task("sms.tasks.deliver_message", message_id, task_name=f"deliver-{message_id}")


# --- Delivery ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryOutcome:
    message_id: int
    result: str  # sent | retry | failed | blocked | skipped | paced


def _backoff(attempts: int) -> timedelta:
    # Exponential with full jitter: 30 s, 60 s, 120 s ... capped at an hour.
    ceiling = min(3600, 30 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def status_callback_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/sms/twilio/status/"


def pace_reserve(sender: str, segments: int, *, max_wait: float = 30.0, now=None) -> float | None:
    """Reserve ``segments`` of the sender's rate. Returns seconds to wait before sending, or
    None when the next free slot is further away than ``max_wait`` (try again later).

    Each worker reserves one slot at a time, so the wait is bounded by workers x segments /
    rate; ``max_wait`` stays below the task timeout."""
    rate = settings.SMS_SEGMENTS_PER_SECOND
    if rate <= 0:
        return 0.0
    now = now or timezone.now()
    SenderPace.objects.get_or_create(sender=sender, defaults={"next_free_at": now})
    with transaction.atomic():
        pace = SenderPace.objects.select_for_update().get(sender=sender)
        start = max(pace.next_free_at, now)
        wait = (start - now).total_seconds()
        if wait > max_wait:
            return None
        pace.next_free_at = start + timedelta(seconds=segments / rate)
        pace.save(update_fields=["next_free_at"])
    return wait


def _claim(message_id: int, now) -> bool:
    return (
        Message.objects.filter(pk=message_id, status=MessageStatus.QUEUED, next_attempt_at__lte=now).update(
            status=MessageStatus.SENDING,
            attempts=F("attempts") + 1,
            claimed_at=now,
            status_updated_at=now,
        )
        == 1
    )


def _move(message: Message, status: str, **fields) -> bool:
    """Move a message we hold in 'sending' to ``status``; False if someone else moved it."""
    now = timezone.now()
    return (
        Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=status, status_updated_at=now, **fields
        )
        == 1
    )


def message_deliver(*, message_id: int) -> DeliveryOutcome:
    """Send one queued message. Safe to call any number of times from any number of workers:
    only the caller whose conditional update claims the row sends it."""
    now = timezone.now()
    if not _claim(message_id, now):
        return DeliveryOutcome(message_id, "skipped")
    message = Message.objects.select_related("contact").get(pk=message_id)
    contact = message.contact
    # Consent is checked again at send time: an opt-out may have arrived since queueing.
    if contact is None:
        _move(
            message, MessageStatus.FAILED, error_code="no_contact", error_message="The contact was deleted."
        )
        return DeliveryOutcome(message_id, "blocked")
    try:
        _check_consent(contact, message.kind)
    except SendRefused as refused:
        _move(message, MessageStatus.FAILED, error_code=refused.code, error_message=refused.reason[:300])
        _timeline_failed(message, refused.reason)
        return DeliveryOutcome(message_id, "blocked")
    provider = get_provider()
    wait = pace_reserve(provider.sender, message.segments)
    if wait is None:
        # Over the sender's rate: hand the message back without counting the attempt.
        later = now + timedelta(seconds=max(1.0, message.segments / max(settings.SMS_SEGMENTS_PER_SECOND, 1)))
        _move(
            message, MessageStatus.QUEUED, attempts=F("attempts") - 1, next_attempt_at=later, enqueued_at=None
        )
        return DeliveryOutcome(message_id, "paced")
    if wait > 0:
        time.sleep(wait)
    try:
        result = provider.send(to=message.to_number, body=message.body, status_callback=status_callback_url())
    except ProviderError as error:
        return _delivery_failed(message, error)
    sent_at = timezone.now()
    _move(message, MessageStatus.SENT, provider=provider.name, provider_sid=result.sid,
          from_number=result.from_number, sent_at=sent_at, error_code="", error_message="")  # fmt: skip
    Conversation.objects.filter(contact=contact).update(last_outbound_at=sent_at)
    crm_services.activity_record(
        kind=ActivityKind.SMS_SENT,
        contact=contact,
        actor=message.sent_by,
        occurred_at=sent_at,
        summary=message.body[:300],
        data={"message": message.pk, "segments": message.segments, "kind": message.kind},
    )
    # A status callback may have beaten us to the SID; apply what already arrived.
    for status, error_code in StatusCallback.objects.filter(provider_sid=result.sid).values_list(
        "status", "error_code"
    ):
        message_status_apply(
            provider_sid=result.sid, provider_status=status, error_code=error_code, record=False
        )
    return DeliveryOutcome(message_id, "sent")


def _delivery_failed(message: Message, error: ProviderError) -> DeliveryOutcome:
    attempts = message.attempts  # loaded after the claim, so it counts this attempt
    if not error.permanent and attempts < settings.SMS_MAX_ATTEMPTS:
        _move(
            message,
            MessageStatus.QUEUED,
            next_attempt_at=timezone.now() + _backoff(attempts),
            enqueued_at=None,
            error_code=error.code[:16],
            error_message=error.message[:300],
        )
        logger.warning("SMS %s: transient provider error %s, retrying", message.pk, error.code)
        return DeliveryOutcome(message.pk, "retry")
    _move(message, MessageStatus.FAILED, error_code=error.code[:16], error_message=error.message[:300])
    _timeline_failed(message, error.message)
    if error.code == UNSUBSCRIBED_CODE and message.contact is not None:
        _opt_out_from_provider(message.contact, message)
    return DeliveryOutcome(message.pk, "failed")


def _timeline_failed(message: Message, reason: str) -> None:
    if message.contact is not None:
        crm_services.activity_record(
            kind=ActivityKind.SMS_FAILED,
            contact=message.contact,
            summary=reason[:300],
            data={"message": message.pk, "error_code": message.error_code or ""},
        )


def _opt_out_from_provider(contact: Contact, message: Message) -> None:
    if contact.sms_consent != SmsConsent.OPTED_OUT:
        consent_record(
            contact=contact,
            action=ConsentAction.OPT_OUT,
            source=ConsentSource.PROVIDER_ERROR,
            proof={"error_code": UNSUBSCRIBED_CODE, "message": f"message {message.pk}"},
        )


# --- Provider status callbacks ----------------------------------------------------------

# Twilio's statuses onto ours. Intermediate provider states below 'sent' add nothing.
PROVIDER_STATUS = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}


def message_status_apply(
    *, provider_sid: str, provider_status: str, error_code: str = "", record: bool = True
) -> bool:
    """Apply a provider status if it moves the message forward. Repeats (same SID and status)
    and late arrivals (a 'sent' after 'delivered') change nothing. Returns True if applied."""
    provider_status = (provider_status or "").lower()
    if record:
        try:
            with transaction.atomic():
                StatusCallback.objects.create(
                    provider_sid=provider_sid, status=provider_status, error_code=error_code
                )
        except IntegrityError:
            return False  # already seen
    status = PROVIDER_STATUS.get(provider_status)
    if status is None:
        return False
    lower = [
        s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[status] and s != MessageStatus.RECEIVED
    ]
    now = timezone.now()
    fields = {"status": status, "status_updated_at": now}
    if status == MessageStatus.DELIVERED:
        fields["delivered_at"] = now
    if error_code:
        fields["error_code"] = error_code[:16]
    with transaction.atomic():
        updated = Message.objects.filter(
            provider_sid=provider_sid, direction=Direction.OUTBOUND, status__in=lower
        ).update(**fields)
        if not updated:
            return False
        message = Message.objects.select_related("contact").get(provider_sid=provider_sid)
        if message.contact is not None and status != MessageStatus.SENT:
            delivered = status == MessageStatus.DELIVERED
            crm_services.activity_record(
                kind=ActivityKind.SMS_DELIVERED if delivered else ActivityKind.SMS_FAILED,
                contact=message.contact,
                summary=message.body[:120]
                if delivered
                else f"Not delivered (error {error_code or 'unknown'})",
                data={"message": message.pk, "status": status, "error_code": error_code},
            )
        if error_code == UNSUBSCRIBED_CODE and message.contact is not None:
            _opt_out_from_provider(message.contact, message)
    return True


# --- Inbound ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundResult:
    message: Message | None
    duplicate: bool = False
    keyword: str | None = None


def _contact_for_number(number: str) -> Contact:
    contact = Contact.objects.filter(phone=number).select_related("account").first()
    if contact is not None:
        return contact
    try:
        with transaction.atomic():
            return crm_services.contact_create(phone=number)
    except IntegrityError:  # created by a concurrent webhook for the same number
        return Contact.objects.get(phone=number)


def inbound_receive(*, provider_sid: str, from_number: str, to_number: str, body: str) -> InboundResult:
    """Store an inbound text once (by provider SID), handle carrier keywords, reopen the
    conversation and put the reply on the timeline. Unknown numbers become contacts."""
    if Message.objects.filter(provider_sid=provider_sid).exists():
        return InboundResult(None, duplicate=True)
    contact = _contact_for_number(from_number)
    now = timezone.now()
    try:
        with transaction.atomic():
            conversation, _ = Conversation.objects.get_or_create(contact=contact)
            message = Message.objects.create(
                contact=contact,
                conversation=conversation,
                direction=Direction.INBOUND,
                kind=MessageKind.INBOUND,
                body=body or "",
                to_number=to_number,
                from_number=from_number,
                status=MessageStatus.RECEIVED,
                provider=settings.SMS_PROVIDER,
                provider_sid=provider_sid,
                segments=count_segments(body or "").segments,
                encoding=count_segments(body or "").encoding,
                status_updated_at=now,
            )
            Conversation.objects.filter(pk=conversation.pk).update(
                status=ConversationStatus.OPEN, last_inbound_at=now, updated_at=now
            )
            crm_services.activity_record(
                kind=ActivityKind.SMS_REPLY,
                contact=contact,
                occurred_at=now,
                summary=(body or "")[:300],
                data={"message": message.pk},
            )
            keyword = keywords.keyword_of(body)
            if keyword:
                _handle_keyword(contact, keyword, message)
    except IntegrityError:
        # The same MessageSid arrived twice at once; the other request stored it.
        return InboundResult(None, duplicate=True)
    return InboundResult(message, keyword=keyword)


def _handle_keyword(contact: Contact, keyword: str, message: Message) -> None:
    proof = {"message": message.body, "message_sid": message.provider_sid}
    if keyword == "opt_out":
        consent_record(
            contact=contact, action=ConsentAction.OPT_OUT, source=ConsentSource.KEYWORD, proof=proof
        )
        reply = settings.SMS_OPT_OUT_REPLY
    elif keyword == "opt_in":
        consent_record(
            contact=contact, action=ConsentAction.OPT_IN, source=ConsentSource.KEYWORD, proof=proof
        )
        reply = settings.SMS_OPT_IN_REPLY
    else:
        reply = settings.SMS_HELP_REPLY
    message_send(
        contact=contact,
        body=reply,
        kind=MessageKind.COMPLIANCE,
        idempotency_key=f"keyword-reply:{message.provider_sid}",
    )


# --- Sweeper ----------------------------------------------------------------------------


def outbox_sweep(*, batch_size: int = 500, stale_after: timedelta = timedelta(minutes=2)) -> int:
    """Enqueue due queued messages whose delivery task is missing (a lost enqueue, a retry
    or a quiet-hours deferral that has come due). Returns how many were enqueued."""
    now = timezone.now()
    due = list(
        Message.objects.filter(status=MessageStatus.QUEUED, next_attempt_at__lte=now)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - stale_after))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    if not due:
        return 0
    from django_q.tasks import async_task

    # Mark them so the next sweep does not enqueue them again while they wait in the broker.
    Message.objects.filter(pk__in=due, status=MessageStatus.QUEUED).update(enqueued_at=now)
    for message_id in due:
        async_task("sms.tasks.deliver_message", message_id, task_name=f"deliver-{message_id}")
    return len(due)

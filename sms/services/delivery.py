"""Delivery: claim queued texts, check them again, send them through the provider, record the
sends, and sweep the outbox for lost enqueues and dead workers. Safe with many workers."""

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from core.events import events_publish
from crm import services as crm_services
from crm.models import Activity, ActivityKind
from sms import quiet_hours
from sms.media import media_urls_for_provider
from sms.models import (
    Conversation,
    Message,
    MessageStatus,
    SenderPace,
    StatusCallback,
)
from sms.providers import ProviderError, SendResult, get_provider
from sms.providers.twilio.vocabulary import UNSUBSCRIBED_CODE
from sms.services.consent import consent_opt_out_unsubscribed
from sms.services.sending import QUIET_HOURS_KINDS, SendRefused, enqueue_deliveries, messages_refusals
from sms.services.status import message_status_apply

logger = logging.getLogger(__name__)

# A claim is a lease: the worker holding a batch renews ``claimed_at`` on every message it
# still holds at least every LEASE_RENEW_SECONDS (before each send, and after a wait for a
# pacing slot), so the longest gap is a pacing wait (20 s) or one provider call (10 s connect +
# 10 s read). A message whose lease is older than LEASE lost its worker (killed, or the host
# died): the sweeper, every minute, puts it back to be looked up at the provider before any
# resend. Recovered within LEASE + one sweep interval, about a minute or two, not ten.
LEASE = timedelta(seconds=60)
LEASE_RENEW_SECONDS = 10.0


@dataclass(frozen=True)
class DeliveryOutcome:
    message_id: int
    result: str  # sent | retry | failed | blocked | skipped | paced | deferred | handed_on


def _backoff(attempts: int) -> timedelta:
    # Exponential with equal jitter: 15-30 s, 30-60 s, 60-120 s ... capped at an hour.
    ceiling = min(3600, 30 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def status_callback_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/sms/twilio/status/"


def pace_reserve(sender: str, segments: int, *, max_wait: float = 20.0, now=None) -> float | None:
    """Reserve ``segments`` of the sender's rate. Returns seconds to wait before sending, or
    None when the next free slot is further away than ``max_wait`` (try again later).

    Each worker reserves one slot at a time, so the wait is bounded by workers x segments /
    rate; ``max_wait`` plus the provider's timeouts stays below the task timeout."""
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


def _claim(message_ids: Sequence[int], now) -> list[int]:
    """Claim the due queued messages among ``message_ids`` for this caller, in one statement for
    the batch. Each row is claimed by exactly one caller: the rows are locked in id order and
    the status is tested again after the lock (PostgreSQL; SQLite's IMMEDIATE transactions
    serialise the whole claim). Returns the claimed ids."""
    with transaction.atomic():
        claimable = list(
            Message.objects.select_for_update()
            .filter(pk__in=list(message_ids), status=MessageStatus.QUEUED, next_attempt_at__lte=now)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not claimable:
            return []
        Message.objects.filter(pk__in=claimable, status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENDING,
            attempts=F("attempts") + 1,
            claimed_at=now,
            status_updated_at=now,
        )
    return claimable


def _move(message: Message, status: str, **fields) -> bool:
    """Move a message we hold in 'sending' to ``status``; False if someone else moved it."""
    now = timezone.now()
    return (
        Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=status, status_updated_at=now, **fields
        )
        == 1
    )


def _release(message: Message, *, until: datetime, reason: str = "") -> None:
    """Hand a claimed message back to the queue without counting the attempt."""
    fields = {"attempts": F("attempts") - 1, "next_attempt_at": until, "enqueued_at": None}
    if reason:
        fields["deferred_reason"] = reason
    _move(message, MessageStatus.QUEUED, **fields)


# than this long after the last check (a slow provider) or after a wait for a pacing slot: a
# STOP that arrived meanwhile blocks the send.
CONSENT_RECHECK_SECONDS = 1.0


def message_deliver(*, message_id: int) -> DeliveryOutcome:
    """Send one queued message. Safe to call any number of times from any number of workers:
    only the caller whose conditional update claims the row sends it."""
    return messages_deliver(message_ids=[message_id])[0]


def messages_deliver(*, message_ids: Sequence[int], deadline: float | None = None) -> list[DeliveryOutcome]:
    """Send a batch of queued messages, one outcome per distinct id in order. The batch is
    claimed, loaded and checked against consent in a few queries, then each message is sent on
    its own (the same rules as one at a time: at most one worker sends a message, consent is
    fresh, quiet hours and pacing apply) and the sends are recorded in groups
    (``_SendRecorder``). Messages not reached before
    ``deadline`` (``time.monotonic()``) go back on the queue, enqueued again ('handed_on')."""
    ids = list(dict.fromkeys(message_ids))
    now = timezone.now()
    claimed = set(_claim(ids, now))
    messages = Message.objects.select_related("contact__account").in_bulk(claimed) if claimed else {}
    batch = [messages[pk] for pk in ids if pk in messages]
    outcomes = {pk: DeliveryOutcome(pk, "skipped") for pk in ids if pk not in messages}
    refused = messages_refusals(batch)
    checked_at = time.monotonic()
    provider = get_provider()
    recorder = _SendRecorder(provider.name)
    try:
        _deliver_claimed(batch, outcomes, refused, checked_at, provider, recorder, deadline)
    finally:
        recorder.flush()  # what was sent is recorded, even when a later text raised
    return [outcomes[pk] for pk in ids]


class _Lease:
    """Renews the claim on a batch's messages while this worker is alive and working on them."""

    def __init__(self, batch: Sequence[Message]):
        self.ids = [message.pk for message in batch]
        self.renewed = time.monotonic()

    def renew_if_due(self, *, force: bool = False) -> None:
        if self.ids and (force or time.monotonic() - self.renewed >= LEASE_RENEW_SECONDS):
            Message.objects.filter(pk__in=self.ids, status=MessageStatus.SENDING).update(
                claimed_at=timezone.now()
            )
            self.renewed = time.monotonic()


def _deliver_claimed(batch, outcomes, refused, checked_at, provider, recorder, deadline) -> None:
    lease = _Lease(batch)
    for index, message in enumerate(batch):
        lease.renew_if_due()
        if deadline is not None and time.monotonic() > deadline:
            outcomes.update(_hand_on(batch[index:]))
            break
        if message.pk not in refused and message.kind in QUIET_HOURS_KINDS:
            # Retries and backlogs come due at any hour: check the window again now.
            current = timezone.now()
            opens, why = quiet_hours.contact_window_opens_why(message.contact, current)
            if opens > current:
                _release(message, until=opens, reason=why)
                outcomes[message.pk] = DeliveryOutcome(message.pk, "deferred")
                continue
        wait = 0.0 if message.pk in refused else pace_reserve(provider.sender, message.segments)
        if wait is None:
            later = timezone.now() + timedelta(
                seconds=max(1.0, message.segments / max(settings.SMS_SEGMENTS_PER_SECOND, 1))
            )
            _release(message, until=later)
            outcomes[message.pk] = DeliveryOutcome(message.pk, "paced")
            continue
        if wait > 0:
            time.sleep(wait)
            lease.renew_if_due(force=wait >= LEASE_RENEW_SECONDS / 2)
        if wait > 0 or time.monotonic() - checked_at > CONSENT_RECHECK_SECONDS:
            # Fresh from the database right before the provider, for the rest of the batch.
            rest = batch[index:]
            for pending in rest:
                refused.pop(pending.pk, None)
            refused.update(messages_refusals(rest))
            checked_at = time.monotonic()
        if refused_send := refused.get(message.pk):
            outcomes[message.pk] = _blocked(message, refused_send)
            continue
        recorder.flush_if_due()
        outcomes[message.pk] = _send(message, provider, recorder)


def _hand_on(messages: Sequence[Message]) -> dict[int, DeliveryOutcome]:
    """Give claimed messages back to the queue, uncounted, and enqueue them again."""
    ids = [m.pk for m in messages]
    Message.objects.filter(pk__in=ids, status=MessageStatus.SENDING).update(
        status=MessageStatus.QUEUED,
        attempts=F("attempts") - 1,
        enqueued_at=None,
        status_updated_at=timezone.now(),
    )
    enqueue_deliveries(ids)
    return {pk: DeliveryOutcome(pk, "handed_on") for pk in ids}


def _send(message: Message, provider, recorder: "_SendRecorder") -> DeliveryOutcome:
    try:
        result = None
        if message.verify_before_send:
            result = provider.find_sent(
                to=message.to_number, body=message.body, since=message.created_at - timedelta(minutes=1)
            )
        if result is None:
            media_urls = media_urls_for_provider(message)
            result = provider.send(
                to=message.to_number,
                body=message.body,
                status_callback=status_callback_url(),
                **({"media_urls": media_urls} if media_urls else {}),
            )
    except ProviderError as error:
        return _delivery_failed(message, error)
    recorder.add(message, result)
    return DeliveryOutcome(message.pk, "sent")


# Sends are recorded in groups: one transaction for up to SEND_RECORD_GROUP texts, or for what
# was sent within SEND_RECORD_SECONDS (a slow provider), and always at the end of the batch.
# Until its group commits, a sent text is 'sending' without its SID: should the worker die in
# between, the sweeper has it looked up at the provider before any resend (``find_sent``), the
# same recovery as for a crash between one send and its commit.
SEND_RECORD_GROUP = 25
SEND_RECORD_SECONDS = 0.5


class _SendRecorder:
    def __init__(self, provider_name: str):
        self.provider_name = provider_name
        self.pending: list[tuple[Message, SendResult, datetime]] = []
        self.oldest = 0.0

    def add(self, message: Message, result: SendResult) -> None:
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.append((message, result, timezone.now()))
        if len(self.pending) >= SEND_RECORD_GROUP:
            self.flush()
        else:
            self.flush_if_due()

    def flush_if_due(self) -> None:
        if self.pending and time.monotonic() - self.oldest >= SEND_RECORD_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            group, self.pending = self.pending, []
            _sends_record(group, self.provider_name)


def _sends_record(group: Sequence[tuple[Message, SendResult, datetime]], provider_name: str) -> None:
    """Record sends: the SIDs (on texts still 'sending'), the conversations and the timeline
    entries commit together, in a few statements for the group; should that fail, the sweeper
    finds the texts in 'sending' and has them looked up at the provider before any resend."""
    for message, result, sent_at in group:
        message.status, message.status_updated_at, message.sent_at = MessageStatus.SENT, sent_at, sent_at
        message.provider, message.provider_sid, message.from_number = (
            provider_name,
            result.sid,
            result.from_number,
        )
        message.error_code, message.error_message, message.verify_before_send = "", "", False
    last_sent = {message.contact_id: sent_at for message, _, sent_at in group if message.contact_id}
    entries = []
    for message, _, sent_at in group:
        if message.contact is None:
            continue
        summary = message.body[:300]
        data = {"message": message.pk, "segments": message.segments, "kind": message.kind}
        if message.response_seconds is not None:
            data["response_seconds"] = message.response_seconds
            summary = f"Replied in {_duration(message.response_seconds)}: {message.body}"[:300]
        entries.append(
            Activity(
                kind=ActivityKind.SMS_SENT,
                contact=message.contact,
                account_id=message.contact.account_id,
                actor_id=message.sent_by_id,
                occurred_at=sent_at,
                summary=summary,
                data=data,
            )
        )
    with transaction.atomic():
        sending = Message.objects.filter(status=MessageStatus.SENDING)
        if len(group) == 1:  # a text sent on its own (a manual send): plain updates are cheaper
            message = group[0][0]
            sending.filter(pk=message.pk).update(**{name: getattr(message, name) for name in SENT_FIELDS})
            Conversation.objects.filter(contact_id__in=list(last_sent)).update(last_outbound_at=group[0][2])
        else:
            sending.bulk_update([message for message, _, _ in group], SENT_FIELDS)
            Conversation.objects.filter(contact_id__in=list(last_sent)).update(
                last_outbound_at=Case(
                    *(When(contact_id=contact_id, then=Value(at)) for contact_id, at in last_sent.items())
                )
            )
        crm_services.activities_record_bulk(entries)
        events_publish("message.sent", [message for message, _, _ in group])
        # A status callback may have beaten us to a SID; apply what already arrived.
        early = StatusCallback.objects.filter(provider_sid__in=[result.sid for _, result, _ in group])
        for sid, status, error_code in early.order_by("id").values_list(
            "provider_sid", "status", "error_code"
        ):
            message_status_apply(
                provider_sid=sid, provider_status=status, error_code=error_code, record=False
            )


SENT_FIELDS = [
    "status",
    "status_updated_at",
    "sent_at",
    "provider",
    "provider_sid",
    "from_number",
    "error_code",
    "error_message",
    "verify_before_send",
]


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _blocked(message: Message, refused: SendRefused) -> DeliveryOutcome:
    _move(message, MessageStatus.FAILED, error_code=refused.code[:16], error_message=refused.reason[:300])
    _timeline_failed(message, refused.reason, refused.code)
    return DeliveryOutcome(message.pk, "blocked")


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
            # After an unclear answer, ask the provider before sending again.
            verify_before_send=message.verify_before_send or error.ambiguous,
        )
        logger.warning(
            "SMS %s: provider error %s (ambiguous=%s), retrying", message.pk, error.code, error.ambiguous
        )
        return DeliveryOutcome(message.pk, "retry")
    reason = error.message
    if error.ambiguous or message.verify_before_send:
        reason = f"{error.message} — the provider may have sent it; check before resending."
    _move(message, MessageStatus.FAILED, error_code=error.code[:16], error_message=reason[:300])
    _timeline_failed(message, reason, error.code)
    if error.code == UNSUBSCRIBED_CODE and message.contact is not None:
        consent_opt_out_unsubscribed(contact=message.contact, message=message)
    return DeliveryOutcome(message.pk, "failed")


def _timeline_failed(message: Message, reason: str, code: str) -> None:
    events_publish("message.failed", [message], status=MessageStatus.FAILED, error_code=code[:16])
    if message.contact is not None:
        crm_services.activity_record(
            kind=ActivityKind.SMS_FAILED,
            contact=message.contact,
            summary=reason[:300],
            data={"message": message.pk, "error_code": code},
        )


# --- Sweeper ----------------------------------------------------------------------------


def leases_recover(*, limit: int = 500) -> list[int]:
    """Messages whose worker died while 'sending' (lease lapsed) go back to the queue, to be
    looked up at the provider before any resend; returns their ids, marked as enqueued: the
    caller sends them (a delivery batch takes them first) or enqueues them (the sweeper)."""
    now = timezone.now()
    expired = list(
        Message.objects.filter(status=MessageStatus.SENDING, claimed_at__lt=now - LEASE).values_list(
            "pk", flat=True
        )[:limit]
    )
    if not expired:
        return []
    recovered = Message.objects.filter(
        pk__in=expired, status=MessageStatus.SENDING, claimed_at__lt=now - LEASE
    ).update(
        status=MessageStatus.QUEUED,
        attempts=F("attempts") - 1,
        verify_before_send=True,
        next_attempt_at=now,
        enqueued_at=now,
        status_updated_at=now,
    )
    if recovered:
        logger.warning("Recovered %s message(s) whose worker's lease lapsed in 'sending'", recovered)
    return expired


def outbox_sweep(*, batch_size: int = 500, stale_after: timedelta = timedelta(minutes=10)) -> int:
    """Enqueue due queued messages whose delivery task is missing (a lost enqueue, a retry
    or a quiet-hours deferral that has come due), and put messages whose worker died while
    'sending' back in the queue to be looked up at the provider before any resend. Returns
    how many were enqueued."""
    now = timezone.now()
    recovered = leases_recover(limit=batch_size)
    due = list(
        Message.objects.filter(status=MessageStatus.QUEUED, next_attempt_at__lte=now)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - stale_after))
        .exclude(pk__in=recovered)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    due = recovered + due
    if not due:
        return 0
    enqueue_deliveries(due)
    return len(due)

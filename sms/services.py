"""Writes of the SMS module: consent, sending, delivery, provider callbacks and inbound texts.

Every outbound text goes through ``message_send``; every delivery through ``message_deliver``.
"""

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from core import bulk
from crm import services as crm_services
from crm.models import Activity, ActivityKind, Contact, SmsConsent
from sms import governance, keywords
from sms.intents import classify
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
from sms.providers import ProviderError, SendResult, get_provider
from sms.quiet_hours import next_send_time, resolve_timezone
from sms.segments import MAX_BODY_CHARS, count_segments

logger = logging.getLogger(__name__)

UNSUBSCRIBED_CODE = "21610"
PROOF_KEYS = ("disclosure", "url", "ip", "message", "note", "form", "file")
CONSENT_CLOCK_SKEW = timedelta(minutes=5)
# A reply is part of the customer's conversation while their last text is this recent.
REPLY_WINDOW = timedelta(hours=24)
# A message still 'sending' after this long lost its worker (tasks time out after 60 s).
STUCK_AFTER = timedelta(minutes=10)


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
    now = timezone.now()
    if occurred_at is not None and occurred_at > now + CONSENT_CLOCK_SKEW:
        # A future-dated event would outrank every later one, including a STOP.
        raise ConsentError("Consent cannot be recorded for a time in the future.")
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
        occurred_at=occurred_at or now,
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


def in_reply_window(contact: Contact, now: datetime | None = None) -> bool:
    """True while the customer's last inbound text is recent enough to answer without an
    opt-in (they started the conversation)."""
    now = now or timezone.now()
    return Message.objects.filter(
        contact=contact, direction=Direction.INBOUND, created_at__gte=now - REPLY_WINDOW
    ).exists()


REFUSAL_TEXT = {
    "consent:opted_out": "{contact} has opted out of texts.",
    "consent:not_opted_in": "{contact} has not opted in to texts.",
    "contact:no_phone": "{contact} has no phone number.",
    "contact:missing": "The contact was deleted.",
    "contact:demo_data": "{contact} is demo data; demo contacts are only texted via the console provider.",
}


def refusal(contact: Contact | None, reason: str) -> SendRefused:
    """A governance reason ("consent:opted_out", "cap:contact_daily", ...) as a SendRefused."""
    text = REFUSAL_TEXT.get(reason, "Held back by governance: {reason}.")
    return SendRefused(
        reason.split(":", 1)[-1],
        text.format(contact=contact, reason=reason),
        consent=reason.startswith("consent:"),
    )


def _check_consent(contact: Contact, kind: str) -> None:
    """Consent rules by kind. Keyword confirmations (opt-out, HELP) always go; a reply needs
    a recent text from the customer and no opt-out; manual and automated texts are decided by
    the governance module (consent and contact checks)."""
    if kind == MessageKind.COMPLIANCE:
        return
    if kind == MessageKind.REPLY:
        if contact.sms_consent == SmsConsent.OPTED_OUT:
            raise refusal(contact, "consent:opted_out")
        if contact.sms_consent == SmsConsent.OPTED_IN or in_reply_window(contact):
            return
        raise refusal(contact, "consent:not_opted_in")
    decision = governance.decide([governance.Candidate(contact.pk, contact.account_id)], automated=False)[0]
    if decision.outcome == governance.SUPPRESSED:
        raise refusal(contact, decision.reason)


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


# Manual and automated texts respect quiet hours; replies and keyword confirmations answer
# the customer's own text and go at once.
QUIET_HOURS_KINDS = (MessageKind.MANUAL, MessageKind.AUTOMATED)


def clean_body(body: str | None) -> str:
    return (body or "").replace("\x00", "").strip()


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
    body = clean_body(body)
    if not body:
        raise SendRefused("empty_body", "The message is empty.")
    if len(body) > MAX_BODY_CHARS:
        raise SendRefused(
            "too_long", f"The message is {len(body)} characters; the limit is {MAX_BODY_CHARS}."
        )
    due, deferred_reason = now, ""
    if kind in QUIET_HOURS_KINDS:
        # Manual and automated texts: the governance module decides (an automated one also
        # against deferrals, a human already engaged and the caps).
        decision = governance.decide(
            [governance.Candidate(contact.pk, contact.account_id)],
            now=now,
            automated=kind == MessageKind.AUTOMATED,
        )[0]
        if decision.outcome == governance.SUPPRESSED:
            raise refusal(contact, decision.reason)
        due, deferred_reason = decision.send_at, decision.reason
    else:
        if not contact.phone:
            raise refusal(contact, "contact:no_phone")
        if contact.attributes.get("demo") and settings.SMS_PROVIDER != "console":
            raise refusal(contact, "contact:demo_data")
        _check_consent(contact, kind)
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
    if conversation is not None:
        Conversation.objects.filter(pk=conversation.pk).update(last_message=message, updated_at=now)
    if due <= now:
        # robust: a broker hiccup must not turn a stored message into an error the caller
        # retries (that would be a second text); the sweeper enqueues it instead.
        transaction.on_commit(lambda: enqueue_delivery(message.pk), robust=True)
    return message


@dataclass(frozen=True)
class AutomatedText:
    """One automated text already decided by governance, for ``messages_queue_bulk``."""

    contact_id: int
    to_number: str
    body: str
    send_at: datetime
    # Reserved with ``message_ids_reserve`` when a row pointing at the text is written first.
    message_id: int | None = None


def message_ids_reserve(*, count: int) -> list[int]:
    """Ids for texts not yet queued, so the rows that point at them can be written first."""
    return bulk.ids_reserve(Message, count)


# Columns messages_queue_bulk writes per text; every other column takes its default.
_QUEUED_COLUMNS = (
    "id",
    "contact_id",
    "body",
    "to_number",
    "segments",
    "encoding",
    "next_attempt_at",
    "deferred_reason",
    "direction",
    "kind",
    "source",
    "status",
    "created_at",
    "status_updated_at",
    "enqueued_at",
)


def messages_queue_bulk(*, texts: Sequence[AutomatedText], source: str) -> list[int]:
    """Queue automated texts already decided by governance, in multi-row inserts without a
    model instance each (a play queues tens of thousands). Returns their ids, in order. Those
    due now are enqueued when the transaction commits, the rest (quiet hours) are picked up by
    the outbox sweeper when their window opens."""
    if not texts:
        return []
    now = timezone.now()
    missing = iter(message_ids_reserve(count=sum(1 for text in texts if text.message_id is None)))
    ids = [text.message_id if text.message_id is not None else next(missing) for text in texts]
    rows = []
    due = []
    for message_id, text in zip(ids, texts, strict=True):
        body = clean_body(text.body)[:MAX_BODY_CHARS]
        info = count_segments(body)
        deferred = text.send_at > now
        if not deferred:
            due.append(message_id)
        rows.append(
            (
                message_id,
                text.contact_id,
                body,
                text.to_number,
                info.segments,
                info.encoding,
                text.send_at,
                "quiet_hours" if deferred else "",
                Direction.OUTBOUND,
                MessageKind.AUTOMATED,
                source,
                MessageStatus.QUEUED,
                now,
                now,
                None if deferred else now,
            )
        )
    bulk.rows_insert(Message, _QUEUED_COLUMNS, rows)
    if due:
        # Marked as enqueued in the insert (an UPDATE of 10^4 fresh rows costs as much as the
        # insert): should the process die between the commit and the enqueue, the sweeper takes
        # them as a lost enqueue, after its stale_after.
        transaction.on_commit(lambda: enqueue_deliveries(due, marked=True), robust=True)
    return ids


def enqueue_delivery(message_id: int) -> None:
    enqueue_deliveries([message_id])


# Messages per delivery task: big enough that queueing 10,000 texts is ~200 broker writes, small
# enough that several workers share a backlog.
DELIVERY_BATCH = 50


def enqueue_deliveries(message_ids: Sequence[int], *, marked: bool = False) -> None:
    """Put delivery tasks on the queue, DELIVERY_BATCH messages each. A broker failure is
    logged, not raised: the messages stay queued and the outbox sweeper enqueues them.
    ``marked``: the caller set the messages' enqueued_at already (``messages_queue_bulk`` does,
    in its insert); then only the ones whose enqueue failed are unmarked, for the sweeper."""
    from django_q.brokers import get_broker
    from django_q.brokers.orm import ORM
    from django_q.conf import Conf

    batches = [
        list(message_ids[start : start + DELIVERY_BATCH])
        for start in range(0, len(message_ids), DELIVERY_BATCH)
    ]
    # One broker for all the tasks, made inside a transaction: made in autocommit the ORM broker
    # first runs close_old_connections(), which with CONN_MAX_AGE=0 closes the connection (and
    # on SQLite checkpoints the WAL file), every time. With the ORM broker the tasks are rows in
    # the database: all of them and their bookkeeping in that one transaction (one commit, not
    # one per task); a failure there is the database's, and nothing was enqueued.
    try:
        with transaction.atomic(using=Conf.ORM or DEFAULT_DB_ALIAS):
            broker = get_broker()
            in_database = isinstance(broker, ORM)
            if in_database:
                for batch in batches:
                    _enqueue_delivery_task(batch, broker)
                if not marked:
                    _mark_enqueued(message_ids)
    except Exception:
        logger.exception("Could not enqueue delivery of %s SMS; the outbox sweeper will", len(message_ids))
        if marked:
            Message.objects.filter(bulk.in_ids("pk", message_ids)).update(enqueued_at=None)
        return
    if in_database:
        return
    enqueued, failed = [], []
    for batch in batches:
        try:
            _enqueue_delivery_task(batch, broker)
        except Exception:
            logger.exception("Could not enqueue delivery of %s SMS; the outbox sweeper will", len(batch))
            failed.extend(batch)
        else:
            enqueued.extend(batch)
    if marked and failed:
        Message.objects.filter(bulk.in_ids("pk", failed)).update(enqueued_at=None)
    elif enqueued and not marked:
        _mark_enqueued(enqueued)


def _mark_enqueued(message_ids: Sequence[int]) -> None:
    # The status test inside the SET, not the WHERE: the rows are found by primary key whatever
    # the planner believes about how many messages are queued.
    Message.objects.filter(bulk.in_ids("pk", message_ids)).update(
        enqueued_at=Case(
            When(status=MessageStatus.QUEUED, then=Value(timezone.now())), default=F("enqueued_at")
        )
    )


def _enqueue_delivery_task(batch: list[int], broker) -> None:
    from django_q.tasks import async_task

    async_task(
        "sms.tasks.deliver_messages", batch, task_name=f"deliver-{batch[0]}-{len(batch)}", broker=broker
    )


# --- Delivery ---------------------------------------------------------------------------


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


def _refusals(messages: Sequence[Message]) -> dict[int, SendRefused]:
    """Why each of these messages may not go out right now, from their contacts' current
    consent in the database: one set-based governance check for manual and automated texts,
    the per-kind rules for replies and keyword confirmations."""
    refused: dict[int, SendRefused] = {}
    governed = [m for m in messages if m.contact is not None and m.kind in QUIET_HOURS_KINDS]
    decisions = governance.decide(
        [governance.Candidate(m.contact.pk, m.contact.account_id) for m in governed], automated=False
    )
    for message, decision in zip(governed, decisions, strict=True):
        if decision.outcome == governance.SUPPRESSED:
            refused[message.pk] = refusal(message.contact, decision.reason)
    others = {m.pk for m in messages if m.contact is not None and m.kind not in QUIET_HOURS_KINDS}
    consent = dict(
        Contact.objects.filter(pk__in=[m.contact.pk for m in messages if m.pk in others]).values_list(
            "pk", "sms_consent"
        )
    )
    for message in messages:
        if message.contact is None or (message.pk in others and message.contact.pk not in consent):
            refused[message.pk] = SendRefused("no_contact", "The contact was deleted.")
        elif message.pk in others:
            message.contact.sms_consent = consent[message.contact.pk]
            try:
                _check_consent(message.contact, message.kind)
            except SendRefused as refused_send:
                refused[message.pk] = refused_send
    return refused


# A batch checks consent once before its first send, and again before any send that comes more
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
    refused = _refusals(batch)
    checked_at = time.monotonic()
    provider = get_provider()
    recorder = _SendRecorder(provider.name)
    try:
        _deliver_claimed(batch, outcomes, refused, checked_at, provider, recorder, deadline)
    finally:
        recorder.flush()  # what was sent is recorded, even when a later text raised
    return [outcomes[pk] for pk in ids]


def _deliver_claimed(batch, outcomes, refused, checked_at, provider, recorder, deadline) -> None:
    for index, message in enumerate(batch):
        if deadline is not None and time.monotonic() > deadline:
            outcomes.update(_hand_on(batch[index:]))
            break
        if message.pk not in refused and message.kind in QUIET_HOURS_KINDS:
            # Retries and backlogs come due at any hour: check the window again now.
            current = timezone.now()
            opens = send_window_opens(message.contact, current)
            if opens > current:
                _release(message, until=opens, reason="quiet_hours")
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
        if wait > 0 or time.monotonic() - checked_at > CONSENT_RECHECK_SECONDS:
            # Fresh from the database right before the provider, for the rest of the batch.
            rest = batch[index:]
            for pending in rest:
                refused.pop(pending.pk, None)
            refused.update(_refusals(rest))
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
            result = provider.send(
                to=message.to_number, body=message.body, status_callback=status_callback_url()
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
        _opt_out_from_provider(message.contact, message)
    return DeliveryOutcome(message.pk, "failed")


def _timeline_failed(message: Message, reason: str, code: str) -> None:
    if message.contact is not None:
        crm_services.activity_record(
            kind=ActivityKind.SMS_FAILED,
            contact=message.contact,
            summary=reason[:300],
            data={"message": message.pk, "error_code": code},
        )


def _opt_out_from_provider(contact: Contact, message: Message) -> None:
    if Contact.objects.filter(pk=contact.pk).exclude(sms_consent=SmsConsent.OPTED_OUT).exists():
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
    and late arrivals (a 'sent' after 'delivered') change nothing. Recording the callback
    and applying it are one transaction, so a failure leaves the retry free to apply it.
    Returns True if applied."""
    provider_status = (provider_status or "").lower()[:32]
    error_code = (error_code or "")[:16]
    with transaction.atomic():
        # Recorded with ON CONFLICT DO NOTHING: a repeat inserts nothing (no savepoint needed).
        if record and not bulk.row_insert(
            StatusCallback,
            {
                "provider_sid": provider_sid,
                "status": provider_status,
                "error_code": error_code,
                "received_at": timezone.now(),
            },
            ignore_conflicts=True,
            returning=["id"],
        ):
            return False  # already seen
        status = PROVIDER_STATUS.get(provider_status)
        if status is None:
            return False
        moved = _status_move(provider_sid, status, error_code)
        if moved is None:
            return False
        message_id, contact_id, account_id, body = moved
        if contact_id is None:
            return True
        if status != MessageStatus.SENT:
            delivered = status == MessageStatus.DELIVERED
            crm_services.activity_insert(
                kind=ActivityKind.SMS_DELIVERED if delivered else ActivityKind.SMS_FAILED,
                contact_id=contact_id,
                account_id=account_id,
                summary=body[:120] if delivered else f"Not delivered (error {error_code or 'unknown'})",
                data={"message": message_id, "status": status, "error_code": error_code},
            )
        if error_code == UNSUBSCRIBED_CODE:
            message = Message.objects.select_related("contact").get(pk=message_id)
            _opt_out_from_provider(message.contact, message)
    return True


# The statuses a status may replace: those ranked below it (an inbound text is never one).
_STATUSES_BELOW = {
    status: [
        s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[status] and s != MessageStatus.RECEIVED
    ]
    for status in set(PROVIDER_STATUS.values())
}


def _status_move(provider_sid: str, status: str, error_code: str) -> tuple | None:
    """Move the outbound text with this SID to ``status`` if that is forward. Returns its id,
    contact id, account id and body, or None when nothing moved. One UPDATE ... RETURNING
    (PostgreSQL, SQLite 3.35+): the webhook's hottest statement, written out because the ORM's
    update and reload cost several times the database's own work."""
    now = timezone.now()
    fields = {"status": status, "status_updated_at": now}
    if status == MessageStatus.DELIVERED:
        fields["delivered_at"] = now
    if error_code:
        fields["error_code"] = error_code
    connection = transaction.get_connection()
    adapt = connection.ops.adapt_datetimefield_value
    params = [adapt(value) if isinstance(value, datetime) else value for value in fields.values()]
    params += [provider_sid, Direction.OUTBOUND, *_STATUSES_BELOW[status]]
    sql = _status_move_sql(connection.alias, tuple(fields), len(_STATUSES_BELOW[status]))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@lru_cache(maxsize=64)
def _status_move_sql(alias: str, fields: tuple[str, ...], below: int) -> str:
    qn = connections[alias].ops.quote_name
    message, contact = Message._meta, Contact._meta

    def column(name: str) -> str:
        return qn(message.get_field(name).column)

    table = qn(message.db_table)
    # Only quoted names from the models' metadata and placeholders go into the text.
    account = (
        f"(SELECT {qn(contact.get_field('account').column)} FROM {qn(contact.db_table)} "  # noqa: S608
        f"WHERE {qn(contact.pk.column)} = {table}.{column('contact')})"
    )
    return (
        f"UPDATE {table} SET {', '.join(f'{column(name)} = %s' for name in fields)} "  # noqa: S608
        f"WHERE {column('provider_sid')} = %s AND {column('direction')} = %s "
        f"AND {column('status')} IN ({', '.join(['%s'] * below)}) "
        f"RETURNING {column('id')}, {column('contact')}, {account}, {column('body')}"
    )


# --- Inbound ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundResult:
    message: Message | None
    duplicate: bool = False
    keyword: str | None = None


def _contact_for_number(number: str) -> Contact:
    # get(), not first(): the phone is unique, and an ORDER BY costs Django more to compile than
    # the query costs the database. The account (and owners) are read only when routing needs them.
    try:
        return Contact.objects.get(phone=number)
    except Contact.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return crm_services.contact_create(phone=number)
    except (IntegrityError, ValidationError):
        # A concurrent webhook for the same new number created it first.
        return Contact.objects.get(phone=number)


def inbound_receive(
    *, provider_sid: str, from_number: str, to_number: str, body: str, received_at: datetime | None = None
) -> InboundResult:
    """Store an inbound text once (by provider SID), handle carrier keywords, reopen the
    conversation, route it in the inbox and put it on the timeline. Unknown numbers become
    contacts. ``received_at`` (default: now) is when the text arrived; a replayed or imported
    history passes it, and every date the reply sets (SLA, deferral, timeline) follows it."""
    if Message.objects.filter(provider_sid=provider_sid).exists():
        return InboundResult(None, duplicate=True)
    body = (body or "").replace("\x00", "")
    contact = _contact_for_number(from_number)
    now = received_at or timezone.now()
    info = count_segments(body)
    keyword = _keyword_for(contact, body)
    # Free text is classified before it is stored, so the text is written once with its intent.
    result = None if keyword else classify(body)
    try:
        with transaction.atomic():
            # Serialise replies from one contact so routing decisions never overwrite each other.
            conversation, _ = Conversation.objects.select_for_update().get_or_create(contact=contact)
            message = Message.objects.create(
                contact=contact,
                conversation=conversation,
                direction=Direction.INBOUND,
                kind=MessageKind.INBOUND,
                body=body,
                to_number=(to_number or "")[:64],
                from_number=from_number,
                status=MessageStatus.RECEIVED,
                provider=settings.SMS_PROVIDER,
                provider_sid=provider_sid,
                segments=info.segments,
                encoding=info.encoding,
                status_updated_at=now,
                intent=result.intent if result else "",
                intent_confidence=result.confidence if result else None,
                intent_rule=result.rule if result else None,
            )
            if received_at is not None:  # created_at is auto_now_add: set on insert, so moved after
                Message.objects.filter(pk=message.pk).update(created_at=now)
                message.created_at = now
            conversation.status = ConversationStatus.OPEN
            conversation.last_inbound_at = now
            conversation.last_message = message
            if keyword:
                conversation.save()
                _handle_keyword(contact, keyword, message, received_at=received_at)
            else:
                from sms.inbox import inbound_route  # the inbox builds on this module

                inbound_route(message=message, conversation=conversation, contact=contact, result=result)
            crm_services.activity_record(
                kind=ActivityKind.SMS_REPLY,
                contact=contact,
                occurred_at=now,
                summary=body[:300],
                data={"message": message.pk, "intent": message.intent or keyword or ""},
            )
    except IntegrityError:
        if Message.objects.filter(provider_sid=provider_sid).exists():
            # The same MessageSid arrived twice at once; the other request stored it.
            return InboundResult(None, duplicate=True)
        raise  # any other conflict is not a duplicate: passing it off as one would lose the text
    return InboundResult(message, keyword=keyword)


def _keyword_for(contact: Contact, body: str) -> str | None:
    keyword = keywords.keyword_of(body)
    if (
        keyword == "opt_in"
        and keywords.single_word(body) in keywords.SOFT_OPT_IN
        and contact.sms_consent != SmsConsent.OPTED_OUT
    ):
        return None  # a plain "yes" answers a question; it re-subscribes only after a STOP
    return keyword


def _handle_keyword(
    contact: Contact, keyword: str, message: Message, *, received_at: datetime | None = None
) -> None:
    """Record consent first; the confirmation is best-effort and can never undo it. A live
    keyword is recorded at the clock's now; a replayed one (``received_at``) when it arrived."""
    proof = {"message": message.body, "message_sid": message.provider_sid}
    was = Contact.objects.values_list("sms_consent", flat=True).get(pk=contact.pk)
    if keyword == "opt_out":
        consent_record(
            contact=contact,
            action=ConsentAction.OPT_OUT,
            source=ConsentSource.KEYWORD,
            proof=proof,
            occurred_at=received_at,
        )
        reply, kind = (
            (settings.SMS_OPT_OUT_REPLY if was != SmsConsent.OPTED_OUT else ""),
            MessageKind.COMPLIANCE,
        )
    elif keyword == "opt_in":
        consent_record(
            contact=contact,
            action=ConsentAction.OPT_IN,
            source=ConsentSource.KEYWORD,
            proof=proof,
            occurred_at=received_at,
        )
        # An ordinary reply: if they text STOP before it goes out, it does not go out.
        reply, kind = (settings.SMS_OPT_IN_REPLY if was != SmsConsent.OPTED_IN else ""), MessageKind.REPLY
    else:
        reply, kind = settings.SMS_HELP_REPLY, MessageKind.COMPLIANCE
    if not reply:
        return
    try:
        with transaction.atomic():
            message_send(
                contact=contact,
                body=reply,
                kind=kind,
                idempotency_key=f"keyword-reply:{message.provider_sid}",
            )
    except Exception:
        logger.exception("Keyword confirmation to %s not sent; the consent change stands", contact.pk)


# --- Sweeper ----------------------------------------------------------------------------


def outbox_sweep(*, batch_size: int = 500, stale_after: timedelta = timedelta(minutes=10)) -> int:
    """Enqueue due queued messages whose delivery task is missing (a lost enqueue, a retry
    or a quiet-hours deferral that has come due), and put messages whose worker died while
    'sending' back in the queue to be looked up at the provider before any resend. Returns
    how many were enqueued."""
    now = timezone.now()
    recovered = Message.objects.filter(status=MessageStatus.SENDING, claimed_at__lt=now - STUCK_AFTER).update(
        status=MessageStatus.QUEUED,
        attempts=F("attempts") - 1,
        verify_before_send=True,
        next_attempt_at=now,
        enqueued_at=None,
        status_updated_at=now,
    )
    if recovered:
        logger.warning("Outbox sweeper recovered %s message(s) stuck in 'sending'", recovered)
    due = list(
        Message.objects.filter(status=MessageStatus.QUEUED, next_attempt_at__lte=now)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - stale_after))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    if not due:
        return 0
    enqueue_deliveries(due)
    return len(due)

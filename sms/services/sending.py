"""Sending: every outbound text is queued by ``message_send`` (one text, every check) or
``messages_queue_bulk`` (automated texts governance already decided), and handed to delivery
when the caller's transaction commits."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from core import bulk
from core.errors import DomainError
from crm.models import Contact
from sms import governance
from sms.media import attachments_check, media_attach, media_urls_check
from sms.models import (
    Conversation,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
)
from sms.segments import MAX_BODY_CHARS, count_segments
from sms.services.consent import (
    CLARIFICATION_WINDOW,
    REVIEW_CLARIFICATION,
    TextingState,
    consent_refusal,
    contact_texting,
    in_reply_window,
)
from sms.services.suppression import numbers_blocked, with_number_blocks

logger = logging.getLogger(__name__)


class SendRefused(DomainError):
    """A send that governance does not allow. ``code`` is machine-readable; a refusal for
    consent answers 409, any other 422."""

    def __init__(self, code: str, reason: str, *, consent: bool = False):
        super().__init__(reason, code=code, status=409 if consent else 422)
        self.reason = reason
        self.consent = consent


REFUSAL_TEXT = {
    "consent:opted_out": "{contact} has opted out of texts.",
    "consent:not_opted_in": "{contact} has not opted in to texts.",
    "consent:under_review": (
        "A reply from {contact} is held for review as a possible opt-out: nothing is sent to the number "
        "until an agent decides (confirm the opt-out, or not a revocation with a reason), except one "
        "clarification by an agent within five minutes of the reply."
    ),
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


def _check_consent(
    contact: Contact,
    kind: str,
    *,
    state: TextingState | None = None,
    clarification: bool = False,
    now: datetime | None = None,
) -> None:
    """The consent rule for replies and keyword confirmations (manual and automated texts go
    through governance, which applies the same rule). ``state`` (the contact's effective
    texting state: consent, the number's suppression and pending review) is read here unless
    the caller has it."""
    if kind == MessageKind.COMPLIANCE:
        return
    state = state or contact_texting(contact)
    reason = consent_refusal(
        consent=state.consent,
        kind=kind,
        replying=lambda: in_reply_window(contact),
        suppressed=state.suppressed,
        review_since=state.review_since,
        clarification=clarification,
        now=now,
    )
    if reason:
        raise refusal(contact, reason)


def _clarification_allowed(contact: Contact, now: datetime) -> bool:
    """Whether an agent's text now would be the one clarification a reply held for review
    allows: within five minutes of the reply, and none sent for it yet."""
    since = numbers_blocked([contact.phone]).under_review.get(contact.phone)
    return (
        since is not None
        and now - since <= CLARIFICATION_WINDOW
        and not Message.objects.filter(
            to_number=contact.phone, source=REVIEW_CLARIFICATION, created_at__gte=since
        ).exists()
    )


# The one text allowed after a revocation (47 CFR 64.1200(a)(12)): a plain confirmation, sent
# within five minutes or not at all, even from a backed-up queue.
OPT_OUT_CONFIRMATION = "opt-out-confirmation"
OPT_OUT_CONFIRMATION_WINDOW = timedelta(minutes=5)

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
    source: str = "",
    clarifying: bool = False,
    media_urls: Sequence[str] = (),
    attachments: Sequence = (),
) -> Message:
    """Queue one outbound text after every check; delivery is enqueued when the caller's
    transaction commits. Outside quiet hours the message waits for the next window (it is
    never dropped). Raises SendRefused. A repeated ``idempotency_key`` returns the first
    message instead of sending again. ``source``: what sent it (``OPT_OUT_CONFIRMATION``
    makes delivery drop it once it is too late). ``clarifying``: a person is typing this text
    to the person (inbox, contact page): while a reply of theirs is held for review it may be
    the one clarification allowed within five minutes."""
    now = now or timezone.now()
    if idempotency_key:
        existing = Message.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    body = clean_body(body)
    if not body and not (media_urls or attachments):  # an MMS may be media alone
        raise SendRefused("empty_body", "The message is empty.")
    if len(body) > MAX_BODY_CHARS:
        raise SendRefused(
            "too_long", f"The message is {len(body)} characters; the limit is {MAX_BODY_CHARS}."
        )
    # MMS: Twilio's limits are checked before anything is written (a MediaRefused is a 400).
    media_urls_check(media_urls)
    attachments_check(attachments)
    due, deferred_reason = now, ""
    # Asked only when a reply held for review refuses an agent's text (costs nothing otherwise).
    clarification = False
    if kind in QUIET_HOURS_KINDS:
        # Manual and automated texts: the governance module decides (an automated one also
        # against deferrals, a human already engaged and the caps).
        def decide(clarifying: bool) -> governance.Decision:
            return governance.decide(
                [governance.Candidate(contact.pk, contact.account_id, clarification=clarifying)],
                now=now,
                automated=kind == MessageKind.AUTOMATED,
            )[0]

        decision = decide(False)
        if (
            decision.reason == "consent:under_review"
            and kind == MessageKind.MANUAL
            and clarifying
            and sent_by is not None
            and _clarification_allowed(contact, now)
        ):
            clarification = True
            decision = decide(True)
        if decision.outcome == governance.SUPPRESSED:
            raise refusal(contact, decision.reason)
        due, deferred_reason = decision.send_at, decision.reason
    else:
        if not contact.phone:
            raise refusal(contact, "contact:no_phone")
        if contact.attributes.get("demo") and settings.SMS_PROVIDER != "console":
            raise refusal(contact, "contact:demo_data")
        try:
            _check_consent(contact, kind, now=now)
        except SendRefused as refused:
            if not (
                refused.code == "under_review"
                and kind == MessageKind.REPLY
                and clarifying
                and sent_by is not None
                and _clarification_allowed(contact, now)
            ):
                raise
            clarification = True
            _check_consent(contact, kind, clarification=True, now=now)
    if clarification:
        source = REVIEW_CLARIFICATION
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
                source=source,
            )
    except IntegrityError:
        if idempotency_key:  # a concurrent call with the same key won the race
            return Message.objects.get(idempotency_key=idempotency_key)
        raise
    if media_urls or attachments:
        media_attach(message=message, urls=media_urls, uploads=attachments)
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
    # Why a text due later waits (governance's reason, e.g. "state:FL_quiet_hours").
    deferred_reason: str = "quiet_hours"


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
                (text.deferred_reason or "quiet_hours") if deferred else "",
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
                # The tasks are packed by django-q's own async_task and written in one
                # multi-row INSERT (a play's 100,000 texts are 2,000 tasks: 2,000 single-row
                # inserts were a tenth of a journey's advance).
                collector = _TaskRows(broker.list_key)
                for batch in batches:
                    _enqueue_delivery_task(batch, collector)
                collector.write()
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


class _TaskRows:
    """A stand-in for django-q's ORM broker in ``async_task``: django-q builds and signs each
    task as it always does; ``enqueue`` keeps the row the ORM broker would insert, and
    ``write`` inserts them all in one statement (``bulk_create``) in the caller's transaction."""

    def __init__(self, list_key: str):
        from django_q.conf import Conf

        self.list_key = list_key or Conf.CLUSTER_NAME
        self.rows = []

    def enqueue(self, package: str) -> None:
        from django_q.models import OrmQ

        self.rows.append(OrmQ(key=self.list_key, payload=package, lock=timezone.now()))

    def write(self) -> None:
        from django_q.conf import Conf
        from django_q.models import OrmQ

        OrmQ.objects.using(Conf.ORM or DEFAULT_DB_ALIAS).bulk_create(self.rows)
        self.rows = []


def _enqueue_delivery_task(batch: list[int], broker) -> None:
    from django_q.tasks import async_task

    async_task(
        "sms.tasks.deliver_messages", batch, task_name=f"deliver-{batch[0]}-{len(batch)}", broker=broker
    )


def messages_refusals(messages: Sequence[Message]) -> dict[int, SendRefused]:
    """Why each of these messages may not go out right now, from their contacts' current
    consent in the database: one set-based governance check for manual and automated texts,
    the per-kind rules for replies and keyword confirmations."""
    refused: dict[int, SendRefused] = {}
    now = timezone.now()
    # The number a queued text goes to may have opted out since, even under another contact,
    # or a reply from it may be held for review.
    blocks = numbers_blocked(m.to_number for m in messages if m.kind != MessageKind.COMPLIANCE)
    for message in messages:
        if message.kind == MessageKind.COMPLIANCE:
            continue
        reason = consent_refusal(
            consent="",
            kind=message.kind,
            replying=lambda: True,
            suppressed=message.to_number in blocks.suppressed,
            review_since=blocks.under_review.get(message.to_number),
            clarification=message.source == REVIEW_CLARIFICATION,
            now=now,
        )
        if reason in ("consent:opted_out", "consent:under_review"):
            refused[message.pk] = refusal(message.contact, reason)
    governed = [
        m for m in messages if m.contact is not None and m.kind in QUIET_HOURS_KINDS and m.pk not in refused
    ]
    decisions = governance.decide(
        [
            governance.Candidate(
                m.contact.pk, m.contact.account_id, clarification=m.source == REVIEW_CLARIFICATION
            )
            for m in governed
        ],
        automated=False,
        now=now,
    )
    for message, decision in zip(governed, decisions, strict=True):
        if decision.outcome == governance.SUPPRESSED:
            refused[message.pk] = refusal(message.contact, decision.reason)
    others = {
        m.pk
        for m in messages
        if m.contact is not None and m.kind not in QUIET_HOURS_KINDS and m.pk not in refused
    }
    states = {
        pk: TextingState(consent, suppressed, review_since)
        for pk, consent, suppressed, review_since in with_number_blocks(
            Contact.objects.filter(pk__in=[m.contact.pk for m in messages if m.pk in others])
        ).values_list("pk", "sms_consent", "suppressed", "review_since")
    }
    too_late = now - OPT_OUT_CONFIRMATION_WINDOW
    for message in messages:
        if message.source == OPT_OUT_CONFIRMATION and message.created_at < too_late:
            refused[message.pk] = SendRefused(
                "too_late", "An opt-out confirmation goes within five minutes or not at all."
            )
        elif message.contact is None or (message.pk in others and message.contact.pk not in states):
            refused[message.pk] = SendRefused("no_contact", "The contact was deleted.")
        elif message.pk in others:
            state = states[message.contact.pk]
            message.contact.sms_consent = state.consent
            try:
                _check_consent(
                    message.contact,
                    message.kind,
                    state=state,
                    clarification=message.source == REVIEW_CLARIFICATION,
                    now=now,
                )
            except SendRefused as refused_send:
                refused[message.pk] = refused_send
    return refused

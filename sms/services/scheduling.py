"""Scheduled texts ("send later"): stored as ``scheduled`` with their ``send_at``, editable and
cancellable until they go. Nothing is checked for good when one is written: when its time
comes ``scheduled_release`` puts it through every check as of that moment (consent, the
number's opt-out, state rules and quiet hours, which defer it) and queues it for delivery, or
fails it with the reason. Set-based: a batch costs a fixed number of queries."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from crm import services as crm_services
from crm.models import Activity, ActivityKind, Contact
from sms import governance
from sms.media import attachments_check, media_attach, media_urls_check
from sms.models import Conversation, Direction, Message, MessageKind, MessageStatus
from sms.segments import MAX_BODY_CHARS, count_segments
from sms.services.sending import SendRefused, clean_body, enqueue_deliveries, refusal

# How far ahead a text may be scheduled.
MAX_AHEAD = timedelta(days=365)
RELEASE_BATCH = 500


class ScheduleError(DomainError):
    code = "schedule_invalid"
    status = 400


class NotScheduled(DomainError):
    """The text has gone (or was canceled): it can no longer be changed."""

    code = "not_scheduled"
    status = 409


def _check(body: str, send_at: datetime, now: datetime, *, has_media: bool = False) -> str:
    body = clean_body(body)
    if not body and not has_media:  # an MMS may be media alone
        raise ScheduleError("The message is empty.", code="empty_body")
    if len(body) > MAX_BODY_CHARS:
        raise ScheduleError(
            f"The message is {len(body)} characters; the limit is {MAX_BODY_CHARS}.", code="too_long"
        )
    if send_at is None or timezone.is_naive(send_at):
        raise ScheduleError("send_at needs a date, a time and a timezone.", code="send_at_invalid")
    if send_at <= now:
        raise ScheduleError("send_at is in the past: schedule a time in the future.", code="send_at_past")
    if send_at > now + MAX_AHEAD:
        raise ScheduleError("send_at is more than a year ahead.", code="send_at_too_far")
    return body


def message_schedule(
    *,
    contact: Contact,
    body: str,
    send_at: datetime,
    sent_by=None,
    idempotency_key: str | None = None,
    media_urls: Sequence[str] = (),
    attachments: Sequence = (),
) -> Message:
    """Store a text to go at ``send_at`` (status ``scheduled``). Raises ScheduleError (400)."""
    if idempotency_key:
        existing = Message.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    now = timezone.now()
    body = _check(body, send_at, now, has_media=bool(media_urls or attachments))
    if not contact.phone:
        raise refusal(contact, "contact:no_phone")
    media_urls_check(media_urls)
    attachments_check(attachments)
    info = count_segments(body)
    message = Message.objects.create(
        contact=contact,
        conversation=Conversation.objects.filter(contact=contact).first(),
        direction=Direction.OUTBOUND,
        kind=MessageKind.MANUAL,
        body=body,
        to_number=contact.phone,
        status=MessageStatus.SCHEDULED,
        send_at=send_at,
        segments=info.segments,
        encoding=info.encoding,
        idempotency_key=idempotency_key or None,
        sent_by=sent_by,
        created_at=now,
    )
    if media_urls or attachments:
        media_attach(message=message, urls=media_urls, uploads=attachments)
    return message


@transaction.atomic
def message_reschedule(
    *, message: Message, body: str | None = None, send_at: datetime | None = None
) -> Message:
    """Change the text or the time of a text still scheduled; 409 once it has gone."""
    now = timezone.now()
    locked = Message.objects.select_for_update().get(pk=message.pk)
    if locked.status != MessageStatus.SCHEDULED:
        raise NotScheduled(
            f"This text is {locked.get_status_display().lower()}: it can no longer be changed."
        )
    new_body = _check(locked.body if body is None else body, send_at or locked.send_at, now)
    locked.body, locked.send_at = new_body, send_at or locked.send_at
    info = count_segments(new_body)
    locked.segments, locked.encoding = info.segments, info.encoding
    locked.save(update_fields=["body", "send_at", "segments", "encoding"])
    return locked


def message_cancel(*, message: Message) -> Message:
    """Cancel a scheduled text (status ``canceled``); 409 once it has gone."""
    now = timezone.now()
    if not Message.objects.filter(pk=message.pk, status=MessageStatus.SCHEDULED).update(
        status=MessageStatus.CANCELED, status_updated_at=now
    ):
        message.refresh_from_db(fields=["status"])
        raise NotScheduled(
            f"This text is {message.get_status_display().lower()}: it can no longer be canceled."
        )
    message.status, message.status_updated_at = MessageStatus.CANCELED, now
    return message


@dataclass(frozen=True)
class Release:
    queued: int
    deferred: int
    refused: int


def scheduled_release(*, now: datetime | None = None, batch_size: int = RELEASE_BATCH) -> Release:
    """Send the scheduled texts whose time has come, each through every check as of ``now``:
    queued for delivery now or at the next send window, or failed with the refusal's reason
    (and on the timeline). Rows are claimed under lock, so two workers never release one twice."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=MessageStatus.SCHEDULED, send_at__lte=now)
            .select_related("contact")
            .order_by("send_at", "id")[:batch_size]
        )
        if not due:
            return Release(0, 0, 0)
        reachable = [m for m in due if m.contact is not None and m.contact.phone]
        decisions = governance.decide(
            [governance.Candidate(m.contact_id, m.contact.account_id) for m in reachable],
            now=now,
            automated=False,
        )
        decided = {m.pk: d for m, d in zip(reachable, decisions, strict=True)}
        send_now, deferred, failed = [], 0, []
        for message in due:
            decision = decided.get(message.pk)
            if decision is None or decision.outcome == governance.SUPPRESSED:
                reason = (
                    decision.reason
                    if decision
                    else ("contact:missing" if message.contact is None else "contact:no_phone")
                )
                refused: SendRefused = refusal(message.contact, reason)
                message.status, message.error_code = MessageStatus.FAILED, refused.code[:16]
                message.error_message = refused.reason[:300]
                failed.append(message)
                continue
            message.status = MessageStatus.QUEUED
            message.to_number = message.contact.phone  # the number they have now
            message.next_attempt_at, message.deferred_reason = decision.send_at, decision.reason
            if decision.send_at <= now:
                send_now.append(message.pk)
            else:
                deferred += 1
        for message in due:
            message.status_updated_at = now
        Message.objects.bulk_update(
            due,
            [
                "status",
                "to_number",
                "next_attempt_at",
                "deferred_reason",
                "error_code",
                "error_message",
                "status_updated_at",
            ],
            batch_size=batch_size,
        )
        crm_services.activities_record_bulk(
            [
                Activity(
                    kind=ActivityKind.SMS_FAILED,
                    contact=m.contact,
                    occurred_at=now,
                    summary=f"Scheduled text not sent: {m.error_message}",
                    data={"message": m.pk, "error_code": m.error_code, "scheduled": True},
                )
                for m in failed
                if m.contact is not None
            ]
        )
        if send_now:
            transaction.on_commit(lambda: enqueue_deliveries(send_now), robust=True)
    return Release(queued=len(send_now), deferred=deferred, refused=len(failed))

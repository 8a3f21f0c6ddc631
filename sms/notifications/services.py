"""Writes of notifications: created in bulk, once per (recipient, occurrence key); emailed
after commit to recipients who opted in; read one by one or all at once."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core import bulk
from sms.models import Notification

logger = logging.getLogger(__name__)

EMAIL_BATCH = 200


@dataclass(frozen=True)
class NotificationDraft:
    recipient_id: int
    kind: str
    text: str
    key: str
    conversation_id: int | None = None


def notifications_create(drafts: Sequence[NotificationDraft], *, now: datetime | None = None) -> None:
    """Store these notifications (one query to read who wants email, one insert); an
    occurrence already told to a recipient is skipped. Email goes out after commit."""
    drafts = [d for d in drafts if d.recipient_id is not None]
    if not drafts:
        return
    now = now or timezone.now()
    wants_email = set(
        get_user_model()
        .objects.filter(
            bulk.in_ids("pk", {d.recipient_id for d in drafts}), notify_by_email=True, is_active=True
        )
        .exclude(email="")
        .values_list("pk", flat=True)
    )
    Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=d.recipient_id,
                kind=d.kind,
                conversation_id=d.conversation_id,
                text=d.text[:300],
                key=d.key[:120],
                created_at=now,
                email_wanted=d.recipient_id in wants_email,
            )
            for d in drafts
        ],
        ignore_conflicts=True,
    )
    if wants_email:
        transaction.on_commit(_enqueue_email)


def _enqueue_email() -> None:
    from django_q.tasks import async_task

    try:
        async_task("sms.tasks.email_notifications", task_name="email-notifications")
    except Exception:
        logger.exception("Could not enqueue notification emails; the periodic job will send them")


def notifications_email_pending(*, limit: int = EMAIL_BATCH) -> int:
    """Email the notifications waiting for it, each claimed by a conditional UPDATE so two
    workers never send the same one; a failed send is released for the next run."""
    pending = list(
        Notification.objects.filter(email_wanted=True, emailed_at__isnull=True)
        .select_related("recipient", "conversation__contact")
        .order_by("id")[:limit]
    )
    sent = 0
    for notification in pending:
        if not Notification.objects.filter(pk=notification.pk, emailed_at__isnull=True).update(
            emailed_at=timezone.now()
        ):
            continue
        try:
            send_mail(
                subject=f"[Lifecycle CRM] {notification.get_kind_display()}",
                message=_email_body(notification),
                from_email=None,  # DEFAULT_FROM_EMAIL
                recipient_list=[notification.recipient.email],
            )
        except Exception:
            logger.exception("Notification %s not emailed; will retry", notification.pk)
            Notification.objects.filter(pk=notification.pk).update(emailed_at=None)
            continue
        sent += 1
    return sent


def _email_body(notification: Notification) -> str:
    lines = [notification.text, ""]
    if notification.conversation_id:
        path = reverse("inbox") + f"?conversation={notification.conversation_id}"
        lines.append(f"Open it: {settings.PUBLIC_BASE_URL.rstrip('/')}{path}")
    lines.append(f"Stop these emails: {settings.PUBLIC_BASE_URL.rstrip('/')}{reverse('own_settings')}")
    return "\n".join(lines)


def notification_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=now, updated_at=now
        )
        notification.read_at = notification.updated_at = now
    return notification


def notifications_read_all(*, recipient) -> int:
    now = timezone.now()
    return Notification.objects.filter(recipient=recipient, read_at__isnull=True).update(
        read_at=now, updated_at=now
    )

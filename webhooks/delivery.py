"""The worker's side: claim due deliveries of one endpoint, attempt each with a short timeout,
record the attempt, back off on failure, disable an endpoint that keeps failing.

Retries follow the Standard Webhooks schedule (``RETRY_DELAYS``: immediately, then 5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 10 h; about 27.5 hours in all). An endpoint is disabled when every
attempt to it has failed for WEBHOOKS_DISABLE_AFTER_HOURS (five days by default); admins are
told by email and in the log, and the endpoints page shows it."""

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import User
from webhooks import signing, transport
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.outbox import endpoints_drain_enqueue

logger = logging.getLogger(__name__)

# Delay before attempt n+1 after attempt n failed (index n); the first attempt is immediate.
RETRY_DELAYS = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS)
CLAIM_BATCH = 20
# A claim older than this was lost with its worker (the task timeout is 60 s).
CLAIM_LEASE = timedelta(minutes=5)
# A drain stops after this many failures in a row: the receiver is down, its backlog waits.
DRAIN_FAILURES_TO_STOP = 3
DRAIN_TIME_BUDGET = 40.0


def _due(now) -> Q:
    return Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=DeliveryStatus.SENDING, claimed_until__lt=now
    )


def deliveries_claim(*, endpoint_id: int, now=None, limit: int = CLAIM_BATCH) -> list[WebhookDelivery]:
    """The oldest due deliveries of an active endpoint, each claimed by one caller only (a
    conditional UPDATE marks them with this claim's token; a row someone else took is not
    matched any more)."""
    now = now or timezone.now()
    candidates = list(
        WebhookDelivery.objects.filter(_due(now), endpoint_id=endpoint_id, endpoint__is_active=True)
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    if not candidates:
        return []
    token = uuid.uuid4().hex
    WebhookDelivery.objects.filter(_due(now), pk__in=candidates).update(
        status=DeliveryStatus.SENDING, claim_token=token, claimed_until=now + CLAIM_LEASE
    )
    return list(
        WebhookDelivery.objects.filter(claim_token=token, status=DeliveryStatus.SENDING)
        .select_related("endpoint")
        .order_by("next_attempt_at", "id")
    )


def _release(deliveries) -> None:
    """Put claimed deliveries back as they were (not attempted)."""
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries], status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.PENDING, claim_token="", claimed_until=None
    )


def delivery_attempt(delivery: WebhookDelivery) -> bool:
    """One signed POST of a claimed delivery; records the attempt and what follows from it."""
    endpoint = delivery.endpoint
    now = timezone.now()
    timestamp = int(now.timestamp())
    headers = signing.headers(endpoint.signing_keys(now), delivery.message_id, timestamp, delivery.body)
    status, answer, error, duration_ms = None, "", "", 0
    started = time.monotonic()
    try:
        response = transport.post(endpoint.url, delivery.body, headers, timeout=settings.WEBHOOKS_TIMEOUT)
    except transport.TransportError as exc:
        error = str(exc)[:300]
        duration_ms = int((time.monotonic() - started) * 1000)
    else:
        status, answer, duration_ms = response.status, response.body, response.duration_ms
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    succeeded = not error
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            response_status=status,
            response_body=answer,
            duration_ms=duration_ms,
            error=error,
            succeeded=succeeded,
        )
        attempts = delivery.attempts + 1
        fields = {
            "attempts": attempts,
            "last_attempt_at": now,
            "response_status": status,
            "last_error": error,
            "claim_token": "",
            "claimed_until": None,
        }
        if succeeded:
            fields.update(status=DeliveryStatus.SUCCEEDED, next_attempt_at=None)
        elif attempts < MAX_ATTEMPTS:
            fields.update(status=DeliveryStatus.PENDING, next_attempt_at=now + RETRY_DELAYS[attempts])
        else:
            fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        WebhookDelivery.objects.filter(pk=delivery.pk, claim_token=delivery.claim_token).update(**fields)
        for name, value in fields.items():
            setattr(delivery, name, value)
        if succeeded:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None, last_success_at=now)
        else:
            _endpoint_failed(endpoint, now)
    return succeeded


def _endpoint_failed(endpoint: WebhookEndpoint, now) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    since = WebhookEndpoint.objects.values_list("failing_since", flat=True).get(pk=endpoint.pk)
    if since <= now - timedelta(hours=settings.WEBHOOKS_DISABLE_AFTER_HOURS):
        endpoint_disable(endpoint=endpoint, since=since, now=now)


def endpoint_disable(*, endpoint: WebhookEndpoint, since, now) -> bool:
    """Turn off an endpoint that has failed since ``since``: its waiting deliveries fail (they
    can be replayed once it is back on) and admins hear of it once."""
    reason = f"Every attempt failed since {since:%Y-%m-%d %H:%M} UTC; disabled automatically."
    if not WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
        is_active=False, disabled_at=now, disabled_reason=reason
    ):
        return False
    WebhookDelivery.objects.filter(
        endpoint=endpoint, status__in=(DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    ).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, last_error="endpoint disabled", claim_token=""
    )
    endpoint.is_active, endpoint.disabled_at, endpoint.disabled_reason = False, now, reason
    logger.warning("Webhook endpoint %s (%s) disabled: %s", endpoint.pk, endpoint.url, reason)
    recipients = list(
        User.objects.filter(Q(role=User.Role.ADMIN) | Q(is_superuser=True), is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if recipients:
        transaction.on_commit(
            lambda: send_mail(
                f"Webhook endpoint disabled: {endpoint.url}",
                f"{reason}\n\nTurn it back on from the webhooks page once the receiver answers; "
                "failed deliveries can be replayed from there.",
                None,
                recipients,
                fail_silently=True,
            )
        )
    return True


def endpoint_drain(*, endpoint_id: int, deadline: float | None = None) -> dict[str, int]:
    """Attempt the endpoint's due deliveries in order until none is due, the time budget is
    spent or the receiver fails several times in a row (the rest waits for the sweep)."""
    deadline = deadline if deadline is not None else time.monotonic() + DRAIN_TIME_BUDGET
    counts = {"succeeded": 0, "failed": 0}
    failures_in_a_row = 0
    while time.monotonic() < deadline:
        claimed = deliveries_claim(endpoint_id=endpoint_id)
        if not claimed:
            break
        for index, delivery in enumerate(claimed):
            if time.monotonic() >= deadline or failures_in_a_row >= DRAIN_FAILURES_TO_STOP:
                _release(claimed[index:])
                return counts
            if delivery_attempt(delivery):
                counts["succeeded"] += 1
                failures_in_a_row = 0
            else:
                counts["failed"] += 1
                failures_in_a_row += 1
                if not WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).exists():
                    _release(claimed[index + 1 :])
                    return counts
        if failures_in_a_row >= DRAIN_FAILURES_TO_STOP:
            break
    return counts


def deliveries_sweep(*, now=None) -> int:
    """The periodic job: enqueue a drain for every active endpoint with due deliveries (retries
    whose time has come, lost enqueues, claims of a worker that died). Returns how many."""
    now = now or timezone.now()
    endpoint_ids = sorted(
        WebhookDelivery.objects.filter(_due(now), endpoint__is_active=True)
        .order_by()
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
    endpoints_drain_enqueue(endpoint_ids)
    return len(endpoint_ids)

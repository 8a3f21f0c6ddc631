"""Writes on subscriptions: create, change, re-enable, replay. Each checks its input and
raises a ``WebhookRefused`` (400) or ``ReplayRefused`` (409) a client can read."""

import base64
import binascii
import ipaddress
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import DomainError
from core.events import EVENT_TYPES
from webhooks.models import (
    SECRET_PREFIX,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    secret_generate,
)
from webhooks.outbox import endpoints_drain_enqueue
from webhooks.transport import TransportError, address_refusal, resolve


class WebhookRefused(DomainError):
    code = "webhook_invalid"

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class ReplayRefused(DomainError):
    code = "replay_refused"
    status = 409


def url_check(url: str) -> str:
    """``url`` if a receiver may live there: https (http only where WEBHOOKS_ALLOW_HTTP), a
    host that resolves, and only to public addresses unless WEBHOOKS_ALLOW_PRIVATE_URLS."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookRefused("url", f"Not a valid URL: {exc}.") from exc
    allowed = {"https", "http"} if settings.WEBHOOKS_ALLOW_HTTP else {"https"}
    if parts.scheme not in allowed:
        raise WebhookRefused("url", "The URL must start with https://.")
    if not parts.hostname:
        raise WebhookRefused("url", "The URL has no host.")
    if parts.username or parts.password:
        raise WebhookRefused("url", "Put no credentials in the URL; verify the signature instead.")
    host = parts.hostname
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            addresses = ["127.0.0.1"]
        else:
            try:
                addresses = sorted({info[4][0] for info in resolve(host, port or 443)})
            except TransportError as exc:
                raise WebhookRefused("url", f"The host does not resolve: {host}.") from exc
    for address in addresses:
        if refusal := address_refusal(address):
            raise WebhookRefused("url", f"Receivers must be on public addresses: {refusal}.")
    return url


def events_check(events) -> list[str]:
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise WebhookRefused("events", "Give a non-empty list of event types.")
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise WebhookRefused(
            "events", f"Unknown event types: {', '.join(unknown)}. Known: {', '.join(EVENT_TYPES)}."
        )
    return sorted(set(events), key=list(EVENT_TYPES).index)


def secret_check(secret: str) -> str:
    """A given secret: ``whsec_`` and base64 of 24 to 64 bytes (the specification's range)."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookRefused("secret", "The secret must be whsec_ followed by base64.") from exc
    if not secret.startswith(SECRET_PREFIX) or not 24 <= len(key) <= 64:
        raise WebhookRefused("secret", "The secret must be whsec_ and base64 of 24 to 64 random bytes.")
    return secret


def endpoint_create(
    *,
    url: str,
    events: list[str],
    secret: str = "",
    description: str = "",
    is_active: bool = True,
    actor=None,
) -> WebhookEndpoint:
    """A new subscription; a secret is generated when none is given."""
    endpoint = WebhookEndpoint(
        url=url_check(url),
        events=events_check(events),
        description=description,
        is_active=is_active,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    if secret:
        endpoint.secret = secret_check(secret)
    endpoint.save()
    return endpoint


def endpoint_update(*, endpoint: WebhookEndpoint, **fields) -> WebhookEndpoint:
    """Change url, events, description or is_active. Turning a disabled endpoint back on
    starts its failure clock afresh."""
    if "url" in fields:
        endpoint.url = url_check(fields["url"])
    if "events" in fields:
        endpoint.events = events_check(fields["events"])
    if "description" in fields:
        endpoint.description = fields["description"]
    if "is_active" in fields:
        if fields["is_active"] and not endpoint.is_active:
            endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = None, "", None
        endpoint.is_active = bool(fields["is_active"])
    endpoint.save()
    return endpoint


# How long the replaced secret keeps signing after a rotation (receivers switch over meanwhile).
PREVIOUS_SECRET_HOURS = 24


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new generated secret (the caller shows it once). For ``PREVIOUS_SECRET_HOURS`` every
    delivery is signed with both the new and the replaced secret, then with the new one only.
    A second rotation within the window drops the oldest secret at once."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    now = timezone.now()
    locked.previous_secret = locked.secret
    locked.previous_secret_expires_at = now + timedelta(hours=PREVIOUS_SECRET_HOURS)
    locked.secret = secret_generate()
    locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return locked


@transaction.atomic
def delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again: a new delivery with the same ``webhook-id`` and body (receivers
    deduplicate on the id), due now, with the full retry schedule of its own."""
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        raise ReplayRefused("The endpoint is disabled; enable it before replaying its deliveries.")
    if delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING):
        raise ReplayRefused("This delivery is still being attempted.")
    now = timezone.now()
    replay = WebhookDelivery.objects.create(
        endpoint=endpoint,
        message_id=delivery.message_id,
        event_type=delivery.event_type,
        body=delivery.body,
        next_attempt_at=now,
        created_at=now,
        replay_of=delivery,
    )
    transaction.on_commit(lambda: endpoints_drain_enqueue([endpoint.pk]), robust=True)
    return replay

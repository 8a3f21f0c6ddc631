"""The subscriber of core.events: each published event becomes one outbox row per endpoint
subscribed to its type, written in the caller's transaction in one multi-row INSERT. The worker
is told after commit; a receiver is never called from here."""

import json
import logging
import uuid

from django.db import transaction

from core import bulk
from core.events import Published, json_value
from webhooks.models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

OUTBOX_COLUMNS = ("endpoint_id", "message_id", "event_type", "body", "next_attempt_at", "created_at")


def message_id_new() -> str:
    """The ``webhook-id`` of one event: unique, and the same on every retry and endpoint."""
    return f"msg_{uuid.uuid4().hex}"


def body_encode(event_type: str, occurred_at, data: dict) -> str:
    """The Standard Webhooks payload: ``{"type", "timestamp", "data"}``, compact JSON."""
    payload = {"type": event_type, "timestamp": json_value(occurred_at), "data": data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def events_record(published: Published) -> None:
    """Outbox rows for ``published`` (settings.EVENT_SUBSCRIBERS): one query to find the active
    endpoints that want the type and, when some do, one INSERT for every event of the call."""
    endpoint_ids = [
        pk
        for pk, events in WebhookEndpoint.objects.filter(is_active=True).values_list("pk", "events")
        if published.event_type in (events or ())
    ]
    if not endpoint_ids:
        return
    at = published.occurred_at
    rows = []
    for data in published.data():
        message_id = message_id_new()
        body = body_encode(published.event_type, at, data)
        rows.extend(
            (endpoint_id, message_id, published.event_type, body, at, at) for endpoint_id in endpoint_ids
        )
    bulk.rows_insert(WebhookDelivery, OUTBOX_COLUMNS, rows)
    transaction.on_commit(lambda: endpoints_drain_enqueue(endpoint_ids), robust=True)


def endpoints_drain_enqueue(endpoint_ids) -> None:
    """One worker task per endpoint, so a slow receiver holds up only its own deliveries. A
    broker that is down loses nothing: the rows are due and the sweep enqueues them."""
    from django_q.tasks import async_task

    for endpoint_id in endpoint_ids:
        try:
            async_task("webhooks.tasks.endpoint_drain", endpoint_id, task_name=f"webhooks-{endpoint_id}")
        except Exception:
            logger.exception(
                "Could not enqueue webhook deliveries of endpoint %s; the sweep will", endpoint_id
            )

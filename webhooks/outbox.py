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

# Events per INSERT: bounds one statement's parameter to a few megabytes (a play run writes
# in batches of 2,000, so a run's batch is one statement).
EVENTS_PER_STATEMENT = 5000


def message_id_new() -> str:
    """The ``webhook-id`` of one event: unique, and the same on every retry and endpoint."""
    return f"msg_{uuid.uuid4().hex}"


def body_encode(event_type: str, occurred_at, data: dict) -> str:
    """The Standard Webhooks payload: ``{"type", "timestamp", "data"}``, compact JSON."""
    payload = {"type": event_type, "timestamp": json_value(occurred_at), "data": data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def subscriptions() -> dict[str, tuple[int, ...]]:
    """Event type -> ids of the active endpoints subscribed to it: one small query. Read on each
    publish, not cached: a process-local cache would need a TTL, and a new endpoint would miss
    events from other processes for that long (and query counts would depend on the clock)."""
    wanted: dict[str, list[int]] = {}
    for pk, events in WebhookEndpoint.objects.filter(is_active=True).values_list("pk", "events"):
        for event_type in events or ():
            wanted.setdefault(event_type, []).append(pk)
    return {event_type: tuple(ids) for event_type, ids in wanted.items()}


def events_record(published: Published) -> None:
    """Outbox rows for ``published`` (settings.EVENT_SUBSCRIBERS): nothing at all when no
    endpoint wants the type, otherwise one INSERT for every event of the call and every
    endpoint, in the caller's transaction."""
    endpoint_ids = subscriptions().get(published.event_type)
    if not endpoint_ids:
        return
    at = published.occurred_at
    messages = [(message_id_new(), body_encode(published.event_type, at, data)) for data in published.data()]
    for start in range(0, len(messages), EVENTS_PER_STATEMENT):
        _outbox_insert(messages[start : start + EVENTS_PER_STATEMENT], endpoint_ids, published.event_type, at)
    transaction.on_commit(lambda: endpoints_drain_enqueue(endpoint_ids), robust=True)


def _outbox_insert(messages: list[tuple[str, str]], endpoint_ids, event_type: str, at) -> None:
    """Every event for every endpoint in one statement: the events travel as one JSON
    parameter, crossed in SQL with the endpoints (still active when the row is written), so
    neither SQLite's variable limit nor a per-statement row cap splits it."""
    table = WebhookDelivery._meta.db_table
    endpoints = WebhookEndpoint._meta.db_table
    connection = transaction.get_connection()
    when = connection.ops.adapt_datetimefield_value(at)
    columns = (
        "endpoint_id, message_id, event_type, body, status, attempts, claim_token, last_error, "
        "next_attempt_at, created_at, updated_at"
    )
    if connection.vendor == "postgresql":
        # Table names from the models; every value is a parameter.
        source = (
            "SELECT e.id, m.v->>0, %s, m.v->>1, 'pending', 0, '', '', %s, %s, %s "  # noqa: S608
            f'FROM jsonb_array_elements(%s::jsonb) AS m(v) CROSS JOIN "{endpoints}" AS e '
            "WHERE e.is_active AND e.id = ANY(%s::bigint[])"
        )
        ids = bulk.pg_int_array(endpoint_ids)
    else:
        source = (
            "SELECT e.id, json_extract(m.value, '$[0]'), %s, json_extract(m.value, '$[1]'), "  # noqa: S608
            f"'pending', 0, '', '', %s, %s, %s FROM json_each(%s) AS m CROSS JOIN \"{endpoints}\" AS e "
            "WHERE e.is_active AND e.id IN (SELECT value FROM json_each(%s))"
        )
        ids = json.dumps(list(endpoint_ids))
    params = [event_type, when, when, when, json.dumps(messages), ids]
    with connection.cursor() as cursor:
        cursor.execute(f'INSERT INTO "{table}" ({columns}) {source}', params)


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

"""Provider status callbacks: a status is applied only when it moves the message forward."""

from datetime import datetime
from functools import lru_cache

from django.db import connections, transaction
from django.utils import timezone

from core import bulk
from core.events import events_publish
from crm import services as crm_services
from crm.models import ActivityKind, Contact
from sms.models import (
    STATUS_RANK,
    Direction,
    Message,
    MessageStatus,
    StatusCallback,
)
from sms.providers.twilio.vocabulary import PROVIDER_STATUS, UNSUBSCRIBED_CODE
from sms.services.consent import consent_opt_out_unsubscribed


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
            events_publish(
                "message.delivered" if delivered else "message.failed",
                [{"id": message_id, "contact": contact_id, "status": status, "provider_sid": provider_sid}],
                error_code=error_code,
            )
            crm_services.activity_insert(
                kind=ActivityKind.SMS_DELIVERED if delivered else ActivityKind.SMS_FAILED,
                contact_id=contact_id,
                account_id=account_id,
                summary=body[:120] if delivered else f"Not delivered (error {error_code or 'unknown'})",
                data={"message": message_id, "status": status, "error_code": error_code},
            )
        if error_code == UNSUBSCRIBED_CODE:
            message = Message.objects.select_related("contact").get(pk=message_id)
            consent_opt_out_unsubscribed(contact=message.contact, message=message)
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

"""django-q2 entry points: load by id, call a service. Idempotent by construction."""

import random
import time

from django.conf import settings
from django.core.cache import cache

from sms.services.delivery import leases_recover, message_deliver, messages_deliver, outbox_sweep
from sms.services.status import message_status_apply


def deliver_message(message_id: int) -> str:
    return message_deliver(message_id=message_id).result


# Stay well inside the django-q task timeout (60 s): a send can wait ~20 s for its pacing slot
# plus the provider's timeouts.
BATCH_TIME_BUDGET = 25.0


# Every this many seconds one delivery batch (whichever starts first) also takes the texts of
# workers that died: a backlog of delivery tasks cannot delay their recovery behind it, as it
# delays the sweeper's scheduled task.
RECOVERY_EVERY_SECONDS = 30
RECOVERY_KEY = "sms:lease-recovery"


def deliver_messages(message_ids: list[int]) -> dict[str, int]:
    """Deliver a batch; each message is claimed on its own row, so a repeated or overlapping
    batch sends nothing twice. What the time budget leaves over goes back on the queue."""
    deadline = time.monotonic() + BATCH_TIME_BUDGET
    if cache.add(RECOVERY_KEY, 1, timeout=RECOVERY_EVERY_SECONDS):
        message_ids = [*leases_recover(), *message_ids]
    results: dict[str, int] = {}
    for outcome in messages_deliver(message_ids=message_ids, deadline=deadline):
        results[outcome.result] = results.get(outcome.result, 0) + 1
    return results


def sweep_outbox() -> int:
    return outbox_sweep()


def escalate_revocation_reviews() -> dict[str, int]:
    """Reviews with two business days left get a task; expired ones are treated as revocations."""
    from sms.services.review import reviews_escalate

    result = reviews_escalate()
    return {"reminded": result.reminded, "expired": result.expired}


def wake_conversations() -> int:
    from sms.inbox.services import conversations_wake

    return conversations_wake()


def console_delivery_playback(sid: str, to: str) -> bool:
    """What a carrier would report a moment after the console provider 'sent' a text."""
    from crm.phones import PhoneParseError, parse_phone

    low, high = settings.SMS_CONSOLE_DELIVERY_DELAY
    if high > 0:
        time.sleep(random.uniform(low, high))
    try:
        reachable = parse_phone(to).is_valid
    except PhoneParseError:
        reachable = False
    if reachable:
        return message_status_apply(provider_sid=sid, provider_status="delivered")
    return message_status_apply(provider_sid=sid, provider_status="undelivered", error_code="30006")


def sweep_slas() -> dict[str, int]:
    """Every minute: the reply deadlines' alarms, then any notification email still owed."""
    from sms.inbox.sla import sla_sweep
    from sms.notifications.services import notifications_email_pending

    result = sla_sweep()
    return {**result.__dict__, "emailed": notifications_email_pending()}


def email_notifications() -> int:
    from sms.notifications.services import notifications_email_pending

    return notifications_email_pending()


def send_scheduled() -> dict[str, int]:
    """Every minute: scheduled texts whose time has come, through every check as of now."""
    from sms.services.scheduling import scheduled_release

    return scheduled_release().__dict__

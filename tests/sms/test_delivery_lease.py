"""Crash recovery in about a minute: a claim is a lease that a live worker renews, so the
sweeper recovers a dead worker's texts once the lease (60 s) has lapsed, not after ten minutes;
the console provider looks texts up like a real one, so development shows no duplicates either."""

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from crm.models import SmsConsent
from sms.models import Message, MessageStatus
from sms.providers import get_provider
from sms.providers.console import ConsoleProvider
from sms.services import delivery
from sms.services.delivery import LEASE, message_deliver, messages_deliver, outbox_sweep
from sms.services.sending import message_send
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def queued(body: str) -> Message:
    return message_send(contact=ContactFactory(sms_consent=SmsConsent.OPTED_IN), body=body)


def console_lines(to: str) -> list[str]:
    path = ConsoleProvider._outbox(to)
    return path.read_text().splitlines() if path.exists() else []


def test_a_dead_workers_texts_are_recovered_once_the_lease_lapses():
    dead, alive = queued("held by a dead worker"), queued("held by a live worker")
    now = timezone.now()
    Message.objects.filter(pk=dead.pk).update(
        status=MessageStatus.SENDING, attempts=1, claimed_at=now - timedelta(seconds=90)
    )
    Message.objects.filter(pk=alive.pk).update(
        status=MessageStatus.SENDING, attempts=1, claimed_at=now - timedelta(seconds=30)
    )
    outbox_sweep()
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert (dead.status, dead.verify_before_send) == (MessageStatus.QUEUED, True)
    assert alive.status == MessageStatus.SENDING
    assert timedelta(minutes=1) >= LEASE


def test_a_live_worker_renews_its_lease_through_a_slow_batch(monkeypatch):
    # Every send takes 50 s of clock (a slow provider): without renewals the sweeper would take
    # the rest of the batch from a worker that is alive and sending.
    monkeypatch.setattr(delivery, "LEASE_RENEW_SECONDS", 0.0)
    messages = [queued(f"slow batch {n}") for n in range(3)]
    provider = get_provider()
    real_send = provider.send
    recovered = []
    with time_machine.travel(timezone.now(), tick=False) as clock:

        def slow_send(**kwargs):
            clock.shift(timedelta(seconds=50))
            recovered.append(outbox_sweep())
            return real_send(**kwargs)

        monkeypatch.setattr(provider, "send", slow_send)
        outcomes = messages_deliver(message_ids=[m.pk for m in messages])
    assert [o.result for o in outcomes] == ["sent"] * 3
    assert recovered == [0, 0, 0]
    assert all(len(console_lines(m.to_number)) == 1 for m in messages)


def test_the_console_provider_looks_up_what_it_accepted():
    provider = ConsoleProvider()
    since = timezone.now() - timedelta(minutes=1)
    accepted = provider.send(to="+14155550100", body="Hello there", status_callback=None)
    assert provider.find_sent(to="+14155550100", body="Hello there", since=since).sid == accepted.sid
    assert provider.find_sent(to="+14155550100", body="Another text", since=since) is None
    assert provider.find_sent(to="+14155550101", body="Hello there", since=since) is None
    assert (
        provider.find_sent(to="+14155550100", body="Hello there", since=timezone.now() + timedelta(1)) is None
    )
    assert Path(settings.SMS_CONSOLE_OUTBOX_DIR).exists()


def test_a_worker_killed_after_the_console_accepted_is_not_resent():
    message = queued("accepted, then the worker died")
    accepted = get_provider().send(to=message.to_number, body=message.body, status_callback=None)
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(minutes=2)
    )
    assert outbox_sweep() == 1
    assert message_deliver(message_id=message.pk).result == "sent"
    message.refresh_from_db()
    assert (message.status, message.provider_sid) == (MessageStatus.SENT, accepted.sid)
    assert len(console_lines(message.to_number)) == 1  # looked up, not sent again


def test_a_delivery_batch_takes_a_dead_workers_texts_first_whatever_the_backlog():
    from django.core.cache import cache

    from sms import tasks
    from sms.tasks import deliver_messages

    cache.delete(tasks.RECOVERY_KEY)
    stranded = queued("stranded by a dead worker")
    Message.objects.filter(pk=stranded.pk).update(
        status=MessageStatus.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(seconds=61)
    )
    backlog = [queued(f"backlog {n}") for n in range(3)]
    results = deliver_messages([m.pk for m in backlog])
    stranded.refresh_from_db()
    assert stranded.status == MessageStatus.SENT and results == {"sent": 4}
    assert len(console_lines(stranded.to_number)) == 1

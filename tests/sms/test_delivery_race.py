"""Many workers, one outbox: every message is sent exactly once (PostgreSQL, real connections)."""

import json
import random
import threading
import uuid
from urllib.parse import parse_qs

import pytest
import responses
from django.db import connection

from crm.models import SmsConsent
from sms.models import Message, MessageStatus
from sms.services.delivery import message_deliver
from sms.services.sending import message_send
from tests.factories import ContactFactory
from tests.sms.conftest import MESSAGES_URL

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_workers(count, work):
    barrier = threading.Barrier(count)
    errors = []

    def worker(index):
        try:
            barrier.wait(timeout=10)
            work(index)
        except Exception as exc:  # pragma: no cover - surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def sid_for(request):
    return 201, {}, json.dumps({"sid": "SM" + uuid.uuid4().hex, "status": "accepted"})


def test_racing_workers_send_one_message_once(twilio):
    twilio.add_callback(responses.POST, MESSAGES_URL, callback=sid_for, content_type="application/json")
    message = message_send(contact=ContactFactory(sms_consent=SmsConsent.OPTED_IN), body="Exactly once")
    results = []
    run_workers(8, lambda _: results.append(message_deliver(message_id=message.pk).result))
    assert sorted(results) == ["sent"] + ["skipped"] * 7
    assert len(twilio.calls) == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.attempts == 1


def test_racing_workers_drain_an_outbox_without_duplicates(twilio):
    twilio.add_callback(responses.POST, MESSAGES_URL, callback=sid_for, content_type="application/json")
    contacts = [ContactFactory(sms_consent=SmsConsent.OPTED_IN) for _ in range(10)]
    ids = [message_send(contact=contacts[i % 10], body=f"message {i}").pk for i in range(60)]

    def drain(index):
        order = ids[:]
        random.Random(index).shuffle(order)
        for message_id in order:
            message_deliver(message_id=message_id)

    run_workers(4, drain)
    sent_bodies = [parse_qs(call.request.body)["Body"][0] for call in twilio.calls]
    assert len(sent_bodies) == 60 and len(set(sent_bodies)) == 60
    assert Message.objects.filter(status=MessageStatus.SENT).count() == 60

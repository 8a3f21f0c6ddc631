"""Batch delivery (bench scenario 2): a delivery task claims, loads and checks its batch in a
fixed number of queries, and still sends each text at most once, to someone who has not said
STOP."""

import json
import random
import uuid
from urllib.parse import parse_qs

import pytest
import responses
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Activity, ActivityKind, SmsConsent
from sms import tasks
from sms.models import Conversation, Message, MessageStatus
from sms.providers import get_provider
from sms.services import delivery
from sms.services.consent import consent_record
from sms.services.delivery import messages_deliver
from sms.services.sending import message_send
from tests.factories import ContactFactory
from tests.sms.conftest import MESSAGES_URL
from tests.sms.test_delivery_race import run_workers


def _sid(request):
    return 201, {}, json.dumps({"sid": "SM" + uuid.uuid4().hex, "status": "accepted"})


def _queue(count: int) -> list[int]:
    contacts = [ContactFactory(sms_consent=SmsConsent.OPTED_IN) for _ in range(count)]
    return [message_send(contact=contact, body=f"Text {i}").pk for i, contact in enumerate(contacts)]


@pytest.fixture
def steady_clock(monkeypatch):
    """The sends take no time: on a loaded machine 25 sends can pass half a second, and the
    batch would then be recorded in two groups (a slow provider's rule), or recheck consent,
    which are other tests' subjects. Query counts must not depend on the machine's speed."""
    monkeypatch.setattr(delivery.time, "monotonic", lambda: 0.0)


@pytest.fixture(autouse=True)
def lease_recovery_done():
    """A delivery batch also recovers dead workers' texts once every RECOVERY_EVERY_SECONDS
    (whichever batch starts first: one more query). That is test_delivery_lease's subject; here
    the recovery has just run, so whether a batch pays for it does not depend on which test ran
    before in the last 30 seconds."""
    cache.set(tasks.RECOVERY_KEY, 1, timeout=tasks.RECOVERY_EVERY_SECONDS)
    yield
    cache.delete(tasks.RECOVERY_KEY)


def _queries(ids) -> int:
    # Each batch measured as the one that also looks for lapsed leases (one query more, once
    # every 30 s across workers, whatever the batch's size).
    cache.delete(tasks.RECOVERY_KEY)
    with CaptureQueriesContext(connection) as captured:
        assert tasks.deliver_messages(ids) == {"sent": len(ids)}
    return len(captured)


@pytest.mark.django_db
def test_a_batch_costs_a_fixed_number_of_queries_whatever_its_size(twilio, steady_clock):
    twilio.add_callback(responses.POST, MESSAGES_URL, callback=_sid, content_type="application/json")
    small_ids, large_ids = _queue(2), _queue(delivery.SEND_RECORD_GROUP)
    for message in Message.objects.filter(pk__in=small_ids + large_ids):
        Conversation.objects.create(contact_id=message.contact_id)
    small, large = _queries(small_ids), _queries(large_ids)
    # The sends of a group are recorded together: the move to 'sent', the conversations, the
    # timeline entries and the check for early status callbacks, one transaction. One text at
    # a time cost 11 queries and four commits per text; then 4 statements and a commit.
    assert large == small, (small, large)
    assert Message.objects.filter(status=MessageStatus.SENT).count() == 2 + delivery.SEND_RECORD_GROUP
    sent = Message.objects.filter(status=MessageStatus.SENT)
    assert sent.exclude(provider_sid="").count() == sent.count()
    assert Activity.objects.filter(kind=ActivityKind.SMS_SENT).count() == sent.count()
    assert Conversation.objects.filter(last_outbound_at__isnull=False).count() == sent.count()


@pytest.mark.django_db
def test_a_big_batch_records_its_sends_one_group_at_a_time(twilio, steady_clock):
    twilio.add_callback(responses.POST, MESSAGES_URL, callback=_sid, content_type="application/json")
    one_group = _queries(_queue(delivery.SEND_RECORD_GROUP))
    two_groups = _queries(_queue(delivery.SEND_RECORD_GROUP + 1))
    # One more transaction: its statements, its commit and the look-up of webhook endpoints.
    assert 3 <= two_groups - one_group <= 7


@pytest.mark.django_db
def test_sends_are_recorded_as_the_batch_goes_when_the_provider_is_slow(twilio, monkeypatch):
    """A slow provider: what was sent half a second ago is on record before the next send,
    rather than at the end of the batch."""
    ids = _queue(4)
    seen = []

    def slow_send(request):
        clock["now"] += 0.6
        seen.append(Message.objects.filter(status=MessageStatus.SENT).count())
        return _sid(request)

    clock = {"now": 0.0}
    monkeypatch.setattr(delivery.time, "monotonic", lambda: clock["now"])
    twilio.add_callback(responses.POST, MESSAGES_URL, callback=slow_send, content_type="application/json")
    assert tasks.deliver_messages(ids) == {"sent": 4}
    # 0.6 s a send: sends 1-2 are on record before the third call, 3-4 at the end of the batch.
    assert seen == [0, 0, 2, 2]
    assert Message.objects.filter(status=MessageStatus.SENT).count() == 4


@pytest.mark.django_db
def test_texts_sent_before_a_crash_in_the_batch_are_recorded(twilio, monkeypatch):
    """Anything unexpected mid-batch: the texts the provider already took are recorded with
    their SIDs; the rest stay 'sending' for the sweeper (which looks them up before a resend)."""
    twilio.add_callback(responses.POST, MESSAGES_URL, callback=_sid, content_type="application/json")
    ids = _queue(3)
    real = delivery.pace_reserve

    def third_breaks(sender, segments, **kwargs):
        if len(twilio.calls) == 2:
            raise RuntimeError("worker killed")
        return real(sender, segments, **kwargs)

    monkeypatch.setattr(delivery, "pace_reserve", third_breaks)
    with pytest.raises(RuntimeError, match="worker killed"):
        messages_deliver(message_ids=ids)
    first, second, third = (Message.objects.get(pk=pk) for pk in ids)
    assert first.status == second.status == MessageStatus.SENT
    assert {first.provider_sid, second.provider_sid} == {
        json.loads(call.response.text)["sid"] for call in twilio.calls
    }
    assert third.status == MessageStatus.SENDING and not third.provider_sid


@pytest.mark.django_db
def test_a_stop_during_a_slow_batch_blocks_the_texts_not_yet_sent(twilio, monkeypatch):
    ids = _queue(3)
    last = Message.objects.get(pk=ids[2]).contact

    def slow_send(request):  # each send takes 2 s, and the last contact says STOP during the first
        clock["now"] += 2.0
        if len(twilio.calls) == 0:
            consent_record(contact=last, action="opt_out", source="keyword", proof={"message": "STOP"})
        return _sid(request)

    clock = {"now": 0.0}
    monkeypatch.setattr(delivery.time, "monotonic", lambda: clock["now"])
    twilio.add_callback(responses.POST, MESSAGES_URL, callback=slow_send, content_type="application/json")
    outcomes = [outcome.result for outcome in messages_deliver(message_ids=ids)]
    assert outcomes == ["sent", "sent", "blocked"]
    bodies = [parse_qs(call.request.body)["Body"][0] for call in twilio.calls]
    assert bodies == ["Text 0", "Text 1"]
    assert Message.objects.get(pk=ids[2]).status == MessageStatus.FAILED


@pytest.mark.django_db
def test_a_repeated_batch_sends_nothing_twice(twilio):
    twilio.add_callback(responses.POST, MESSAGES_URL, callback=_sid, content_type="application/json")
    ids = _queue(3)
    assert tasks.deliver_messages(ids + ids[:1]) == {"sent": 3}
    assert tasks.deliver_messages(ids) == {"skipped": 3}
    assert len(twilio.calls) == 3


@pytest.mark.django_db
def test_the_console_provider_keeps_one_broker_for_its_playbacks(opted_in, monkeypatch):
    from django_q import brokers

    made = []
    real = brokers.get_broker
    monkeypatch.setattr(brokers, "get_broker", lambda *a, **k: made.append(1) or real(*a, **k))
    provider = get_provider()
    for number in ("+14155550101", "+14155550102", "+14155550103"):
        provider.send(to=number, body="Hi", status_callback=None)
    assert len(made) == 1


@pytest.mark.django_db
def test_console_playbacks_stay_out_of_the_saved_task_results(opted_in, monkeypatch):
    from django_q import tasks as q_tasks

    queued = []
    monkeypatch.setattr(q_tasks, "async_task", lambda func, *args, **kwargs: queued.append((func, kwargs)))
    get_provider().send(to="+14155550101", body="Hi", status_callback=None)
    assert queued[0][0] == "sms.tasks.console_delivery_playback" and queued[0][1]["save"] is False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_workers_with_overlapping_batches_send_each_text_once(twilio):
    twilio.add_callback(responses.POST, MESSAGES_URL, callback=_sid, content_type="application/json")
    contacts = [ContactFactory(sms_consent=SmsConsent.OPTED_IN) for _ in range(10)]
    ids = [message_send(contact=contacts[i % 10], body=f"message {i}").pk for i in range(80)]

    def drain(index):
        order = ids[:]
        random.Random(index).shuffle(order)
        for start in range(0, len(order), 15):
            messages_deliver(message_ids=order[start : start + 15])

    run_workers(4, drain)
    sent_bodies = [parse_qs(call.request.body)["Body"][0] for call in twilio.calls]
    assert len(sent_bodies) == 80 and len(set(sent_bodies)) == 80
    assert set(Message.objects.values_list("status", "attempts")) == {(MessageStatus.SENT, 1)}


@pytest.mark.django_db
def test_a_text_sent_on_its_own_is_recorded_like_one_in_a_group(twilio):
    twilio.add_callback(responses.POST, MESSAGES_URL, callback=_sid, content_type="application/json")
    (pk,) = _queue(1)
    message = Message.objects.get(pk=pk)
    Conversation.objects.create(contact_id=message.contact_id)
    delivery.message_deliver(message_id=pk)
    message.refresh_from_db()
    assert (message.status, message.provider_sid.startswith("SM"), message.sent_at is not None) == (
        MessageStatus.SENT,
        True,
        True,
    )
    conversation = Conversation.objects.get(contact_id=message.contact_id)
    assert conversation.last_outbound_at == message.sent_at
    entry = Activity.objects.get(kind=ActivityKind.SMS_SENT)
    assert (entry.contact_id, entry.data["message"]) == (message.contact_id, pk)

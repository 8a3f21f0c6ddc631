"""Fault injection at the provider's HTTP boundary (the real Twilio SDK against a simulated
Twilio that can be down, slow, rate-limiting or answering 500 after accepting a text) and on
PostgreSQL (a connection killed mid-delivery, racing webhooks). What must hold: nothing lost,
nothing sent twice, opt-outs honoured, and a text whose fate cannot be known is marked for a
person to check instead of being resent."""

import json
import threading
import uuid
from datetime import timedelta
from itertools import cycle
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from crm.models import Activity, ActivityKind, SmsConsent
from sms.inbound import inbound_receive
from sms.models import Message, MessageStatus, StatusCallback
from sms.services import delivery
from sms.services.delivery import messages_deliver, outbox_sweep
from sms.services.sending import message_send
from tests.factories import ContactFactory
from tests.sms.conftest import AUTH_TOKEN, MESSAGES_URL

pytestmark = pytest.mark.django_db


class FakeTwilio:
    """Twilio's Messages resource, over `responses`: accepts texts (each gets a SID), lists them,
    and while ``down`` fails in every way a real outage does. ``accept_then_500`` holds bodies
    Twilio will accept but answer 500 for (the worst case: it did send)."""

    OUTAGE = ("500", "429", "read-timeout", "connect-timeout")

    def __init__(self, mock):
        self.accepted: list[dict] = []
        self.down = False
        self.lookups_down = False
        self.accept_then_500: set[str] = set()
        self.after_accept = None  # called once a text is accepted, before Twilio answers
        self._failures = cycle(self.OUTAGE)
        mock.add_callback(responses.POST, MESSAGES_URL, callback=self._post, content_type="application/json")
        mock.add_callback(responses.GET, MESSAGES_URL, callback=self._list, content_type="application/json")

    def _post(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        if form.get("Body") in self.accept_then_500:
            self.accept_then_500.discard(form["Body"])
            self._accept(form)
            return 500, {}, json.dumps({"code": 20500, "message": "Internal error", "status": 500})
        if self.down:
            failure = next(self._failures)
            if failure == "read-timeout":
                raise requests.exceptions.ReadTimeout("read timed out")
            if failure == "connect-timeout":
                raise requests.exceptions.ConnectTimeout("connect timed out")
            status = int(failure)
            return (
                status,
                {},
                json.dumps({"code": 20429 if status == 429 else 20500, "message": "down", "status": status}),
            )
        record = self._accept(form)
        if self.after_accept is not None:
            self.after_accept()
        return 201, {}, json.dumps({**record, "status": "accepted"})

    def _accept(self, form) -> dict:
        record = {
            "sid": "SM" + uuid.uuid4().hex,
            "to": form["To"],
            "body": form["Body"],
            "from": "+15005550006",
            "date_created": None,
            "status": "sent",
        }
        self.accepted.append(record)
        return record

    def _list(self, request):
        if self.lookups_down:
            raise requests.exceptions.ConnectTimeout("connect timed out")
        to = parse_qs(urlparse(request.url).query).get("To", [None])[0]
        found = [m for m in self.accepted if to is None or m["to"] == to]
        page = {
            "messages": found,
            "end": 0,
            "first_page_uri": "",
            "next_page_uri": None,
            "page": 0,
            "page_size": 50,
            "previous_page_uri": None,
            "start": 0,
            "uri": "",
        }
        return 200, {}, json.dumps(page)


@pytest.fixture
def fake(twilio):
    return FakeTwilio(twilio)


def deliver_due() -> None:
    """What the workers do after each backoff: pretend the wait is over, deliver what is due."""
    Message.objects.filter(status=MessageStatus.QUEUED).update(next_attempt_at=timezone.now())
    due = list(Message.objects.filter(status=MessageStatus.QUEUED).values_list("pk", flat=True))
    if due:
        messages_deliver(message_ids=due)


def sends_per_message(fake) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in fake.accepted:
        counts[record["body"]] = counts.get(record["body"], 0) + 1
    return counts


def test_a_provider_outage_loses_nothing_duplicates_nothing_and_honours_a_stop(fake, settings):
    settings.SMS_MAX_ATTEMPTS = 8
    contacts = [ContactFactory(sms_consent=SmsConsent.OPTED_IN) for _ in range(6)]
    messages = [message_send(contact=c, body=f"Renewal note {i}") for i, c in enumerate(contacts)]
    fake.accept_then_500.add("Renewal note 1")  # Twilio sends this one but answers 500
    fake.down = True
    for _ in range(3):  # three rounds of backoff while Twilio is down
        deliver_due()
    stopper = contacts[2]
    inbound_receive(provider_sid="SMstop1", from_number=stopper.phone, to_number="+15005550006", body="STOP")
    assert Message.objects.filter(pk__in=[m.pk for m in messages], status=MessageStatus.QUEUED).count() == 5
    fake.down = False
    for _ in range(3):
        deliver_due()

    statuses = dict(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("body", "status"))
    assert statuses.pop("Renewal note 2") == MessageStatus.FAILED  # STOP during the outage: never sent
    assert set(statuses.values()) == {MessageStatus.SENT}
    renewal_sends = {
        body: n for body, n in sends_per_message(fake).items() if body.startswith("Renewal note")
    }
    assert renewal_sends == {f"Renewal note {i}": 1 for i in (0, 1, 3, 4, 5)}
    for message in Message.objects.filter(pk__in=[m.pk for m in messages], status=MessageStatus.SENT):
        assert message.provider_sid in {r["sid"] for r in fake.accepted}


def test_a_worker_killed_before_the_provider_call_is_resent_once(fake):
    message = message_send(
        contact=ContactFactory(sms_consent=SmsConsent.OPTED_IN), body="Died before sending"
    )
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(minutes=30)
    )
    assert outbox_sweep() == 1
    deliver_due()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and sends_per_message(fake) == {"Died before sending": 1}


def test_a_worker_killed_after_the_provider_accepted_is_not_resent(fake):
    message = message_send(contact=ContactFactory(sms_consent=SmsConsent.OPTED_IN), body="Died after sending")
    fake._accept({"To": message.to_number, "Body": message.body})  # Twilio has it; we never heard
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(minutes=30)
    )
    outbox_sweep()
    deliver_due()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.provider_sid == fake.accepted[0]["sid"]
    assert sends_per_message(fake) == {"Died after sending": 1}


def test_a_group_of_sends_whose_record_failed_is_looked_up_not_resent(fake, monkeypatch):
    """Sends are recorded in groups: if the worker dies before its group commits, every text
    of the group is found at the provider by the sweeper's lookup and none goes out twice."""
    contacts = [ContactFactory(sms_consent=SmsConsent.OPTED_IN) for _ in range(3)]
    ids = [message_send(contact=c, body=f"Grouped {i}").pk for i, c in enumerate(contacts)]

    def worker_dies(group, provider_name):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(delivery, "_sends_record", worker_dies)
    with pytest.raises(OperationalError):
        messages_deliver(message_ids=ids)
    monkeypatch.undo()
    assert set(Message.objects.filter(pk__in=ids).values_list("status", flat=True)) == {MessageStatus.SENDING}
    Message.objects.filter(pk__in=ids).update(claimed_at=timezone.now() - timedelta(minutes=30))
    assert outbox_sweep() == 3
    deliver_due()
    assert sends_per_message(fake) == {f"Grouped {i}": 1 for i in range(3)}
    by_body = {m["body"]: m["sid"] for m in fake.accepted}
    for message in Message.objects.filter(pk__in=ids):
        assert message.status == MessageStatus.SENT and message.provider_sid == by_body[message.body]


def test_when_the_outcome_cannot_be_known_the_text_is_marked_for_review_not_resent(fake, settings):
    settings.SMS_MAX_ATTEMPTS = 3
    message = message_send(contact=ContactFactory(sms_consent=SmsConsent.OPTED_IN), body="Unknowable")
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(minutes=30)
    )
    fake.lookups_down = True
    outbox_sweep()
    for _ in range(4):
        deliver_due()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert "check before resending" in message.error_message
    assert fake.accepted == []  # never sent blind


# --- PostgreSQL: real connections, real concurrency -----------------------------------------


def terminate_my_connection() -> None:
    """What a database restart looks like to this process: its connection is killed."""
    import psycopg

    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True
    ) as admin:
        # pg_terminate_backend signals the backend; wait until it is really gone.
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_restart_after_the_provider_accepted_is_recovered_without_a_second_send(fake):
    message = message_send(contact=ContactFactory(sms_consent=SmsConsent.OPTED_IN), body="Across a restart")
    fake.after_accept = terminate_my_connection
    with pytest.raises(OperationalError):
        messages_deliver(message_ids=[message.pk])
    connection.close()  # the next query reconnects, as a worker would after the restart
    fake.after_accept = None
    message.refresh_from_db()
    assert message.status == MessageStatus.SENDING  # the send was not recorded
    Message.objects.filter(pk=message.pk).update(claimed_at=timezone.now() - timedelta(minutes=30))
    assert outbox_sweep() == 1
    deliver_due()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.provider_sid == fake.accepted[0]["sid"]
    assert sends_per_message(fake) == {"Across a restart": 1}


def signed_post(path: str, params: dict) -> int:
    signature = RequestValidator(AUTH_TOKEN).compute_signature("http://testserver" + path, params)
    return Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code


def in_threads(jobs) -> list:
    barrier, results, errors = threading.Barrier(len(jobs)), [], []

    def run(job):
        try:
            barrier.wait(timeout=10)
            results.append(job())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_duplicate_and_reordered_status_callbacks_racing_apply_once(sms_settings):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    message = message_send(contact=contact, body="Status race")
    sid = "SM" + uuid.uuid4().hex
    Message.objects.filter(pk=message.pk).update(
        status=MessageStatus.SENT, provider_sid=sid, sent_at=timezone.now()
    )
    statuses = ["delivered", "sent", "queued", "delivered", "sending", "sent", "delivered", "sent"]
    codes = in_threads(
        [
            lambda s=s: signed_post("/sms/twilio/status/", {"MessageSid": sid, "MessageStatus": s})
            for s in statuses
        ]
    )
    assert codes == [200] * len(statuses)
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED and message.delivered_at is not None
    # Each distinct callback is kept once (a repeat is acknowledged and dropped).
    assert StatusCallback.objects.filter(provider_sid=sid).count() == len(set(statuses))
    assert Activity.objects.filter(contact=contact, kind=ActivityKind.SMS_DELIVERED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_duplicated_inbound_webhook_racing_stores_one_message(sms_settings):
    contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": contact.phone,
        "To": "+15005550006",
        "Body": "Can we talk pricing?",
    }
    codes = in_threads([lambda: signed_post("/sms/twilio/inbound/", params) for _ in range(6)])
    assert set(codes) == {200}
    assert Message.objects.filter(provider_sid=params["MessageSid"]).count() == 1
    assert Activity.objects.filter(contact=contact, kind=ActivityKind.SMS_REPLY).count() == 1

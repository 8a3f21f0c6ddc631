"""Outbound webhooks against a real HTTP receiver on loopback: signatures checked with the
Standard Webhooks reference library (``standardwebhooks``), retries on the specification's
schedule with the clock pinned, disablement after sustained failure, replay, timeouts."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crm import services as crm_services
from webhooks import delivery, services
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(loopback_allowed, receiver, admin_user):
    return services.endpoint_create(url=receiver.url, events=["contact.created", "task.created"])


def _contact_created(django_capture_on_commit_callbacks, **fields):
    with django_capture_on_commit_callbacks(execute=True):
        return crm_services.contact_create(first_name="Dana", last_name="Reyes", **fields)


def test_a_delivery_verifies_with_the_reference_library(
    endpoint, receiver, django_capture_on_commit_callbacks
):
    contact = _contact_created(django_capture_on_commit_callbacks, email="dana@example.com")
    [row] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert row.status == DeliveryStatus.PENDING and receiver.requests == []  # the worker sends it

    assert delivery.endpoint_drain(endpoint_id=endpoint.pk) == {"succeeded": 1, "failed": 0}

    [request] = receiver.requests
    payload = Webhook(endpoint.secret).verify(request["body"], request["headers"])
    assert payload["type"] == "contact.created"
    assert payload["data"]["id"] == contact.pk and payload["data"]["email"] == "dana@example.com"
    assert datetime.fromisoformat(payload["timestamp"]) <= timezone.now()
    assert request["headers"]["webhook-id"] == row.message_id
    assert request["headers"]["webhook-signature"].startswith("v1,")
    # A different secret, or a body changed on the way, does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(request["body"], request["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(request["body"].replace(b"Dana", b"Dina"), request["headers"])

    row.refresh_from_db()
    assert (row.status, row.attempts, row.response_status) == (DeliveryStatus.SUCCEEDED, 1, 200)
    [attempt] = row.attempt_log.all()
    assert attempt.succeeded and attempt.response_status == 200 and attempt.duration_ms >= 0
    assert attempt.response_body == '{"ok": true}'


def test_only_subscribed_active_endpoints_get_the_event(
    loopback_allowed, receiver, django_capture_on_commit_callbacks
):
    wants = services.endpoint_create(url=receiver.url, events=["contact.created"])
    services.endpoint_create(url=receiver.url, events=["deal.created"])
    services.endpoint_create(url=receiver.url, events=["contact.created"], is_active=False)
    _contact_created(django_capture_on_commit_callbacks)
    assert list(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == [wants.pk]


def test_failed_attempts_retry_on_the_standard_schedule_for_over_a_day(endpoint, receiver):
    receiver.default_status = 503
    with time_machine.travel(T0, tick=False) as clock:
        with transaction.atomic():
            crm_services.contact_create(first_name="Retry")
        row = WebhookDelivery.objects.get()
        expected_delays = [
            timedelta(seconds=5),
            timedelta(minutes=5),
            timedelta(minutes=30),
            timedelta(hours=2),
            timedelta(hours=5),
            timedelta(hours=10),
            timedelta(hours=10),
        ]
        for number, wait in enumerate(expected_delays, start=1):
            delivery.endpoint_drain(endpoint_id=endpoint.pk)
            row.refresh_from_db()
            assert (row.status, row.attempts) == (DeliveryStatus.PENDING, number)
            assert row.next_attempt_at == timezone.now() + wait
            # Not due a moment before: a drain sends nothing.
            clock.shift(wait - timedelta(seconds=1))
            assert delivery.endpoint_drain(endpoint_id=endpoint.pk) == {"succeeded": 0, "failed": 0}
            clock.shift(timedelta(seconds=1))
        delivery.endpoint_drain(endpoint_id=endpoint.pk)
        row.refresh_from_db()
        assert (row.status, row.attempts, row.next_attempt_at) == (DeliveryStatus.FAILED, 8, None)
        assert row.last_error == "HTTP 503" and row.response_status == 503
        assert timezone.now() - T0 >= timedelta(hours=24)
    assert len(receiver.requests) == 8
    # Every attempt carries the same webhook-id, signed afresh with its own timestamp.
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {row.message_id}
    stamps = [int(r["headers"]["webhook-timestamp"]) for r in receiver.requests]
    assert stamps == sorted(stamps) and len(set(stamps)) == 8
    assert list(row.attempt_log.values_list("response_status", flat=True)) == [503] * 8
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.failing_since == T0  # 27.5 hours is not five days


def test_a_success_after_failures_ends_the_retries_and_the_failing_state(endpoint, receiver):
    receiver.statuses.extend([500, 200])
    with time_machine.travel(T0, tick=False) as clock:
        with transaction.atomic():
            crm_services.contact_create(first_name="Flaky")
        delivery.endpoint_drain(endpoint_id=endpoint.pk)
        endpoint.refresh_from_db()
        assert endpoint.failing_since == T0
        clock.shift(timedelta(seconds=5))
        delivery.endpoint_drain(endpoint_id=endpoint.pk)
    row = WebhookDelivery.objects.get()
    assert (row.status, row.attempts) == (DeliveryStatus.SUCCEEDED, 2)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.last_success_at == T0 + timedelta(seconds=5)


def test_a_redirect_is_a_failure_not_followed(endpoint, receiver):
    receiver.statuses.append(302)
    with transaction.atomic():
        crm_services.contact_create(first_name="Moved")
    delivery.endpoint_drain(endpoint_id=endpoint.pk)
    row = WebhookDelivery.objects.get()
    assert row.status == DeliveryStatus.PENDING and row.last_error == "HTTP 302"
    assert len(receiver.requests) == 1


def test_an_endpoint_failing_for_five_days_is_disabled_with_a_notice(
    endpoint, receiver, admin_user, web_admin, django_capture_on_commit_callbacks
):
    receiver.default_status = 500
    with time_machine.travel(T0, tick=False) as clock:
        with transaction.atomic():
            crm_services.contact_create(first_name="Day one")
        delivery.endpoint_drain(endpoint_id=endpoint.pk)
        # Failures every day; not yet five days: still on.
        for _ in range(4):
            clock.shift(timedelta(days=1))
            with transaction.atomic():
                crm_services.contact_create(first_name="Again")
            delivery.endpoint_drain(endpoint_id=endpoint.pk)
        endpoint.refresh_from_db()
        assert endpoint.is_active and endpoint.failing_since == T0
        clock.shift(timedelta(days=1))
        with transaction.atomic():
            crm_services.contact_create(first_name="Day six")
        with django_capture_on_commit_callbacks(execute=True):
            delivery.endpoint_drain(endpoint_id=endpoint.pk)
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.disabled_at == T0 + timedelta(days=5)
    assert "failed since 2026-03-02 09:00" in endpoint.disabled_reason
    # What was still waiting fails (replayable later); nothing is attempted any more.
    assert not WebhookDelivery.objects.filter(
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]
    ).exists()
    assert delivery.deliveries_sweep() == 0
    [notice] = mail.outbox
    assert notice.to == [admin_user.email] and endpoint.url in notice.subject
    page = web_admin.get("/settings/webhooks/")
    assert "Disabled:" in page.content.decode() and endpoint.disabled_reason in page.content.decode()
    # New events are not written for a disabled endpoint.
    before = WebhookDelivery.objects.count()
    with transaction.atomic():
        crm_services.contact_create(first_name="Later")
    assert WebhookDelivery.objects.count() == before
    # Turned back on, the failure clock starts afresh.
    services.endpoint_update(endpoint=endpoint, is_active=True)
    assert endpoint.failing_since is None and endpoint.disabled_at is None


def test_replay_sends_the_same_message_again(
    endpoint, receiver, admin_api, django_capture_on_commit_callbacks
):
    _contact_created(django_capture_on_commit_callbacks)
    delivery.endpoint_drain(endpoint_id=endpoint.pk)
    first = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(f"/api/v1/webhooks/{endpoint.pk}/deliveries/{first.pk}/replay/")
    assert response.status_code == 201, response.content
    assert response.json()["replay_of"] == first.pk and response.json()["status"] == "pending"
    delivery.endpoint_drain(endpoint_id=endpoint.pk)
    assert len(receiver.requests) == 2
    again = receiver.requests[1]
    assert again["headers"]["webhook-id"] == first.message_id and again["body"] == first.body.encode()
    Webhook(endpoint.secret).verify(again["body"], again["headers"])


def test_replay_is_refused_while_pending_or_when_the_endpoint_is_off(endpoint, admin_api):
    with transaction.atomic():
        crm_services.contact_create(first_name="Waiting")
    row = WebhookDelivery.objects.get()
    url = f"/api/v1/webhooks/{endpoint.pk}/deliveries/{row.pk}/replay/"
    assert admin_api.post(url).status_code == 409
    WebhookDelivery.objects.update(status=DeliveryStatus.FAILED)
    services.endpoint_update(endpoint=endpoint, is_active=False)
    response = admin_api.post(url)
    assert response.status_code == 409 and "disabled" in response.json()["detail"]
    other = services.endpoint_create(url=endpoint.url, events=["deal.created"])
    assert admin_api.post(f"/api/v1/webhooks/{other.pk}/deliveries/{row.pk}/replay/").status_code == 404


def test_one_click_replay_on_the_page(endpoint, receiver, web_admin, django_capture_on_commit_callbacks):
    _contact_created(django_capture_on_commit_callbacks)
    delivery.endpoint_drain(endpoint_id=endpoint.pk)
    row = WebhookDelivery.objects.get()
    page = web_admin.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    assert f"/settings/webhooks/{endpoint.pk}/deliveries/{row.pk}/replay/" in page and "HTTP 200" in page
    response = web_admin.post(f"/settings/webhooks/{endpoint.pk}/deliveries/{row.pk}/replay/")
    assert response.status_code == 302
    assert WebhookDelivery.objects.filter(replay_of=row, status=DeliveryStatus.PENDING).count() == 1


def test_a_slow_receiver_times_out_and_delays_neither_the_product_nor_other_endpoints(
    loopback_allowed, receiver, settings, django_capture_on_commit_callbacks
):
    from tests.webhooks.conftest import Receiver

    settings.WEBHOOKS_TIMEOUT = 1
    slow = Receiver()
    slow.delay = 3
    try:
        slow_endpoint = services.endpoint_create(url=slow.url, events=["contact.created"])
        fast_endpoint = services.endpoint_create(url=receiver.url, events=["contact.created"])
        enqueued = []
        with time_machine.travel(T0, tick=True):
            started = datetime.now(UTC)
            with django_capture_on_commit_callbacks(execute=False) as callbacks:
                crm_services.contact_create(first_name="Quick")
            assert datetime.now(UTC) - started < timedelta(seconds=1)  # no receiver was called
        assert slow.requests == [] and receiver.requests == []
        # After commit: one drain task per endpoint, so each receiver is worked on its own.
        from unittest import mock

        with mock.patch("django_q.tasks.async_task", side_effect=lambda *a, **k: enqueued.append(a)):
            for callback in callbacks:
                callback()
        assert sorted(args[1] for args in enqueued) == sorted([slow_endpoint.pk, fast_endpoint.pk])
        assert delivery.endpoint_drain(endpoint_id=fast_endpoint.pk) == {"succeeded": 1, "failed": 0}
        assert delivery.endpoint_drain(endpoint_id=slow_endpoint.pk) == {"succeeded": 0, "failed": 1}
        attempt = WebhookAttempt.objects.get(delivery__endpoint=slow_endpoint)
        assert attempt.response_status is None and "timed out" in attempt.error
        assert 900 <= attempt.duration_ms < 2500
    finally:
        slow.close()


def test_a_dead_receiver_stops_the_drain_after_a_few_failures(endpoint, receiver):
    receiver.close()  # nothing listens any more: connection refused
    with transaction.atomic():
        for n in range(10):
            crm_services.contact_create(first_name=f"N{n}")
    counts = delivery.endpoint_drain(endpoint_id=endpoint.pk)
    assert counts == {"succeeded": 0, "failed": delivery.DRAIN_FAILURES_TO_STOP}
    statuses = list(WebhookDelivery.objects.values_list("status", "attempts"))
    assert (
        statuses.count((DeliveryStatus.PENDING, 1)) == 3 and statuses.count((DeliveryStatus.PENDING, 0)) == 7
    )
    assert "refused" in WebhookAttempt.objects.first().error.lower()


def test_the_sweep_enqueues_due_work_and_takes_back_lost_claims(endpoint, receiver):
    from unittest import mock

    with transaction.atomic():
        crm_services.contact_create(first_name="Lost")
    [_lost] = delivery.deliveries_claim(endpoint_id=endpoint.pk)  # a worker took it, then died
    assert delivery.deliveries_claim(endpoint_id=endpoint.pk) == []  # claimed once only
    with mock.patch("django_q.tasks.async_task") as enqueue:
        assert delivery.deliveries_sweep() == 0
        with time_machine.travel(timezone.now() + delivery.CLAIM_LEASE + timedelta(seconds=1)):
            assert delivery.deliveries_sweep() == 1
            assert enqueue.call_args.args == ("webhooks.tasks.endpoint_drain", endpoint.pk)
            assert delivery.endpoint_drain(endpoint_id=endpoint.pk)["succeeded"] == 1
    assert json.loads(receiver.requests[0]["body"])["data"]["first_name"] == "Lost"


def test_the_disable_threshold_is_a_setting(endpoint, receiver, settings):
    settings.WEBHOOKS_DISABLE_AFTER_HOURS = 1
    receiver.default_status = 500
    with time_machine.travel(T0, tick=False) as clock:
        with transaction.atomic():
            crm_services.contact_create(first_name="A")
        delivery.endpoint_drain(endpoint_id=endpoint.pk)
        clock.shift(timedelta(minutes=59))
        with transaction.atomic():
            crm_services.contact_create(first_name="B")
        delivery.endpoint_drain(endpoint_id=endpoint.pk)
        assert WebhookEndpoint.objects.get().is_active
        clock.shift(timedelta(minutes=1))
        delivery.endpoint_drain(endpoint_id=endpoint.pk)  # B's retry, due after 5 s
    assert not WebhookEndpoint.objects.get().is_active

"""Rotating an endpoint's secret: a new secret shown once (API and page, admins only); for 24
hours every delivery carries two signatures, and each secret verifies it with the Standard
Webhooks reference library (``standardwebhooks``); after that only the new one does."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crm import services as crm_services
from tests.factories import UserFactory
from webhooks import delivery, services
from webhooks.models import WebhookEndpoint

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(loopback_allowed, receiver, admin_user):
    return services.endpoint_create(url=receiver.url, events=["task.created"])


def _deliver_a_task(endpoint, receiver, title: str) -> dict:
    with transaction.atomic():
        crm_services.task_create(owner=UserFactory(), title=title)
    delivery.endpoint_drain(endpoint_id=endpoint.pk)
    return receiver.requests[-1]


def _verifies(secret: str, request: dict) -> bool:
    try:
        Webhook(secret).verify(request["body"], request["headers"])
    except WebhookVerificationError:
        return False
    return True


def test_for_a_day_both_secrets_verify_then_only_the_new_one(endpoint, receiver, admin_api):
    old = endpoint.secret
    with time_machine.travel(T0, tick=False) as clock:
        before = _deliver_a_task(endpoint, receiver, "Before")
        assert len(before["headers"]["webhook-signature"].split(" ")) == 1

        response = admin_api.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret/")
        assert response.status_code == 200, response.content
        new = response.json()["secret"]
        assert new.startswith("whsec_") and new != old
        assert response.json()["previous_secret_expires_at"] == "2026-05-05T08:00:00Z"
        assert WebhookEndpoint.objects.get().secret == new
        assert _verifies(old, before) and not _verifies(new, before)
        # Shown in that answer only.
        assert admin_api.get(f"/api/v1/webhooks/{endpoint.pk}/").json()["secret"] is None

        clock.shift(timedelta(hours=23, minutes=59))
        during = _deliver_a_task(endpoint, receiver, "During")
        signatures = during["headers"]["webhook-signature"].split(" ")
        assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
        assert _verifies(new, during) and _verifies(old, during)
        assert not _verifies("whsec_" + "A" * 32, during)

        clock.shift(timedelta(minutes=1))
        after = _deliver_a_task(endpoint, receiver, "After")
        assert len(after["headers"]["webhook-signature"].split(" ")) == 1
        assert _verifies(new, after) and not _verifies(old, after)


def test_a_second_rotation_drops_the_oldest_secret_at_once(endpoint, receiver):
    first = endpoint.secret
    second = services.endpoint_rotate_secret(endpoint=endpoint).secret
    third = services.endpoint_rotate_secret(endpoint=endpoint).secret
    request = _deliver_a_task(endpoint, receiver, "Twice rotated")
    assert _verifies(third, request) and _verifies(second, request) and not _verifies(first, request)


def test_only_admins_rotate(endpoint, api, client, user):
    assert api.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret/").status_code == 403
    client.force_login(user)
    assert client.post(f"/settings/webhooks/{endpoint.pk}/rotate-secret/").status_code == 403
    assert WebhookEndpoint.objects.get().secret == endpoint.secret


def test_the_settings_page_rotates_and_shows_the_new_secret_once(endpoint, web_admin):
    page = web_admin.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    assert f'action="/settings/webhooks/{endpoint.pk}/rotate-secret/"' in page and "Rotate secret" in page
    assert web_admin.get(f"/settings/webhooks/{endpoint.pk}/rotate-secret/").status_code == 405

    response = web_admin.post(f"/settings/webhooks/{endpoint.pk}/rotate-secret/")
    assert response.status_code == 200
    new = WebhookEndpoint.objects.get().secret
    assert new != endpoint.secret and new in response.content.decode()
    again = web_admin.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    assert new not in again and "the previous secret also signs until" in again

"""The webhooks API and pages: admins only, input checked (https, public addresses, known
event types, a well-formed secret), the secret shown once, deliveries listed without N+1."""

import socket
from unittest import mock

import pytest
from django.db import transaction

from crm import services as crm_services
from tests.factories import UserFactory
from webhooks import delivery, services
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

PUBLIC_IP = "93.184.215.14"


@pytest.fixture
def public_dns():
    """Names resolve to a public address (no network in tests)."""

    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, port))]

    with mock.patch("webhooks.transport._lookup", side_effect=resolve):
        yield


def test_create_generates_a_secret_shown_once(admin_api, public_dns):
    response = admin_api.post(
        "/api/v1/webhooks/",
        {"url": "https://hooks.example.com/in", "events": ["contact.created"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["is_active"] is True
    assert body["events"] == ["contact.created"]
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.secret == body["secret"] and len(endpoint.signing_key()) == 24
    shown = admin_api.get(f"/api/v1/webhooks/{endpoint.pk}/").json()
    assert shown["secret"] is None and shown["secret_hint"] == body["secret"][:10] + "…"
    assert admin_api.get("/api/v1/webhooks/").json()["results"][0]["secret"] is None


def test_a_given_secret_is_kept_and_checked(admin_api, public_dns):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    response = admin_api.post(
        "/api/v1/webhooks/",
        {"url": "https://hooks.example.com/", "events": ["deal.created"], "secret": secret},
        format="json",
    )
    assert response.status_code == 201 and response.json()["secret"] == secret
    for bad in (
        "whsec_short",
        "plain-text-secret-without-prefix-000000",
        "whsec_!!!notbase64!!!!!!!!!!!!!!!!",
    ):
        response = admin_api.post(
            "/api/v1/webhooks/",
            {"url": "https://hooks.example.com/", "events": ["deal.created"], "secret": bad},
            format="json",
        )
        assert response.status_code == 400 and "secret" in response.json(), bad


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/", "https"),
        ("ftp://hooks.example.com/", "https"),
        ("https://127.0.0.1/hook", "public"),
        ("https://localhost:8000/hook", "public"),
        ("https://10.1.2.3/", "public"),
        ("https://169.254.169.254/latest/meta-data", "public"),
        ("https://[::1]/", "public"),
        ("https://[::ffff:192.168.0.1]/", "public"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("not a url", "valid URL"),
    ],
)
def test_refused_urls_answer_400(admin_api, public_dns, url, why):
    response = admin_api.post("/api/v1/webhooks/", {"url": url, "events": ["contact.created"]}, format="json")
    assert response.status_code == 400, response.content
    assert why in " ".join(response.json()["url"])
    assert not WebhookEndpoint.objects.exists()


def test_a_name_resolving_to_a_private_address_is_refused(admin_api):
    with mock.patch(
        "webhooks.transport._lookup",
        return_value=[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 443))],
    ):
        response = admin_api.post(
            "/api/v1/webhooks/",
            {"url": "https://internal.example.com/", "events": ["task.created"]},
            format="json",
        )
    assert response.status_code == 400 and "10.0.0.7" in response.json()["url"][0]


def test_private_and_http_urls_are_settings(admin_api, settings):
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    response = admin_api.post(
        "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["task.created"]}, format="json"
    )
    assert response.status_code == 201


def test_unknown_or_missing_event_types_answer_400(admin_api, public_dns):
    for events in (["contact.deleted"], [], "contact.created", None):
        response = admin_api.post(
            "/api/v1/webhooks/", {"url": "https://hooks.example.com/", "events": events}, format="json"
        )
        assert response.status_code == 400 and "events" in response.json(), events


def test_patch_checks_the_url_and_cannot_change_the_secret(admin_api, public_dns):
    endpoint = services.endpoint_create(url="https://hooks.example.com/", events=["task.created"])
    url = f"/api/v1/webhooks/{endpoint.pk}/"
    assert admin_api.patch(url, {"url": "https://10.0.0.1/"}, format="json").status_code == 400
    assert admin_api.patch(url, {"secret": "whsec_" + "B" * 32}, format="json").status_code == 400
    response = admin_api.patch(
        url, {"events": ["task.created", "deal.created"], "is_active": False}, format="json"
    )
    assert response.status_code == 200 and response.json()["events"] == ["deal.created", "task.created"]
    assert admin_api.delete(url).status_code == 204


def test_webhooks_are_for_admins_only(api, anon_api, client, user, admin_api, public_dns):
    endpoint = services.endpoint_create(url="https://hooks.example.com/", events=["task.created"])
    assert anon_api.get("/api/v1/webhooks/").status_code == 401
    # ``api`` is a manager: signed in, not allowed.
    assert api.get("/api/v1/webhooks/").status_code == 403
    assert api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/").status_code == 403
    payload = {"url": "https://hooks.example.com/", "events": ["task.created"]}
    assert api.post("/api/v1/webhooks/", payload, format="json").status_code == 403
    client.force_login(user)
    assert client.get("/settings/webhooks/").status_code == 403
    assert client.get(f"/settings/webhooks/{endpoint.pk}/").status_code == 403
    assert "Webhooks</a>" not in client.get("/").content.decode()
    assert admin_api.get("/api/v1/webhooks/").status_code == 200


def test_deliveries_list_their_attempts_without_n_plus_one(
    admin_api, loopback_allowed, receiver, django_assert_max_num_queries
):
    endpoint = services.endpoint_create(url=receiver.url, events=["task.created"])
    owner = UserFactory()
    with transaction.atomic():
        for n in range(3):
            crm_services.task_create(owner=owner, title=f"T{n}")
    receiver.statuses.extend([500])
    delivery.endpoint_drain(endpoint_id=endpoint.pk)
    with transaction.atomic():
        for n in range(20):
            crm_services.task_create(owner=owner, title=f"More {n}")
    delivery.endpoint_drain(endpoint_id=endpoint.pk)
    with django_assert_max_num_queries(8):
        response = admin_api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/")
    assert response.status_code == 200
    results = response.json()["results"]
    assert {"id", "message_id", "event_type", "body", "status", "attempts", "attempts_log"} <= set(results[0])
    failed_first = [r for r in results if r["attempts_log"] and not r["attempts_log"][0]["succeeded"]]
    assert len(failed_first) == 1
    assert failed_first[0]["attempts_log"][0]["response_status"] == 500
    assert {"attempted_at", "duration_ms", "error", "response_body"} <= set(
        failed_first[0]["attempts_log"][0]
    )


def test_the_page_creates_an_endpoint_and_shows_its_secret_once(web_admin, public_dns):
    response = web_admin.post(
        "/settings/webhooks/",
        {"url": "https://hooks.example.com/in", "events": ["contact.created", "message.received"]},
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in web_admin.get("/settings/webhooks/").content.decode()
    assert endpoint.secret not in web_admin.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    refused = web_admin.post(
        "/settings/webhooks/", {"url": "https://127.0.0.1/", "events": ["contact.created"]}
    )
    assert refused.status_code == 200 and "public addresses" in refused.content.decode()
    assert WebhookEndpoint.objects.count() == 1
    toggled = web_admin.post(f"/settings/webhooks/{endpoint.pk}/toggle/")
    assert toggled.status_code == 302 and not WebhookEndpoint.objects.get().is_active


def test_the_connection_is_checked_again_when_sending(loopback_allowed, receiver, settings):
    """A host checked when saved may point elsewhere later (DNS rebinding): every connection
    checks the address it is about to use."""
    endpoint = services.endpoint_create(url=receiver.url, events=["contact.created"])
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    with transaction.atomic():
        crm_services.contact_create(first_name="Rebound")
    delivery.endpoint_drain(endpoint_id=endpoint.pk)
    row = WebhookDelivery.objects.get()
    assert receiver.requests == [] and "private, loopback or reserved" in row.last_error


def test_the_django_admin_shows_webhooks_to_admins_only(client, public_dns, loopback_allowed, receiver):
    endpoint = services.endpoint_create(url=receiver.url, events=["contact.created"])
    with transaction.atomic():
        crm_services.contact_create(first_name="Logged")
    delivery.endpoint_drain(endpoint_id=endpoint.pk)
    row = WebhookDelivery.objects.get()
    admin = UserFactory(username="root", role="admin", is_staff=True)
    client.force_login(admin)
    assert client.get("/admin/webhooks/webhookendpoint/").status_code == 200
    page = client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.url in page and endpoint.secret not in page  # the secret is never shown again
    detail = client.get(f"/admin/webhooks/webhookdelivery/{row.pk}/change/").content.decode()
    assert row.message_id in detail and "200" in detail
    manager = UserFactory(username="staffer", role="manager", is_staff=True)
    client.force_login(manager)
    assert client.get("/admin/webhooks/webhookendpoint/").status_code == 403
    assert "webhooks" not in client.get("/admin/").content.decode().lower()


def test_deliveries_are_a_cursor_feed_newest_first(admin_api, loopback_allowed, receiver):
    """Deliveries are appended, never reordered: walked by cursor like the other feeds, rows
    arriving during the walk neither shift nor repeat it."""
    from tests.test_api_feeds import walk

    endpoint = services.endpoint_create(url=receiver.url, events=["task.created"])
    owner = UserFactory()
    with transaction.atomic():
        for n in range(5):
            crm_services.task_create(owner=owner, title=f"T{n}")
    ids = list(WebhookDelivery.objects.order_by("-id").values_list("pk", flat=True))
    url = f"/api/v1/webhooks/{endpoint.pk}/deliveries/"
    first = admin_api.get(url, {"page_size": 2}).json()
    assert "count" not in first and "cursor=" in first["next"]
    with transaction.atomic():
        crm_services.task_create(owner=owner, title="Newer")
    rest, pages = walk(admin_api, first["next"])
    assert [row["id"] for row in first["results"]] + rest == ids and pages == 2
    assert admin_api.get(url, {"cursor": "bz1hYmM="}).status_code == 400
    assert [row["id"] for row in admin_api.get(url, {"status": "pending"}).json()["results"]][:2] != []
    unknown = admin_api.get(url, {"status": "lost"})
    assert unknown.status_code == 400 and "status" in unknown.json()

"""The API's cross-cutting conventions: Location on 201, RateLimit headers on 429."""

import pytest
from django.core.cache import cache
from rest_framework.settings import api_settings

from crm.models import Contact
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        ("/api/v1/contacts/", {"first_name": "Ann"}, "/api/v1/contacts/{id}/"),
        ("/api/v1/accounts/", {"name": "Acme"}, "/api/v1/accounts/{id}/"),
        ("/api/v1/tasks/", {"title": "Call back"}, "/api/v1/tasks/{id}/"),
    ],
)
def test_201_names_the_new_record_in_location(api, path, body, detail):
    response = api.post(path, body, format="json")
    assert response.status_code == 201, response.json()
    location = response["Location"]
    assert location == detail.format(id=response.json()["id"])
    assert api.get(location).json() == response.json()


def test_location_on_single_posts_to_batch_endpoints_but_not_on_batches(api):
    contact = ContactFactory()
    one = api.post(
        "/api/v1/events/",
        {"contact": contact.pk, "name": "login", "occurred_at": "2026-01-05T10:00:00Z"},
        format="json",
    )
    assert one["Location"] == f"/api/v1/events/{one.json()['id']}/"
    many = api.post(
        "/api/v1/events/",
        [{"contact": contact.pk, "name": "login", "occurred_at": "2026-01-05T10:00:00Z"}],
        format="json",
    )
    assert many.status_code == 201 and not many.has_header("Location")


def test_a_refused_create_has_no_location(api):
    response = api.post("/api/v1/contacts/", {"email": "not-an-email"}, format="json")
    assert response.status_code == 400 and not response.has_header("Location")
    assert not Contact.objects.exists()


def test_throttled_answers_carry_ratelimit_headers(api, monkeypatch):
    monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, "token", "2/min")
    monkeypatch.setattr("crm.throttling.TokenRateThrottle.THROTTLE_RATES", {"token": "2/min"})
    cache.clear()
    AccountFactory()
    assert [api.get("/api/v1/accounts/").status_code for _ in range(2)] == [200, 200]
    limited = api.get("/api/v1/accounts/")
    assert limited.status_code == 429
    retry_after = int(limited["Retry-After"])
    assert limited["RateLimit-Policy"] == '"token";q=2;w=60'
    assert limited["RateLimit"] == f'"token";r=0;t={retry_after}'
    cache.clear()


def test_django_level_errors_under_the_api_have_the_error_shape(api):
    unknown = api.get("/api/v1/accounts/0.5/")  # no route matches: Django's own 404 page
    assert unknown.status_code == 404 and unknown["Content-Type"] == "application/json"
    assert unknown.json() == {"detail": "Not Found.", "code": "not_found"}
    nowhere = api.get("/api/v1/no-such-thing/")
    assert nowhere.status_code == 404 and nowhere.json()["code"] == "not_found"


def test_html_pages_keep_their_html_errors(web):
    response = web.get("/accounts/0.5/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")

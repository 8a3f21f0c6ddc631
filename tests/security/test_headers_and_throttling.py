"""Content-Security-Policy on every response and pages that keep to it; API throttling per
token; login throttling against password guessing."""

import re

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from crm.models import ApiToken
from tests.factories import AccountFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "/", "/accounts/", "/contacts/", "/deals/", "/renewals/", "/tasks/", "/inbox/", "/plays/", "/plays/new/",
    "/analytics/", "/analytics/assumptions/", "/settings/api-tokens/", "/api/v1/docs/", "/admin/",
]  # fmt: skip
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(r"<[^>]+\sstyle\s*=", re.I)


def test_every_response_carries_the_policy(web, anon_api):
    policy = web.get("/").headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy and "style-src 'self'" in policy and "frame-ancestors 'none'" in policy
    )
    assert "unsafe-inline" not in policy
    assert "Content-Security-Policy" in anon_api.get("/api/v1/contacts/").headers


@pytest.mark.parametrize("path", PAGES)
def test_pages_have_no_inline_scripts_handlers_or_styles(path, client):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True, role="admin")
    client.force_login(admin)
    ContactFactory(account=AccountFactory())
    response = client.get(path, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert not INLINE_SCRIPT.findall(html), INLINE_SCRIPT.findall(html)[:3]
    assert not INLINE_HANDLER.findall(html)
    assert not INLINE_STYLE.findall(html), INLINE_STYLE.findall(html)[:3]


def token_client(user) -> APIClient:
    _, key = ApiToken.issue(user=user, name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_api_requests_are_throttled_per_token(monkeypatch):
    monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, "token", "3/min")
    monkeypatch.setattr("crm.throttling.TokenRateThrottle.THROTTLE_RATES", {"token": "3/min"})
    cache.clear()
    user = UserFactory(username="integration")
    busy, other = token_client(user), token_client(user)
    assert [busy.get("/api/v1/accounts/").status_code for _ in range(3)] == [200, 200, 200]
    limited = busy.get("/api/v1/accounts/")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "throttled" in limited.json()["detail"].lower()
    assert other.get("/api/v1/accounts/").status_code == 200  # another token has its own budget
    cache.clear()


def test_login_pauses_after_repeated_failures_for_that_username_from_that_address(settings):
    settings.LOGIN_MAX_FAILURES = 3
    UserFactory(username="victim", password="right-password-123")
    UserFactory(username="bystander", password="right-password-456")
    browser = Client()
    for _ in range(2):
        assert browser.post("/login/", {"username": "victim", "password": "guess"}).status_code == 200
    # The third failure locks the pair: it and everything after answer 429.
    assert browser.post("/login/", {"username": "victim", "password": "guess"}).status_code == 429
    blocked = browser.post("/login/", {"username": "victim", "password": "right-password-123"})
    assert blocked.status_code == 429 and "Too many" in blocked.content.decode()
    assert int(blocked.headers["Retry-After"]) == settings.LOGIN_LOCKOUT_MINUTES * 60
    # The guesser locks out only itself: another user behind the same address (a load
    # balancer) signs in, and so does the victim from elsewhere.
    assert (
        Client().post("/login/", {"username": "bystander", "password": "right-password-456"}).status_code
        == 302
    )
    elsewhere = Client(REMOTE_ADDR="10.0.0.9")
    assert (
        elsewhere.post("/login/", {"username": "victim", "password": "right-password-123"}).status_code == 302
    )


def test_a_successful_login_resets_the_count(settings):
    settings.LOGIN_MAX_FAILURES = 3
    UserFactory(username="forgetful", password="right-password-123")
    browser = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(2):
        browser.post("/login/", {"username": "forgetful", "password": "nope"})
    ok = browser.post("/login/", {"username": "forgetful", "password": "right-password-123"})
    assert ok.status_code == 302
    browser.logout()
    for _ in range(2):
        browser.post("/login/", {"username": "forgetful", "password": "nope"})
    again = browser.post("/login/", {"username": "forgetful", "password": "right-password-123"})
    assert again.status_code == 302
    UserFactory(username="forgetful", password="right-password-123")
    for address in ("10.0.0.1", "10.0.0.2"):
        Client(REMOTE_ADDR=address).post("/login/", {"username": "forgetful", "password": "nope"})
    ok = Client(REMOTE_ADDR="10.0.0.3").post(
        "/login/", {"username": "forgetful", "password": "right-password-123"}
    )
    assert ok.status_code == 302
    Client(REMOTE_ADDR="10.0.0.4").post("/login/", {"username": "forgetful", "password": "nope"})
    again = Client(REMOTE_ADDR="10.0.0.5").post(
        "/login/", {"username": "forgetful", "password": "right-password-123"}
    )
    assert again.status_code == 302
    cache.clear()

"""The sign-in lockout (django-axes, config/login.py) holds on every sign-in path, the admin's
included; it is kept in the database, so every process and host counts the same attempts; and
behind TRUSTED_PROXY_COUNT proxies the client's own address is the key, not the proxy's."""

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory

from config.login import client_address
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_admin_login_is_locked_like_the_login_page(settings):
    settings.LOGIN_MAX_FAILURES = 3
    UserFactory(
        username="root", password="right-password-123", role="admin", is_staff=True, is_superuser=True
    )
    browser = Client()
    for _ in range(30):
        browser.post("/admin/login/", {"username": "root", "password": "guess"})
    answer = browser.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": "right-password-123"}
    )
    assert answer.status_code == 429
    assert browser.get("/admin/").status_code == 302  # not signed in
    login_page = browser.post("/login/", {"username": "root", "password": "right-password-123"})
    assert login_page.status_code == 429  # one count for both paths


def test_failures_on_one_path_count_on_the_other(settings):
    settings.LOGIN_MAX_FAILURES = 4
    UserFactory(username="ann", password="right-password-123")
    browser = Client()
    for path in ("/login/", "/admin/login/", "/login/", "/admin/login/"):
        browser.post(path, {"username": "ann", "password": "guess"})
    assert browser.post("/login/", {"username": "ann", "password": "right-password-123"}).status_code == 429


def test_attempts_are_shared_through_the_database(settings):
    # Another gunicorn worker or host is another Client here: what counts is the shared table.
    settings.LOGIN_MAX_FAILURES = 2
    UserFactory(username="ann", password="right-password-123")
    Client().post("/login/", {"username": "ann", "password": "guess"})
    Client().post("/login/", {"username": "ann", "password": "guess"})
    assert AccessAttempt.objects.get(username="ann").failures_since_start == 2
    assert Client().post("/login/", {"username": "ann", "password": "right-password-123"}).status_code == 429


def test_behind_trusted_proxies_the_client_address_is_the_key(settings):
    settings.LOGIN_MAX_FAILURES = 2
    settings.TRUSTED_PROXY_COUNT = 1
    UserFactory(username="ann", password="right-password-123")
    balancer = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(2):
        Client(**balancer, HTTP_X_FORWARDED_FOR="203.0.113.7").post(
            "/login/", {"username": "ann", "password": "guess"}
        )
    guesser = Client(**balancer, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert guesser.post("/login/", {"username": "ann", "password": "right-password-123"}).status_code == 429
    # Ann at her own address, through the same balancer, is not locked out by the guesser.
    ann = Client(**balancer, HTTP_X_FORWARDED_FOR="198.51.100.4")
    assert ann.post("/login/", {"username": "ann", "password": "right-password-123"}).status_code == 302


def test_client_address_trusts_only_what_our_proxies_wrote(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request) == "10.0.0.2"  # no proxy configured: the header is the client's
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(request) == "203.0.113.7"  # "1.1.1.1" was typed by the client
    settings.TRUSTED_PROXY_COUNT = 3
    assert client_address(request) == "10.0.0.2"  # fewer hops than proxies: not through them

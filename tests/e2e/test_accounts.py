"""Accounts in a real browser: a forgotten password reset through the emailed link, and two-factor
sign-in turned on from the settings page (the QR code shown inline, the code computed here with
django-otp's own TOTP), then asked for after the password on /login/ and on /admin/login/."""

import base64
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from django.utils import timezone
from django_otp.oath import TOTP

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips these tests, or fails them in CI, saying why
    expect = None

from tests.e2e.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

STEP = 30  # seconds per TOTP code


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()  # the reset's rate-limit counters
    yield
    cache.clear()


def code_from_secret(secret: str) -> str:
    """What the user's authenticator app shows for the key printed on the enrolment page."""
    key = secret.replace(" ", "")
    return f"{TOTP(base64.b32decode(key + '=' * (-len(key) % 8))).token():06d}"


def test_a_forgotten_password_is_reset_through_the_emailed_link(browsing, e2e_settings, live_server):
    e2e_settings.PUBLIC_BASE_URL = live_server.url
    UserFactory(username="dana", email="dana@example.com")
    page = browsing.page
    browsing.goto("/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("dana@example.com")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    browsing.step("reset-asked")

    assert len(mail.outbox) == 1
    link = re.search(r"(http\S+/password-reset/\S+/)", mail.outbox[0].body).group(1)
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("a-brand-new-secret-42")
    page.get_by_label("New password confirmation").fill("a-brand-new-secret-42")
    browsing.step("new-password")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", name="Your password is set")).to_be_visible()
    page.get_by_role("link", name="Log in").click()
    browsing.log_in("dana", "a-brand-new-secret-42")
    browsing.step("signed-in-with-the-new-password")

    page.goto(link)  # the link worked once
    expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()


def test_two_factor_sign_in_is_turned_on_and_then_asked_for_on_both_logins(browsing):
    UserFactory(username="root", role="admin", is_staff=True, is_superuser=True)
    page = browsing.page
    browsing.log_in("root", PASSWORD)
    browsing.goto("/settings/me/")
    page.get_by_role("link", name="Turn it on").click()
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/svg+xml;base64,")
    assert qr.evaluate("img => img.naturalWidth") > 0  # the inline SVG renders
    secret = page.locator("#totp-secret").inner_text()
    browsing.step("enrol")
    page.get_by_label("Code from your authenticator app").fill(code_from_secret(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_text("Two-factor sign-in: on")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    # Each sign-in takes a code not used before: the next 30-second step.
    now = timezone.now()
    with time_machine.travel(now + timedelta(seconds=STEP), tick=True):
        browsing.goto("/login/")
        page.get_by_label("Username").fill("root")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
        browsing.step("code-asked-on-login")
        page.get_by_label("Code from your authenticator app").fill(code_from_secret(secret))
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        page.get_by_role("button", name="Log out").click()

    with time_machine.travel(now + timedelta(seconds=2 * STEP), tick=True):
        browsing.goto("/admin/login/?next=/admin/")
        page.get_by_label("Username").fill("root")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
        browsing.step("code-asked-on-admin-login")
        page.get_by_label("Code from your authenticator app").fill("000000")
        page.get_by_role("button", name="Verify").click()
        expect(page.locator(".field-error")).to_be_visible()
        assert browsing.problems.take()  # the browser logs the expected 400 itself

    with time_machine.travel(now + timedelta(seconds=3 * STEP), tick=True):  # past django-otp's pause
        page.get_by_label("Code from your authenticator app").fill(code_from_secret(secret))
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
        browsing.step("admin-after-code")

"""Password reset by email (crm.views.sign_in): a link on the login page; the email's link is built
on PUBLIC_BASE_URL, works once and expires after PASSWORD_RESET_TIMEOUT; an unknown address gets
the same answer and no email; one address gets at most PASSWORD_RESET_EMAILS_PER_HOUR emails,
one client at most PASSWORD_RESET_REQUESTS_PER_HOUR requests (then 429)."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LINK = re.compile(r"(https?://\S+/password-reset/\S+/\S+/)")


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dana(db):
    return UserFactory(username="dana", email="dana@example.com", password="old-password-123")


def ask_reset(client: Client, email: str):
    return client.post("/password-reset/", {"email": email})


def link_in(message) -> str:
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1)


def test_the_login_page_links_to_the_reset(client):
    page = client.get("/login/")
    assert 'href="/password-reset/"' in page.content.decode()
    assert client.get("/password-reset/").status_code == 200


def test_a_reset_sets_a_new_password_through_a_link_that_works_once(client, dana, settings):
    answer = ask_reset(client, "DANA@example.com")  # any case
    assert answer.status_code == 302 and answer["Location"] == "/password-reset/sent/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["dana@example.com"]
    link = link_in(mail.outbox[0])
    assert link.startswith(settings.PUBLIC_BASE_URL + "/password-reset/")
    path = link.removeprefix(settings.PUBLIC_BASE_URL)
    form = client.get(path, follow=True)  # Django swaps the token for a session marker first
    assert "Set a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "brand-new-password-456", "new_password2": "brand-new-password-456"},
    )
    assert done.status_code == 302 and done["Location"] == "/password-reset/complete/"
    old = Client().post("/login/", {"username": "dana", "password": "old-password-123"})
    assert old.status_code == 200  # the form again: the old password no longer works
    signed_in = Client().post("/login/", {"username": "dana", "password": "brand-new-password-456"})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/"
    again = Client().get(path, follow=True)
    assert "This link no longer works" in again.content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_email(client, dana):
    known = ask_reset(Client(), "dana@example.com")
    unknown = ask_reset(Client(), "nobody@example.com")
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    assert [m.to for m in mail.outbox] == [["dana@example.com"]]
    sent_page = client.get(unknown["Location"]).content.decode()
    assert "If an account uses that address" in sent_page


def test_an_inactive_user_gets_no_email(dana):
    dana.is_active = False
    dana.save()
    assert ask_reset(Client(), "dana@example.com").status_code == 302
    assert mail.outbox == []


def test_the_link_expires_after_the_reset_timeout(dana, settings):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        ask_reset(Client(), "dana@example.com")
    path = link_in(mail.outbox[0]).removeprefix(settings.PUBLIC_BASE_URL)
    with time_machine.travel(now + timedelta(minutes=59), tick=False):
        assert 'name="new_password1"' in Client().get(path, follow=True).content.decode()
    with time_machine.travel(now + timedelta(minutes=61), tick=False):
        page = Client().get(path, follow=True).content.decode()
    assert "This link no longer works" in page and 'name="new_password1"' not in page


def test_one_address_gets_a_few_emails_an_hour_and_the_same_answer_every_time(dana, settings):
    settings.PASSWORD_RESET_EMAILS_PER_HOUR = 2
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        answers = [ask_reset(Client(REMOTE_ADDR=f"203.0.113.{i}"), "dana@example.com") for i in range(5)]
    assert {(a.status_code, a["Location"]) for a in answers} == {(302, "/password-reset/sent/")}
    assert len(mail.outbox) == 2
    with time_machine.travel(now + timedelta(hours=2), tick=False):
        ask_reset(Client(), "dana@example.com")
    assert len(mail.outbox) == 3  # the next hour, the owner can ask again


def test_one_client_asking_for_many_addresses_is_paused(dana, settings):
    settings.PASSWORD_RESET_REQUESTS_PER_HOUR = 3
    sprayer = Client(REMOTE_ADDR="198.51.100.9")
    with time_machine.travel(timezone.now(), tick=False):
        answers = [ask_reset(sprayer, f"guess{i}@example.com") for i in range(3)]
        refused = ask_reset(sprayer, "dana@example.com")
    assert all(a.status_code == 302 for a in answers)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many reset requests" in refused.content.decode()
    assert mail.outbox == []
    assert ask_reset(Client(REMOTE_ADDR="192.0.2.1"), "dana@example.com").status_code == 302


def test_the_link_uses_the_public_address_not_the_host_header(dana, settings):
    settings.PUBLIC_BASE_URL = "https://crm.example.com"
    Client(HTTP_HOST="localhost").post("/password-reset/", {"email": "dana@example.com"})
    assert link_in(mail.outbox[0]).startswith("https://crm.example.com/password-reset/")


def test_a_malformed_address_is_a_form_error_not_a_500(client):
    answer = ask_reset(client, "not an email")
    assert answer.status_code == 200 and "Enter a valid email address" in answer.content.decode()
    assert mail.outbox == []

"""Optional TOTP two-factor sign-in (crm.two_factor): enrolment from the user's settings with a QR
code and a confirming code; sign-in asks for the code after the password on /login/ and on
/admin/login/, and a session opened any other way is signed out until verified; wrong codes
count toward the sign-in lockout; turning it off takes a code; REQUIRE_2FA_FOR_ADMINS holds
admins at the enrolment page; API tokens are not affected."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from crm.models import ApiToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "right-password-123"


def code_for(device: TOTPDevice) -> str:
    """The code the user's app shows now (the same algorithm as django-otp's own check)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def enrolled(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="app", confirmed=True)


@pytest.fixture
def ann(db):
    return UserFactory(username="ann", password=PASSWORD)


@pytest.fixture
def root(db):
    return UserFactory(username="root", password=PASSWORD, role="admin", is_staff=True, is_superuser=True)


def password_step(client: Client, user, path="/login/", **extra):
    return client.post(path, {"username": user.username, "password": PASSWORD, **extra})


def signed_in(client: Client) -> bool:
    return client.get("/settings/me/").status_code == 200


# --- Enrolment ------------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_takes_a_confirming_code(ann):
    client = Client()
    client.force_login(ann)
    page = client.get("/settings/me/two-factor/").content.decode()
    assert 'src="data:image/svg+xml;base64,' in page  # inline: no CDN, allowed by the CSP
    assert 'id="totp-secret"' in page
    device = TOTPDevice.objects.get(user=ann)
    assert not device.confirmed
    assert client.get("/settings/me/two-factor/").status_code == 200
    assert TOTPDevice.objects.filter(user=ann).count() == 1  # the same secret until confirmed

    wrong_code = "000000" if code_for(device) != "000000" else "1"
    wrong = client.post("/settings/me/two-factor/", {"code": wrong_code})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=False):  # past the pause
        right = client.post("/settings/me/two-factor/", {"code": code_for(device)})
        assert right.status_code == 302 and right["Location"] == "/settings/me/"
        assert TOTPDevice.objects.get(pk=device.pk).confirmed
        assert signed_in(client)  # this session was verified by the code
        assert "Two-factor sign-in is on" in client.get("/settings/me/two-factor/").content.decode()
    assert "Two-factor sign-in: on" in client.get("/settings/me/").content.decode()


def test_an_empty_code_is_a_form_error(ann):
    client = Client()
    client.force_login(ann)
    client.get("/settings/me/two-factor/")
    assert client.post("/settings/me/two-factor/", {"code": ""}).status_code == 400
    assert not TOTPDevice.objects.get(user=ann).confirmed


# --- Sign-in --------------------------------------------------------------------------------


def test_sign_in_asks_for_the_code_after_the_password(ann):
    device = enrolled(ann)
    client = Client()
    answer = password_step(client, ann, "/login/?next=/tasks/")
    assert answer.status_code == 302 and answer["Location"] == "/login/code/"
    assert not signed_in(client)  # the password alone opens nothing
    page = client.get("/login/code/")
    assert page.status_code == 200 and "Enter your code" in page.content.decode()
    done = client.post("/login/code/", {"code": code_for(device)})
    assert done.status_code == 302 and done["Location"] == "/tasks/"
    assert signed_in(client)


def test_without_a_device_sign_in_is_the_password_alone(ann):
    client = Client()
    answer = password_step(client, ann)
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert signed_in(client)


def test_the_code_page_without_a_password_step_goes_back_to_sign_in(ann):
    enrolled(ann)
    assert Client().get("/login/code/")["Location"] == "/login/"
    assert Client().post("/login/code/", {"code": "123456"})["Location"] == "/login/"


def test_the_password_step_expires(ann):
    device = enrolled(ann)
    client = Client()
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        password_step(client, ann)
    with time_machine.travel(now + timedelta(minutes=6), tick=False):
        answer = client.post("/login/code/", {"code": code_for(device)})
    assert answer["Location"] == "/login/"
    assert not signed_in(client)


def test_wrong_codes_count_toward_the_lockout(ann, settings):
    settings.LOGIN_MAX_FAILURES = 3
    device = enrolled(ann)
    client = Client()
    now = timezone.now()
    client.post("/login/", {"username": "ann", "password": "guess"})  # one wrong password
    password_step(client, ann)
    for i in range(2):  # two wrong codes, each after django-otp's pause
        with time_machine.travel(now + timedelta(seconds=40 * i), tick=False):
            wrong = client.post("/login/code/", {"code": "12345x"})
    assert wrong.status_code == 429  # the third failure for ann from this address
    with time_machine.travel(now + timedelta(seconds=120), tick=False):
        assert client.post("/login/code/", {"code": code_for(device)}).status_code == 429
        assert password_step(Client(), ann).status_code == 429
    assert not signed_in(client)


def test_a_wrong_code_says_so_and_a_right_one_then_works(ann):
    device = enrolled(ann)
    client = Client()
    now = timezone.now()
    password_step(client, ann)
    with time_machine.travel(now, tick=False):
        wrong = client.post("/login/code/", {"code": "999999" if code_for(device) != "999999" else "1"})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    with time_machine.travel(now + timedelta(seconds=31), tick=False):
        assert client.post("/login/code/", {"code": code_for(device)}).status_code == 302
        assert signed_in(client)


# --- The admin is no bypass -------------------------------------------------------------------


def test_the_admin_login_asks_for_the_code_too(root):
    device = enrolled(root)
    client = Client()
    answer = password_step(client, root, "/admin/login/?next=/admin/")
    assert answer.status_code == 302 and answer["Location"] == "/login/code/"
    assert client.get("/admin/").status_code == 302  # not in
    done = client.post("/login/code/", {"code": code_for(device)})
    assert done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_session_opened_without_the_code_is_signed_out(root):
    # Any path that calls login() with the password alone (a future view, a package's own login):
    # the session is marked as needing a code, and is closed at the next request.
    enrolled(root)
    client = Client()
    client.force_login(root)
    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"].startswith("/admin/login/")
    assert not signed_in(client)
    client.force_login(root)
    assert client.get("/api/v1/users/me/").status_code in (401, 403)


def test_an_agent_without_staff_rights_gets_no_admin_session_from_the_code(ann):
    device = enrolled(ann)
    client = Client()
    answer = password_step(client, ann, "/admin/login/?next=/admin/")
    assert answer.status_code == 200  # the admin's form refuses non-staff before any code
    assert "/login/code/" not in answer.get("Location", "")
    assert code_for(device)  # unused


# --- Turning it off -------------------------------------------------------------------------


def signed_in_with_code(user, device) -> Client:
    client = Client()
    password_step(client, user)
    client.post("/login/code/", {"code": code_for(device)})
    assert signed_in(client)
    return client


def test_turning_it_off_takes_a_code(ann):
    device = enrolled(ann)
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        client = signed_in_with_code(ann, device)
        refused = client.post("/settings/me/two-factor/disable/", {"code": code_for(device)})  # used
    assert refused.status_code == 400
    assert TOTPDevice.objects.filter(user=ann, confirmed=True).exists()
    with time_machine.travel(now + timedelta(seconds=61), tick=False):
        off = client.post("/settings/me/two-factor/disable/", {"code": code_for(device)})
        assert off.status_code == 302 and off["Location"] == "/settings/me/"
        assert not TOTPDevice.objects.filter(user=ann).exists()
        assert signed_in(client)
        assert password_step(Client(), ann)["Location"] == "/"  # the password alone again


def test_turning_it_off_needs_a_signed_in_user_and_a_post(ann):
    assert Client().post("/settings/me/two-factor/disable/", {"code": "1"}).status_code == 302
    client = Client()
    client.force_login(ann)
    assert client.get("/settings/me/two-factor/disable/").status_code == 405


# --- Admins must enrol ------------------------------------------------------------------------


def test_required_for_admins_holds_them_at_the_enrolment_page(root, ann, settings):
    settings.REQUIRE_2FA_FOR_ADMINS = True
    admin = Client()
    password_step(admin, root)
    home = admin.get("/")
    assert home.status_code == 302 and home["Location"] == "/settings/me/two-factor/"
    assert admin.get("/accounts/")["Location"] == "/settings/me/two-factor/"
    assert "Admins must turn on" in admin.get("/settings/me/two-factor/").content.decode()
    assert admin.get("/api/v1/users/me/").status_code == 403
    agent = Client()
    password_step(agent, ann)
    assert agent.get("/").status_code == 200  # others are free to choose

    device = TOTPDevice.objects.get(user=root)
    assert admin.post("/settings/me/two-factor/", {"code": code_for(device)}).status_code == 302
    assert admin.get("/").status_code == 200
    refused = admin.post("/settings/me/two-factor/disable/", {"code": "000000"})
    assert refused.status_code == 400 and "Admins must keep" in refused.content.decode()


def test_required_for_admins_is_off_by_default(root):
    client = Client()
    password_step(client, root)
    assert client.get("/").status_code == 200


def test_api_tokens_are_not_affected(root, settings):
    settings.REQUIRE_2FA_FOR_ADMINS = True
    enrolled(root)
    _, key = ApiToken.issue(user=root, name="integration")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/users/me/").status_code == 200


def test_a_password_reset_does_not_skip_the_code(ann):
    cache.clear()  # the reset's rate-limit counters
    enrolled(ann)
    client = Client()
    client.post("/password-reset/", {"email": ann.email})
    path = "/password-reset/" + mail.outbox[-1].body.split("/password-reset/", 1)[1].split()[0]
    form = client.get(path, follow=True)
    new = "another-password-789"
    client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert not signed_in(client)
    answer = client.post("/login/", {"username": ann.username, "password": new})
    assert answer["Location"] == "/login/code/"
    assert not signed_in(client)
    cache.clear()


def test_a_device_removed_after_the_password_step_means_starting_again(ann):
    device = enrolled(ann)
    client = Client()
    password_step(client, ann)
    code = code_for(device)
    device.delete()  # an admin removed a lost phone's device meanwhile
    answer = client.post("/login/code/", {"code": code})
    assert answer.status_code == 302 and answer["Location"] == "/login/"
    assert not signed_in(client)

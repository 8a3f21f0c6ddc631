"""Optional TOTP two-factor sign-in (django-otp's TOTP plugin): enrolment, the pending sign-in
between the password and the code, and the session mark that makes a code necessary.

A sign-in with a password alone never opens a session for a user with a confirmed device: the
sign-in views (``crm.views.sign_in``) keep the half-done sign-in in the session and ask for the
code. Any other path that calls ``login()`` (the admin's login, a future one) still marks the
session (``user_logged_in`` below), and ``config.middleware.TwoFactorMiddleware`` signs out a
marked session that has not been verified with a code. API tokens are not affected: they are
keys for integrations, created by a signed-in (and so verified) user."""

import base64
import io
import time

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.roles import can_manage_users

# The session holds a code-verified sign-in's device (django-otp) and, from sign-in, this mark.
CODE_REQUIRED_SESSION_KEY = "lcrm_2fa_required"
PENDING_SESSION_KEY = "lcrm_2fa_pending"
PENDING_SECONDS = 300  # the password step is good for this long before the code must follow


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def must_enrol(user) -> bool:
    """REQUIRE_2FA_FOR_ADMINS: admins (role admin, or superusers) may not use the app until
    they have a confirmed device."""
    return bool(settings.REQUIRE_2FA_FOR_ADMINS and can_manage_users(user))


@receiver(user_logged_in, dispatch_uid="crm.two_factor.mark_session")
def mark_session(sender, request, user, **kwargs):
    """Whatever signed the user in, a user with a device needs a verified session."""
    if request is not None and hasattr(request, "session") and confirmed_device(user) is not None:
        request.session[CODE_REQUIRED_SESSION_KEY] = True


# --- Enrolment ---------------------------------------------------------------------------------


def totp_enrolment_device(*, user) -> TOTPDevice:
    """The user's unconfirmed device (a new secret the first time), shown until confirmed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def totp_qr_data_uri(device: TOTPDevice) -> str:
    """The otpauth:// URI as an SVG QR code, inline (the CSP allows data: images; no CDN)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def totp_secret(device: TOTPDevice) -> str:
    """The secret in base32, grouped by four, for typing into an app that cannot scan."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def code_check(device: TOTPDevice, code: str) -> str:
    """ "" when ``code`` is the device's current code, else why not. django-otp refuses a code
    already used and, after failures, any code for a growing pause (whoever tries)."""
    allowed, _reason = device.verify_is_allowed()
    if not allowed:
        return "Too many wrong codes: wait a few seconds and try the newest code."
    if not device.verify_token(code.replace(" ", "")):
        return "That code is not right (or was already used). Try the newest code from your app."
    return ""


@transaction.atomic
def totp_confirm(*, request, device: TOTPDevice, code: str) -> str:
    """Confirm an enrolment with a code from the app; the session counts as verified."""
    problem = code_check(device, code)
    if problem:
        return problem
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    otp_login(request, device)
    request.session[CODE_REQUIRED_SESSION_KEY] = True
    return ""


@transaction.atomic
def totp_disable(*, request, user, code: str) -> str:
    """Turn two-factor sign-in off, which takes a current code (a left-open session alone cannot)."""
    device = confirmed_device(user)
    if device is None:
        return "Two-factor sign-in is not on."
    if must_enrol(user):
        return "Admins must keep two-factor sign-in on (REQUIRE_2FA_FOR_ADMINS)."
    problem = code_check(device, code)
    if problem:
        return problem
    TOTPDevice.objects.filter(user=user).delete()
    request.session.pop(CODE_REQUIRED_SESSION_KEY, None)
    return ""


# --- The sign-in between the password and the code -------------------------------------------


def sign_in_pending_start(*, request, user, redirect_to: str) -> None:
    """The password was right: remember who, until the code follows (the session is anonymous)."""
    request.session[PENDING_SESSION_KEY] = {
        "user": user.pk,
        "backend": user.backend,
        "next": redirect_to,
        "at": time.time(),
    }


def sign_in_pending(request) -> tuple | None:
    """(user, backend, redirect_to) of a password step still good, or None."""
    from crm.models import User

    pending = request.session.get(PENDING_SESSION_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=pending.get("user"), is_active=True).first()
    if user is None or pending.get("backend") not in settings.AUTHENTICATION_BACKENDS:
        return None
    return user, pending["backend"], pending.get("next") or settings.LOGIN_REDIRECT_URL


def sign_in_complete(*, request, user, backend: str, device: TOTPDevice) -> None:
    request.session.pop(PENDING_SESSION_KEY, None)
    login(request, user, backend=backend)
    otp_login(request, device)

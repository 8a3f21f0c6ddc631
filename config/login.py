"""Sign-in throttling, by django-axes on every sign-in path (the login page, /admin/login/ and
anything else that calls ``authenticate``): after LOGIN_MAX_FAILURES failed attempts for one
username from one client address within LOGIN_LOCKOUT_MINUTES, that pair answers 429 until the
window passes. Keyed on the pair, so a guesser locks out only itself, not the account's owner
elsewhere nor everyone behind the same proxy. Attempts are kept in the database, so every
process and host counts the same ones. A successful sign-in clears the pair's count.

The client address is REMOTE_ADDR unless TRUSTED_PROXY_COUNT says how many proxies of ours sit
in front of the app: then it is the address the outermost of them saw (from X-Forwarded-For,
counted from the right, the part a client cannot forge)."""

from datetime import timedelta

from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string

from core.ratelimit import client_address

__all__ = ["client_address", "cool_off", "failure_limit", "lockout_response"]


def failure_limit(request, credentials) -> int:
    return settings.LOGIN_MAX_FAILURES


def cool_off(request=None) -> timedelta:
    return timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    body = render_to_string("registration/login_throttled.html", {"minutes": minutes}, request=request)
    response = HttpResponse(body, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response

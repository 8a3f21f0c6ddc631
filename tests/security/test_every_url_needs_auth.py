"""Walk every URL pattern the project serves and prove an anonymous visitor gets nothing:
HTML pages redirect to the login page, the API answers 401, and only the Twilio webhooks
(signature-checked: 403 without a valid signature), tracked links, the login page (and its code
step), the password reset pages and the admin's own login are reachable."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# Reachable without a session, each for a reason (and each checked below for what it does).
PUBLIC = {
    "login/code/": "the sign-in's second step: a code, only after a right password in this session",
    "login/": "the login page",
    "password-reset/": "password reset by email: the same answer for any address, rate-limited",
    "admin/login/": "the admin's login page",
    "admin/logout/": "logging out",
    "logout/": "logging out",
    "sms/twilio/inbound/": "Twilio webhook, signature-checked",
    "sms/twilio/status/": "Twilio webhook, signature-checked",
    "l/": "tracked link redirect to a URL the product stored",
    "healthz": "liveness probe for load balancers: reveals nothing",
    "readyz": "readiness probe for load balancers: names failing parts, no data",
    "sms/media/<int:media_id>/<str:token>/": "signed media URL for Twilio: expiring signature checked",
}
SAMPLE = {"int": "1", "str": "x", "slug": "x", "path": "x", "uuid": "00000000-0000-0000-0000-000000000000"}


def _patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def _concrete(route: str) -> str | None:
    """A path for a route: typed converters get a sample value, regex groups (DRF routers, admin)
    a '1'; a regex too clever to fill is skipped."""
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route).replace("^", "").replace("$", "").replace("\\", "")
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE.get(m.group(1) or "str", "x"), route)
    if any(ch in route for ch in "()[]*+?|"):
        return None
    return "/" + route


ROUTES = sorted({r for r in _patterns() if not r.startswith("static")})


def test_the_walk_covers_the_whole_product():
    paths = {_concrete(r) for r in ROUTES}
    expected = [
        "/accounts/",
        "/inbox/",
        "/plays/",
        "/analytics/",
        "/api/v1/contacts/",
        "/api/v1/analytics/roi/",
    ]
    assert set(expected) <= paths
    assert "/api/v1/contacts/1/" in paths and len(ROUTES) > 100


@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_requests_get_nothing(client, route):
    path = _concrete(route)
    if path is None:
        pytest.skip(f"regex route {route!r} has no concrete form")
    public = next((reason for key, reason in PUBLIC.items() if route.startswith(key)), None)
    for method in ("get", "post"):
        response = getattr(client, method)(path)
        status = response.status_code
        if public and "webhook" in public:
            assert status == (403 if method == "post" else 405), (route, method, status)
        elif public and "probe" in public:
            assert status in ((200, 503) if method == "get" else (405,)), (route, method, status)
            assert method == "post" or response["Content-Type"] == "application/json"
        elif public and "signed media" in public:
            # A made-up or expired signature reveals nothing; the file needs a valid one.
            assert status in (403, 404, 405), (route, method, status)
        elif public and "tracked link" in public:
            assert status in (404, 405), (route, method, status)  # no such code: nothing revealed
        elif public:
            continue  # a login or logout page
        elif status == 302:
            location = response["Location"]
            assert location.startswith(("/login/", "/admin/login/")), (route, method, location)
        else:
            # The API answers 401 (JSON); a method the route does not take is refused first.
            assert status in (401, 405), (route, method, status)
            if status == 401:
                assert "credentials were not provided" in response.content.decode()

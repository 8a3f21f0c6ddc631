"""Rate limits hold under concurrency (atomic cache counters, core.ratelimit): the API's per-token
budget and the tracked links' per-address budget; concurrent clicks on a link put one entry on
the timeline; answers to signed-in users and tokens are never stored by caches."""

import threading
import time
from types import SimpleNamespace

import pytest
import time_machine
from django.core.cache import cache, caches
from django.db import connection
from django.test import Client

from crm.models import Activity, ActivityKind, ApiToken
from crm.throttling import TokenRateThrottle
from sms.links import link_click
from tests.sms.test_links import make_link

INSTANT = "2026-03-04T10:00:20Z"


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def run_together(n: int, action) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        barrier.wait(timeout=10)
        results[i] = action()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_the_token_budget_holds_when_requests_arrive_together(monkeypatch):
    # A cache a network hop away: every read takes a moment, so concurrent requests that read a
    # count before writing it back all read the same count (what let 1,519 through 1,200/min).
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "5/min"})
    backend = type(caches["default"])  # each thread has its own instance of it
    slow_get = backend.get

    def get_after_a_hop(self, *args, **kwargs):
        value = slow_get(self, *args, **kwargs)
        time.sleep(0.05)  # the answer travels back while others read the same value
        return value

    monkeypatch.setattr(backend, "get", get_after_a_hop)
    request = SimpleNamespace(auth=ApiToken(pk=7), user=None)
    with time_machine.travel(INSTANT, tick=False):
        allowed = run_together(20, lambda: TokenRateThrottle().allow_request(request, None))
    assert allowed.count(True) == 5, allowed


def test_the_budget_slides_across_the_minute_boundary(monkeypatch):
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "10/min"})
    request = SimpleNamespace(auth=ApiToken(pk=8), user=None)
    with time_machine.travel("2026-03-04T10:00:59Z", tick=False):
        assert all(TokenRateThrottle().allow_request(request, None) for _ in range(10))
    with time_machine.travel("2026-03-04T10:01:01Z", tick=False):
        throttle = TokenRateThrottle()
        # Two seconds later most of the last minute's burst still counts: no second burst.
        assert not throttle.allow_request(request, None)
        assert 1 <= throttle.wait() <= 59
    with time_machine.travel("2026-03-04T10:02:01Z", tick=False):
        assert TokenRateThrottle().allow_request(request, None)


@pytest.mark.django_db
def test_tracked_links_are_rate_limited_per_address(client, settings):
    settings.LINK_CLICKS_PER_MINUTE = 3
    _, _, link = make_link()
    with time_machine.travel(INSTANT, tick=False):
        assert [client.get(f"/l/{link.code}").status_code for _ in range(3)] == [302, 302, 302]
        limited = client.get(f"/l/{link.code}")
        assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
        assert Client(REMOTE_ADDR="10.1.1.1").get(f"/l/{link.code}").status_code == 302
    link.refresh_from_db()
    assert link.click_count == 4  # the refused click was not counted


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_clicks_put_one_entry_on_the_timeline():
    _, _, link = make_link()

    def click():
        try:
            return link_click(code=link.code, user_agent="preview")
        finally:
            connection.close()

    run_together(8, click)
    link.refresh_from_db()
    assert link.click_count == 8
    assert Activity.objects.filter(kind=ActivityKind.SMS_CLICK).count() == 1


@pytest.mark.django_db
def test_authenticated_answers_are_not_stored_by_caches(web, api, anon_api):
    for response in (web.get("/"), web.get("/contacts/"), api.get("/api/v1/accounts/")):
        assert "no-store" in response["Cache-Control"], response.request["PATH_INFO"]
        assert "private" in response["Cache-Control"]

"""Cursor pagination on the append-only feeds (messages, events, activities, enrollments, the
consent ledger), with numbered pages still answering ``?page=`` for older clients."""

from datetime import timedelta
from itertools import count

import pytest
from django.utils import timezone

from plays.models import Arm, Enrollment, Outcome, Play, PlayStatus
from sms.models import ConsentAction, ConsentEvent, ConsentSource, Direction, Message, MessageStatus
from tests.factories import ActivityFactory, ContactFactory, EventFactory

pytestmark = pytest.mark.django_db
BASE = timezone.now() - timedelta(days=1)
TICK = count()


def at() -> timezone.datetime:
    return BASE + timedelta(minutes=next(TICK))


def message():
    contact = ContactFactory()
    created = Message.objects.create(
        contact=contact,
        direction=Direction.OUTBOUND,
        body="Hi",
        to_number=contact.phone,
        status=MessageStatus.QUEUED,
    )
    Message.objects.filter(pk=created.pk).update(created_at=at())
    return created.pk


def consent():
    contact = ContactFactory()
    return ConsentEvent.objects.create(
        contact=contact,
        phone=contact.phone,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.API,
        occurred_at=at(),
    ).pk


def play() -> Play:
    return Play.objects.get_or_create(
        name="Feed",
        defaults={"moment": "renewal", "trigger": {"type": "renewal_window", "days": 60}, "template": "Hi"},
        status=PlayStatus.ACTIVE,
    )[0]


def enrollment():
    return Enrollment.objects.create(
        play=play(),
        contact=ContactFactory(),
        occurrence="feed",
        arm=Arm.TREATMENT,
        outcome=Outcome.SENT,
        decided_at=at(),
    ).pk


FEEDS = {
    "messages": ("/api/v1/sms/messages/", message),
    "consent": ("/api/v1/sms/consent/", consent),
    "events": ("/api/v1/events/", lambda: EventFactory(occurred_at=at()).pk),
    "activities": ("/api/v1/activities/", lambda: ActivityFactory(occurred_at=at()).pk),
    "enrollments": (None, enrollment),
}


def feed_path(name: str) -> str:
    path, _ = FEEDS[name]
    return path or f"/api/v1/plays/{play().pk}/enrollments/"


def walk(api, url, params=None) -> tuple[list[int], int]:
    seen, pages = [], 0
    response = api.get(url, params)
    while True:
        assert response.status_code == 200, response.json()
        body = response.json()
        assert "count" not in body  # cursor pages do not count the whole feed
        seen += [row["id"] for row in body["results"]]
        pages += 1
        if not body["next"]:
            return seen, pages
        assert "cursor=" in body["next"] and "page=" not in body["next"].replace("page_size", "")
        response = api.get(body["next"])


@pytest.mark.parametrize("name", FEEDS)
def test_a_feed_is_walked_by_cursor_newest_first(api, name):
    ids = [FEEDS[name][1]() for _ in range(7)]
    seen, pages = walk(api, feed_path(name), {"page_size": 3})
    assert seen == ids[::-1] and pages == 3


@pytest.mark.parametrize("name", FEEDS)
def test_rows_added_during_a_walk_neither_shift_nor_repeat_it(api, name):
    ids = [FEEDS[name][1]() for _ in range(6)]
    first = api.get(feed_path(name), {"page_size": 3}).json()
    for _ in range(4):
        FEEDS[name][1]()  # newer rows arrive while the client reads the older ones
    rest, _ = walk(api, first["next"])
    assert [row["id"] for row in first["results"]] + rest == ids[::-1]


@pytest.mark.parametrize("name", FEEDS)
def test_numbered_pages_still_answer_page(api, name):
    ids = [FEEDS[name][1]() for _ in range(5)]
    second = api.get(feed_path(name), {"page": 2, "page_size": 2}).json()
    assert second["count"] == 5 and [row["id"] for row in second["results"]] == ids[::-1][2:4]
    assert "page=3" in second["next"] and "cursor" not in second["next"]


@pytest.mark.parametrize("name", FEEDS)
@pytest.mark.parametrize("cursor", ["bz1hYmM=", "o=abc", "cD0yMDI2LTAxLTAxJnI9bWF5YmU="])
def test_a_forged_cursor_is_400(api, name, cursor):
    response = api.get(feed_path(name), {"cursor": cursor})
    assert response.status_code == 400 and "cursor" in response.json()


def test_a_cursor_follows_the_requested_ordering(api):
    ids = [ActivityFactory(occurred_at=at()).pk for _ in range(5)]
    seen, _ = walk(api, "/api/v1/activities/", {"page_size": 2, "ordering": "occurred_at"})
    assert seen == ids


@pytest.mark.parametrize("name", ["messages", "events"])
def test_cursor_pages_cost_the_same_deep_in_the_feed(api, name, django_assert_max_num_queries):
    for _ in range(12):
        FEEDS[name][1]()
    with django_assert_max_num_queries(8) as first:
        body = api.get(feed_path(name), {"page_size": 3}).json()
    baseline = len(first)
    for _ in range(2):
        body = api.get(body["next"]).json()
    with django_assert_max_num_queries(baseline):
        api.get(body["next"])

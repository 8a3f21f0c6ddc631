"""The backends this run was asked for are the ones it really uses."""

import os
import uuid
from datetime import UTC, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django_q.brokers import get_broker
from django_q.signing import SignedPackage


def test_required_backends_are_in_use():
    if os.environ.get("LCRM_REQUIRE_POSTGRES"):
        assert connection.vendor == "postgresql", (
            "CI asked for PostgreSQL but the tests run on " + connection.vendor
        )
    if os.environ.get("LCRM_REQUIRE_REDIS"):
        assert settings.REDIS_URL, "CI asked for Redis but REDIS_URL is not set"
        assert "redis" in settings.Q_CLUSTER
        assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")


@pytest.mark.django_db(transaction=True)
def test_task_broker_round_trip():
    """Enqueue, dequeue and acknowledge through the configured django-q2 broker."""
    broker = get_broker(list_key=f"test-{uuid.uuid4().hex}")
    assert broker.ping()
    broker.enqueue(SignedPackage.dumps({"id": "t-1", "args": (1, 2)}))
    received = broker.dequeue()
    assert received, "nothing came back from the broker"
    task_id, payload = received[0]
    assert SignedPackage.loads(payload) == {"id": "t-1", "args": (1, 2)}
    broker.acknowledge(task_id)
    broker.delete_queue()
    assert broker.queue_size() == 0


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_case_insensitive_email_constraint_is_enforced_by_the_database():
    from django.db import IntegrityError, transaction

    from tests.factories import ContactFactory

    ContactFactory(email="dup@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactFactory(email="DUP@example.com")


def test_the_suite_clock_option_moves_every_clock(request):
    """``--clock`` / LCRM_TEST_CLOCK (the CI's pinned-date run) pins the clock Django, the
    standard library and the database layer read; without it there is nothing to check."""
    import time as stdlib_time
    from datetime import date, datetime

    from django.utils import timezone

    from tests.conftest import suite_clock

    instant = suite_clock(request.config)
    if instant is None:
        pytest.skip("the suite runs on the real clock (pass --clock to pin it)")
    # The run started at the pinned instant and has been going for less than a day since.
    for now in (timezone.now(), datetime.now(UTC), datetime.fromtimestamp(stdlib_time.time(), UTC)):
        assert instant <= now < instant + timedelta(days=1)
    assert date.today() in {(instant + timedelta(days=d)).astimezone().date() for d in (0, 1)}

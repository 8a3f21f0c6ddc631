import os
import uuid
from datetime import UTC, datetime

import pytest
import time_machine
from rest_framework.test import APIClient

from crm.models import ApiToken
from tests.factories import UserFactory


def pytest_addoption(parser):
    parser.addoption(
        "--clock",
        default=os.environ.get("LCRM_TEST_CLOCK") or None,
        help="Run the whole suite as if the clock had been set to this ISO instant when it started "
        "(UTC unless it has an offset; e.g. 2026-12-31T23:30Z). Time moves on from there. "
        "Also read from LCRM_TEST_CLOCK. Proves that no test depends on the real date.",
    )


def suite_clock(config) -> datetime | None:
    value = config.getoption("--clock")
    if not value:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as exc:
        raise pytest.UsageError(f"--clock / LCRM_TEST_CLOCK: {value!r} is not an ISO date-time") from exc
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def pytest_configure(config):
    instant = suite_clock(config)
    if instant is not None:
        # tick=True: the clock runs on from the pinned instant, so timeouts and ordering still work.
        traveller = time_machine.travel(instant, tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_report_header(config):
    instant = suite_clock(config)
    return f"clock: pinned to {instant.isoformat()} (--clock)" if instant else None


@pytest.fixture(autouse=True)
def console_outbox(settings):
    """Each test its own record of what the console provider sent (it looks texts up there)."""
    settings.SMS_CONSOLE_OUTBOX_DIR = os.path.join(settings.SMS_CONSOLE_OUTBOX_DIR, uuid.uuid4().hex)


@pytest.fixture(autouse=True)
def content_types_read_afresh(request):
    """A test that commits (transaction=True, a live server) reads content types from the table,
    not from the process-wide cache: the flush between committing tests (and the browser tests'
    serialized rollback) re-creates or empties that table, so a cached id can name a row that is
    gone, and the change history's rows (django-auditlog) then break their foreign key on
    PostgreSQL."""
    marker = request.node.get_closest_marker("django_db")
    commits = (marker is not None and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if commits:
        from django.contrib.contenttypes.models import ContentType

        ContentType.objects.clear_cache()
    yield


@pytest.fixture
def user(db):
    # The account owner setting the product up: a manager (agents cannot change plays).
    return UserFactory(username="alice", first_name="Alice", last_name="Owner", role="manager")


@pytest.fixture
def api_key(user):
    _, key = ApiToken.issue(user=user, name="tests")
    return key


@pytest.fixture
def api(api_key):
    """An API client authenticated with a real token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key}")
    return client


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture
def web(client, user):
    """A browser-like client logged in as ``user``."""
    client.force_login(user)
    return client


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` skip on SQLite laptops; CI sets LCRM_REQUIRE_POSTGRES=1 for
    its PostgreSQL run, where the infrastructure test fails if the database is not Postgres."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)

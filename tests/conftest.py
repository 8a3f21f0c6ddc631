import pytest
from rest_framework.test import APIClient

from crm.models import ApiToken
from tests.factories import UserFactory


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

"""Fuzz the REST API with schemathesis against our own OpenAPI schema, in-process (bounded:
a few generated requests per operation). Whatever a client sends: never a 500, and responses
with a documented status match their documented schema and content type."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from crm.models import ApiToken
from tests.factories import UserFactory

SCHEMA = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
SCHEMA.app = get_wsgi_application()
EXAMPLES = 4


@pytest.fixture
def keep_connections():
    """Like Django's test client: a request must not close the connection that holds the test's
    transaction (on PostgreSQL, close_old_connections would close it at every request's end)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db):
    _, key = ApiToken.issue(user=UserFactory(username="fuzzer", role="admin", is_superuser=True), name="fuzz")
    return key


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@pytest.mark.django_db
def test_api_never_500s_and_matches_its_schema(case, token, keep_connections):
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )

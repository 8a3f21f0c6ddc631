"""Hostile input answers 4xx with the reason and stores nothing: JSON nested past the limit,
dates outside 1900-2200 (API fields and filters, forms, analytics periods), Twilio SIDs that are
not Twilio's, over-long inbound texts (stored up to the cap, flagged)."""

import json

import pytest

from analytics.answers import METRICS
from crm.models import Account, Task
from tests.factories import AccountFactory
from tests.plays.conftest import make_play

pytestmark = pytest.mark.django_db


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [100, 1000, 50_000])
@pytest.mark.parametrize("path", ["accounts/", "events/", "orders/", "sms/messages/", "plays/"])
def test_json_nested_past_the_limit_is_400_and_stores_nothing(api, path, depth):
    body = '{"name": "Acme", "attributes": ' + nested(depth) + "}"
    response = api.post(f"/api/v1/{path}", body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert "nested deeper than" in response.json()["detail"]
    assert not Account.objects.exists()


def test_json_within_the_limit_is_accepted(api):
    response = api.post(
        "/api/v1/accounts/", {"name": "Acme", "attributes": json.loads(nested(20))}, format="json"
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "1899-12-31", "2201-01-01"])
def test_api_date_fields_outside_1900_to_2200_are_400(api, value):
    response = api.post("/api/v1/accounts/", {"name": "Acme", "signed_up_at": f"{value}T00:00:00Z"})
    assert response.status_code == 400
    assert "1900-01-01 and 2200-12-31" in str(response.json()["signed_up_at"])
    account = AccountFactory()
    response = api.post(
        "/api/v1/renewals/",
        {"account": account.pk, "start_date": "2026-01-01", "end_date": value, "acv": "10"},
    )
    assert response.status_code == 400 and "end_date" in response.json()
    response = api.post("/api/v1/tasks/", {"title": "Call", "due_at": f"{value}T10:00:00Z"})
    assert response.status_code == 400 and "due_at" in response.json()
    assert not Account.objects.exclude(pk=account.pk).exists() and not Task.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        "deals/?expected_close_after=9999-12-31",
        "renewals/?end_date_before=0001-01-01",
        "sms/consent/?occurred_after=9999-12-31T23:59:59Z",
        "sms/messages/?created_before=0001-01-01T00:00:00Z",
        "plays/{play}/enrollments/?decided_after=9999-12-31T00:00:00Z",
    ],
)
def test_api_date_filters_outside_the_range_are_400(api, query):
    query = query.format(play=make_play().pk) if "{play}" in query else query
    response = api.get(f"/api/v1/{query}")
    assert response.status_code == 400, response.content[:300]
    assert "1900-01-01 and 2200-12-31" in response.content.decode()


@pytest.mark.parametrize("metric", sorted(METRICS))
@pytest.mark.parametrize(
    "params", ["start=9999-12-25&end=9999-12-31", "end=9999-12-31", "start=0001-01-01&end=0001-01-05"]
)
def test_analytics_periods_near_the_ends_of_the_calendar_are_400(api, metric, params):
    response = api.get(f"/api/v1/analytics/{metric}/?{params}")
    assert response.status_code == 400, response.content[:300]
    assert "1900-01-01 and 2200-12-31" in response.content.decode()


def test_clv_observation_end_outside_the_range_is_400(api):
    response = api.get("/api/v1/analytics/clv/?observation_end=9999-12-31")
    assert response.status_code == 400 and "observation_end" in response.json()


@pytest.mark.parametrize(
    "path", ["/analytics/", "/analytics/export/lift.csv", "/analytics/export/cohorts.csv"]
)
def test_dashboard_and_its_csv_refuse_periods_near_year_9999(web, path):
    response = web.get(f"{path}?start=9999-12-25&end=9999-12-31")
    assert response.status_code == 400
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"1900-01-01 and 2200-12-31" in body

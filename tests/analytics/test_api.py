"""Analytics API: auth, parameters (400 naming the bad one), snapshots, bounded queries, and
the assumptions endpoint's permissions."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from analytics.models import Snapshot
from crm.models import ApiToken, RenewalStatus, User
from plays.models import Arm, Enrollment, Outcome, Play, PlayStatus
from tests.factories import AccountFactory, ContactFactory, OrderFactory, RenewalFactory, UserFactory

pytestmark = pytest.mark.django_db

METRICS = ("ltv", "cohorts", "retention", "mrr-movements", "roi", "sms-health", "maturity", "lift")


def book(n: int) -> Play:
    play = Play.objects.filter(name="Renewal 60").first() or Play.objects.create(
        name="Renewal 60",
        moment="renewal",
        trigger={"type": "renewal_window", "days": 60},
        template="Hi",
        holdout_percent=20,
        status=PlayStatus.ACTIVE,
    )
    start = datetime.now(UTC) - timedelta(days=300)
    for i in range(n):
        account = AccountFactory(signed_up_at=start - timedelta(days=400 + i))
        contact = ContactFactory(account=account)
        RenewalFactory(
            account=account,
            start_date=(start - timedelta(days=200)).date(),
            end_date=(start + timedelta(days=165)).date(),
            status=RenewalStatus.RENEWED,
            renewed_acv=Decimal(12000),
            decided_at=start + timedelta(days=150),
        )
        OrderFactory(contact=contact, ordered_at=start + timedelta(days=i))
        OrderFactory(contact=contact, ordered_at=start + timedelta(days=40 + i))
        Enrollment.objects.create(
            play=play,
            contact=contact,
            account=account,
            occurrence=f"o{contact.pk}",
            arm=Arm.CONTROL if i % 5 == 0 else Arm.TREATMENT,
            outcome=Outcome.SUPPRESSED,
            decided_at=start + timedelta(days=100),
        )
    return play


@pytest.mark.parametrize("metric", METRICS)
def test_every_answer_needs_auth_and_carries_its_inputs(metric, api, anon_api):
    book(3)
    assert anon_api.get(f"/api/v1/analytics/{metric}/").status_code == 401
    response = api.get(f"/api/v1/analytics/{metric}/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"]["end"] == datetime.now(UTC).date().isoformat()
    assert body["snapshot"]["from_snapshot"] is False


@pytest.mark.parametrize(
    "query,field",
    [
        ("start=yesterday", "start"),
        ("start=2025-05-01&end=2025-01-01", "start"),
        ("acquisition_channel=tv", "acquisition_channel"),
        ("owner=abc", "owner"),
        ("basis=weekly", "basis"),
        ("months=99", "months"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_parameter(api, query, field):
    response = api.get(f"/api/v1/analytics/cohorts/?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_window_is_validated_for_lift_and_roi(api):
    assert "window" in api.get("/api/v1/analytics/roi/?window=1").json()
    play = book(1)
    assert api.get(f"/api/v1/analytics/plays/{play.pk}/lift/?window=abc").status_code == 400
    assert api.get("/api/v1/analytics/plays/999999/lift/").status_code == 404


def test_answers_are_reused_from_snapshots_until_refresh(api):
    book(2)
    first = api.get("/api/v1/analytics/retention/").json()
    again = api.get("/api/v1/analytics/retention/").json()
    assert again["snapshot"]["from_snapshot"] is True
    assert again["snapshot"]["computed_at"] == first["snapshot"]["computed_at"]
    assert api.get("/api/v1/analytics/retention/?refresh=1").json()["snapshot"]["from_snapshot"] is False
    # A different segment is a different answer.
    assert api.get("/api/v1/analytics/retention/?plan=pro").json()["snapshot"]["from_snapshot"] is False
    assert Snapshot.objects.filter(metric="retention").count() == 2


def test_segment_filters_apply(api):
    book(2)
    AccountFactory(plan="enterprise", signed_up_at=datetime.now(UTC) - timedelta(days=30))
    everyone = api.get("/api/v1/analytics/cohorts/").json()["inputs"]["customers"]
    enterprise = api.get("/api/v1/analytics/cohorts/?plan=enterprise").json()["inputs"]["customers"]
    assert (everyone, enterprise) == (1, 1) or enterprise < everyone


def test_play_lift_endpoint(api):
    play = book(10)
    body = api.get(f"/api/v1/analytics/plays/{play.pk}/lift/").json()
    assert body["play"]["id"] == play.pk and body["inputs"]["control"] == 2
    assert body["inputs"]["treatment"] == 8


@pytest.mark.parametrize("metric", METRICS)
def test_query_count_does_not_grow_with_data(metric, api, django_assert_max_num_queries):
    book(3)
    with django_assert_max_num_queries(40) as small:
        api.get(f"/api/v1/analytics/{metric}/?refresh=1")
    few = len(small.captured_queries)
    book(30)
    with django_assert_max_num_queries(few):
        assert api.get(f"/api/v1/analytics/{metric}/?refresh=1").status_code == 200


def client_for(role: str) -> APIClient:
    user = UserFactory(username=f"{role}-user", role=role)
    _, key = ApiToken.issue(user=user, name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_assumptions_list_and_only_managers_and_admins_change_them(api):
    keys = [row["key"] for row in api.get("/api/v1/analytics/assumptions/").json()]
    assert "gross_margin" in keys and "price_per_segment" in keys
    agent = client_for("agent")
    denied = agent.patch("/api/v1/analytics/assumptions/gross_margin/", {"value": "0.5"}, format="json")
    assert denied.status_code == 403
    manager = client_for("manager")
    ok = manager.patch("/api/v1/analytics/assumptions/gross_margin/", {"value": "0.5"}, format="json")
    assert ok.status_code == 200 and ok.json()["value"] == "0.5000"
    assert ok.json()["updated_by"] == str(User.objects.get(username="manager-user"))
    assert (
        manager.patch(
            "/api/v1/analytics/assumptions/gross_margin/", {"value": "7"}, format="json"
        ).status_code
        == 400
    )
    assert (
        manager.patch(
            "/api/v1/analytics/assumptions/gross_margin/", {"value": "x"}, format="json"
        ).status_code
        == 400
    )
    assert manager.patch("/api/v1/analytics/assumptions/gross_margin/", {}, format="json").status_code == 400
    assert (
        manager.patch("/api/v1/analytics/assumptions/nope/", {"value": "1"}, format="json").status_code == 404
    )


def test_changing_an_assumption_drops_the_answers_that_use_it(api):
    book(2)
    api.get("/api/v1/analytics/roi/")
    api.get("/api/v1/analytics/retention/")
    client_for("admin").patch("/api/v1/analytics/assumptions/acv/", {"value": "9000"}, format="json")
    assert not Snapshot.objects.filter(metric="roi").exists()
    assert Snapshot.objects.filter(metric="retention").exists()
    assert api.get("/api/v1/analytics/roi/").json()["inputs"]["acv"] == "9000.00"


def test_cohorts_default_to_three_years_of_monthly_cohorts():
    from datetime import date

    from analytics.answers import parse

    scope = parse("cohorts", {}, today=date(2026, 11, 24))
    assert (scope.start, scope.end, scope.extra["months"]) == (date(2023, 12, 1), date(2026, 11, 24), 36)
    chosen = parse("cohorts", {"start": "2026-01-01", "months": "6"}, today=date(2026, 11, 24))
    assert (chosen.start, chosen.extra["months"]) == (date(2026, 1, 1), 6)
    assert parse("retention", {}, today=date(2026, 11, 24)).start == date(2025, 11, 25)


def test_clv_endpoint_fits_lists_the_top_customers_and_explains_thin_data(api, django_assert_max_num_queries):
    from tests.analytics.test_clv import _simulated_orders

    assert api.get("/api/v1/analytics/clv/?observation_end=2025-03-01").status_code == 400  # no orders yet
    thin = api.get("/api/v1/analytics/clv/?observation_end=2025-03-01").json()
    assert "detail" in thin and thin["detail"][0]
    _simulated_orders(AccountFactory(), 120, seed=5)
    url = "/api/v1/analytics/clv/?observation_end=2025-03-01&time_unit=day&customers=10&refresh=1"
    with django_assert_max_num_queries(12):
        body = api.get(url).json()
    assert body["time_unit"] == "day" and set(body["bgnbd"]) >= {"r", "alpha", "a", "b"}
    assert set(body["gamma_gamma"]) >= {"p", "q", "v"}
    assert len(body["customers"]) == 10 and body["customers_listed"] == {"listed": 10, "of": 120}
    assert api.get("/api/v1/analytics/clv/?time_unit=month").status_code == 400

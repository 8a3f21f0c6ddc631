"""CLV tiers: the nightly job stores exactly the CLV answer's predictions, tiers by the configured
percentiles, runs set-based (queries do not grow with contacts) and is idempotent; the contact
API, list and page show and filter them."""

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from django.conf import settings

from analytics.assumptions import assumption_values
from analytics.clv import clv_report
from analytics.clv.report import predict
from analytics.clv.summary import purchase_summary
from analytics.clv.tiers import clv_tiers_score, tier_of
from analytics.tasks import score_clv_tiers
from crm.models import Contact
from tests.analytics.test_clv import END, _simulated_orders
from tests.factories import AccountFactory, ContactFactory, OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(db):
    return AccountFactory()


def _report():
    return clv_report(observation_end=END, time_unit="week", margin=assumption_values()["gross_margin"])


def test_job_stores_the_clv_answers_predictions(account):
    _simulated_orders(account, 120, seed=3)
    unscored = ContactFactory(account=account)  # no purchase: not scored
    run = clv_tiers_score(now=END)
    report = _report()
    assert run.scored == 120 and not run.skipped
    rows = {row["customer_id"]: row for row in report["customers"] if row["kind"] == "contact"}
    stored = {c.pk: c for c in Contact.objects.filter(pk__in=rows)}
    for contact_id, row in rows.items():
        contact = stored[contact_id]
        # The answer shows 4 decimals, the contact keeps 6.
        assert contact.clv_p_alive == pytest.approx(row["probability_alive"], abs=5.1e-5)
        assert contact.clv_expected_12m == Decimal(row["expected_value_12m"])
        assert contact.clv_scored_at == END
    unscored.refresh_from_db()
    assert (unscored.clv_tier, unscored.clv_p_alive, unscored.clv_scored_at) == ("", None, None)


@pytest.mark.parametrize(("high", "low"), [(20, 50), (10, 0), (50, 30)])
def test_tiers_follow_the_configured_percentiles(account, settings, high, low):
    settings.CLV_TIER_HIGH_PERCENTILE, settings.CLV_TIER_LOW_PERCENTILE = high, low
    _simulated_orders(account, 100, seed=5)
    run = clv_tiers_score(now=END)
    # Independently: the predictions, their percentiles, each contact's tier.
    summary = purchase_summary(observation_end=END, time_unit="week")
    values = predict(summary, margin=assumption_values()["gross_margin"]).value
    top, bottom = np.percentile(values, 100 - high), np.percentile(values, low)
    expected = {
        int(cid): "high" if v >= top else ("low" if low and v < bottom else "mid")
        for cid, v in zip(summary.customer_id, values, strict=True)
    }
    assert dict(Contact.objects.exclude(clv_tier="").values_list("pk", "clv_tier")) == expected
    assert run.high_threshold == pytest.approx(top)
    assert run.low_threshold == (pytest.approx(bottom) if low else None)
    counts = {tier: list(expected.values()).count(tier) for tier in ("high", "mid", "low")}
    # About the configured shares: ties at a threshold go to the upper tier.
    assert high <= counts["high"] <= high + 10 and counts["low"] <= low
    assert (counts["low"] == 0) == (low == 0)


def test_tier_of_by_hand():
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    tiers, high, low = tier_of(values, high_percentile=20, low_percentile=50)
    # 80th percentile (linear) = 8.2, 50th = 5.5: 9, 10 high; 1-5 low; 6-8 mid.
    assert (high, low) == (pytest.approx(8.2), pytest.approx(5.5))
    assert list(tiers) == ["low"] * 5 + ["mid"] * 3 + ["high"] * 2


def test_default_thresholds_are_the_documented_ones():
    assert (settings.CLV_TIER_HIGH_PERCENTILE, settings.CLV_TIER_LOW_PERCENTILE) == (20, 50)


def test_idempotent_and_clears_contacts_without_purchases(account):
    orders = _simulated_orders(account, 60, seed=11)
    clv_tiers_score(now=END)
    first = {
        c.pk: (c.clv_p_alive, c.clv_expected_12m, c.clv_tier) for c in Contact.objects.exclude(clv_tier="")
    }
    clv_tiers_score(now=END)
    second = {
        c.pk: (c.clv_p_alive, c.clv_expected_12m, c.clv_tier) for c in Contact.objects.exclude(clv_tier="")
    }
    assert first == second and len(first) == 60
    # A contact whose orders are gone is no longer a customer: its score is cleared.
    gone = orders[0].contact_id
    from crm.models import Order

    Order.objects.filter(contact_id=gone).delete()
    run = clv_tiers_score(now=datetime(2025, 3, 2, tzinfo=UTC))
    assert run.cleared == 1 and run.scored == 59
    assert Contact.objects.get(pk=gone).clv_tier == ""


def test_queries_do_not_grow_with_contacts(account, django_assert_num_queries):
    _simulated_orders(account, 30, seed=13)
    clv_tiers_score(now=END)  # the assumptions exist from here on

    def queries(run_at):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            clv_tiers_score(now=run_at)
        return len(captured)

    small = queries(END)
    _simulated_orders(account, 150, seed=17)
    large = queries(END)
    assert Contact.objects.exclude(clv_tier="").count() == 180
    assert small == large <= 8


def test_too_little_history_writes_nothing_and_says_why(account):
    OrderFactory(contact=ContactFactory(account=account), ordered_at=datetime(2025, 1, 5, tzinfo=UTC))
    result = score_clv_tiers()
    assert result["scored"] == 0 and result["skipped"]
    assert not Contact.objects.exclude(clv_tier="").exists()


def test_periodic_job_is_scheduled():
    assert ("analytics.tasks.score_clv_tiers", "I", 1440) in settings.PERIODIC_JOBS.values()
    assert "analytics.tasks" in settings.SCHEDULE_TASK_MODULES


# --- shown and filtered ------------------------------------------------------------------------


def _scored(tier: str, p_alive: float, value: str, **kwargs):
    contact = ContactFactory(**kwargs)
    Contact.objects.filter(pk=contact.pk).update(
        clv_tier=tier, clv_p_alive=p_alive, clv_expected_12m=Decimal(value), clv_scored_at=END
    )
    return contact


def test_contact_api_shows_scores_read_only_and_filters_by_tier(api):
    high = _scored("high", 0.8312, "412.50")
    _scored("low", 0.1, "3.00")
    plain = ContactFactory()
    body = api.get(f"/api/v1/contacts/{high.pk}/").json()
    assert (body["clv_tier"], body["clv_p_alive"], body["clv_expected_12m"]) == ("high", 0.8312, "412.50")
    assert body["clv_scored_at"].startswith("2025-03-01")
    response = api.patch(f"/api/v1/contacts/{high.pk}/", {"clv_tier": "low"}, format="json")
    assert response.status_code == 200 and Contact.objects.get(pk=high.pk).clv_tier == "high"
    ids = [row["id"] for row in api.get("/api/v1/contacts/", {"clv_tier": "high"}).json()["results"]]
    assert ids == [high.pk]
    ids = [row["id"] for row in api.get("/api/v1/contacts/", {"clv_tier": "none"}).json()["results"]]
    assert plain.pk in ids and high.pk not in ids
    bad = api.get("/api/v1/contacts/", {"clv_tier": "gold"})
    assert bad.status_code == 400 and "clv_tier" in bad.json()


def test_contact_page_shows_the_clv_panel_and_the_list_filters(client, user):
    client.force_login(user)
    high = _scored("high", 0.8312, "412.50", first_name="Hana", last_name="High")
    _scored("low", 0.1, "3.00", first_name="Lou", last_name="Low")
    page = client.get(f"/contacts/{high.pk}/").content.decode()
    assert 'data-testid="clv-tier">High<' in page
    assert "0.83 (83%)" in page and "$412.50" in page
    listing = client.get("/contacts/", {"clv_tier": "high", "columns": ["clv_tier"]}).content.decode()
    assert "Hana" in listing and "Lou" not in listing
    unscored = ContactFactory()
    assert "Not scored" in client.get(f"/contacts/{unscored.pk}/").content.decode()

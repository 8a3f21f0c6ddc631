"""Lifecycle stage from data (crm/stages.py): each documented rule places an account with its
reason; a stage set by hand sticks through re-derivation until cleared; the derivation is
set-based (queries constant in the number of accounts) and reachable from the account page."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm import services, stages
from crm.models import Account, DealKind, HealthBand, LifecycleStage, RenewalStatus
from tests.factories import AccountFactory, DealFactory, EventFactory, RenewalFactory, stage

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 10, 12, tzinfo=UTC)


def _account(days_old: int, **fields) -> Account:
    return AccountFactory(signed_up_at=NOW - timedelta(days=days_old), **fields)


def _activated(account: Account, days_ago: int = 200) -> None:
    EventFactory(
        account=account,
        contact=None,
        name="integration_connected",
        occurred_at=NOW - timedelta(days=days_ago),
    )


def _derived(account: Account) -> tuple[str, str]:
    [(pk, stage_, reason)] = stages.derive(NOW, [account.pk])
    assert pk == account.pk
    return stage_, reason


def test_churned():
    account = _account(400, churned_at=NOW - timedelta(days=3), health_band=HealthBand.AT_RISK)
    assert _derived(account) == (LifecycleStage.CHURNED, "Churned on 2026-05-07.")


def test_a_churn_date_in_the_future_is_not_churned_yet():
    account = _account(400, churned_at=NOW + timedelta(days=3))
    _activated(account)
    assert _derived(account)[0] == LifecycleStage.ACTIVE


def test_at_risk_by_the_health_band():
    account = _account(400, health_band=HealthBand.AT_RISK, churn_risk=0.42)
    _activated(account)
    RenewalFactory(
        account=account, start_date=NOW.date() - timedelta(days=340), end_date=NOW.date() + timedelta(days=25)
    )
    assert _derived(account) == (LifecycleStage.AT_RISK, "Health band is at risk (churn risk 42%).")


def test_at_risk_without_activation_after_onboarding():
    account = _account(120)
    assert _derived(account) == (
        LifecycleStage.AT_RISK,
        "No integration_connected event 90 days after sign-up.",
    )


def test_renewal_window():
    account = _account(340, health_band=HealthBand.WATCH)
    _activated(account)
    RenewalFactory(
        account=account, start_date=NOW.date() - timedelta(days=340), end_date=NOW.date() + timedelta(days=25)
    )
    DealFactory(account=account, kind=DealKind.EXPANSION)  # the renewal comes first
    assert _derived(account) == (LifecycleStage.RENEWAL_WINDOW, "Term ends on 2026-06-04, in 25 days.")


def test_a_decided_or_distant_term_is_no_renewal_window():
    account = _account(340)
    _activated(account)
    RenewalFactory(
        account=account, start_date=NOW.date() - timedelta(days=340), end_date=NOW.date() + timedelta(days=61)
    )
    RenewalFactory(
        account=account,
        start_date=NOW.date() - timedelta(days=700),
        end_date=NOW.date() + timedelta(days=5),
        status=RenewalStatus.RENEWED,
    )
    assert _derived(account)[0] == LifecycleStage.ACTIVE


def test_expansion_by_an_open_expansion_deal():
    account = _account(200)
    _activated(account)
    DealFactory(account=account, kind=DealKind.EXPANSION)
    DealFactory(account=account, kind=DealKind.EXPANSION, stage=stage("closed-won"))
    assert _derived(account) == (LifecycleStage.EXPANSION, "1 open expansion deal(s).")


def test_expansion_by_seat_use():
    account = _account(200)
    _activated(account)
    EventFactory(
        account=account,
        contact=None,
        name="seats_used",
        properties={"ratio": 0.93},
        occurred_at=NOW - timedelta(days=4),
    )
    assert _derived(account) == (LifecycleStage.EXPANSION, "93% of seats in use (from 90%).")


def test_old_seat_use_is_no_expansion_signal():
    account = _account(200)
    _activated(account)
    EventFactory(
        account=account,
        contact=None,
        name="seats_used",
        properties={"ratio": 0.95},
        occurred_at=NOW - timedelta(days=40),
    )
    assert _derived(account)[0] == LifecycleStage.ACTIVE


def test_onboarding_then_adopting():
    account = _account(20)
    assert _derived(account) == (
        LifecycleStage.ONBOARDING,
        "Signed up 20 days ago; no integration_connected event yet.",
    )
    _activated(account, days_ago=5)
    assert _derived(account) == (
        LifecycleStage.ADOPTING,
        "Signed up 20 days ago; integration_connected on 2026-05-05.",
    )


def test_active():
    account = _account(200, health_band=HealthBand.GOOD)
    _activated(account)
    assert _derived(account) == (
        LifecycleStage.ACTIVE,
        "Past onboarding; not at risk, no renewal due, no expansion signal.",
    )


def test_the_activation_event_is_a_setting(settings):
    settings.LIFECYCLE_ACTIVATION_EVENT = "first_campaign_sent"
    account = _account(20)
    _activated(account, days_ago=5)  # integration_connected no longer counts
    assert _derived(account)[0] == LifecycleStage.ONBOARDING


def test_override_sticks_through_rederivation_until_cleared():
    account = _account(200)
    _activated(account)
    services.lifecycle_stages_refresh(now=NOW)
    account.refresh_from_db()
    assert account.lifecycle_stage == LifecycleStage.ACTIVE and account.lifecycle_stage_derived_at == NOW
    services.account_stage_override(account=account, stage=LifecycleStage.EXPANSION)
    services.lifecycle_stages_refresh(now=NOW + timedelta(days=1))
    account.refresh_from_db()
    assert account.lifecycle_stage == LifecycleStage.EXPANSION
    assert account.lifecycle_stage_override == LifecycleStage.EXPANSION
    assert account.lifecycle_stage_reason.startswith("Set by hand; the data says Active: Past onboarding")
    services.account_stage_override(account=account, stage="")
    account.refresh_from_db()
    assert account.lifecycle_stage_override == ""
    assert account.lifecycle_stage != LifecycleStage.EXPANSION


def test_editing_the_stage_is_an_override():
    account = _account(200)
    _activated(account)
    services.account_update(account=account, lifecycle_stage=LifecycleStage.AT_RISK)
    services.lifecycle_stages_refresh(now=NOW)
    account.refresh_from_db()
    assert (account.lifecycle_stage, account.lifecycle_stage_override) == (LifecycleStage.AT_RISK,) * 2
    services.accounts_set_stage(account_ids=[account.pk], stage=LifecycleStage.EXPANSION)
    services.lifecycle_stages_refresh(now=NOW)
    account.refresh_from_db()
    assert account.lifecycle_stage == LifecycleStage.EXPANSION


def test_the_api_keeps_a_changed_stage_as_an_override(api):
    account = _account(200)
    response = api.patch(f"/api/v1/accounts/{account.pk}/", {"lifecycle_stage": "expansion"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["lifecycle_stage_override"] == "expansion"
    response = api.patch(f"/api/v1/accounts/{account.pk}/", {"health_band": "good"}, format="json")
    account.refresh_from_db()
    assert account.health_band == ""  # read-only: written by the health job only


def test_a_bad_stage_is_refused():
    account = _account(200)
    with pytest.raises(services.ValidationError):
        services.account_stage_override(account=account, stage="nope")
    account.refresh_from_db()
    assert account.lifecycle_stage_override == ""


def test_queries_constant_in_the_number_of_accounts():
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            services.lifecycle_stages_refresh(now=NOW)
        return len(captured)

    for days in (20, 200, 400):
        _activated(_account(days))
    few = count()
    for days in range(10, 400, 10):
        account = _account(days)
        _activated(account, days_ago=max(1, days - 5))
        DealFactory(account=account, kind=DealKind.EXPANSION)
    assert count() == few


def test_account_page_sets_and_clears_the_override(web):
    account = _account(200)
    _activated(account)
    services.lifecycle_stages_refresh()
    url = reverse("account_stage_override", args=[account.pk])
    web.post(url, {"stage": "at_risk"})
    account.refresh_from_db()
    assert (account.lifecycle_stage, account.lifecycle_stage_override) == ("at_risk", "at_risk")
    page = web.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "Clear, go back to derived" in page and "Set by hand; the data says" in page
    web.post(url, {"clear": "1"})
    account.refresh_from_db()
    assert account.lifecycle_stage_override == "" and account.lifecycle_stage == "active"
    response = web.post(url, {"stage": "nope"}, follow=True)
    assert "is not a lifecycle stage" in response.content.decode()

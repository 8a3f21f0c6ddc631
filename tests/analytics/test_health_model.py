"""The account health model: a time-based backtest on a seeded history finds a planted cause
(high AUC, the cause as top coefficient and top factor), finds nothing in a history without one
(AUC near 0.5), falls back to documented rules below the thresholds; the calibration table's
arithmetic; query counts constant in the number of accounts; the daily job is idempotent."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from sklearn.metrics import roc_auc_score

from analytics.models import Snapshot
from analytics.scores import health
from analytics.tasks import score_account_health
from crm.models import Account, Event, HealthBand, HealthSource, Renewal, RenewalStatus
from crm.services import accounts_health_write
from tests.analytics.health_history import NOW, build_history

pytestmark = pytest.mark.django_db


def test_backtest_finds_the_planted_cause():
    build_history(accounts=300, signal=True)
    trained = health.train(NOW)
    report = trained.report
    assert trained.source == HealthSource.MODEL, report.get("note")
    assert report["labelled_renewals"] >= 100 and report["churned_renewals"] >= 20
    backtest = report["backtest"]
    assert backtest["auc"] > 0.75, backtest
    # The planted cause is the strongest coefficient, and low seat use raises the risk.
    top = report["coefficients"][0]
    assert top["feature"] == "seat_use" and top["coefficient"] < 0, report["coefficients"]
    # The test period follows the training period: no renewal decided before the split is tested.
    assert backtest["test_period"]["start"] == backtest["split_at"][:10]
    assert sum(row["n"] for row in backtest["calibration"]) == backtest["test_rows"]


def test_backtest_auc_is_sklearns_on_the_held_out_renewals():
    build_history(accounts=200, signal=True, seed=11)
    hist = health.history(NOW)
    result = health.backtest(hist)
    split = health.datetime.fromisoformat(result["split_at"])
    train = [i for i, d in enumerate(hist.decided) if d < split]
    test = [i for i, d in enumerate(hist.decided) if d >= split]
    model = health.fit([hist.at[i] for i in train], [hist.raws[i] for i in train], hist.labels[train])
    predicted = model.predict(model.matrix([hist.at[i] for i in test], [hist.raws[i] for i in test]))
    assert result["auc"] == round(float(roc_auc_score(hist.labels[test], predicted)), 4)
    assert max(hist.at[i] for i in train) < split  # features of training rows predate the split


def test_a_history_without_signal_gets_an_honest_auc():
    build_history(accounts=400, signal=False, seed=3)
    report = health.train(NOW).report
    assert report["source"] == HealthSource.MODEL
    assert abs(report["backtest"]["auc"] - 0.5) < 0.1, report["backtest"]


def test_each_account_gets_its_top_factors_in_words():
    build_history(accounts=300, signal=True)
    trained = health.train(NOW)
    rows = {row[0]: row for row in health.score(trained, NOW)}
    live = Account.objects.filter(churned_at__isnull=True)
    low = live.filter(events__name="seats_used", events__occurred_at__gte=NOW - timedelta(days=20)).filter(
        events__properties__ratio__lt=0.2
    )
    account = low.distinct().first()
    _, risk, band, factors, source = rows[account.pk]
    assert source == HealthSource.MODEL
    assert factors[0]["feature"] == "seat_use" and factors[0]["raises"]
    assert factors[0]["text"].endswith("of seats in use")
    assert len(factors) <= health.TOP_FACTORS
    assert [abs(f["effect"]) for f in factors] == sorted((abs(f["effect"]) for f in factors), reverse=True)
    assert band == health.band_of(risk)
    churned = Account.objects.filter(churned_at__isnull=False).first()
    assert rows[churned.pk][1:] == (None, "", [], "")


def test_rules_below_the_thresholds(settings):
    settings.HEALTH_MIN_RENEWALS = 100
    account = Account.objects.create(name="Small", signed_up_at=NOW - timedelta(days=400))
    Renewal.objects.create(
        account=account,
        start_date=(NOW - timedelta(days=400)).date(),
        end_date=(NOW - timedelta(days=35)).date(),
        acv=Decimal("100"),
        status=RenewalStatus.DOWNGRADED,
        renewed_acv=Decimal("80"),
        decided_at=NOW - timedelta(days=40),
    )
    Event.objects.create(
        account=account, name="seats_used", properties={"ratio": 0.3}, occurred_at=NOW - timedelta(days=3)
    )
    trained = health.train(NOW)
    assert trained.source == HealthSource.RULES and trained.model is None
    assert "100 labelled renewals" in trained.report["note"]
    [(pk, risk, band, factors, source)] = health.score(trained, NOW)
    # Base 0.05 + no usage 0.25 + seats under 40% 0.15 + a past downgrade 0.10 = 0.55.
    assert (pk, risk, band, source) == (account.pk, 0.55, HealthBand.AT_RISK, HealthSource.RULES)
    assert [f["feature"] for f in factors] == ["no_usage", "low_seats", "downgraded"]
    assert factors[0]["text"] == "No usage in the last 30 days"


def test_calibration_table_by_hand():
    predicted = [0.02, 0.04, 0.07, 0.15, 0.16, 0.45, 1.0]
    observed = [0, 1, 0, 0, 1, 1, 1]
    table = health.calibration_table(predicted, observed)
    assert [(row["bin"], row["n"], row["mean_predicted"], row["observed_rate"]) for row in table] == [
        ("0%-5%", 2, 0.03, 0.5),
        ("5%-10%", 1, 0.07, 0.0),
        ("10%-20%", 2, 0.155, 0.5),
        ("20%-30%", 0, None, None),
        ("30%-50%", 1, 0.45, 1.0),
        ("50%-100%", 1, 1.0, 1.0),
    ]


def _queries(callable_) -> int:
    with CaptureQueriesContext(connection) as captured:
        callable_()
    return len(captured)


def test_query_counts_do_not_grow_with_the_accounts(monkeypatch, settings):
    # The last 12 monthly snapshots: both histories have renewals in each of them; both train.
    monkeypatch.setattr(health, "MAX_SNAPSHOTS", 12)
    settings.HEALTH_MIN_RENEWALS, settings.HEALTH_MIN_CHURNS = 10, 5
    build_history(accounts=40, signal=True, seed=5)
    small_train = _queries(lambda: health.train(NOW))
    score_account_health(now=NOW)  # the model's report is stored: later runs update it
    small_job = _queries(lambda: score_account_health(now=NOW))
    Account.objects.all().delete()
    build_history(accounts=160, signal=True, seed=5)
    assert _queries(lambda: health.train(NOW)) == small_train
    assert _queries(lambda: score_account_health(now=NOW)) == small_job


def test_the_job_is_idempotent():
    build_history(accounts=300, signal=True)
    first = score_account_health(now=NOW)
    fields = ("pk", "churn_risk", "health_band", "health_factors", "health_source", "lifecycle_stage")
    before = list(Account.objects.order_by("pk").values_list(*fields))
    second = score_account_health(now=NOW)
    assert first == second and first["source"] == HealthSource.MODEL
    assert list(Account.objects.order_by("pk").values_list(*fields)) == before
    assert set(Account.objects.values_list("health_scored_at", flat=True)) == {NOW}
    assert Account.objects.filter(churned_at__isnull=True, health_band="").count() == 0


def test_the_answer_and_the_analytics_page_show_the_model(api, web):
    build_history(accounts=300, signal=True)
    score_account_health(now=NOW)
    page = web.get("/analytics/").content.decode()
    stored = Snapshot.objects.get(metric="health-model").payload
    assert stored["source"] == HealthSource.MODEL
    auc = stored["backtest"]["auc"]
    assert f"{auc:.3f}" in page and "Backtest AUC" in page and 'data-testid="health-calibration"' in page
    assert stored["backtest"]["test_period"]["start"] in page
    response = api.get("/api/v1/analytics/health-model/")
    assert response.status_code == 200
    body = response.json()
    assert {"source", "labelled_renewals", "backtest", "coefficients", "features", "definitions"} <= set(body)
    account = Account.objects.filter(churned_at__isnull=True).first()
    row = api.get(f"/api/v1/accounts/{account.pk}/").json()
    assert row["health_band"] == account.health_band and row["churn_risk"] == account.churn_risk
    assert api.get("/api/v1/accounts/?health_band=at_risk").json()["count"] == (
        Account.objects.filter(health_band="at_risk").count()
    )


def test_the_writer_refuses_what_is_not_a_score():
    account = Account.objects.create(name="One", signed_up_at=NOW)
    with pytest.raises(ValidationError):
        accounts_health_write(rows=[(account.pk, 1.5, "good", [], "model")], scored_at=NOW)
    with pytest.raises(ValidationError):
        accounts_health_write(rows=[(account.pk, 0.5, "fine", [], "model")], scored_at=NOW)
    account.refresh_from_db()
    assert account.churn_risk is None and account.health_band == ""

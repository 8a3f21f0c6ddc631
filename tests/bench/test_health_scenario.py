"""Scenario 7's harness on a small data set: the set-based scoring and the per-account loop give
the same scores, the engine's queries do not grow with the accounts, and the report states the
budget with the extrapolation labelled."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from bench.scenarios import health as scenario
from crm.models import Account


def test_engine_and_per_account_loop_agree(db):
    dataset = scenario.build(300, seed=3)
    assert dataset["accounts"] == 300 and dataset["messages"] == 60
    trained = scenario.trained_model(300)
    with CaptureQueriesContext(connection) as small:
        assert scenario.engine(trained) == 300
    sample = list(Account.objects.order_by("pk").values_list("pk", flat=True)[:40])
    expected = {
        pk: (risk, band, factors)
        for pk, risk, band, factors in Account.objects.filter(pk__in=sample).values_list(
            "pk", "churn_risk", "health_band", "health_factors"
        )
    }
    rows = scenario.baseline(trained, sample)
    assert {pk: (risk, band, factors) for pk, risk, band, factors in rows} == expected
    assert {band for _, band, _ in expected.values()} >= {"good", "at_risk"}
    scenario.build(600, seed=4)
    with CaptureQueriesContext(connection) as large:
        assert scenario.engine(trained) == 900
    assert len(large) == len(small)


def test_report_states_the_budget_and_the_extrapolation():
    run = {
        "scenario": "health",
        "db": "postgres",
        "accounts": 100_000,
        "baseline_accounts": 2_000,
        "scoring": {"median": 10.0, "min": 9.0, "max": 11.0, "queries": 30},
        "baseline_sample": {"median": 20.0},
        "baseline_extrapolated_seconds": 1000.0,
        "speedup": 100.0,
        "stages": {"median": 5.0},
    }
    text = "\n".join(scenario.markdown([run]))
    assert "| postgres | 100,000 | 10.00 s (9.00-11.00) | 30 | 20.00 s on 2,000 " in text
    assert "| 1000.0 s *extrapolated* " in text
    assert "| 100x | 5.00 s | ✅ ≥ 20x |" in text

"""Scenario 4's baselines must compute the product's numbers, or the benchmark compares nothing:
on a small data set from the scenario's own builder, the hand-written SQL and pandas answers equal
the product's for every metric, and the harness's comparison notices a changed number."""

import copy
from datetime import datetime

import pytest
from django.db import connection

from bench import data_analytics
from bench.scenarios import analytics
from plays.models import Play


@pytest.fixture
def scenario(db):
    dataset = data_analytics.generate(6000, seed=7)
    play = Play.objects.get(pk=dataset["play_id"])
    return dataset, analytics.implementations(play, datetime.fromisoformat(dataset["now"]))


def test_the_data_set_has_the_shape_the_scenario_describes(scenario):
    dataset, _ = scenario
    assert (dataset["orders"], dataset["accounts"], dataset["contacts"]) == (6000, 60, 600)
    assert dataset["enrollments"] == 300
    assert dataset["renewals"] > dataset["accounts"]  # a term per year of each account's life
    assert 0 < dataset["churned_accounts"] < dataset["accounts"]


@pytest.mark.parametrize("metric", analytics.METRICS)
def test_hand_sql_and_pandas_give_the_products_numbers(scenario, metric):
    _, impls = scenario
    product = impls[metric]["product"]()
    sql = impls[metric]["sql"]()
    pandas, load_seconds = impls[metric]["pandas"]()
    exact = connection.vendor == "postgresql"
    assert product  # a non-empty answer: the comparison below compares something
    assert analytics.differences(product, sql, exact_money=exact) == []
    assert analytics.differences(product, pandas, exact_money=exact) == []
    assert load_seconds > 0


def test_lift_facts_count_both_arms_and_every_outcome(scenario):
    _, impls = scenario
    facts = impls["lift"]["product"]()
    treatment, control = facts["arms"]["treatment"], facts["arms"]["control"]
    assert treatment["n"] > control["n"] > 0
    assert treatment["sent"] > 0 and treatment["reordered"] > 0
    assert facts["strata"]


def test_differences_notice_a_changed_number(scenario):
    _, impls = scenario
    product = impls["cohorts_signup"]["product"]()
    cell = next(cell for row in product for cell in row["cells"] if cell["revenue"] != "0.00")
    for key, value in (("revenue", "0.01"), ("retained", -1.0), ("month", 99)):
        changed = copy.deepcopy(product)
        target = next(c for row in changed for c in row["cells"] if c == cell)
        target[key] = value
        assert analytics.differences(product, changed, exact_money=True), key
    shorter = copy.deepcopy(product)
    shorter[0]["cells"].pop()
    assert analytics.differences(product, shorter, exact_money=True)
    # A cent apart passes only where money is summed as floats (SQLite).
    nudged = copy.deepcopy(product)
    target = next(c for row in nudged for c in row["cells"] if c == cell)
    target["revenue"] = str(round(float(cell["revenue"]) + 0.01, 2))
    assert analytics.differences(product, nudged, exact_money=True)
    assert not analytics.differences(product, nudged, exact_money=False)

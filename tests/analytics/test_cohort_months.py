"""Cohort months are UTC calendar months on every database, to the microsecond at the edges, and
on SQLite they are computed natively (no Python function called per order row: that was most of
the cohort tables' time at a million orders, bench scenario 4)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.metrics.cohorts import cohorts
from analytics.scope import Scope
from tests.factories import AccountFactory, ContactFactory, OrderFactory

pytestmark = pytest.mark.django_db

SCOPE = Scope(start=date(2025, 1, 1), end=date(2025, 3, 31))
LAST_INSTANT_OF_JANUARY = datetime(2025, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)
FEBRUARY = datetime(2025, 2, 1, tzinfo=UTC)


def test_first_order_months_split_at_midnight_utc():
    january, february = ContactFactory(), ContactFactory()
    OrderFactory(contact=january, amount=Decimal(10), ordered_at=LAST_INSTANT_OF_JANUARY)
    OrderFactory(contact=january, amount=Decimal(5), ordered_at=FEBRUARY)
    OrderFactory(contact=february, amount=Decimal(7), ordered_at=FEBRUARY)
    rows = {row["cohort"]: row for row in cohorts(SCOPE, basis="first_order", months=2)["cohorts"]}
    assert {k: v["size"] for k, v in rows.items()} == {"2025-01": 1, "2025-02": 1}
    assert [c["revenue"] for c in rows["2025-01"]["cells"]] == ["10.00", "5.00"]
    assert [c["revenue"] for c in rows["2025-02"]["cells"]] == ["7.00", "0.00"]


def test_signup_months_split_at_midnight_utc():
    late = AccountFactory(signed_up_at=LAST_INSTANT_OF_JANUARY)
    AccountFactory(signed_up_at=FEBRUARY)
    OrderFactory(account=late, contact=None, amount=Decimal(3), ordered_at=FEBRUARY)
    rows = {row["cohort"]: row for row in cohorts(SCOPE, basis="signup", months=2)["cohorts"]}
    assert {k: v["size"] for k, v in rows.items()} == {"2025-01": 1, "2025-02": 1}
    assert [c["revenue"] for c in rows["2025-01"]["cells"]] == ["0.00", "3.00"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's per-row Python functions")
@pytest.mark.parametrize("basis", ["signup", "first_order"])
def test_sqlite_truncates_order_timestamps_natively(basis):
    OrderFactory(contact=ContactFactory(account=AccountFactory(signed_up_at=FEBRUARY)), ordered_at=FEBRUARY)
    with CaptureQueriesContext(connection) as captured:
        cohorts(SCOPE, basis=basis)
    sql = " ".join(q["sql"] for q in captured.captured_queries)
    assert "strftime" in sql
    assert "django_datetime_trunc" not in sql

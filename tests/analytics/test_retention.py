"""Retention metrics against hand-computed expectations on a small book of accounts."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from analytics.metrics.retention import logo_churn, repeat_purchase, retention, revenue_retention
from analytics.scope import Scope
from crm.models import DealKind, RenewalStatus
from tests.factories import AccountFactory, ContactFactory, DealFactory, OrderFactory, RenewalFactory, stage

pytestmark = pytest.mark.django_db

SCOPE = Scope(start=date(2025, 1, 1), end=date(2025, 12, 31))


def at(y, m, d, h=12):
    return datetime(y, m, d, h, tzinfo=UTC)


def term(account, end, acv, status=RenewalStatus.UPCOMING, renewed=None, decided=None):
    return RenewalFactory(
        account=account,
        start_date=date(end.year - 1, end.month, end.day),
        end_date=end,
        acv=Decimal(acv),
        status=status,
        renewed_acv=None if renewed is None else Decimal(renewed),
        decided_at=decided,
    )


def expansion_deal(account, closed, amount, won=True):
    return DealFactory(
        account=account,
        kind=DealKind.EXPANSION,
        stage=stage("closed-won" if won else "closed-lost"),
        amount=Decimal(amount),
        closed_at=closed,
    )


@pytest.fixture
def book():
    a = AccountFactory(signed_up_at=at(2024, 1, 1), plan="pro")
    b = AccountFactory(signed_up_at=at(2024, 2, 1))
    c = AccountFactory(signed_up_at=at(2024, 3, 1))
    d = AccountFactory(signed_up_at=at(2024, 4, 1), churned_at=at(2025, 8, 1))
    e = AccountFactory(signed_up_at=at(2024, 5, 1))
    new = AccountFactory(signed_up_at=at(2025, 3, 1))
    term(a, date(2025, 3, 1), 10000, RenewalStatus.RENEWED, 10000, at(2025, 2, 20))
    term(b, date(2025, 6, 1), 20000, RenewalStatus.EXPANDED, 26000, at(2025, 5, 28))
    term(c, date(2025, 7, 1), 5000, RenewalStatus.DOWNGRADED, 3000, at(2025, 6, 25))
    term(d, date(2025, 8, 1), 8000, RenewalStatus.CHURNED, None, at(2025, 7, 20))
    term(e, date(2025, 12, 1), 7000)  # not decided yet: left out of the rates
    term(new, date(2026, 3, 1), 9000)
    expansion_deal(b, at(2025, 5, 28), 6000)  # the same money as b's renewal uplift
    expansion_deal(a, at(2025, 9, 10), 2000)  # mid-term expansion: counts
    expansion_deal(new, at(2025, 6, 1), 4000)  # a new customer: excluded from NRR
    expansion_deal(c, at(2025, 4, 1), 1500, won=False)
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "new": new}


def test_nrr_grr_and_renewal_rates_match_hand_computation(book):
    result = revenue_retention(SCOPE)
    inputs = result["inputs"]
    assert inputs["starting_acv"] == "43000.00"  # a + b + c + d; e undecided
    assert inputs["terms_undecided"] == 1 and inputs["undecided_acv"] == "7000.00"
    assert inputs["expansion"] == "8000.00"  # 6000 uplift + 2000 mid-term deal
    assert inputs["expansion_deals"] == 1
    assert inputs["contraction"] == "2000.00"
    assert inputs["churn"] == "8000.00"
    assert inputs["ending_acv"] == "41000.00"
    assert result["nrr"] == round(41000 / 43000, 4)
    assert result["grr"] == round(33000 / 43000, 4)
    assert result["renewal_rate_count"] == 0.75
    assert result["renewal_rate_acv"] == round(35000 / 43000, 4)


def test_segment_filter_narrows_every_input(book):
    result = revenue_retention(Scope(start=SCOPE.start, end=SCOPE.end, plan="pro"))
    assert result["inputs"]["starting_acv"] == "10000.00"
    assert result["inputs"]["expansion"] == "2000.00"
    assert result["nrr"] == 1.2


def test_logo_churn_and_expansion_conversion(book):
    result = logo_churn(SCOPE)
    assert result["inputs"]["accounts_active_at_start"] == 5
    assert result["logo_churn_rate"] == 0.2
    assert result["inputs"]["accounts_expanded"] == 2  # b at renewal, a mid-term
    assert result["expansion_conversion"] == 0.4
    assert result["inputs"]["expansion_deals_closed"] == 4
    assert result["expansion_win_rate"] == 0.75


def test_no_churn_no_terms_gives_empty_rates_not_errors():
    AccountFactory(signed_up_at=at(2024, 1, 1))
    result = retention(SCOPE)
    assert result["revenue_retention"]["nrr"] is None
    assert result["revenue_retention"]["inputs"]["starting_acv"] == "0.00"
    assert result["logos"]["logo_churn_rate"] == 0.0
    assert result["repeat_purchase"]["repeat_purchase_rate"] is None


def test_repeat_purchase_rate_counts_a_later_day_within_the_window():
    x, y, z, w, v = ContactFactory.create_batch(5)
    OrderFactory(contact=x, ordered_at=at(2025, 2, 1))
    OrderFactory(contact=x, ordered_at=at(2025, 3, 15))  # within 90 days: a repeat
    OrderFactory(contact=y, ordered_at=at(2025, 3, 1, 9))
    OrderFactory(contact=y, ordered_at=at(2025, 3, 1, 17))  # same day: one purchase
    OrderFactory(contact=z, ordered_at=at(2025, 4, 1))
    OrderFactory(contact=z, ordered_at=at(2025, 8, 1))  # after the window
    OrderFactory(contact=w, ordered_at=at(2024, 12, 1))  # first order before the period
    OrderFactory(contact=w, ordered_at=at(2025, 1, 5))
    OrderFactory(contact=v, ordered_at=at(2025, 11, 1))  # window not over by the period's end
    result = repeat_purchase(SCOPE, window_days=90)
    assert result["inputs"]["first_time_customers"] == 3
    assert result["inputs"]["repeat_customers"] == 1
    assert result["repeat_purchase_rate"] == round(1 / 3, 4)


def test_repeat_purchase_rate_leaves_refunds_out():
    """Refunds are negative orders. x's refund is no repeat purchase; z's lone refund (of an order
    from before the data) makes z no customer; v's $0 order is a purchase. Old rule: 3 of 4
    (x, w, v repeat; z a first-time customer); now 2 of 3."""
    x, z, w, v = ContactFactory.create_batch(4)
    OrderFactory(contact=x, amount=Decimal("100"), ordered_at=at(2025, 2, 1))
    OrderFactory(contact=x, amount=Decimal("-100"), ordered_at=at(2025, 2, 10))
    OrderFactory(contact=z, amount=Decimal("-50"), ordered_at=at(2025, 3, 1))
    OrderFactory(contact=w, amount=Decimal("40"), ordered_at=at(2025, 4, 1))
    OrderFactory(contact=w, amount=Decimal("-40"), ordered_at=at(2025, 4, 2))
    OrderFactory(contact=w, amount=Decimal("60"), ordered_at=at(2025, 5, 1))
    OrderFactory(contact=v, amount=Decimal("30"), ordered_at=at(2025, 6, 1))
    OrderFactory(contact=v, amount=Decimal("0"), ordered_at=at(2025, 6, 15))
    result = repeat_purchase(SCOPE, window_days=90)
    assert result["inputs"]["first_time_customers"] == 3
    assert result["inputs"]["repeat_customers"] == 2
    assert result["repeat_purchase_rate"] == round(2 / 3, 4)


def test_retention_query_count_is_constant(book, django_assert_max_num_queries):
    # revenue_retention 2, logo_churn 2, repeat_purchase 1, net_revenue_retention (ARR) 1.
    with django_assert_max_num_queries(6):
        retention(SCOPE)
    for _ in range(20):
        a = AccountFactory(signed_up_at=at(2024, 1, 1))
        term(a, date(2025, 5, 1), 1000, RenewalStatus.RENEWED, 1000, at(2025, 4, 20))
        OrderFactory(contact=ContactFactory(account=a), ordered_at=at(2025, 2, 1))
    with django_assert_max_num_queries(6):
        retention(SCOPE)

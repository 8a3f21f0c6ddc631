"""LTV (purchase and subscription), LTV:CAC by channel and cohort tables against hand-computed
expectations."""

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest

from analytics.assumptions import assumption_values
from analytics.metrics.cohorts import cohorts
from analytics.metrics.ltv import cac_band, ltv
from analytics.scope import Scope
from tests.factories import AccountFactory, ContactFactory, OrderFactory, RenewalFactory

pytestmark = pytest.mark.django_db

YEAR = Scope(start=date(2025, 1, 1), end=date(2025, 12, 31))
YEARS = Decimal(365) / Decimal("365.25")


def at(y, m, d, h=12):
    return datetime(y, m, d, h, tzinfo=UTC)


def cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def test_purchase_ltv_uses_aov_frequency_lifespan_and_measured_margin():
    one, two = ContactFactory(), ContactFactory()
    OrderFactory(contact=one, amount=Decimal("100"), gross_margin=Decimal("0.5"), ordered_at=at(2025, 2, 1))
    OrderFactory(contact=one, amount=Decimal("300"), gross_margin=Decimal("0.5"), ordered_at=at(2025, 5, 1))
    OrderFactory(contact=two, amount=Decimal("200"), gross_margin=None, ordered_at=at(2025, 7, 1))
    OrderFactory(contact=two, amount=Decimal("999"), ordered_at=at(2024, 7, 1))  # outside the period
    result = ltv(YEAR, assumption_values())["purchase"]
    inputs = result["inputs"]
    assert inputs["average_order_value"] == "200.00"
    assert inputs["customers"] == 2 and inputs["orders"] == 3
    assert inputs["gross_margin"] == 0.5 and inputs["gross_margin_source"].startswith("orders")
    frequency = Decimal(3) / 2 / YEARS
    assert result["ltv"] == cents(Decimal(200) * frequency * 3 * Decimal("0.5"))


def test_aov_and_frequency_leave_refunds_out_and_show_them_apart():
    """AOV = (100 + 300) / 2 purchases = 200, not (100 + 300 - 100) / 3 = 100; one customer; the
    refund is counted and summed apart, and net revenue is 300."""
    one = ContactFactory()
    OrderFactory(contact=one, amount=Decimal("100"), gross_margin=Decimal("0.5"), ordered_at=at(2025, 2, 1))
    OrderFactory(contact=one, amount=Decimal("300"), gross_margin=Decimal("0.5"), ordered_at=at(2025, 5, 1))
    OrderFactory(contact=one, amount=Decimal("-100"), gross_margin=Decimal("0.5"), ordered_at=at(2025, 5, 9))
    refund_only = ContactFactory()
    OrderFactory(contact=refund_only, amount=Decimal("-20"), ordered_at=at(2025, 6, 1))
    inputs = ltv(YEAR, assumption_values())["purchase"]["inputs"]
    assert inputs["average_order_value"] == "200.00"
    assert (inputs["orders"], inputs["customers"]) == (2, 1)
    assert inputs["purchases_per_customer_per_year"] == round(float(Decimal(2) / YEARS), 4)
    assert (inputs["refunds"], inputs["refunded_amount"]) == (2, "120.00")
    assert (inputs["revenue"], inputs["net_revenue"]) == ("400.00", "280.00")
    assert inputs["gross_margin"] == 0.5


def test_purchase_ltv_without_margins_uses_the_assumption():
    OrderFactory(amount=Decimal("100"), gross_margin=None, ordered_at=at(2025, 2, 1))
    result = ltv(YEAR, assumption_values())["purchase"]
    assert result["inputs"]["gross_margin"] == 0.75
    assert result["inputs"]["gross_margin_source"] == "assumption"


@pytest.fixture
def subscriptions():
    def account(channel, cac, acv, churned=None):
        a = AccountFactory(
            signed_up_at=at(2024, 3, 1),
            acquisition_channel=channel,
            acquisition_cost=Decimal(cac),
            churned_at=churned,
        )
        if churned:
            RenewalFactory(
                account=a, start_date=date(2024, 7, 1), end_date=date(2025, 7, 1), acv=Decimal(acv)
            )
        else:
            RenewalFactory(
                account=a, start_date=date(2025, 6, 1), end_date=date(2026, 6, 1), acv=Decimal(acv)
            )
        return a

    account("sms", 1000, 12000)
    account("sms", 1000, 6000)
    account("paid", 3000, 9000)
    account("paid", 3000, 9000, churned=at(2025, 6, 1))


def test_subscription_ltv_is_arpa_times_margin_over_annual_churn(subscriptions):
    result = ltv(YEAR, assumption_values())["subscription"]
    inputs = result["inputs"]
    assert inputs["arr_at_period_end"] == "27000.00" and inputs["paying_accounts"] == 3
    assert inputs["arpa"] == "9000.00"
    assert inputs["accounts_active_at_start"] == 4 and inputs["accounts_churned"] == 1
    annual_churn = Decimal("0.25") / YEARS
    assert inputs["annual_churn_rate"] == round(float(annual_churn), 4)
    assert result["ltv"] == cents(Decimal(9000) * Decimal("0.75") / annual_churn)


def test_ltv_cac_per_channel_with_bands_and_borrowed_churn(subscriptions):
    rows = {row["channel"]: row for row in ltv(YEAR, assumption_values())["ltv_cac"]}
    paid = rows["paid"]
    paid_ltv = Decimal(9000) * Decimal("0.75") / (Decimal("0.5") / YEARS)
    assert paid["ltv"] == cents(paid_ltv) and paid["cac"] == "3000.00"
    assert paid["ltv_cac"] == round(float(paid_ltv / 3000), 2)
    assert paid["band"] == "healthy"
    sms = rows["sms"]
    assert sms["churn_source"].startswith("overall")
    assert sms["band"] == "strong"
    assert set(rows) == {"sms", "paid"}


def test_no_churn_says_ltv_is_unbounded_instead_of_dividing_by_zero():
    a = AccountFactory(signed_up_at=at(2024, 3, 1))
    RenewalFactory(account=a, start_date=date(2025, 6, 1), end_date=date(2026, 6, 1), acv=Decimal(5000))
    result = ltv(YEAR, assumption_values())["subscription"]
    assert result["ltv"] is None and "No churn" in result["note"]


@pytest.mark.parametrize(
    "value,band",
    [(None, "unknown"), ("0.5", "losing money"), ("2.9", "below 3:1"), ("3", "healthy"), ("5", "strong")],
)
def test_cac_bands(value, band):
    assert cac_band(None if value is None else Decimal(value)) == band


HALF = Scope(start=date(2025, 1, 1), end=date(2025, 6, 30))


def test_signup_cohorts_retention_revenue_and_arr_nrr():
    x = AccountFactory(signed_up_at=at(2025, 1, 10))
    y = AccountFactory(signed_up_at=at(2025, 1, 20), churned_at=at(2025, 3, 5))
    z = AccountFactory(signed_up_at=at(2025, 2, 15))
    AccountFactory(signed_up_at=at(2024, 12, 15))  # outside the period: no cohort
    RenewalFactory(account=x, start_date=date(2025, 1, 10), end_date=date(2026, 1, 10), acv=Decimal(1200))
    RenewalFactory(account=y, start_date=date(2025, 1, 20), end_date=date(2026, 1, 20), acv=Decimal(2400))
    RenewalFactory(account=z, start_date=date(2025, 2, 15), end_date=date(2026, 2, 15), acv=Decimal(600))
    OrderFactory(contact=ContactFactory(account=x), amount=Decimal(100), ordered_at=at(2025, 1, 15))
    OrderFactory(contact=ContactFactory(account=x), amount=Decimal(50), ordered_at=at(2025, 2, 15))
    OrderFactory(contact=ContactFactory(account=y), amount=Decimal(30), ordered_at=at(2025, 2, 1))
    result = cohorts(HALF, basis="signup")
    jan, feb = result["cohorts"]
    assert (jan["cohort"], jan["size"], feb["cohort"], feb["size"]) == ("2025-01", 2, "2025-02", 1)
    assert len(jan["cells"]) == 6 and len(feb["cells"]) == 5  # months observed by June
    assert [c["retained"] for c in jan["cells"][:4]] == [1.0, 1.0, 0.5, 0.5]
    assert jan["cells"][0]["revenue"] == "3700.00"  # 100 in orders + 3600 ACV billed at term start
    assert jan["cells"][1]["revenue"] == "80.00"
    assert jan["cells"][1]["cumulative_revenue_per_customer"] == "1890.00"
    assert [c["nrr"] for c in jan["cells"][:3]] == [1.0, 1.0, round(1200 / 3600, 4)]
    assert feb["cells"][0]["revenue"] == "600.00" and feb["cells"][4]["nrr"] == 1.0
    assert result["inputs"] == {"cohorts": 2, "customers": 3}


def test_first_order_cohorts_treat_buyers_as_customers():
    p, q, r = ContactFactory.create_batch(3)
    OrderFactory(contact=p, amount=Decimal(100), ordered_at=at(2025, 1, 5))
    OrderFactory(contact=p, amount=Decimal(50), ordered_at=at(2025, 1, 20))
    OrderFactory(contact=p, amount=Decimal(60), ordered_at=at(2025, 3, 2))
    OrderFactory(contact=q, amount=Decimal(200), ordered_at=at(2025, 1, 25))
    OrderFactory(contact=r, amount=Decimal(10), ordered_at=at(2024, 12, 1))  # a December cohort
    OrderFactory(contact=r, amount=Decimal(10), ordered_at=at(2025, 1, 3))
    result = cohorts(HALF, basis="first_order")
    [jan] = result["cohorts"]
    assert jan["size"] == 2
    cells = jan["cells"]
    assert [c["retained"] for c in cells[:3]] == [1.0, 0.0, 0.5]
    assert cells[0]["revenue"] == "350.00" and cells[2]["nrr"] == round(60 / 350, 4)
    assert cells[2]["cumulative_revenue_per_customer"] == "205.00"


def test_empty_cohorts_are_an_empty_table():
    assert cohorts(HALF)["cohorts"] == []
    assert cohorts(HALF, basis="first_order")["cohorts"] == []


def test_cohort_and_ltv_query_counts_do_not_grow(django_assert_max_num_queries):
    for month in range(1, 7):
        a = AccountFactory(signed_up_at=at(2025, month, 3))
        RenewalFactory(account=a, start_date=date(2025, month, 3), end_date=date(2026, month, 3))
        OrderFactory(contact=ContactFactory(account=a), ordered_at=at(2025, month, 4))
    values = assumption_values()
    with django_assert_max_num_queries(4):
        cohorts(HALF)
    with django_assert_max_num_queries(2):
        cohorts(HALF, basis="first_order")
    with django_assert_max_num_queries(5):
        ltv(YEAR, values)

"""SMS-converted customers against the others, every figure hand-computed."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from analytics.answers import answer, parse
from crm.models import Order
from sms.models import LinkClick, ShortLink
from tests.factories import AccountFactory, ContactFactory, OrderFactory

pytestmark = pytest.mark.django_db
PERIOD = {"start": "2025-01-01", "end": "2025-12-31"}


def at(y, m, d, h=12):
    return datetime(y, m, d, h, tzinfo=UTC)


def click(contact, when):
    link = ShortLink.objects.create(
        code=f"c{contact.pk}x{when:%m%d%H}", target_url="https://shop.example.com/", contact=contact
    )
    LinkClick.objects.filter(pk=LinkClick.objects.create(link=link).pk).update(clicked_at=when)


def buy(contact, when, amount):
    OrderFactory(contact=contact, ordered_at=when, amount=Decimal(amount))


@pytest.fixture
def fixture(db):
    """Period 2025; window 7 days; churn: no purchase in the last 180 days (from 2025-07-05).
    A: click Feb 1, buys Feb 5 (100) and Mar 10 (50), refund -20 Mar 12: converted, repeat, churned.
    B: click Aug 1 09:00, buys Aug 1 10:00 (200): converted; too new to judge churn.
    C: click Apr 1, first buy Apr 20 (19 days: outside 7) 80, again Sep 1 40: other, repeat, not churned.
    D: no click; two orders on May 1 (60, 40): other, one purchase day (not repeat), churned.
    E: buys Jun 1 (30), clicks Jun 2 (after): other, churned.
    F: click and first order in Dec 2024: not acquired in the period. G: only a refund. H: an
    account order without a contact. Neither counts.

    SMS-converted: 2 customers, 3 orders, revenue 350 -> LTV 175.00, net (350-20)/2 = 165.00,
    AOV 350/3 = 116.67, repeat 1/2, churn 1/1 (B not eligible).
    Other: 3 customers, 5 orders, revenue 250 -> LTV 83.33, net 83.33, AOV 50.00, repeat 1/3,
    churn 2/3."""
    a, b, c, d, e, f, g = (ContactFactory() for _ in range(7))
    click(a, at(2025, 2, 1, 10))
    buy(a, at(2025, 2, 5), "100")
    buy(a, at(2025, 3, 10), "50")
    buy(a, at(2025, 3, 12), "-20")
    click(b, at(2025, 8, 1, 9))
    buy(b, at(2025, 8, 1, 10), "200")
    click(c, at(2025, 4, 1))
    buy(c, at(2025, 4, 20), "80")
    buy(c, at(2025, 9, 1), "40")
    buy(d, at(2025, 5, 1, 9), "60")
    buy(d, at(2025, 5, 1, 15), "40")
    buy(e, at(2025, 6, 1), "30")
    click(e, at(2025, 6, 2))
    click(f, at(2024, 12, 19))
    buy(f, at(2024, 12, 20), "500")
    buy(g, at(2025, 3, 1), "-10")
    Order.objects.create(account=AccountFactory(), amount=Decimal("900"), ordered_at=at(2025, 3, 1))


def test_every_figure_by_hand(fixture, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        from analytics.metrics.sms_converted import sms_converted

        sms_converted(parse("sms-converted", PERIOD))
    result = answer("sms-converted", parse("sms-converted", PERIOD))
    sms, other, diff = result["sms_converted"], result["other"], result["differences"]
    assert result["inputs"]["customers"] == 5 and result["inputs"]["window_days"] == 7
    assert result["inputs"]["churn_window_starts"].startswith("2025-07-05")
    assert (sms["customers"], sms["orders"], sms["revenue"]) == (2, 3, "350.00")
    assert (sms["refunds"], sms["refunded_amount"]) == (1, "20.00")
    assert (sms["ltv_to_date"], sms["net_ltv_to_date"], sms["aov"]) == ("175.00", "165.00", "116.67")
    assert (sms["repeat_customers"], sms["repeat_purchase_rate"]) == (1, 0.5)
    assert (sms["churn_eligible"], sms["churned"], sms["churn_rate"]) == (1, 1, 1.0)
    assert (other["customers"], other["orders"], other["revenue"]) == (3, 5, "250.00")
    assert (other["ltv_to_date"], other["net_ltv_to_date"], other["aov"]) == ("83.33", "83.33", "50.00")
    assert (other["repeat_customers"], other["repeat_purchase_rate"]) == (1, 0.3333)
    assert (other["churn_eligible"], other["churned"], other["churn_rate"]) == (3, 2, 0.6667)
    assert diff == {
        "ltv_to_date": "91.67",
        "net_ltv_to_date": "81.67",
        "aov": "66.67",
        "repeat_purchase_rate": 0.1667,
        "churn_rate": 0.3333,
    }
    assert "not tested" in result["definitions"]["statistic"]


def test_window_days_widens_the_group_and_is_validated(fixture, api):
    wide = api.get("/api/v1/analytics/sms-converted/", {**PERIOD, "window_days": 30}).json()
    assert (wide["sms_converted"]["customers"], wide["other"]["customers"]) == (3, 2)  # C joins
    for bad in ("0", "abc", "400"):
        response = api.get("/api/v1/analytics/sms-converted/", {**PERIOD, "window_days": bad})
        assert response.status_code == 400 and "window_days" in response.json()


def test_empty_groups_answer_without_figures(db, api):
    body = api.get("/api/v1/analytics/sms-converted/", PERIOD).json()
    assert body["sms_converted"]["customers"] == 0 and body["sms_converted"]["ltv_to_date"] is None
    assert body["differences"]["ltv_to_date"] is None

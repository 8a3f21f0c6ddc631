"""The programme against the global control group: revenue per contact and opt-outs per group,
by hand, through the answer, the API and the dashboard; off says so."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from analytics.metrics.global_control import global_control
from analytics.scope import Scope
from crm import global_control as group
from sms.models import ConsentAction, ConsentEvent, ConsentSource
from tests.factories import ContactFactory, OrderFactory

pytestmark = pytest.mark.django_db
YEAR = Scope(start=date(2026, 1, 1), end=date(2026, 12, 31))
IN_YEAR = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def book(settings):
    """40 contacts with a phone, split by the hash at 50%: every programme contact bought $30 in
    the year, every control contact $10, so revenue per contact is 30 vs 10, difference 20. Two
    programme contacts and none in control opted out in the year. Left out: an order of a control
    contact the year before, a contact without a phone (it bought $1,000)."""
    settings.GLOBAL_CONTROL_PERCENT = 50
    settings.GLOBAL_CONTROL_SALT = "test-salt"
    contacts = [ContactFactory() for _ in range(40)]
    inside = [c for c in contacts if group.in_global_control(c.pk)]
    outside = [c for c in contacts if not group.in_global_control(c.pk)]
    assert len(inside) >= 5 and len(outside) >= 5
    for contact in outside:
        OrderFactory(contact=contact, account=contact.account, amount=Decimal(30), ordered_at=IN_YEAR)
    for contact in inside:
        OrderFactory(contact=contact, account=contact.account, amount=Decimal(10), ordered_at=IN_YEAR)
    OrderFactory(
        contact=inside[0],
        account=inside[0].account,
        amount=Decimal(500),
        ordered_at=datetime(2025, 6, 1, tzinfo=UTC),
    )
    for contact in outside[:2]:
        ConsentEvent.objects.create(
            contact=contact, action=ConsentAction.OPT_OUT, source=ConsentSource.KEYWORD, occurred_at=IN_YEAR
        )
    no_phone = ContactFactory(phone="", phone_raw="", phone_valid=False)
    OrderFactory(contact=no_phone, account=no_phone.account, amount=Decimal(1000), ordered_at=IN_YEAR)
    return inside, outside


def test_programme_against_the_global_control_by_hand(book, django_assert_max_num_queries):
    inside, outside = book
    with django_assert_max_num_queries(1):
        result = global_control(YEAR)
    assert result["enabled"] and result["percent"] == 50
    assert (result["programme_contacts"], result["control_contacts"]) == (len(outside), len(inside))
    revenue = result["revenue_per_contact"]
    assert (revenue["treatment_mean"], revenue["control_mean"]) == (30.0, 10.0)
    assert revenue["absolute_lift"] == 20.0 and revenue["enough_data"] is True
    assert revenue["significant"] and revenue["ci_low"] > 0
    opt_outs = result["opt_outs"]
    assert (opt_outs["treatment_successes"], opt_outs["treatment_n"]) == (2, len(outside))
    assert (opt_outs["control_successes"], opt_outs["control_n"]) == (0, len(inside))
    assert opt_outs["absolute_lift"] == pytest.approx(2 / len(outside), abs=1e-6)
    assert opt_outs["ci_low"] < 0 < opt_outs["ci_high"]  # two opt-outs: no measurable effect


def test_off_by_default_and_says_so(settings):
    settings.GLOBAL_CONTROL_PERCENT = 0
    ContactFactory()
    result = global_control(YEAR)
    assert result["enabled"] is False and result["revenue_per_contact"] is None
    assert "off" in result["note"]


def test_too_small_says_not_enough_data(settings):
    settings.GLOBAL_CONTROL_PERCENT = 50
    settings.GLOBAL_CONTROL_SALT = "test-salt"
    contact = ContactFactory()
    result = global_control(YEAR)
    assert result["revenue_per_contact"] is None and result["note"].startswith("Not enough data yet")
    assert result["programme_contacts"] + result["control_contacts"] == 1 and contact.pk


def test_global_control_api_and_dashboard(book, api, web):
    with time_machine.travel(datetime(2027, 1, 5, tzinfo=UTC), tick=False):
        response = api.get("/api/v1/analytics/global-control/", {"start": "2026-01-01", "end": "2026-12-31"})
        assert response.status_code == 200
        assert response.json()["revenue_per_contact"]["absolute_lift"] == 20.0
        assert api.get("/api/v1/analytics/global-control/", {"start": "soon"}).status_code == 400
    # The period is explicit: the panel does not depend on today's date (the session would expire
    # under a clock moved a year on).
    page = web.get("/analytics/", {"start": "2026-01-01", "end": "2026-12-31"}).content.decode()
    panel = page.split('data-testid="global-control"')[1].split("</section>")[0]
    assert "30.00" in panel and "10.00" in panel and "higher with the programme" in panel
    assert "20.00" in panel and "Opt-out rate in the period" in panel

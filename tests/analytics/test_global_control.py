"""The programme against the global control group: revenue per contact and opt-outs per group,
by hand, through the answer, the API and the dashboard; off says so."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from analytics.metrics.global_control import global_control
from analytics.scope import Scope
from crm import global_control as group
from crm.models import RenewalStatus
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


# --- NRR and GRR against the global control (GLOBAL_CONTROL_UNIT=account) ---------------------

RETENTION_YEAR = Scope(start=date(2025, 1, 1), end=date(2025, 12, 31))


@pytest.fixture
def by_account(settings):
    settings.GLOBAL_CONTROL_PERCENT = 50
    settings.GLOBAL_CONTROL_SALT = "test-salt"
    settings.GLOBAL_CONTROL_UNIT = "account"


def _split_accounts(count: int):
    from tests.factories import AccountFactory

    accounts = [AccountFactory(signed_up_at=datetime(2024, 1, 1, tzinfo=UTC)) for _ in range(count)]
    drawn = group.global_control_accounts(a.pk for a in accounts)
    inside = [a for a in accounts if a.pk in drawn]
    outside = [a for a in accounts if a.pk not in drawn]
    return inside, outside


@pytest.fixture
def six_accounts(by_account):
    """Three accounts on each side, ARR on 2024-12-31 (the day before the period, 2025):

    programme p1 12,000  two-year term                         -> 12,000
              p2 12,000  renews expanded to 18,000 on 2025-06-01 -> 18,000  expansion   6,000
              p3 12,000  renews downgraded to 9,000 on 2025-07-01 -> 9,000  contraction 3,000
      NRR = 39,000 / 36,000 = 1.0833; GRR = (36,000 - 3,000) / 36,000 = 0.9167
    control   c1 12,000  two-year term                         -> 12,000
              c2 12,000  two-year term, churned mid-term on 2025-05-15 -> 0  churn 12,000
              c3  8,000  two-year term                         ->  8,000
      NRR = GRR = 20,000 / 32,000 = 0.625

    Not enough accounts for an interval: pooled ARR (12k x 5, 8k): Kish's effective accounts
    68,000^2 / (5 x 12,000^2 + 8,000^2) = 5.898 of 6, so the smaller side (3) is expected to hold
    5.898 / 6 x 3 = 2.949 < 8; the total needed is 8 x 6 / (5.898 / 6 x 3 / 6) = 16.28, so 17
    accounts: 11 more."""
    from tests.analytics.test_arr import at, term

    inside, outside = _split_accounts(14)
    assert len(inside) >= 3 and len(outside) >= 3
    p1, p2, p3 = outside[:3]
    c1, c2, c3 = inside[:3]
    term(p1, date(2024, 6, 1), date(2026, 6, 1), 12000)
    term(p2, date(2024, 6, 1), date(2025, 6, 1), 12000, RenewalStatus.EXPANDED, 18000, at(2025, 5, 25))
    term(p2, date(2025, 6, 1), date(2026, 6, 1), 18000)
    term(p3, date(2024, 7, 1), date(2025, 7, 1), 12000, RenewalStatus.DOWNGRADED, 9000, at(2025, 6, 25))
    term(c1, date(2024, 3, 1), date(2026, 3, 1), 12000)
    term(c2, date(2024, 4, 1), date(2026, 4, 1), 12000)
    c2.churned_at = at(2025, 5, 15)
    c2.save()
    term(c3, date(2024, 2, 1), date(2026, 2, 1), 8000)


def test_nrr_and_grr_of_each_side_by_hand(six_accounts, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):  # the contacts, and the ARR terms
        result = global_control(RETENTION_YEAR)
    assert result["unit"] == "account" and "account" in result["definitions"]["global_control"]
    retention = result["retention"]
    assert retention["compared"] is True
    programme, control = retention["programme"], retention["control"]
    assert programme["inputs"] == {
        "accounts_at_start": 3,
        "accounts_churned": 0,
        "starting_arr": "36000.00",
        "expansion": "6000.00",
        "contraction": "3000.00",
        "churn": "0.00",
        "ending_arr": "39000.00",
    }
    assert (programme["nrr"], programme["grr"]) == (1.0833, 0.9167)
    assert control["inputs"]["starting_arr"] == "32000.00" and control["inputs"]["churn"] == "12000.00"
    assert control["inputs"]["accounts_churned"] == 1 and control["inputs"]["ending_arr"] == "20000.00"
    assert (control["nrr"], control["grr"]) == (0.625, 0.625)
    # Too few accounts for an interval, and how many more.
    assert retention["enough_data"] is False and retention["nrr_difference"] is None
    assert retention["effective_accounts_smaller_side"] == 2.95
    assert retention["more_accounts_needed"] == 11
    assert "about 11 more accounts" in retention["note"]
    assert "mid-term churn counts" in retention["definitions"]["nrr_grr"]


def test_by_contact_nrr_is_not_compared_and_says_why(book):
    retention = global_control(YEAR)["retention"]
    assert retention["compared"] is False
    assert "drawn per contact" in retention["note"] and "GLOBAL_CONTROL_UNIT=account" in retention["note"]


def test_nrr_difference_with_its_interval_once_there_are_enough_accounts(by_account):
    """60 accounts of 10,000 each: every programme account expands to 12,000 (NRR 1.2), every
    control account stays flat except one in four that churns mid-term. The pooled accounts all
    weigh the same, so Kish's effective accounts equal the count and the smaller side is enough."""
    from tests.analytics.test_arr import at, term

    inside, outside = _split_accounts(60)
    for account in outside:
        term(
            account, date(2024, 6, 1), date(2025, 6, 1), 10000, RenewalStatus.EXPANDED, 12000, at(2025, 5, 20)
        )
        term(account, date(2025, 6, 1), date(2026, 6, 1), 12000)
    for index, account in enumerate(inside):
        term(account, date(2024, 6, 1), date(2026, 6, 1), 10000)
        if index % 4 == 0:
            account.churned_at = at(2025, 3, 1)
            account.save()
    churned = len(range(0, len(inside), 4))
    control_nrr = (len(inside) - churned) / len(inside)
    retention = global_control(RETENTION_YEAR)["retention"]
    assert retention["enough_data"] is True and retention["more_accounts_needed"] == 0
    assert retention["programme"]["nrr"] == 1.2 and retention["control"]["nrr"] == round(control_nrr, 4)
    nrr = retention["nrr_difference"]
    assert nrr["difference"] == pytest.approx(1.2 - control_nrr, abs=1e-6)
    assert nrr["ci_low"] < nrr["difference"] < nrr["ci_high"]
    assert nrr["significant"] and nrr["ci_low"] > 0 and nrr["p_value"] <= 0.05
    assert nrr["test_method"] == "studentized_permutation_over_accounts"
    grr = retention["grr_difference"]
    assert grr["difference"] == pytest.approx(1.0 - control_nrr, abs=1e-6) and grr["ci_low"] > 0


def test_dashboard_panel_shows_nrr_and_grr_of_each_side(six_accounts, web):
    ContactFactory()  # contacts with a phone on both sides are not needed for the NRR rows
    page = web.get("/analytics/", {"start": "2025-01-01", "end": "2025-12-31"}).content.decode()
    panel = page.split('data-testid="global-control"')[1].split("</section>")[0]
    assert "of accounts (a stable hash of the account id)" in panel
    nrr = panel.split('data-testid="global-nrr"')[1].split("</tr>")[0]
    assert "108.3% (3 accounts)" in nrr and "62.5% (3 accounts)" in nrr
    assert "Not enough data yet: about 11 more accounts" in nrr
    grr = panel.split('data-testid="global-grr"')[1].split("</tr>")[0]
    assert "91.7% (3 accounts)" in grr and "62.5% (3 accounts)" in grr
    assert "mid-term churn counts" in panel.split('data-testid="global-retention-definition"')[1]


def test_dashboard_panel_by_contact_says_nrr_is_not_compared(book, web):
    page = web.get("/analytics/", {"start": "2026-01-01", "end": "2026-12-31"}).content.decode()
    note = page.split('data-testid="global-retention-note"')[1].split("</p>")[0]
    assert "NRR and GRR are not compared" in note and "GLOBAL_CONTROL_UNIT=account" in note
    assert 'data-testid="global-nrr"' not in page

"""ARR from contract terms, MRR movements and standard NRR/GRR against hand-computed books."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from analytics.metrics.arr import arr_retention, mrr_movements
from analytics.metrics.retention import retention, revenue_retention
from analytics.scope import Scope
from crm.models import DealKind, RenewalStatus
from tests.factories import AccountFactory, DealFactory, RenewalFactory, stage

pytestmark = pytest.mark.django_db

YEAR = Scope(start=date(2025, 1, 1), end=date(2025, 12, 31))


def at(y, m, d, h=12):
    return datetime(y, m, d, h, tzinfo=UTC)


def term(account, start, end, acv, status=RenewalStatus.UPCOMING, renewed=None, decided=None):
    return RenewalFactory(
        account=account,
        start_date=start,
        end_date=end,
        acv=Decimal(acv),
        status=status,
        renewed_acv=None if renewed is None else Decimal(renewed),
        decided_at=decided,
    )


def won_expansion(account, closed, amount):
    return DealFactory(
        account=account,
        kind=DealKind.EXPANSION,
        stage=stage("closed-won"),
        amount=Decimal(amount),
        closed_at=closed,
    )


@pytest.fixture
def ten_accounts():
    """Ten customers with 120,000 of ARR on 2024-12-31, the day before the period (2025):

    a1 12,000  renews flat on 2025-03-01 (next term recorded)         -> 12,000
    a2 12,000  expands to 18,000 on 2025-06-01 (+ its expansion deal) -> 18,000   expansion  6,000
    a3 12,000  downgrades to 9,000 on 2025-07-01 (next term implied)  ->  9,000   contraction 3,000
    a4 12,000  churns at its term's end, 2025-09-01                   ->      0   churn     12,000
    a5 10,000  two-year term, churned mid-term on 2025-05-15          ->      0   churn     10,000
    a6 12,000, a8 12,000, a9 12,000, a10 14,000: two-year terms       -> 50,000
    a7 12,000  add-on term of 9,000 from 2025-08-01 (won deal 9,000)  -> 21,000   expansion  9,000

    NRR = (120,000 + 15,000 - 3,000 - 22,000) / 120,000 = 110,000 / 120,000 = 11/12 = 0.9167
    GRR = (120,000 - 3,000 - 22,000) / 120,000 = 95,000 / 120,000 = 19/24 = 0.7917

    Outside the cohort: `new` signs up on 2025-03-10 (20,000; an expansion deal of 5,000 that is
    pipeline, not ARR) and `back` churned on 2024-01-01 and returns on 2025-04-01 (8,000). Both are
    movements of the year (new, reactivation) but not part of NRR.

    The renewal-based figure (net renewal rate) sees only a1-a4's terms ending in 2025 (48,000) and
    adds a7's expansion deal: (48,000 + 6,000 + 9,000 - 3,000 - 12,000) / 48,000 = 1.000, and never
    sees a5's mid-term churn.
    """
    acc = {f"a{i}": AccountFactory(signed_up_at=at(2024, 1, 1)) for i in range(1, 11)}
    term(acc["a1"], date(2024, 3, 1), date(2025, 3, 1), 12000, RenewalStatus.RENEWED, 12000, at(2025, 2, 20))
    term(acc["a1"], date(2025, 3, 1), date(2026, 3, 1), 12000)
    term(acc["a2"], date(2024, 6, 1), date(2025, 6, 1), 12000, RenewalStatus.EXPANDED, 18000, at(2025, 5, 25))
    term(acc["a2"], date(2025, 6, 1), date(2026, 6, 1), 18000)
    won_expansion(acc["a2"], at(2025, 5, 25), 6000)  # the renewal's uplift, recorded as a deal too
    term(
        acc["a3"], date(2024, 7, 1), date(2025, 7, 1), 12000, RenewalStatus.DOWNGRADED, 9000, at(2025, 6, 25)
    )
    term(acc["a4"], date(2024, 9, 1), date(2025, 9, 1), 12000, RenewalStatus.CHURNED, None, at(2025, 8, 20))
    acc["a4"].churned_at = at(2025, 9, 1)
    acc["a4"].save()
    term(acc["a5"], date(2024, 4, 1), date(2026, 4, 1), 10000)
    acc["a5"].churned_at = at(2025, 5, 15)
    acc["a5"].save()
    term(acc["a6"], date(2024, 2, 1), date(2026, 2, 1), 12000)
    term(acc["a7"], date(2024, 8, 1), date(2026, 8, 1), 12000)
    term(acc["a7"], date(2025, 8, 1), date(2026, 8, 1), 9000)  # co-termed add-on
    won_expansion(acc["a7"], at(2025, 7, 25), 9000)
    term(acc["a8"], date(2024, 10, 1), date(2026, 10, 1), 12000)
    term(acc["a9"], date(2024, 11, 1), date(2026, 11, 1), 12000)
    term(acc["a10"], date(2024, 12, 1), date(2026, 12, 1), 14000)

    acc["new"] = AccountFactory(signed_up_at=at(2025, 3, 10))
    term(acc["new"], date(2025, 3, 10), date(2026, 3, 10), 20000)
    won_expansion(acc["new"], at(2025, 6, 1), 5000)
    acc["back"] = AccountFactory(signed_up_at=at(2023, 1, 1), churned_at=at(2024, 1, 1))
    term(acc["back"], date(2023, 1, 1), date(2024, 1, 1), 8000, RenewalStatus.CHURNED, None, at(2023, 12, 1))
    term(acc["back"], date(2025, 4, 1), date(2026, 4, 1), 8000)
    return acc


def test_standard_nrr_is_eleven_twelfths_where_the_net_renewal_rate_says_one(ten_accounts):
    result = arr_retention(YEAR)
    assert result["inputs"] == {
        "accounts_at_start": 10,
        "accounts_churned": 2,
        "starting_arr": "120000.00",
        "expansion": "15000.00",
        "contraction": "3000.00",
        "churn": "22000.00",
        "ending_arr": "110000.00",
        "terms_pending_decision": 0,
    }
    assert result["nrr"] == round(11 / 12, 4) == 0.9167
    assert result["grr"] == round(19 / 24, 4)
    renewal = revenue_retention(YEAR)
    assert renewal["net_renewal_rate"] == renewal["nrr"] == 1.0
    assert renewal["gross_renewal_rate"] == round(33 / 48, 4)
    answer = retention(YEAR)
    assert answer["net_revenue_retention"]["nrr"] == 0.9167
    assert answer["revenue_retention"]["label"].startswith("Net renewal rate")


def test_mrr_movements_by_month_with_mid_term_churn_reactivation_and_contraction(ten_accounts):
    result = mrr_movements(YEAR)
    months = {m["month"]: m for m in result["months"]}
    assert list(months) == [f"2025-{m:02d}" for m in range(1, 13)]

    def moved(month):
        kinds = ("new", "expansion", "contraction", "churn", "reactivation")
        return {k: months[month][k] for k in kinds if months[month][k] != "0.00"}

    assert moved("2025-01") == moved("2025-02") == {}
    assert moved("2025-03") == {"new": "20000.00"}  # a1's flat renewal is no movement
    assert moved("2025-04") == {"reactivation": "8000.00"}
    assert moved("2025-05") == {"churn": "10000.00"}  # mid-term, on churned_at
    assert moved("2025-06") == {"expansion": "6000.00"}  # a2's deal is not counted again
    assert moved("2025-07") == {"contraction": "3000.00"}  # from the decision, no next term recorded
    assert moved("2025-08") == {"expansion": "9000.00"}
    assert moved("2025-09") == {"churn": "12000.00"}
    assert all(moved(f"2025-{m}") == {} for m in ("10", "11", "12"))
    assert months["2025-01"]["opening_arr"] == "120000.00"
    assert months["2025-05"]["accounts"]["churn"] == 1
    # 120,000 + 20,000 + 8,000 - 10,000 + 6,000 - 3,000 + 9,000 - 12,000
    assert months["2025-12"]["closing_arr"] == result["inputs"]["ending_arr"] == "138000.00"
    assert months["2025-12"]["closing_mrr"] == "11500.00"
    assert result["retention"]["nrr"] == 0.9167


def test_a_period_that_starts_mid_year_takes_its_own_cohort(ten_accounts):
    # On 2025-06-30: a1 12,000, a2 18,000, a3 12,000, a4 12,000, a6-a10 62,000, new 20,000,
    # back 8,000 = 144,000 (a5 churned in May). By 2025-09-30: a3 -3,000, a4 -12,000, a7 +9,000.
    result = arr_retention(Scope(start=date(2025, 7, 1), end=date(2025, 9, 30)))
    assert result["inputs"]["accounts_at_start"] == 11
    assert result["inputs"]["starting_arr"] == "144000.00"
    assert result["inputs"]["ending_arr"] == "138000.00"
    assert result["nrr"] == round(138 / 144, 4)
    assert result["grr"] == round(129 / 144, 4)


def test_an_implied_next_term_stops_where_the_recorded_one_starts_and_undecided_terms_carry():
    gap = AccountFactory(signed_up_at=at(2024, 1, 1))
    term(gap, date(2024, 1, 1), date(2025, 1, 1), 6000, RenewalStatus.EXPANDED, 9000, at(2024, 12, 20))
    term(gap, date(2025, 2, 1), date(2026, 2, 1), 9000)  # recorded a month late: no double ARR
    pending = AccountFactory(signed_up_at=at(2024, 1, 1))
    term(pending, date(2024, 5, 1), date(2025, 5, 1), 4000)  # ended, not decided yet
    result = mrr_movements(YEAR)
    months = {m["month"]: m for m in result["months"]}
    assert months["2025-01"]["expansion"] == "3000.00"
    assert all(m["expansion"] in ("0.00", "3000.00") and m["churn"] == "0.00" for m in result["months"])
    assert result["inputs"]["ending_arr"] == "13000.00"
    assert result["inputs"]["terms_pending_decision"] == 1
    assert result["retention"]["nrr"] == round(13000 / 10000, 4)
    assert result["retention"]["grr"] == 1.0


def test_segment_filter_narrows_the_book(ten_accounts):
    ten_accounts["a5"].plan = "pro"
    ten_accounts["a5"].save()
    result = arr_retention(Scope(start=YEAR.start, end=YEAR.end, plan="pro"))
    assert result["inputs"]["starting_arr"] == "10000.00"
    assert (result["nrr"], result["grr"]) == (0.0, 0.0)


def test_mrr_movements_is_one_query_however_big_the_book(ten_accounts, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        mrr_movements(YEAR)
    for _ in range(20):
        account = AccountFactory(signed_up_at=at(2024, 1, 1))
        term(account, date(2024, 5, 1), date(2025, 5, 1), 1000, RenewalStatus.RENEWED, 1000, at(2025, 4, 20))
    with django_assert_max_num_queries(1):
        mrr_movements(YEAR)


def test_api_answers_mrr_movements_and_standard_nrr_in_bounded_queries(
    ten_accounts, api, django_assert_max_num_queries
):
    query = "/api/v1/analytics/mrr-movements/?start=2025-01-01&end=2025-12-31&refresh=1"
    # The token (2), the answer's one query over the terms, the snapshot read and write (8 with
    # their savepoints).
    with django_assert_max_num_queries(11):
        body = api.get(query).json()
    assert body["retention"]["nrr"] == 0.9167 and body["retention"]["grr"] == 0.7917
    assert body["inputs"]["churn"] == "22000.00" and body["inputs"]["reactivation"] == "8000.00"
    assert "chartmogul" in body["source"].lower()
    retention_body = api.get("/api/v1/analytics/retention/?start=2025-01-01&end=2025-12-31").json()
    assert retention_body["net_revenue_retention"]["nrr"] == 0.9167
    # The renewal-based block keeps its fields for integrations, labelled for what it is.
    renewal_block = retention_body["revenue_retention"]
    assert renewal_block["nrr"] == renewal_block["net_renewal_rate"] == 1.0
    for _ in range(15):
        account = AccountFactory(signed_up_at=at(2024, 1, 1))
        term(account, date(2024, 5, 1), date(2025, 5, 1), 1000, RenewalStatus.DOWNGRADED, 500, at(2025, 4, 1))
    with django_assert_max_num_queries(11):
        assert api.get(query).status_code == 200


def test_dashboard_shows_nrr_grr_net_renewal_rate_and_the_movements_table(
    ten_accounts, web, django_assert_max_num_queries
):
    page = "/analytics/?start=2025-01-01&end=2025-12-31"
    html = web.get(page).content.decode()
    assert 'data-testid="nrr">92%' in html
    assert 'data-testid="grr">79%' in html
    assert 'data-testid="net-renewal-rate">100% net, 69% gross' in html
    assert "ARR movements by month" in html and "/analytics/export/mrr_movements.csv" in html
    may = ["2025-05", "148000.00", "0.00", "0.00", "0.00", "10000.00", "0.00", "-10000.00", "138000.00"]
    assert "".join(f"<td>{cell}</td>" for cell in may) in html
    with django_assert_max_num_queries(17):  # every answer from its snapshot, + the health model's report
        assert web.get(page).status_code == 200
    export = web.get("/analytics/export/mrr_movements.csv?start=2025-01-01&end=2025-12-31")
    rows = b"".join(export.streaming_content).decode().splitlines()
    assert rows[0].startswith("Month,Opening ARR,New,Expansion") and len(rows) == 13

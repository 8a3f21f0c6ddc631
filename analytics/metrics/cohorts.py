"""Cohorts by sign-up month (accounts) or first-order month (buying contacts) x months since:
retained share, cumulative revenue per customer and net revenue retention.

Every figure comes from a handful of GROUP BY queries whose rows are (cohort, month) pairs;
the triangle is assembled from those aggregates, never from order or account rows."""

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import connections
from django.db.models import Count, F, Min, Window
from django.db.models.functions import TruncMonth

from analytics.metrics.common import (
    dec,
    derived_table,
    fetch,
    money,
    money_sum,
    month_trunc_sql,
    rate,
    ratio,
    sum_money,
    truncated_date,
)
from analytics.scope import Scope
from crm.models import Account, Order, Renewal

BASES = ("signup", "first_order")
DEFAULT_MONTHS = 12
MAX_MONTHS = 36


def month_index(cohort: date, month: date) -> int:
    return (month.year - cohort.year) * 12 + month.month - cohort.month


def _as_date(value) -> date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value


def _observed_months(cohort: date, scope: Scope, months: int) -> int:
    """How many months since the cohort began have (at least partly) happened by the period's end."""
    return min(months, month_index(cohort, scope.end.replace(day=1)) + 1)


def _signup_cohorts(scope: Scope, months: int) -> tuple[list[dict], dict]:
    accounts = scope.segment(Account.objects.all(), prefix="").filter(
        signed_up_at__gte=scope.start_at, signed_up_at__lt=scope.end_at
    )
    cohort_of_account = TruncMonth("account__signed_up_at", tzinfo=UTC)
    sizes: dict[date, int] = defaultdict(int)
    churned: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for row in (
        accounts.values(
            cohort=TruncMonth("signed_up_at", tzinfo=UTC), churn=TruncMonth("churned_at", tzinfo=UTC)
        )
        .annotate(n=Count("id"))
        .order_by()
    ):
        cohort = _as_date(row["cohort"])
        sizes[cohort] += row["n"]
        if row["churn"] is not None:
            churned[cohort][month_index(cohort, _as_date(row["churn"]))] += row["n"]

    revenue: dict[date, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    in_cohort = {"account__in": accounts.values("id")}
    for row in (
        Order.objects.filter(**in_cohort)
        .values(cohort=cohort_of_account, month=TruncMonth("ordered_at", tzinfo=UTC))
        .annotate(amount=sum_money("amount"))
        .order_by()
    ):
        cohort = _as_date(row["cohort"])
        revenue[cohort][month_index(cohort, _as_date(row["month"]))] += dec(row["amount"])
    # Subscription revenue is billed annually in advance: a term's ACV lands in its first month.
    # ARR in force per month: a term counts from its start month until its end month or the
    # account's churn month, whichever comes first.
    arr_terms: dict[date, list[tuple[int, int, Decimal]]] = defaultdict(list)
    for row in (
        Renewal.objects.filter(**in_cohort)
        .values(
            cohort=cohort_of_account,
            start=TruncMonth("start_date"),
            end=TruncMonth("end_date"),
            churn=TruncMonth("account__churned_at", tzinfo=UTC),
        )
        .annotate(acv=sum_money("acv"))
        .order_by()
    ):
        cohort = _as_date(row["cohort"])
        start, end = month_index(cohort, _as_date(row["start"])), month_index(cohort, _as_date(row["end"]))
        if row["churn"] is not None:
            end = min(end, month_index(cohort, _as_date(row["churn"])))
        revenue[cohort][start] += dec(row["acv"])
        arr_terms[cohort].append((start, end, dec(row["acv"])))

    rows = []
    for cohort in sorted(sizes):
        size, observed = sizes[cohort], _observed_months(cohort, scope, months)
        arr = [sum(acv for s, e, acv in arr_terms[cohort] if s <= k < e) for k in range(observed)]
        cumulative, lost, cells = Decimal(0), 0, []
        for k in range(observed):
            lost += churned[cohort].get(k, 0)
            cumulative += revenue[cohort].get(k, Decimal(0))
            cells.append(
                {
                    "month": k,
                    "retained": rate(ratio(size - lost, size)),
                    "revenue": money(revenue[cohort].get(k, Decimal(0))),
                    "cumulative_revenue_per_customer": money(cumulative / size),
                    "nrr": rate(ratio(arr[k], arr[0])) if arr and arr[0] else None,
                }
            )
        rows.append({"cohort": cohort.strftime("%Y-%m"), "size": size, "cells": cells})
    definitions = {
        "customers": "accounts signed up in the cohort month (segment applied)",
        "retained": "share of the cohort not churned by the end of month k",
        "revenue": "orders in month k plus contract ACV in the month its term starts (annual billing)",
        "nrr": "ARR in force in month k (terms of accounts not yet churned) over ARR in force in month 0",
    }
    return rows, definitions


def _first_order_cells(scope: Scope) -> dict[date, dict[int, tuple[int, Decimal]]]:
    """Buyers and revenue per (first-order month, months since). Each order carries its buyer's
    first order as a window over the buyer's orders: one pass over the orders, where a lookup per
    order (a correlated subquery) took 5x longer at a million orders (bench scenario 4)."""
    orders = scope.segment(Order.objects.filter(contact__isnull=False), prefix="contact__account__")
    with_first = (
        orders.annotate(first_at=Window(Min("ordered_at"), partition_by=[F("contact_id")]))
        .values("contact_id", "ordered_at", "amount", "first_at")
        .order_by()
    )
    inner, inner_params = derived_table(with_first)
    cohort, cohort_params = month_trunc_sql("first_at", with_first.db)
    month, month_params = month_trunc_sql("ordered_at", with_first.db)
    qn = connections[with_first.db].ops.quote_name
    adapt = connections[with_first.db].ops.adapt_datetimefield_value
    # Cohorts whose month lies in the period: a first order from the start's month on, before the
    # month after the end's.
    since = datetime(scope.start.year, scope.start.month, 1, tzinfo=UTC)
    until = datetime(scope.end.year + scope.end.month // 12, scope.end.month % 12 + 1, 1, tzinfo=UTC)
    sql = (
        f"SELECT {cohort}, {month}, COUNT(DISTINCT {qn('contact_id')}), SUM({qn('amount')}) "  # noqa: S608
        f"FROM ({inner}) orders_with_first WHERE {qn('first_at')} >= %s AND {qn('first_at')} < %s "
        "GROUP BY 1, 2"
    )
    params = (*cohort_params, *month_params, *inner_params, adapt(since), adapt(until))
    cells: dict[date, dict[int, tuple[int, Decimal]]] = defaultdict(dict)
    for first_month, order_month, customers, amount in fetch(sql, params, with_first.db):
        start = truncated_date(first_month)
        cells[start][month_index(start, truncated_date(order_month))] = (customers, money_sum(amount))
    return cells


def _first_order_cohorts(scope: Scope, months: int) -> tuple[list[dict], dict]:
    cells_by_cohort = _first_order_cells(scope)
    rows = []
    for cohort in sorted(cells_by_cohort):
        data = cells_by_cohort[cohort]
        size, base = data.get(0, (0, Decimal(0)))
        cumulative, cells = Decimal(0), []
        for k in range(_observed_months(cohort, scope, months)):
            buyers, amount = data.get(k, (0, Decimal(0)))
            cumulative += amount
            cells.append(
                {
                    "month": k,
                    "retained": rate(ratio(buyers, size)),
                    "revenue": money(amount),
                    "cumulative_revenue_per_customer": money(cumulative / size) if size else None,
                    "nrr": rate(ratio(amount, base)) if base else None,
                }
            )
        rows.append({"cohort": cohort.strftime("%Y-%m"), "size": size, "cells": cells})
    definitions = {
        "customers": "contacts whose first order fell in the cohort month",
        "retained": "share of the cohort that ordered in month k",
        "revenue": "the cohort's orders in month k",
        "nrr": "the cohort's revenue in month k over its revenue in month 0",
    }
    return rows, definitions


def cohorts(scope: Scope, *, basis: str = "signup", months: int = DEFAULT_MONTHS) -> dict:
    build = _signup_cohorts if basis == "signup" else _first_order_cohorts
    rows, definitions = build(scope, months)
    return {
        "scope": scope.as_dict(),
        "basis": basis,
        "months": months,
        "definitions": definitions,
        "inputs": {"cohorts": len(rows), "customers": sum(row["size"] for row in rows)},
        "cohorts": rows,
    }

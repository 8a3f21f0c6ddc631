"""Cohorts by sign-up month (accounts) or first-order month (buying contacts) x months since:
retained share, cumulative revenue per customer and net revenue retention.

Every figure comes from a handful of GROUP BY queries whose rows are (cohort, month) pairs;
the triangle is assembled from those aggregates, never from order or account rows."""

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from django.db import connections
from django.db.models import Count, F, Window
from django.db.models.functions import FirstValue, Lag, TruncMonth

from analytics.metrics.common import (
    TruncMonthUTC,
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
    cohort_of_account = TruncMonthUTC("account__signed_up_at")
    sizes: dict[date, int] = defaultdict(int)
    churned: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for row in (
        accounts.values(cohort=TruncMonthUTC("signed_up_at"), churn=TruncMonthUTC("churned_at"))
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
        .values(cohort=cohort_of_account, month=TruncMonthUTC("ordered_at"))
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
            churn=TruncMonthUTC("account__churned_at"),
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
    """Buyers and revenue per (first-order month, months since), in one pass over the orders in
    buyer and time order (an index-only scan): each order carries its buyer's first order and
    the buyer's previous order, so a buyer counts once in a month at their first order of that
    month. A lookup of the first order per order (a correlated subquery) took 5-7x the hand-written
    SQL at a million orders, and COUNT(DISTINCT) sorted a million rows on disk (bench scenario 4)."""
    orders = scope.segment(Order.objects.filter(contact__isnull=False), prefix="contact__account__")
    in_sequence = {"partition_by": [F("contact_id")], "order_by": F("ordered_at").asc()}
    sequenced = (
        orders.annotate(
            first_at=Window(FirstValue("ordered_at"), **in_sequence),
            previous_at=Window(Lag("ordered_at"), **in_sequence),
        )
        .values("ordered_at", "amount", "first_at", "previous_at")
        .order_by()
    )
    inner, inner_params = derived_table(sequenced)
    cohort, cohort_params = month_trunc_sql("first_at", sequenced.db)
    month, month_params = month_trunc_sql("ordered_at", sequenced.db)
    previous, previous_params = month_trunc_sql("previous_at", sequenced.db)
    qn = connections[sequenced.db].ops.quote_name
    # No WHERE on the cohort: a filter on a window's output leaves the planner guessing a few
    # rows and sorting a million on disk to group them; the cohorts outside the period are
    # dropped below instead (a few hundred grouped rows).
    sql = (
        f"SELECT {cohort}, {month}, "  # noqa: S608
        f"SUM(CASE WHEN {qn('previous_at')} IS NULL OR {previous} <> {month} THEN 1 ELSE 0 END), "
        f"SUM({qn('amount')}) FROM ({inner}) orders_in_sequence GROUP BY 1, 2"
    )
    params = (*cohort_params, *month_params, *previous_params, *month_params, *inner_params)
    first_month, last_month = scope.start.replace(day=1), scope.end.replace(day=1)
    cells: dict[date, dict[int, tuple[int, Decimal]]] = defaultdict(dict)
    for cohort_month, order_month, customers, amount in fetch(sql, params, sequenced.db):
        start = truncated_date(cohort_month)
        if first_month <= start <= last_month:
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

"""Scenario 4 baselines: the product's analytics numbers computed two other ways.

- ``sql_*``: one hand-written SQL query per metric (the floor): the database does all the
  aggregation; Python only lays the returned aggregate rows into the answer's shape (running
  sums over at most 36 months, ratios, rounding with the product's own helpers).
- ``pandas_*``: the needed columns read with a cursor fetch into DataFrames (timestamps as
  integer microseconds since the epoch and money as integer cents: pandas' fastest exact path),
  then computed in pandas. The time includes the load; ``load_seconds`` is reported apart.

Both return the same structures as the product (``cohorts()["cohorts"]``,
``revenue_retention()``) or, for lift, the facts the product's answer is built from, so the
harness can check all three agree."""

import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from django.db import connection

from analytics.metrics.common import dec, money, rate, ratio

RENEWED = ("renewed", "expanded", "downgraded")


# --- SQL dialect helpers ----------------------------------------------------------------------


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _trunc(column: str) -> str:
    """A timestamp's month (UTC), cheap enough to group a million rows by."""
    if _pg():
        return f"date_trunc('month', {column} AT TIME ZONE 'UTC')"
    return f"strftime('%%Y-%%m', {column})"


def _trunc_date(column: str) -> str:
    return f"date_trunc('month', {column})" if _pg() else f"strftime('%%Y-%%m', {column})"


def _number(truncated: str) -> str:
    """A month from _trunc as a number (year * 12 + month - 1); used on aggregated rows."""
    if _pg():
        return f"(EXTRACT(YEAR FROM {truncated}) * 12 + EXTRACT(MONTH FROM {truncated}) - 1)::int"
    return (
        f"(CAST(substr({truncated}, 1, 4) AS INTEGER) * 12 + CAST(substr({truncated}, 6, 2) AS INTEGER) - 1)"
    )


def _month(column: str) -> str:
    return _number(_trunc(column))


def _month_of_date(column: str) -> str:
    return _number(_trunc_date(column))


def _plus_days(column: str, days: int) -> str:
    if _pg():
        return f"({column} + INTERVAL '{int(days)} days')"
    # SQLite stores naive UTC text; datetime() drops sub-second digits, which is exact for the
    # benchmark's enrollments (decided on whole seconds).
    return f"datetime({column}, '+{int(days)} days')"


def _quarter(column: str) -> tuple[str, str]:
    if _pg():
        return (
            f"EXTRACT(YEAR FROM {column} AT TIME ZONE 'UTC')::int",
            f"EXTRACT(QUARTER FROM {column} AT TIME ZONE 'UTC')::int",
        )
    return (
        f"CAST(strftime('%%Y', {column}) AS INTEGER)",
        f"((CAST(strftime('%%m', {column}) AS INTEGER) + 2) / 3)",
    )


def _materialized() -> bool:
    """Whether a CTE can be fenced (computed once, not inlined into each reference)."""
    import sqlite3

    return _pg() or sqlite3.sqlite_version_info >= (3, 35)


def _micros(column: str) -> str:
    """A timestamp as integer microseconds since the epoch, computed exactly by the database."""
    if _pg():
        return f"(EXTRACT(EPOCH FROM {column}) * 1000000)::bigint"
    # Django writes 'YYYY-MM-DD HH:MM:SS[.ffffff]' on SQLite.
    return (
        f"(CAST(strftime('%%s', {column}) AS INTEGER) * 1000000 "
        f"+ COALESCE(CAST(NULLIF(substr({column}, 21, 6), '') AS INTEGER), 0))"
    )


def _cents(column: str) -> str:
    return f"CAST(ROUND({column} * 100) AS BIGINT)" if _pg() else f"CAST(ROUND({column} * 100) AS INTEGER)"


def _dt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def month_no(value: date) -> int:
    return value.year * 12 + value.month - 1


def _month_label(number: int) -> str:
    return f"{number // 12:04d}-{number % 12 + 1:02d}"


def _observed(cohort: int, scope, months: int) -> int:
    return min(months, month_no(scope.end) - cohort + 1)


# --- Cohort tables from (cohort, k) aggregates ------------------------------------------------


def _signup_table(sizes: dict, churned: dict, revenue: dict, arr: dict, scope, months: int) -> list[dict]:
    rows = []
    for cohort in sorted(sizes):
        size, observed = sizes[cohort], _observed(cohort, scope, months)
        cumulative, lost, cells = Decimal(0), 0, []
        arr0 = arr.get((cohort, 0), Decimal(0))
        for k in range(observed):
            lost += churned.get((cohort, k), 0)
            amount = revenue.get((cohort, k), Decimal(0))
            cumulative += amount
            cells.append(
                {
                    "month": k,
                    "retained": rate(ratio(size - lost, size)),
                    "revenue": money(amount),
                    "cumulative_revenue_per_customer": money(cumulative / size),
                    "nrr": rate(ratio(arr.get((cohort, k), Decimal(0)), arr0)) if arr0 else None,
                }
            )
        rows.append({"cohort": _month_label(cohort), "size": size, "cells": cells})
    return rows


def _first_order_table(cells_by: dict, scope, months: int) -> list[dict]:
    rows = []
    for cohort in sorted({c for c, _ in cells_by}):
        size, base = cells_by.get((cohort, 0), (0, Decimal(0)))
        cumulative, cells = Decimal(0), []
        for k in range(_observed(cohort, scope, months)):
            buyers, amount = cells_by.get((cohort, k), (0, Decimal(0)))
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
        rows.append({"cohort": _month_label(cohort), "size": size, "cells": cells})
    return rows


# --- Hand-written SQL -------------------------------------------------------------------------


def sql_cohorts_signup(scope, months: int) -> list[dict]:
    """One query: the (cohort, month) grid with its size, churns, revenue (orders plus ACV booked
    at a term's start) and ARR in force."""
    end_month = month_no(scope.end)
    sql = f"""
    WITH RECURSIVE ks(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM ks WHERE k + 1 < %(months)s),
    acc AS (
        SELECT id, {_month("signed_up_at")} AS cohort, {_month("churned_at")} AS churn
        FROM crm_account WHERE signed_up_at >= %(start)s AND signed_up_at < %(end)s
    ),
    sizes AS (SELECT cohort, COUNT(*) AS size FROM acc GROUP BY cohort),
    grid AS (
        SELECT s.cohort, s.size, ks.k FROM sizes s JOIN ks ON ks.k <= %(end_month)s - s.cohort
    ),
    churns AS (
        SELECT cohort, churn - cohort AS k, COUNT(*) AS n FROM acc WHERE churn IS NOT NULL GROUP BY 1, 2
    ),
    ord AS (
        SELECT {_number("c")} AS cohort, {_number("m")} - {_number("c")} AS k, amount FROM (
            SELECT {_trunc("a.signed_up_at")} AS c, {_trunc("o.ordered_at")} AS m, SUM(o.amount) AS amount
            FROM crm_order o JOIN crm_account a ON a.id = o.account_id
            WHERE a.signed_up_at >= %(start)s AND a.signed_up_at < %(end)s
            GROUP BY 1, 2
        ) per_month
    ),
    terms AS (
        SELECT a.cohort, {_month_of_date("r.start_date")} - a.cohort AS s,
               {_month_of_date("r.end_date")} - a.cohort AS e, a.churn - a.cohort AS c, r.acv
        FROM crm_renewal r JOIN acc a ON a.id = r.account_id
    ),
    booked AS (SELECT cohort, s AS k, SUM(acv) AS acv FROM terms GROUP BY 1, 2),
    arr AS (
        SELECT g.cohort, g.k, SUM(t.acv) AS acv FROM grid g JOIN terms t ON t.cohort = g.cohort
          AND t.s <= g.k AND g.k < (CASE WHEN t.c IS NOT NULL AND t.c < t.e THEN t.c ELSE t.e END)
        GROUP BY 1, 2
    )
    SELECT g.cohort, g.size, g.k, COALESCE(ch.n, 0), COALESCE(o.amount, 0) + COALESCE(b.acv, 0),
           COALESCE(arr.acv, 0)
    FROM grid g
    LEFT JOIN churns ch ON ch.cohort = g.cohort AND ch.k = g.k
    LEFT JOIN ord o ON o.cohort = g.cohort AND o.k = g.k
    LEFT JOIN booked b ON b.cohort = g.cohort AND b.k = g.k
    LEFT JOIN arr ON arr.cohort = g.cohort AND arr.k = g.k
    """  # noqa: S608
    params = {
        "months": months,
        "start": _dt(scope.start_at),
        "end": _dt(scope.end_at),
        "end_month": end_month,
    }
    sizes, churned, revenue, arr = {}, {}, {}, {}
    for cohort, size, k, lost, amount, in_force in _rows(sql, params):
        sizes[cohort] = size
        churned[(cohort, k)] = lost
        revenue[(cohort, k)] = _money_value(amount)
        arr[(cohort, k)] = _money_value(in_force)
    return _signup_table(sizes, churned, revenue, arr, scope, months)


def _money_value(value) -> Decimal:
    # SQLite sums decimals as floats: read them the way Django's Sum on a DecimalField does.
    if isinstance(value, float):
        return Decimal(repr(value)).quantize(Decimal("0.0001"))
    return dec(value)


def sql_cohorts_first_order(scope, months: int) -> list[dict]:
    """One query: one pass over the orders in buyer and time order (window functions) giving
    each order its buyer's first order and previous order; a buyer counts in a month at their
    first order of that month (no COUNT(DISTINCT) sort). Cohorts outside the period are dropped
    from the few hundred grouped rows."""
    sql = f"""
    SELECT {_number("c")}, {_number("m")} - {_number("c")}, buyers, amount FROM (
        SELECT {_trunc("first_at")} AS c, {_trunc("ordered_at")} AS m,
               SUM(CASE WHEN previous_at IS NULL OR {_trunc("previous_at")} <> {_trunc("ordered_at")}
                   THEN 1 ELSE 0 END) AS buyers,
               SUM(amount) AS amount
        FROM (
            SELECT ordered_at, amount, FIRST_VALUE(ordered_at) OVER w AS first_at,
                   LAG(ordered_at) OVER w AS previous_at
            FROM crm_order WHERE contact_id IS NOT NULL
            WINDOW w AS (PARTITION BY contact_id ORDER BY ordered_at)
        ) orders_in_sequence
        GROUP BY 1, 2
    ) cells
    """  # noqa: S608
    first, last = month_no(scope.start), month_no(scope.end)
    cells = {
        (c, k): (buyers, _money_value(amount))
        for c, k, buyers, amount in _rows(sql, {})
        if first <= c <= last and k < months
    }
    return _first_order_table(cells, scope, months)


def _retention_answer(t: dict, deals_n: int, deals_amount: Decimal) -> dict:
    starting, churn, contraction = dec(t["starting"]), dec(t["churn"]), dec(t["contraction"])
    expansion = dec(t["renewal_expansion"]) + dec(deals_amount)
    ending = starting + expansion - contraction - churn
    net, gross = rate(ratio(ending, starting)), rate(ratio(starting - contraction - churn, starting))
    return {
        "inputs": {
            "terms_ending": t["terms"],
            "terms_decided": t["decided"],
            "terms_undecided": t["terms"] - t["decided"],
            "undecided_acv": money(t["undecided_acv"]),
            "starting_acv": money(starting),
            "expansion_at_renewal": money(t["renewal_expansion"]),
            "expansion_deals": deals_n,
            "expansion_deals_amount": money(deals_amount),
            "expansion": money(expansion),
            "contraction": money(contraction),
            "churn": money(churn),
            "ending_acv": money(ending),
        },
        "net_renewal_rate": net,
        "gross_renewal_rate": gross,
        "nrr": net,
        "grr": gross,
        "renewal_rate_count": rate(ratio(t["renewed"], t["decided"])),
        "renewal_rate_acv": rate(ratio(t["acv_renewed"], starting)),
        "renewed_terms": t["renewed"],
        "churned_terms": t["churned_terms"],
    }


def sql_revenue_retention(scope) -> dict:
    """One query: the terms' aggregates cross-joined with the mid-term expansion deals'."""
    sql = """
    SELECT t.*, d.n, d.amount FROM (
        SELECT COUNT(*) AS terms,
          COALESCE(SUM(CASE WHEN r.status <> 'upcoming' THEN 1 ELSE 0 END), 0) AS decided,
          COALESCE(SUM(CASE WHEN r.status IN ('renewed', 'expanded', 'downgraded') THEN 1 ELSE 0 END), 0),
          COALESCE(SUM(CASE WHEN r.status = 'churned' THEN 1 ELSE 0 END), 0),
          COALESCE(SUM(CASE WHEN r.status <> 'upcoming' THEN r.acv ELSE 0 END), 0),
          COALESCE(SUM(CASE WHEN r.status = 'churned' THEN r.acv ELSE 0 END), 0),
          COALESCE(SUM(CASE WHEN r.status IN ('renewed', 'expanded', 'downgraded') THEN r.acv ELSE 0 END), 0),
          COALESCE(SUM(CASE WHEN r.status = 'downgraded' THEN r.acv - r.renewed_acv ELSE 0 END), 0),
          COALESCE(SUM(CASE WHEN r.status = 'expanded' THEN r.renewed_acv - r.acv ELSE 0 END), 0),
          COALESCE(SUM(CASE WHEN r.status = 'upcoming' THEN r.acv ELSE 0 END), 0)
        FROM crm_renewal r JOIN crm_account a ON a.id = r.account_id
        WHERE r.end_date >= %(start)s AND r.end_date <= %(end)s AND a.signed_up_at < %(start_at)s
    ) t CROSS JOIN (
        SELECT COUNT(*) AS n, COALESCE(SUM(d.amount), 0) AS amount
        FROM crm_deal d JOIN crm_pipelinestage s ON s.id = d.stage_id
        JOIN crm_account a ON a.id = d.account_id
        WHERE d.kind = 'expansion' AND s.is_won AND d.closed_at >= %(start_at)s AND d.closed_at < %(end_at)s
          AND a.signed_up_at < %(start_at)s
          AND NOT EXISTS (
            SELECT 1 FROM crm_renewal r2 WHERE r2.account_id = d.account_id AND r2.status = 'expanded'
              AND r2.end_date >= %(start)s AND r2.end_date <= %(end)s
          )
    ) d
    """
    params = {
        "start": connection.ops.adapt_datefield_value(scope.start),
        "end": connection.ops.adapt_datefield_value(scope.end),
        "start_at": _dt(scope.start_at),
        "end_at": _dt(scope.end_at),
    }
    row = _rows(sql, params)[0]
    names = [
        "terms",
        "decided",
        "renewed",
        "churned_terms",
        "starting",
        "churn",
        "acv_renewed",
        "contraction",
        "renewal_expansion",
        "undecided_acv",
    ]
    values = zip(names, row[:10], strict=True)
    totals = {name: (_money_value(v) if i >= 4 else v) for i, (name, v) in enumerate(values)}
    return _retention_answer(totals, row[10], _money_value(row[11]))


def _quarter_label(year, quarter) -> str:
    return "no account" if year is None else f"{int(year)}-Q{int(quarter)}"


def sql_play_lift(play, scope, *, window_days: int, now: datetime) -> dict:
    """One query: each enrollment's outcomes and window revenue computed once (a CTE), then
    counted and summed by arm and sign-up quarter."""
    matured_before = min(scope.end_at, now - timedelta(days=window_days))
    end = _plus_days("e.decided_at", window_days)
    year, quarter = _quarter("a.signed_up_at")

    def within(column: str) -> str:
        return f"{column} >= e.decided_at AND {column} < {end}"

    def decided(condition: str) -> str:
        return (
            "EXISTS (SELECT 1 FROM crm_renewal r WHERE r.account_id = e.account_id "  # noqa: S608
            f"AND {within('r.decided_at')} AND {condition})"
        )

    true, false = ("TRUE", "FALSE") if _pg() else ("1", "0")
    sql = f"""
    WITH e AS (
        SELECT e.id, e.arm, e.outcome, e.decided_at, e.account_id, e.contact_id,
               {year} AS y, {quarter} AS q,
               CASE WHEN e.decided_at < %(matured)s THEN {true} ELSE {false} END AS matured
        FROM plays_enrollment e LEFT JOIN crm_account a ON a.id = e.account_id
        WHERE e.play_id = %(play)s AND e.decided_at >= %(start)s AND e.decided_at < %(end)s
    ),
    flags AS {"MATERIALIZED" if _materialized() else ""} (
        SELECT e.arm, e.y, e.q, e.matured, e.outcome = 'sent' AS sent,
          {decided("r.status IN ('renewed', 'expanded', 'downgraded')")} AS renewed,
          ({decided("r.status = 'expanded'")} OR EXISTS (
              SELECT 1 FROM crm_deal d JOIN crm_pipelinestage s ON s.id = d.stage_id
              WHERE d.account_id = e.account_id AND {within("d.closed_at")}
                AND d.kind = 'expansion' AND s.is_won
          )) AS expanded,
          ({decided("r.status = 'churned'")} OR EXISTS (
              SELECT 1 FROM crm_account c WHERE c.id = e.account_id AND {within("c.churned_at")}
          )) AS churned,
          EXISTS (
              SELECT 1 FROM crm_order o WHERE o.contact_id = e.contact_id AND {within("o.ordered_at")}
          ) AS reordered,
          CASE WHEN e.matured = {true} THEN
            COALESCE((SELECT SUM(o.amount) FROM crm_order o
                      WHERE o.account_id = e.account_id AND {within("o.ordered_at")}), 0)
            + COALESCE((SELECT SUM(o.amount) FROM crm_order o
                        WHERE o.contact_id = e.contact_id AND {within("o.ordered_at")}
                          AND (e.account_id IS NULL OR o.account_id IS NULL
                               OR o.account_id <> e.account_id)), 0)
          END AS revenue
        FROM e
    )
    SELECT arm, y, q,
      SUM(CASE WHEN matured THEN 1 ELSE 0 END),
      SUM(CASE WHEN matured THEN 0 ELSE 1 END),
      SUM(CASE WHEN matured AND sent THEN 1 ELSE 0 END),
      SUM(CASE WHEN matured AND renewed THEN 1 ELSE 0 END),
      SUM(CASE WHEN matured AND expanded THEN 1 ELSE 0 END),
      SUM(CASE WHEN matured AND churned THEN 1 ELSE 0 END),
      SUM(CASE WHEN matured AND reordered THEN 1 ELSE 0 END),
      COALESCE(SUM(revenue), 0),
      COALESCE(SUM(revenue * revenue), 0)
    FROM flags GROUP BY arm, y, q
    """  # noqa: S608
    params = {
        "matured": _dt(matured_before),
        "play": play.pk,
        "start": _dt(scope.start_at),
        "end": _dt(scope.end_at),
    }
    groups = []
    for arm, y, q, n, pending, sent, renewed, expanded, churned, reordered, total, squares in _rows(
        sql, params
    ):
        groups.append(
            {
                "arm": arm,
                "cohort": _quarter_label(y, q),
                "n": n,
                "pending": pending,
                "sent": sent,
                "renewed": renewed,
                "expanded": expanded,
                "churned": churned,
                "reordered": reordered,
                "revenue": float(total),
                "revenue_sq": float(squares),
            }
        )
    return lift_facts(groups)


def lift_facts(groups: list[dict], primary: str = "renewed") -> dict:
    """What the product's lift answer is built from, from (arm, cohort) groups: per arm the
    counts, the revenue mean and the pooled SD; per stratum the arms' sizes and primary count."""
    arms: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    strata: dict[str, dict] = defaultdict(dict)
    for group in groups:
        for name, value in group.items():
            if name not in ("arm", "cohort"):
                arms[group["arm"]][name] += value
        strata[group["cohort"]][group["arm"]] = (group["n"], group[primary])
    facts = {"arms": {}, "strata": {}}
    for arm in ("treatment", "control"):
        counts = arms.get(arm, {})
        n = int(counts.get("n", 0))
        facts["arms"][arm] = {
            name: int(counts.get(name, 0))
            for name in ("n", "pending", "sent", "renewed", "expanded", "churned", "reordered")
        }
        total, squares = counts.get("revenue", 0.0), counts.get("revenue_sq", 0.0)
        facts["arms"][arm]["revenue_mean"] = round(total / n, 6) if n else None
        facts["arms"][arm]["_var"] = (squares - n * (total / n) ** 2) / (n - 1) if n > 1 else None
    t, c = facts["arms"]["treatment"], facts["arms"]["control"]
    if t["_var"] is not None and c["_var"] is not None:
        pooled = ((t["n"] - 1) * max(t["_var"], 0) + (c["n"] - 1) * max(c["_var"], 0)) / (t["n"] + c["n"] - 2)
        facts["revenue_pooled_sd"] = round(pooled**0.5, 6)
    else:
        facts["revenue_pooled_sd"] = None
    for arm in facts["arms"].values():
        arm.pop("_var")
    for cohort, by_arm in strata.items():
        facts["strata"][cohort] = {
            "treatment": by_arm.get("treatment", (0, 0))[0],
            "control": by_arm.get("control", (0, 0))[0],
            primary: [by_arm.get("treatment", (0, 0))[1], by_arm.get("control", (0, 0))[1]],
        }
    return facts


def product_lift_facts(result: dict) -> dict:
    """The same facts, read back from ``play_lift``'s answer."""
    outcomes = result["outcomes"]
    primary = result["primary_outcome"]
    facts = {"arms": {}, "strata": {}}
    for arm in ("treatment", "control"):
        facts["arms"][arm] = {
            "n": outcomes["renewed"][f"{arm}_n"],
            "pending": None,
            "sent": result["inputs"]["treatment_texted"] if arm == "treatment" else None,
            **{
                name: outcomes[name][f"{arm}_successes"]
                for name in ("renewed", "expanded", "churned", "reordered")
            },
            "revenue_mean": outcomes["revenue"][f"{arm}_mean"],
        }
    facts["not_yet_matured"] = result["inputs"]["not_yet_matured"]
    facts["revenue_pooled_sd"] = outcomes["revenue"]["pooled_sd"]
    for stratum in result["strata"]:
        facts["strata"][stratum["cohort"]] = {
            "treatment": stratum["treatment"],
            "control": stratum["control"],
            primary: [stratum[primary]["treatment_successes"], stratum[primary]["control_successes"]],
        }
    return facts


def comparable_lift(facts: dict) -> dict:
    """Baseline facts in the product's terms: pending summed over arms, control 'sent' unknown."""
    out = {"arms": {}, "strata": facts["strata"], "revenue_pooled_sd": facts["revenue_pooled_sd"]}
    out["not_yet_matured"] = sum(arm["pending"] for arm in facts["arms"].values())
    for name, arm in facts["arms"].items():
        out["arms"][name] = {**arm, "pending": None, "sent": arm["sent"] if name == "treatment" else None}
    return out


# --- pandas -----------------------------------------------------------------------------------


class Loader:
    """Cursor fetches into DataFrames, timing the load apart from the computation."""

    def __init__(self):
        self.seconds = 0.0

    def frame(self, sql: str, columns: list[str], params: dict | None = None) -> pd.DataFrame:
        started = time.perf_counter()
        rows = _rows(sql, params or {})
        frame = pd.DataFrame.from_records(rows, columns=columns)
        self.seconds += time.perf_counter() - started
        return frame


def _micros_of(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _months_from_micros(series: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(series, unit="us")
    return stamps.dt.year * 12 + stamps.dt.month - 1


def _months_from_dates(series: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(series.astype(str), format="%Y-%m-%d")
    return stamps.dt.year * 12 + stamps.dt.month - 1


def _d(cents) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def pandas_cohorts_signup(scope, months: int) -> tuple[list[dict], float]:
    load = Loader()
    accounts = load.frame(
        f"SELECT id, {_micros('signed_up_at')}, {_micros('churned_at')} FROM crm_account",  # noqa: S608
        ["id", "signed", "churned"],
    )
    orders = load.frame(
        f"SELECT account_id, {_micros('ordered_at')}, {_cents('amount')} FROM crm_order",  # noqa: S608
        ["account_id", "ts", "cents"],
    )
    terms = load.frame(
        f"SELECT account_id, start_date, end_date, {_cents('acv')} FROM crm_renewal",  # noqa: S608
        ["account_id", "start", "end", "cents"],
    )
    accounts = accounts[
        (accounts.signed >= _micros_of(scope.start_at)) & (accounts.signed < _micros_of(scope.end_at))
    ].copy()
    accounts["cohort"] = _months_from_micros(accounts.signed)
    accounts["churn"] = _months_from_micros(accounts.churned.astype("float64")) - accounts.cohort
    sizes = accounts.groupby("cohort").size()
    churned = accounts.dropna(subset=["churn"]).groupby(["cohort", "churn"]).size()

    cohort_of = accounts.set_index("id").cohort
    orders = orders[orders.account_id.isin(cohort_of.index)].copy()
    orders["cohort"] = orders.account_id.map(cohort_of)
    orders["k"] = _months_from_micros(orders.ts) - orders.cohort
    revenue = orders.groupby(["cohort", "k"]).cents.sum()

    terms = terms[terms.account_id.isin(cohort_of.index)].copy()
    terms["cohort"] = terms.account_id.map(cohort_of)
    terms["s"] = _months_from_dates(terms.start) - terms.cohort
    terms["e"] = _months_from_dates(terms.end) - terms.cohort
    churn_k = accounts.set_index("id").churn
    terms["c"] = terms.account_id.map(churn_k)
    terms["e"] = np.where(terms.c.notna() & (terms.c < terms.e), terms.c, terms.e)
    booked = terms.groupby(["cohort", "s"]).cents.sum()
    arr = {}
    for cohort, group in terms.groupby("cohort"):
        observed = _observed(int(cohort), scope, months)
        ks = np.arange(observed)
        in_force = (group.s.values[None, :] <= ks[:, None]) & (ks[:, None] < group.e.values[None, :])
        for k, cents in zip(ks, in_force.astype(np.int64) @ group.cents.values.astype(np.int64), strict=True):
            arr[(int(cohort), int(k))] = _d(cents)
    revenue_by = defaultdict(Decimal)
    for (cohort, k), cents in revenue.items():
        revenue_by[(int(cohort), int(k))] += _d(cents)
    for (cohort, k), cents in booked.items():
        revenue_by[(int(cohort), int(k))] += _d(cents)
    table = _signup_table(
        {int(c): int(n) for c, n in sizes.items()},
        {(int(c), int(k)): int(n) for (c, k), n in churned.items()},
        revenue_by,
        arr,
        scope,
        months,
    )
    return table, load.seconds


def pandas_cohorts_first_order(scope, months: int) -> tuple[list[dict], float]:
    load = Loader()
    orders = load.frame(
        f"SELECT contact_id, {_micros('ordered_at')}, {_cents('amount')} FROM crm_order "  # noqa: S608
        "WHERE contact_id IS NOT NULL",
        ["contact_id", "ts", "cents"],
    )
    orders["month"] = _months_from_micros(orders.ts)
    orders["cohort"] = orders.groupby("contact_id").ts.transform("min")
    orders["cohort"] = _months_from_micros(orders.cohort)
    orders["k"] = orders.month - orders.cohort
    orders = orders[
        (orders.cohort >= month_no(scope.start))
        & (orders.cohort <= month_no(scope.end))
        & (orders.k < months)
    ]
    cells = orders.groupby(["cohort", "k"]).agg(buyers=("contact_id", "nunique"), cents=("cents", "sum"))
    by = {(int(c), int(k)): (int(row.buyers), _d(row.cents)) for (c, k), row in cells.iterrows()}
    return _first_order_table(by, scope, months), load.seconds


def pandas_revenue_retention(scope) -> tuple[dict, float]:
    load = Loader()
    terms = load.frame(
        f"SELECT account_id, end_date, status, {_cents('acv')}, {_cents('renewed_acv')} FROM crm_renewal",  # noqa: S608
        ["account_id", "end", "status", "acv", "renewed"],
    )
    accounts = load.frame(f"SELECT id, {_micros('signed_up_at')} FROM crm_account", ["id", "signed"])  # noqa: S608
    deals = load.frame(
        f"SELECT account_id, kind, stage_id, {_micros('closed_at')}, {_cents('amount')} FROM crm_deal",  # noqa: S608
        ["account_id", "kind", "stage_id", "closed", "cents"],
    )
    stages = load.frame("SELECT id, is_won FROM crm_pipelinestage", ["id", "is_won"])
    old = set(accounts.id[accounts.signed < _micros_of(scope.start_at)])
    terms["end"] = pd.to_datetime(terms.end.astype(str), format="%Y-%m-%d")
    terms = terms[
        (terms.end >= pd.Timestamp(scope.start))
        & (terms.end <= pd.Timestamp(scope.end))
        & terms.account_id.isin(old)
    ]
    status = terms.status
    decided = status != "upcoming"
    renewed = status.isin(RENEWED)
    totals = {
        "terms": len(terms),
        "decided": int(decided.sum()),
        "renewed": int(renewed.sum()),
        "churned_terms": int((status == "churned").sum()),
        "starting": _d(terms.acv[decided].sum()),
        "churn": _d(terms.acv[status == "churned"].sum()),
        "acv_renewed": _d(terms.acv[renewed].sum()),
        "contraction": _d((terms.acv - terms.renewed)[status == "downgraded"].sum()),
        "renewal_expansion": _d((terms.renewed - terms.acv)[status == "expanded"].sum()),
        "undecided_acv": _d(terms.acv[~decided].sum()),
    }
    won = set(stages.id[stages.is_won.astype(bool)])
    expanded_accounts = set(terms.account_id[status == "expanded"])
    deals = deals[
        (deals.kind == "expansion")
        & deals.stage_id.isin(won)
        & (deals.closed >= _micros_of(scope.start_at))
        & (deals.closed < _micros_of(scope.end_at))
        & deals.account_id.isin(old)
        & ~deals.account_id.isin(expanded_accounts)
    ]
    return _retention_answer(totals, len(deals), _d(deals.cents.sum())), load.seconds


def pandas_play_lift(play, scope, *, window_days: int, now: datetime) -> tuple[dict, float]:
    load = Loader()
    window = window_days * 86400 * 1_000_000
    enrollments = load.frame(
        f"SELECT id, account_id, contact_id, arm, outcome, {_micros('decided_at')} FROM plays_enrollment "  # noqa: S608
        "WHERE play_id = %(play)s",
        ["id", "account_id", "contact_id", "arm", "outcome", "ts"],
        {"play": play.pk},
    )
    accounts = load.frame(
        f"SELECT id, {_micros('signed_up_at')}, {_micros('churned_at')} FROM crm_account",  # noqa: S608
        ["id", "signed", "churned"],
    )
    renewals = load.frame(
        f"SELECT account_id, status, {_micros('decided_at')} FROM crm_renewal WHERE decided_at IS NOT NULL",  # noqa: S608
        ["account_id", "status", "ts"],
    )
    deals = load.frame(
        f"SELECT account_id, kind, stage_id, {_micros('closed_at')} FROM crm_deal "  # noqa: S608
        "WHERE closed_at IS NOT NULL",
        ["account_id", "kind", "stage_id", "ts"],
    )
    stages = load.frame("SELECT id, is_won FROM crm_pipelinestage", ["id", "is_won"])
    orders = load.frame(
        f"SELECT id, account_id, contact_id, {_micros('ordered_at')}, {_cents('amount')} FROM crm_order",  # noqa: S608
        ["order_id", "account_id", "contact_id", "ts", "cents"],
    )
    e = enrollments[
        (enrollments.ts >= _micros_of(scope.start_at)) & (enrollments.ts < _micros_of(scope.end_at))
    ].copy()
    e["matured"] = e.ts < _micros_of(min(scope.end_at, now - timedelta(days=window_days)))
    e["end"] = e.ts + window

    def hits(events: pd.DataFrame, key: str) -> set:
        """Enrollments with at least one of ``events`` (matched on ``key``) inside their window."""
        pairs = (
            e[["id", key, "ts", "end"]]
            .dropna(subset=[key])
            .merge(events[[key, "ts"]].rename(columns={"ts": "event_ts"}), on=key)
        )
        return set(pairs.id[(pairs.event_ts >= pairs.ts) & (pairs.event_ts < pairs.end)])

    won = set(stages.id[stages.is_won.astype(bool)])
    renewed = hits(renewals[renewals.status.isin(RENEWED)], "account_id")
    expanded = hits(renewals[renewals.status == "expanded"], "account_id") | hits(
        deals[(deals.kind == "expansion") & deals.stage_id.isin(won)], "account_id"
    )
    churn_events = accounts.dropna(subset=["churned"]).rename(columns={"id": "account_id", "churned": "ts"})
    churned = hits(renewals[renewals.status == "churned"], "account_id") | hits(churn_events, "account_id")
    reordered = hits(orders, "contact_id")

    # Revenue: orders of the enrollment's account, or of its contact (each order once).
    matured = e[e.matured]
    spans = matured[["id", "account_id", "contact_id", "ts", "end"]]
    keep = ["id", "order_id", "ts", "end", "order_ts", "cents"]
    by_account = spans.dropna(subset=["account_id"]).merge(
        orders[["order_id", "account_id", "ts", "cents"]].rename(columns={"ts": "order_ts"}), on="account_id"
    )
    by_contact = spans.merge(
        orders[["order_id", "contact_id", "ts", "cents"]].rename(columns={"ts": "order_ts"}), on="contact_id"
    )
    pairs = pd.concat([by_account[keep], by_contact[keep]])
    pairs = pairs[(pairs.order_ts >= pairs.ts) & (pairs.order_ts < pairs.end)].drop_duplicates(
        ["id", "order_id"]
    )
    revenue = pairs.groupby("id").cents.sum() / 100.0

    signed = accounts.set_index("id").signed
    stamps = pd.to_datetime(e.account_id.map(signed), unit="us")
    e["cohort"] = ["no account" if pd.isna(s) else f"{s.year}-Q{(s.month - 1) // 3 + 1}" for s in stamps]
    e["revenue"] = e.id.map(revenue).fillna(0.0).where(e.matured, 0.0)
    m = e.matured
    e["n"] = m.astype(int)
    e["pending"] = (~m).astype(int)
    e["sent"] = (m & (e.outcome == "sent")).astype(int)
    for name, ids in (
        ("renewed", renewed),
        ("expanded", expanded),
        ("churned", churned),
        ("reordered", reordered),
    ):
        e[name] = (m & e.id.isin(ids)).astype(int)
    e["revenue_sq"] = e.revenue * e.revenue
    columns = ["n", "pending", "sent", "renewed", "expanded", "churned", "reordered", "revenue", "revenue_sq"]
    grouped = e.groupby(["arm", "cohort"])[columns].sum().reset_index()
    groups = [
        {**{k: (float(v) if k.startswith("revenue") else v) for k, v in row.items()}}
        for row in grouped.to_dict("records")
    ]
    return lift_facts(groups), load.seconds

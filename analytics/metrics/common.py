"""Small helpers every metric shares: JSON-ready numbers, safe ratios, and aggregating over a
queryset as a derived table."""

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import DateTimeField, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate, TruncMonth

CENT = Decimal("0.01")
ZERO = Decimal("0")
_FLOAT_CONTEXT = Context(prec=15)  # what Django uses to read a float as a Decimal


def money(value) -> str | None:
    """Money for JSON: a string of a Decimal rounded to cents (None stays None)."""
    if value is None:
        return None
    # + 0 turns a negative zero ("-0.00") into 0.00.
    return str(Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP) + 0)


def rate(value, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def ratio(numerator, denominator) -> Decimal | None:
    """numerator / denominator as a Decimal, or None when the denominator is zero or missing."""
    if denominator in (None, 0) or numerator is None:
        return None
    return Decimal(numerator) / Decimal(denominator)


def dec(value) -> Decimal:
    return ZERO if value is None else Decimal(value)


# Orders carry refunds as negative amounts (imports and the API take them as they come). A refund
# is not a purchase: purchase counts, AOV and repeat buying leave refunds out and show them apart.
# A $0 order (a free or fully discounted order) is still a purchase.
PURCHASE = Q(amount__gte=0)
REFUND = Q(amount__lt=0)


# SQLite keeps timestamps as naive UTC text, so the month of one in UTC is its first characters.
SQLITE_MONTH_START = "strftime('%%Y-%%m-01 00:00:00', {})"


class _NativeOnSqlite:
    """A UTC truncation that SQLite computes natively from its stored text (``SQLITE_SQL``, the
    column's SQL in ``{}``): Django's Trunc* call a Python function there for every row.
    Elsewhere, Django's own."""

    SQLITE_SQL = "{}"

    def __init__(self, expression, **extra):
        super().__init__(expression, tzinfo=UTC, **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        if not isinstance(self.lhs.output_field, DateTimeField):
            return self.as_sql(compiler, connection, **extra_context)
        sql, params = compiler.compile(self.lhs)
        return self.SQLITE_SQL.format(sql), params


class TruncMonthUTC(_NativeOnSqlite, TruncMonth):
    """A timestamp's month in UTC (natively on SQLite: 80% of the cohort tables' time at a million
    orders was the per-row Python function, bench scenario 4)."""

    SQLITE_SQL = SQLITE_MONTH_START


class TruncDateUTC(_NativeOnSqlite, TruncDate):
    """A timestamp's UTC date (natively on SQLite, the stored text's first ten characters: a third
    of the CLV tier job's time at 20,000 customers was the per-row Python function, bench
    scenario 7)."""

    SQLITE_SQL = "substr({}, 1, 10)"


def sum_money(expression, **extra):
    """SUM that answers 0 (not NULL) over no rows, typed as money."""
    field = DecimalField(max_digits=20, decimal_places=4)
    return Coalesce(Sum(expression, output_field=field, **extra), Value(ZERO), output_field=field)


# --- Aggregating over a queryset as a derived table -------------------------------------------
# Django cannot SELECT FROM a subquery. Two metrics need it on large tables: aggregating over a
# window function (a buyer's first order, computed in one pass instead of a lookup per order),
# and computing a per-row subquery once (an enrollment's outcomes and window revenue) instead of
# once per aggregate that uses it. The inner query is still built with the ORM.


def derived_table(queryset: QuerySet) -> tuple[str, tuple]:
    """The queryset's SQL and parameters, to place in a hand-written outer query."""
    sql, params = queryset.query.sql_with_params()
    return sql, tuple(params)


def materialized(using: str = DEFAULT_DB_ALIAS) -> str:
    """``MATERIALIZED`` where the database supports it: a CTE computed once, not inlined into
    each reference (PostgreSQL 12+, SQLite 3.35+)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        return "MATERIALIZED"
    if connection.vendor == "sqlite":
        import sqlite3

        return "MATERIALIZED" if sqlite3.sqlite_version_info >= (3, 35) else ""
    return ""


def month_trunc_sql(column: str, using: str = DEFAULT_DB_ALIAS) -> tuple[str, tuple]:
    """SQL truncating a timestamp column of a derived table to its month (UTC)."""
    connection = connections[using]
    ops = connection.ops
    if connection.vendor == "sqlite":  # see TruncMonthUTC
        return SQLITE_MONTH_START.format(ops.quote_name(column)), ()
    return ops.datetime_trunc_sql("month", ops.quote_name(column), (), "UTC")


def fetch(sql: str, params, using: str = DEFAULT_DB_ALIAS) -> list[tuple]:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def truncated_date(value) -> date | None:
    """A truncated timestamp read by a raw cursor: a naive datetime (PostgreSQL) or text (SQLite)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def money_sum(value) -> Decimal:
    """A SUM over a money column read by a raw cursor, as the ORM reads it: SQLite sums decimals
    as floats, which Django turns into a Decimal at 15 significant digits and 4 places."""
    if value is None:
        return ZERO
    if isinstance(value, float):
        return _FLOAT_CONTEXT.create_decimal_from_float(value).quantize(Decimal("0.0001"))
    return Decimal(value)

"""Fast inserts for benchmark data: COPY on PostgreSQL, executemany on SQLite.

Scenario data sets of a million rows would take minutes through ``bulk_create`` (a model
instance per row); this writes tuples straight into the model's table. Columns not given get
the field's default (``auto_now`` fields get the load time), so the rows are what the ORM
would have written."""

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

BATCH = 5_000


def _sqlite_value(value):
    if isinstance(value, datetime):
        # Django stores aware datetimes on SQLite as naive UTC text.
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def _defaults(model, given: list[str]) -> tuple[list[str], list]:
    """Columns the caller did not give that cannot be NULL, with the value the ORM would write."""
    now = timezone.now()
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.column in given or field.attname in given:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif field.null and not field.has_default():
            continue
        else:
            value = field.get_default()
        columns.append(field.column)
        values.append(value)
    return columns, values


def load(model, columns: list[str], rows: Iterable[tuple]) -> int:
    """Insert ``rows`` (tuples in ``columns`` order, Python values) into ``model``'s table."""
    extra_columns, extra_values = _defaults(model, columns)
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in [*columns, *extra_columns])
    extra = tuple(extra_values)
    count = 0
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # psycopg 3 adapts datetimes, Decimals and dicts (as JSON) itself.
            from psycopg.types.json import Jsonb

            extra = tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in extra)
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + extra)
                    count += 1
        else:
            extra = tuple(_sqlite_value(v) for v in extra)
            marks = ", ".join("?" * (len(columns) + len(extra)))
            sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608
            batch = []
            raw = cursor.cursor  # the sqlite3 cursor: '?' placeholders, no Django rewriting
            for row in rows:
                batch.append(tuple(_sqlite_value(v) for v in row) + extra)
                if len(batch) >= BATCH:
                    raw.executemany(sql, batch)
                    count += len(batch)
                    batch = []
            if batch:
                raw.executemany(sql, batch)
                count += len(batch)
    return count


def analyze() -> None:
    """Fresh planner statistics (and, on PostgreSQL outside a transaction, the visibility map that
    index-only scans rely on)."""
    vacuum = connection.vendor == "postgresql" and not connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if vacuum else "ANALYZE")

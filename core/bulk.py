"""Set-based writes for the paths that queue texts by the ten thousand (a play run).

``bulk_create`` builds a model instance per row and prepares every field of every instance;
at 10^5 rows that is most of a play run. ``rows_insert`` writes plain tuples in multi-row
INSERTs instead (SQLite: VALUES lists; PostgreSQL: one JSON parameter), can skip rows that hit
a unique constraint and return columns of the rows it did insert; ``row_insert`` writes one row
with a cached statement (the webhooks). ``in_ids`` filters by a list
of ids sent as one parameter. ``ids_reserve`` takes primary keys before the
rows exist, so a row that points at them can be written first. SQLite and PostgreSQL."""

import json
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache, partial
from uuid import UUID

from django.db import NotSupportedError, connections, models, transaction
from django.db.models import F, Lookup
from django.db.models.constants import OnConflict
from django.utils import timezone

# Field types whose Python values go to the driver as they are (no adaptation per row).
_PLAIN_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "BigIntegerField",
        "IntegerField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "CharField",
        "TextField",
        "SlugField",
        "EmailField",
        "URLField",
        "BooleanField",
        "FloatField",
    }
)
# Rows per statement on PostgreSQL: bounds one statement to a few megabytes.
PG_ROWS_PER_STATEMENT = 5000
# Rows per UPDATE on SQLite (one JSON parameter, so no parameter limit applies).
SQLITE_ROWS_PER_UPDATE = 5000


def max_query_params(using: str = "default") -> int:
    """How many parameters one statement may carry. Django assumes 999 for SQLite; the limit
    is a build option (32766 since SQLite 3.32), so ask the library when it can say."""
    connection = connections[using]
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        getlimit = getattr(connection.connection, "getlimit", None)  # Python 3.11+
        if getlimit is not None:
            return getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return connection.features.max_query_params or 65535


class _InIds(Lookup):
    """``column IN ids`` with the ids as one parameter: an array on PostgreSQL, a JSON array on
    SQLite. An ordinary ``__in`` sends one parameter per id, which the ORM prepares and the
    driver quotes one by one (most of a query's cost at 2,000 ids) and which SQLite caps."""

    lookup_name = "in_ids"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        ids = [int(value) for value in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*params, pg_int_array(ids)]
        # json_each is part of SQLite (JSON is built in since 3.38, and Django's JSONField needs it).
        return f"{lhs} IN (SELECT value FROM json_each(%s))", [*params, json.dumps(ids)]  # noqa: S608


def pg_int_array(ids: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers, for a ``%s::bigint[]`` parameter: the driver
    would otherwise check and quote a Python list element by element."""
    return "{" + ",".join(str(int(value)) for value in ids) + "}"


def in_ids(field: str, ids: Collection[int]) -> Lookup:
    """A filter: ``field`` (a path such as ``contact__account_id`` works) is one of ``ids``.
    Use as ``Model.objects.filter(in_ids("contact_id", ids))``."""
    return _InIds(F(field), list(ids))


def _adapter(field: models.Field, connection):
    internal = field.get_internal_type()
    if internal in ("ForeignKey", "OneToOneField"):
        internal = field.target_field.get_internal_type()
    if internal in _PLAIN_TYPES:
        return None
    return partial(field.get_db_prep_save, connection=connection)


def _memo(adapt):
    """``adapt`` once per distinct value: a run's rows share their timestamps."""
    cache = {}

    def adapted(value):
        try:
            return cache[value]
        except KeyError:
            result = cache[value] = adapt(value)
            return result
        except TypeError:  # unhashable (a dict for a JSON column)
            return adapt(value)

    return adapted


def _json_value(value):
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    raise TypeError(f"rows_insert cannot send {type(value).__name__} values to PostgreSQL")


def _pg_statement(head: str, suffix: str, given: list, rest: list, constants: tuple, connection):
    """PostgreSQL: the rows as one JSON parameter, columns cast from it. A statement of 10^4
    placeholders (or of one array per column) costs the driver more, in Python, quoting value
    by value, than the database spends on the insert; ``json.dumps`` runs in C. A column with
    one value in every row (the run, the time) goes as a single parameter."""
    types = [field.db_type(connection) for field in given]
    rest_sql = "".join(f", %s::{field.db_type(connection)}" for field in rest)

    def statement(pending: list[Sequence]) -> tuple[str, list]:
        columns = list(zip(*pending, strict=True))
        varying = [index for index, column in enumerate(columns) if column.count(column[0]) != len(column)]
        position = {index: n for n, index in enumerate(varying)}
        select, params = [], []
        for index, field in enumerate(given):
            if index in position:
                select.append(f"(r->>{position[index]})::{types[index]}")
            else:
                select.append(f"%s::{types[index]}")
                params.append(field.get_db_prep_save(columns[index][0], connection))
        rows = [[row[index] for index in varying] for row in pending]
        params += [*constants, json.dumps(rows, default=_json_value, ensure_ascii=False)]
        sql = f"{head}SELECT {', '.join(select)}{rest_sql} FROM json_array_elements(%s::json) AS r {suffix}"  # noqa: S608
        return sql, params

    return statement, PG_ROWS_PER_STATEMENT


def _default(field: models.Field, now):
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now
    return field.get_default()


def rows_insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    ignore_conflicts: bool = False,
    returning: Sequence[str] = (),
    using: str = "default",
) -> list[tuple]:
    """Insert ``rows`` (tuples of values for ``columns``, field names or attnames) into
    ``model``'s table. Every other concrete field gets its default, as ``Model()`` would give
    it (``auto_now``/``auto_now_add`` fields: now); the auto primary key is left to the
    database unless it is one of the columns. Like ``bulk_create``: no validation, no
    signals, no ``save()``. With ``ignore_conflicts`` a row that breaks a unique constraint
    is skipped. Returns the ``returning`` columns of the rows actually inserted."""
    connection = connections[using]
    opts = model._meta
    given = [opts.get_field(name) for name in columns]
    now = timezone.now()
    rest = [
        field
        for field in opts.concrete_fields
        if field not in given
        and field is not opts.auto_field
        and not (field.has_db_default() and not field.has_default())
    ]
    constants = tuple(field.get_db_prep_save(_default(field, now), connection) for field in rest)
    adapters = [
        (index, _memo(adapt)) for index, field in enumerate(given) if (adapt := _adapter(field, connection))
    ]
    fields = given + rest
    head, suffix = _insert_parts(connection, opts, fields, ignore_conflicts, returning)
    if connection.vendor == "postgresql":
        statement, per_statement = _pg_statement(head, suffix, given, rest, constants, connection)
        adapters = []  # values go into a JSON document (see _json_value)
    else:
        placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
        per_statement = max(1, min(500, max_query_params(using) // len(fields)))

        def statement(pending: list[Sequence]) -> tuple[str, list]:
            values = ", ".join([placeholder] * len(pending))
            return f"{head}VALUES {values} {suffix}", [v for row in pending for v in (*row, *constants)]

    inserted: list[tuple] = []
    pending: list[Sequence] = []

    def flush() -> None:
        sql, params = statement(pending)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if returning:
                inserted.extend(tuple(row) for row in cursor.fetchall())
        pending.clear()

    for row in rows:
        if adapters:
            row = list(row)
            for index, adapt in adapters:
                row[index] = adapt(row[index])
        pending.append(row)
        if len(pending) == per_statement:
            flush()
    if pending:
        flush()
    return inserted


def ids_reserve(model: type[models.Model], count: int, *, using: str = "default") -> list[int]:
    """``count`` primary keys for ``model`` rows not yet written, never handed out again
    (rows inserted later without an id get others). Unused ones are only a gap.

    PostgreSQL: the column's sequence. SQLite: Django's integer keys are AUTOINCREMENT, whose
    counter lives in ``sqlite_sequence``; raising it is a write, so it takes the database's
    write lock and no other connection inserts into the range before this one commits."""
    if count <= 0:
        return []
    connection = connections[using]
    table, column = model._meta.db_table, model._meta.pk.column
    qn = connection.ops.quote_name
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [qn(table), column, count],
            )
            return sorted(row[0] for row in cursor.fetchall())
    if connection.vendor != "sqlite":
        raise NotSupportedError(f"ids_reserve: {connection.vendor} is not supported")
    # The counter never trails the largest key (rows may have been written with explicit ids,
    # or the counter row deleted by hand). In one transaction, so the counter read back is ours.
    largest = f"(SELECT COALESCE(MAX({qn(column)}), 0) FROM {qn(table)})"  # noqa: S608 - names from _meta
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE sqlite_sequence SET seq = MAX(seq, {largest}) + %s WHERE name = %s",  # noqa: S608
            [count, table],
        )
        if cursor.rowcount == 0:
            cursor.execute(
                f"INSERT INTO sqlite_sequence (name, seq) SELECT %s, {largest} + %s", [table, count]
            )
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        top = cursor.fetchone()[0]
    return list(range(top - count + 1, top + 1))


def row_insert(
    model: type[models.Model],
    values: dict[str, object],
    *,
    ignore_conflicts: bool = False,
    returning: Sequence[str] = (),
    using: str = "default",
) -> tuple | None:
    """Insert one row of ``model``: ``values`` by field name for every concrete field but the
    auto primary key (no defaults, no validation, no signals, no ``save()``). The statement's
    text is built once per shape: for the webhooks' hot path, where ``Model.objects.create``
    costs more in Python than the insert costs the database. Returns the ``returning`` columns,
    or None when ``ignore_conflicts`` skipped the row (or nothing was asked back)."""
    connection = connections[using]
    fields = [model._meta.get_field(name) for name in values]
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values.values(), strict=True)
    ]
    sql = _row_insert_sql(using, model, tuple(values), ignore_conflicts, tuple(returning))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if returning else None


@lru_cache(maxsize=64)
def _row_insert_sql(using, model, names: tuple[str, ...], ignore_conflicts: bool, returning: tuple[str, ...]):
    connection = connections[using]
    opts = model._meta
    fields = [opts.get_field(name) for name in names]
    missing = [f.name for f in opts.concrete_fields if f not in fields and f is not opts.auto_field]
    if missing:
        raise ValueError(f"row_insert({opts.label}) needs a value for {', '.join(missing)}")
    head, suffix = _insert_parts(connection, opts, fields, ignore_conflicts, returning)
    return f"{head}VALUES ({', '.join(['%s'] * len(fields))}) {suffix}"


def _insert_parts(
    connection, opts, fields, ignore_conflicts: bool, returning: Sequence[str]
) -> tuple[str, str]:
    """``INSERT INTO table (columns) `` and what follows the values (ON CONFLICT, RETURNING)."""
    qn = connection.ops.quote_name
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    if returning and not connection.features.can_return_rows_from_bulk_insert:
        raise NotSupportedError(f"This {connection.vendor} version cannot return rows from an INSERT.")
    suffix = connection.ops.on_conflict_suffix_sql(fields, on_conflict, None, None)
    if returning:
        suffix += " RETURNING " + ", ".join(qn(opts.get_field(name).column) for name in returning)
    head = (
        f"{connection.ops.insert_statement(on_conflict=on_conflict)} {qn(opts.db_table)} "
        f"({', '.join(qn(field.column) for field in fields)}) "
    )
    return head, suffix


def rows_update(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    key: str = "id",
    using: str = "default",
) -> int:
    """Set ``columns`` of many rows of ``model``, each to its own values: ``rows`` are tuples
    ``(key value, *values for columns)``. One ``UPDATE ... FROM`` per chunk of rows (PG_ROWS_PER_
    STATEMENT on PostgreSQL, SQLITE_ROWS_PER_UPDATE on SQLite), the values sent as one JSON
    parameter: PostgreSQL reads it with ``json_to_recordset`` (the document parsed once, not once
    per value), SQLite 3.33+ with ``json_each``. ``bulk_update`` writes a CASE arm per row and
    column instead, which the database evaluates row by row. No validation, no signals, no
    ``save()``; ``auto_now`` fields are not touched unless named. Returns the rows updated."""
    connection = connections[using]
    opts = model._meta
    qn = connection.ops.quote_name
    key_field = opts.get_field(key)
    fields = [opts.get_field(name) for name in columns]
    table = qn(opts.db_table)
    if connection.vendor == "postgresql":
        names = [f"c{index}" for index in range(len(fields) + 1)]
        types = [
            "jsonb" if field.get_internal_type() == "JSONField" else field.db_type(connection)
            for field in fields
        ]
        record = ", ".join(
            [f"c0 {key_field.rel_db_type(connection)}"]
            + [f"c{index} {kind}" for index, kind in enumerate(types, start=1)]
        )
        assignments = ", ".join(
            f"{qn(field.column)} = v.c{index}" for index, field in enumerate(fields, start=1)
        )
        sql = (
            f"UPDATE {table} SET {assignments} FROM json_to_recordset(%s::json) AS v({record}) "  # noqa: S608
            f"WHERE {table}.{qn(key_field.column)} = v.c0"
        )
        per_statement = PG_ROWS_PER_STATEMENT

        def prepared(row: Sequence):
            values = [row[0], *(_pg_json_ready(f, value) for f, value in zip(fields, row[1:], strict=True))]
            return dict(zip(names, values, strict=True))

    elif connection.vendor == "sqlite":
        assignments = ", ".join(
            f"{qn(field.column)} = json_extract(j.value, '$[{index}]')"
            for index, field in enumerate(fields, start=1)
        )
        sql = (
            f"UPDATE {table} SET {assignments} FROM json_each(%s) AS j "  # noqa: S608
            f"WHERE {table}.{qn(key_field.column)} = json_extract(j.value, '$[0]')"
        )
        per_statement = SQLITE_ROWS_PER_UPDATE
        adapters = [_memo(partial(field.get_db_prep_save, connection=connection)) for field in fields]

        def prepared(row: Sequence):
            return [row[0], *(adapt(value) for adapt, value in zip(adapters, row[1:], strict=True))]

    else:
        raise NotSupportedError(f"rows_update: {connection.vendor} is not supported")
    updated = 0
    pending: list = []

    def flush() -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, [json.dumps(pending, default=_json_value, ensure_ascii=False)])
            count = cursor.rowcount
        pending.clear()
        return count

    for row in rows:
        pending.append(prepared(row))
        if len(pending) == per_statement:
            updated += flush()
    if pending:
        updated += flush()
    return updated


def _pg_json_ready(field: models.Field, value):
    """A value as it goes into the JSON document of ``rows_update`` on PostgreSQL: JSON
    columns as their structure, everything else as the text PostgreSQL casts back."""
    if value is None or field.get_internal_type() == "JSONField":
        return value
    if isinstance(value, bool | int | float | str):
        return value
    return _json_value(value)

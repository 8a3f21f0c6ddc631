"""The SQLite search index: an FTS5 table with the trigram tokenizer (SQLite >= 3.34) per
searched CRM table, the equivalent of PostgreSQL's pg_trgm indexes (crm.search reads it).

Each is external-content (the index only: the text stays in the CRM table) and kept current by
triggers on insert, update and delete, so every writer keeps it right (services, bulk upserts,
merges, the admin). A SQLite migration that remakes a table (Django copies it to a new one)
drops its triggers: ``fts_install`` runs after every ``migrate`` too and puts back whatever is
missing, then rebuilds that index from the table."""

import sqlite3

# table -> the columns crm.search matches by substring.
FTS_TABLES: dict[str, tuple[str, ...]] = {
    "crm_contact": ("first_name", "last_name", "email", "phone"),
    "crm_account": ("name", "domain"),
    "crm_deal": ("name",),
}
MIN_SQLITE = (3, 34, 0)  # the trigram tokenizer
TRIGRAM = 3  # shorter words cannot be looked up in a trigram index


def fts_available(connection) -> bool:
    return connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= MIN_SQLITE


def fts_table(table: str) -> str:
    return f"{table}_fts"


def _statements(table: str, columns: tuple[str, ...]) -> dict[str, str]:
    """name -> CREATE statement of the index and its three triggers."""
    fts = fts_table(table)
    names = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    # Names from FTS_TABLES above, never from input.
    delete = f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old});"  # noqa: S608
    insert = f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new});"  # noqa: S608
    return {
        fts: f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', content_rowid='id', "
        "tokenize='trigram')",
        f"{fts}_insert": f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN {insert} END",
        f"{fts}_delete": f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN {delete} END",
        f"{fts}_update": f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {names} ON {table} "
        f"BEGIN {delete} {insert} END",
    }


def fts_install(connection) -> list[str]:
    """Create what is missing (index, triggers) and rebuild each index that was; returns the
    names created. Nothing on other databases."""
    if not fts_available(connection):
        return []
    created = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        existing = {row[0] for row in cursor.fetchall()}
        for table, columns in FTS_TABLES.items():
            if table not in existing:
                continue
            missing = {name: sql for name, sql in _statements(table, columns).items() if name not in existing}
            for name, sql in missing.items():
                cursor.execute(sql)
                created.append(name)
            if missing:
                fts = fts_table(table)
                cursor.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")  # noqa: S608 - our names
    return created


def fts_drop(connection) -> None:
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for table in FTS_TABLES:
            fts = fts_table(table)
            for trigger in ("insert", "delete", "update"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {fts}_{trigger}")
            cursor.execute(f"DROP TABLE IF EXISTS {fts}")


def after_migrate(sender, using, **kwargs) -> None:
    from django.db import connections

    fts_install(connections[using])

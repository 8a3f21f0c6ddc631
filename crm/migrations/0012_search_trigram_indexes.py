"""Trigram indexes for the shared search (crm.search) on PostgreSQL: a substring of a name,
email, domain or phone number is found from a GIN index instead of a scan of every row. The
expressions are the ones Django writes for ``icontains`` (UPPER(col::text)) and ``contains``
(col::text), so the planner can use them. Other databases get nothing: a b-tree index cannot
serve LIKE '%...%'. Needs the pg_trgm extension (in PostgreSQL's contrib, created here)."""

from django.db import migrations

# (index name, table, indexed expression)
TRIGRAM_INDEXES = [
    ("crm_contact_first_name_trgm", "crm_contact", 'UPPER("first_name"::text)'),
    ("crm_contact_last_name_trgm", "crm_contact", 'UPPER("last_name"::text)'),
    ("crm_contact_email_trgm", "crm_contact", 'UPPER("email"::text)'),
    ("crm_contact_phone_trgm", "crm_contact", '("phone"::text)'),
    ("crm_account_name_trgm", "crm_account", 'UPPER("name"::text)'),
    ("crm_account_domain_trgm", "crm_account", 'UPPER("domain"::text)'),
    ("crm_deal_name_trgm", "crm_deal", 'UPPER("name"::text)'),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, expression in TRIGRAM_INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin ({expression} gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in TRIGRAM_INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("crm", "0011_user_notify_by_email")]

    operations = [migrations.RunPython(create, drop)]

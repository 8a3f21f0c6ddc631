"""GIN indexes on the custom fields' values (``attributes``) on PostgreSQL: a list filter or a
play audience on a choice or yes/no field is a JSON containment (``attributes @> '{"tier":
"gold"}'``, crm.custom_fields.condition_q) that ``jsonb_path_ops`` answers from the index
instead of reading every row. Other databases get nothing (SQLite has no such index)."""

from django.db import migrations

GIN_INDEXES = [
    ("crm_contact_attributes_gin", "crm_contact"),
    ("crm_account_attributes_gin", "crm_account"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table in GIN_INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin ("attributes" jsonb_path_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in GIN_INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("crm", "0016_custom_fields_and_tags")]

    operations = [migrations.RunPython(create, drop)]

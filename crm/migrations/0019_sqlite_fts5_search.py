"""The SQLite equivalent of the trigram indexes (``*search_trigram_indexes``): an FTS5 index
with the trigram tokenizer per searched table, kept current by triggers (``crm/fts.py`` says
how). Runs only on SQLite >= 3.34; PostgreSQL keeps its trigram indexes."""

from django.db import migrations

from crm.fts import fts_drop, fts_install


def create(apps, schema_editor):
    fts_install(schema_editor.connection)


def drop(apps, schema_editor):
    fts_drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("crm", "0018_user_updated_at")]

    operations = [migrations.RunPython(create, drop)]

"""``PipelineStage.updated_at`` for ``pipeline-stages/?updated_after=``. Stages kept no history,
so existing ones are stamped with the time of this migration: a sync reads them once more."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("crm", "0019_sqlite_fts5_search")]

    operations = [
        migrations.AddField(model_name="pipelinestage", name="updated_at", field=models.DateTimeField(auto_now=True)),
    ]

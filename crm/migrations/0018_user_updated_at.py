"""``User.updated_at`` for ``users/?updated_after=``. Existing users get when they joined: the
last change known for them (their later sign-ins are not changes to the record), so a sync
that starts now reads them all once and nothing claims a change that did not happen."""

from django.db import migrations, models
from django.db.models import F


def fill(apps, schema_editor):
    apps.get_model("crm", "User").objects.update(updated_at=F("date_joined"))


class Migration(migrations.Migration):
    dependencies = [("crm", "0017_custom_field_gin_indexes")]

    operations = [
        migrations.AddField(model_name="user", name="updated_at", field=models.DateTimeField(auto_now=True)),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]

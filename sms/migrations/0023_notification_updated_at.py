"""``Notification.updated_at`` for ``notifications/?updated_after=``: a notification changes
when it is created and when it is read, so existing rows get their read time, else their
creation time."""

from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Coalesce


def fill(apps, schema_editor):
    apps.get_model("sms", "Notification").objects.update(updated_at=Coalesce(F("read_at"), F("created_at")))


class Migration(migrations.Migration):
    dependencies = [("sms", "0022_conversation_read_state")]

    operations = [
        migrations.AddField(
            model_name="notification", name="updated_at", field=models.DateTimeField(auto_now=True)
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]

from django.db import migrations

from sms.inbox.intent_rules import install_default_rules


def install_rules(apps, schema_editor):
    install_default_rules(apps.get_model("sms", "IntentRule"))


class Migration(migrations.Migration):
    dependencies = [("sms", "0002_inbox")]

    operations = [migrations.RunPython(install_rules, migrations.RunPython.noop)]

from django.db import migrations

DEFAULT_STAGES = [
    # name, slug, probability, is_closed, is_won, is_late
    ("Qualification", "qualification", 10, False, False, False),
    ("Discovery", "discovery", 25, False, False, False),
    ("Proposal", "proposal", 50, False, False, True),
    ("Negotiation", "negotiation", 75, False, False, True),
    ("Closed won", "closed-won", 100, True, True, False),
    ("Closed lost", "closed-lost", 0, True, False, False),
]


def create_stages(apps, schema_editor):
    PipelineStage = apps.get_model("crm", "PipelineStage")
    for position, (name, slug, probability, is_closed, is_won, is_late) in enumerate(DEFAULT_STAGES):
        PipelineStage.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "position": position,
                "probability": probability,
                "is_closed": is_closed,
                "is_won": is_won,
                "is_late": is_late,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]

    operations = [migrations.RunPython(create_stages, migrations.RunPython.noop)]

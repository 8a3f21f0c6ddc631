"""Every enrollment decided before journeys is a one-step journey that has ended: the control arm
exited at entry (holdout), a text sent or deferred completed its one step, a suppressed or failed
one exited with its reason. Arms, outcomes and decided_at are untouched, so lift reads the same."""

from django.db import migrations
from django.db.models import Value
from django.db.models.functions import Concat, Left


def forwards(apps, schema_editor):
    Enrollment = apps.get_model("plays", "Enrollment")
    Enrollment.objects.filter(arm="control").update(state="exited", exit_reason="holdout", step=0)
    Enrollment.objects.filter(arm="treatment", outcome__in=["sent", "deferred"]).update(
        state="completed", exit_reason="", step=0
    )
    Enrollment.objects.filter(arm="treatment", outcome__in=["suppressed", "failed"]).update(
        state="exited", exit_reason=Left(Concat("outcome", Value(":"), "reason"), 100), step=0
    )


def backwards(apps, schema_editor):
    pass  # the new columns go away with the schema migration


class Migration(migrations.Migration):
    dependencies = [("plays", "0005_journey_steps_and_enrollment_state")]

    operations = [migrations.RunPython(forwards, backwards)]

"""Create or update every periodic job by name. Safe to run on every deploy.

Missed runs are not replayed after downtime (Q_CLUSTER catch_up is off); the sweeper catches up.
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django_q.models import Schedule


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules (idempotent: run on every deploy)."

    def handle(self, *args, **options):
        for name, (func, schedule_type, minutes) in settings.PERIODIC_JOBS.items():
            _, created = Schedule.objects.update_or_create(
                name=name,
                defaults={
                    "func": func,
                    "schedule_type": schedule_type,
                    "minutes": minutes,
                    "repeats": -1,
                },
            )
            self.stdout.write(f"{'created' if created else 'updated'}: {name} -> {func}")

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The ground floor every app builds on: fast row writes, the domain error and its one
    translation to HTTP, and the project-wide schedules. It imports no app of the project."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        from django.db.models.signals import pre_save
        from django_q.models import Schedule

        from core.dates import bound_model_serializer_dates
        from core.schedules import schedule_check

        bound_model_serializer_dates()
        pre_save.connect(schedule_check, sender=Schedule, dispatch_uid="core.schedule_check")

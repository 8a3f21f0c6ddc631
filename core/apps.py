from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The ground floor every app builds on: fast row writes, the domain error and its one
    translation to HTTP, and the project-wide schedules. It imports no app of the project."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        from core.dates import bound_model_serializer_dates

        bound_model_serializer_dates()

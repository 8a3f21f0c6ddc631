from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The ground floor every app builds on: fast row writes, the domain error and its one
    translation to HTTP, the API's conventions, health probes, logging and the project-wide
    schedules. It imports no app of the project."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db.models.signals import pre_save
        from django_q.models import Schedule
        from django_q.signals import post_execute_in_worker, pre_enqueue, pre_execute

        from core import logs
        from core.dates import bound_model_serializer_dates
        from core.schedules import schedule_check

        bound_model_serializer_dates()
        pre_save.connect(schedule_check, sender=Schedule, dispatch_uid="core.schedule_check")
        pre_enqueue.connect(logs.stamp_task, dispatch_uid="core.logs.stamp_task")
        pre_execute.connect(logs.task_started, dispatch_uid="core.logs.task_started")
        post_execute_in_worker.connect(logs.task_finished, dispatch_uid="core.logs.task_finished")

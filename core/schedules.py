"""What a django-q schedule may call: only a function of our task modules
(settings.SCHEDULE_TASK_MODULES). A schedule names its function by dotted path and the worker
imports and calls whatever it names, so ``os.system`` with an argument would run a shell."""

from importlib import import_module

from django.conf import settings
from django.core.exceptions import ValidationError


def schedule_func_problem(func: str | None) -> str | None:
    """Why a schedule may not call ``func``, or None."""
    module, _, name = (func or "").rpartition(".")
    allowed = tuple(settings.SCHEDULE_TASK_MODULES)
    if module not in allowed or not name or name.startswith("_"):
        return f"A schedule may call only a task function of {', '.join(allowed)}; {func!r} is not one."
    if not callable(getattr(import_module(module), name, None)):
        return f"{module} has no task function {name!r}."
    return None


def schedule_check(sender, instance, **kwargs) -> None:
    """pre_save of django-q's Schedule: refuses a function outside the allow-list, whoever saves."""
    problem = schedule_func_problem(instance.func)
    if problem:
        raise ValidationError({"func": problem})

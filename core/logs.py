"""Structured logs and the request id that ties a request to the work it starts.

Every request gets an id (the caller's ``X-Request-ID`` when it is a sane token, else a new
one), answered in the ``X-Request-ID`` header and stamped on each log line written while it is
handled. Tasks enqueued during the request carry the id (django-q's ``pre_enqueue``), and the
worker restores it while the task runs, so one grep finds the request and everything it caused.
``JsonFormatter`` writes one JSON object per line (settings: ``LOG_FORMAT=json``)."""

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
TASK_KEY = "request_id"
_ACCEPTED = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# The standard LogRecord attributes: everything else on a record is an ``extra`` worth keeping.
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
task_logger = logging.getLogger("core.tasks")


def current_request_id() -> str | None:
    return request_id_var.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Outermost, so every other middleware's log lines carry the id too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get(HEADER, "")
        request_id = offered if _ACCEPTED.fullmatch(offered) else new_request_id()
        request.request_id = request_id
        # Not reset on the way out: Django logs the response (django.request) after the
        # middleware returns; the next request on this thread sets its own.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record ("-" outside a request or task), for any format."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, any
    ``extra`` fields, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS and name not in entry:
                entry[name] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


# --- django-q: the id travels with the task ----------------------------------------------------


def stamp_task(sender, task: dict, **kwargs) -> None:
    """pre_enqueue: the task remembers the request (or task) that enqueued it."""
    request_id = current_request_id()
    if request_id and TASK_KEY not in task:
        task[TASK_KEY] = request_id


def task_started(sender, func, task: dict, **kwargs) -> None:
    """pre_execute, in the worker: log lines while the task runs carry its request's id."""
    request_id_var.set(task.get(TASK_KEY) or f"task-{task.get('id', new_request_id())}")
    task_logger.info(
        "task %s started: %s", task.get("name"), task.get("func"), extra={"task_id": task.get("id")}
    )


def task_finished(sender, func, task: dict, **kwargs) -> None:
    """post_execute_in_worker: log the outcome, then forget the id."""
    level = logging.INFO if task.get("success") else logging.WARNING
    task_logger.log(
        level,
        "task %s %s",
        task.get("name"),
        "succeeded" if task.get("success") else "failed",
        extra={"task_id": task.get("id")},
    )
    request_id_var.set(None)

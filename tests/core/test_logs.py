"""Request ids: taken from X-Request-ID or generated, answered in the header, on every log line
(JSON or plain), and carried into the tasks a request enqueues and logged there by the worker."""

import io
import json
import logging
import uuid

import pytest
from django_q.brokers import get_broker
from django_q.signing import SignedPackage
from django_q.tasks import _sync, async_task

from core.logs import JsonFormatter, RequestIdFilter, request_id_var
from core.models import Heartbeat


@pytest.fixture
def json_lines():
    """Everything logged, formatted as in production (LOG_FORMAT=json)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(previous)
    request_id_var.set(None)


@pytest.mark.django_db
def test_the_callers_request_id_is_answered_and_logged(api, json_lines):
    response = api.get("/api/v1/contacts/424242/", HTTP_X_REQUEST_ID="lb-7f3a.9")
    assert response.status_code == 404 and response["X-Request-ID"] == "lb-7f3a.9"
    logged = [line for line in json_lines() if line["logger"] == "django.request"]
    assert logged and logged[-1]["request_id"] == "lb-7f3a.9" and logged[-1]["level"] == "WARNING"
    assert logged[-1]["message"] == "Not Found: /api/v1/contacts/424242/"


@pytest.mark.django_db
@pytest.mark.parametrize("offered", [None, "", "two words", "x" * 129, "new\nline"])
def test_a_missing_or_unsafe_request_id_is_replaced(client, offered):
    headers = {} if offered is None else {"HTTP_X_REQUEST_ID": offered}
    first, second = client.get("/healthz", **headers), client.get("/healthz", **headers)
    assert len(first["X-Request-ID"]) == 32 and first["X-Request-ID"] != offered
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_json_lines_keep_extras_and_tracebacks(json_lines):
    request_id_var.set("r-1")
    logger = logging.getLogger("tests.logs")
    logger.info("charged %s", "acme", extra={"amount": 12})
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    charged, failed = json_lines()[-2:]
    assert charged["message"] == "charged acme" and charged["amount"] == 12 and charged["request_id"] == "r-1"
    assert charged["time"].endswith("+00:00")
    assert "ValueError: boom" in failed["exc_info"] and failed["level"] == "ERROR"


@pytest.mark.django_db
def test_a_task_carries_the_request_id_into_the_worker(json_lines):
    broker = get_broker(list_key=f"logs-{uuid.uuid4().hex[:12]}")
    request_id_var.set("req-from-the-api")
    async_task("core.health.worker_heartbeat", broker=broker, task_name="beat")
    request_id_var.set(None)  # the worker is another process: nothing but the task travels
    (_, payload), *_ = broker.dequeue()
    task = SignedPackage.loads(payload)
    assert task["request_id"] == "req-from-the-api"
    broker.purge_queue()

    task["sync"] = True  # run it here, through django-q's own worker loop
    _sync(SignedPackage.dumps(task))
    assert Heartbeat.objects.exists()
    in_worker = [line for line in json_lines() if line["logger"] == "core.tasks"]
    assert [line["message"] for line in in_worker] == [
        "task beat started: core.health.worker_heartbeat",
        "task beat succeeded",
    ]
    assert {line["request_id"] for line in in_worker} == {"req-from-the-api"}
    assert request_id_var.get() is None

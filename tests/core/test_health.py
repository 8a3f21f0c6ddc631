"""/healthz and /readyz: no auth; readiness names the failing part with a stopped worker, an
unreachable broker or a queue nobody drains."""

import uuid
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from core.health import worker_heartbeat
from core.models import Heartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(settings):
    """A queue of this test's own on the configured broker (ORM or Redis)."""
    name = f"readyz-{uuid.uuid4().hex[:12]}"
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "name": name}
    broker = get_broker(list_key=name)
    yield broker
    broker.purge_queue()


def test_healthz_answers_anyone(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_ready_when_everything_answers(client, queue):
    worker_heartbeat()
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "broker", "worker", "queue"}
    assert body["checks"]["worker"]["heartbeat_age_seconds"] < 5
    assert body["checks"]["queue"]["oldest_task_age_seconds"] == 0


def test_a_stopped_worker_is_not_ready(client, queue):
    worker_heartbeat(now=timezone.now() - timedelta(minutes=10))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]
    assert "worker" in response.json()["detail"] and "heartbeat" in response.json()["detail"]
    assert response.json()["checks"]["worker"]["heartbeat_age_seconds"] >= 600


def test_a_worker_that_never_beat_is_not_ready(client, queue):
    assert not Heartbeat.objects.exists()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["failing"] == ["worker"]


def test_an_unreachable_broker_is_not_ready(client, settings, queue):
    worker_heartbeat()
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": "redis://127.0.0.1:1/0"}  # nothing listens there
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]
    assert "broker unreachable" in response.json()["detail"]


def test_an_old_task_waiting_in_the_queue_is_not_ready(client, queue):
    worker_heartbeat()
    queue.enqueue(SignedPackage.dumps({"id": "late", "started": timezone.now() - timedelta(minutes=20)}))
    queue.enqueue(SignedPackage.dumps({"id": "fresh", "started": timezone.now()}))
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["failing"] == ["queue"]
    assert response.json()["checks"]["queue"]["oldest_task_age_seconds"] >= 1200


def test_an_unreachable_database_is_not_ready(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("django.db.backends.utils.CursorWrapper.execute", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503 and "database" in response.json()["failing"]


def test_the_heartbeat_is_a_periodic_job(settings):
    assert ("core.health.worker_heartbeat", "I", 1) in settings.PERIODIC_JOBS.values()
    worker_heartbeat()
    worker_heartbeat()
    assert Heartbeat.objects.count() == 1

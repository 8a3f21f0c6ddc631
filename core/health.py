"""What ``/readyz`` checks: the database, the task broker, the worker's heartbeat and the age
of the oldest task waiting in the queue. Each check answers a ``Check``; any failing one makes
the instance not ready (503, the failing parts named)."""

import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from core.models import Heartbeat

WORKER = "worker"


@dataclass
class Check:
    ok: bool
    detail: str = ""
    facts: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"ok": self.ok, **({"detail": self.detail} if self.detail else {}), **self.facts}


def worker_heartbeat(*, now=None) -> None:
    """The periodic job (settings.PERIODIC_JOBS): one row, moved forward each minute."""
    Heartbeat.objects.update_or_create(name=WORKER, defaults={"beat_at": now or timezone.now()})


def check_database() -> Check:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return Check(False, f"database unreachable: {type(exc).__name__}")
    return Check(True, facts={"ms": round((time.monotonic() - started) * 1000, 1)})


def _redis_url() -> str | None:
    return settings.Q_CLUSTER.get("redis") or None


def _redis(url: str):
    import redis

    timeout = settings.READYZ_BROKER_TIMEOUT_SECONDS
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def _queue_key() -> str:
    return settings.Q_CLUSTER["name"]


def check_broker() -> Check:
    """Redis when it is the broker (its own short timeouts, so a dead broker answers fast);
    the ORM broker lives in the database, so reading its table is the check."""
    url = _redis_url()
    if url:
        try:
            _redis(url).ping()
        except Exception as exc:  # any failure of the client is "unreachable" here
            return Check(False, f"redis broker unreachable: {type(exc).__name__}", {"kind": "redis"})
        return Check(True, facts={"kind": "redis"})
    from django_q.models import OrmQ

    try:
        OrmQ.objects.filter(key=_queue_key()).exists()
    except DatabaseError as exc:
        return Check(False, f"ORM broker unreadable: {type(exc).__name__}", {"kind": "orm"})
    return Check(True, facts={"kind": "orm"})


def check_worker(*, now) -> Check:
    limit = settings.READYZ_WORKER_MAX_AGE_SECONDS
    beat = Heartbeat.objects.filter(name=WORKER).values_list("beat_at", flat=True).first()
    if beat is None:
        return Check(
            False, "no worker heartbeat yet (is `manage.py qcluster` running?)", {"max_age_seconds": limit}
        )
    age = max(0.0, (now - beat).total_seconds())
    facts = {"heartbeat_age_seconds": round(age), "max_age_seconds": limit}
    if age > limit:
        return Check(False, f"the worker's last heartbeat was {round(age)}s ago", facts)
    return Check(True, facts=facts)


def _oldest_queued_started():
    """When the oldest task still waiting was enqueued (django-q stamps ``started`` then)."""
    from django_q.signing import SignedPackage

    url = _redis_url()
    if url:
        payload = _redis(url).lindex(f"django_q:{_queue_key()}:q", 0)  # rpush in, blpop out
    else:
        from django_q.models import OrmQ

        payload = (
            OrmQ.objects.filter(key=_queue_key(), lock__lte=timezone.now())
            .order_by("id")
            .values_list("payload", flat=True)
            .first()
        )
    if not payload:
        return None
    return SignedPackage.loads(payload).get("started")


def check_queue(*, now) -> Check:
    limit = settings.READYZ_QUEUE_MAX_AGE_SECONDS
    try:
        started = _oldest_queued_started()
    except Exception as exc:  # the broker check names an unreachable broker
        return Check(False, f"queue unreadable: {type(exc).__name__}", {"max_age_seconds": limit})
    if started is None:
        return Check(True, facts={"oldest_task_age_seconds": 0, "max_age_seconds": limit})
    age = max(0.0, (now - started).total_seconds())
    facts = {"oldest_task_age_seconds": round(age), "max_age_seconds": limit}
    if age > limit:
        return Check(False, f"the oldest queued task has waited {round(age)}s", facts)
    return Check(True, facts=facts)


def readiness(*, now=None) -> dict[str, Check]:
    """Every check, by name. Without a database nothing else can be read."""
    now = now or timezone.now()
    checks = {"database": check_database(), "broker": check_broker()}
    if not checks["database"].ok:
        return checks
    checks[WORKER] = check_worker(now=now)
    if checks["broker"].ok:
        checks["queue"] = check_queue(now=now)
    return checks

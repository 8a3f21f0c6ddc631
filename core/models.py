from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """The first answer to a POST that carried an ``Idempotency-Key``, kept so a retry with the
    same key and body gets that answer again instead of doing the work twice.

    The row is inserted before the request runs (the unique key makes a concurrent duplicate
    wait or fail instead of running too); ``status_code`` stays null until the answer is known."""

    scope = models.CharField(max_length=64, help_text="The caller: 'token:<id>' or 'user:<id>'.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    location = models.CharField(max_length=2000, blank=True)
    response_body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="core_idempotency_key_once_per_caller"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} -> {self.status_code or 'running'}"


class Heartbeat(models.Model):
    """The last time a background job proved the worker alive: the periodic job
    ``core.health.worker_heartbeat`` beats through the scheduler, the broker and a worker, so a
    stale beat means one of them stopped. ``/readyz`` reads its age."""

    name = models.CharField(max_length=64, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"

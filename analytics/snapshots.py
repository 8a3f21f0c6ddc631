"""Snapshots of expensive analytics answers: computed once, reused until they are older than
ANALYTICS_SNAPSHOT_MAX_AGE_MINUTES, refreshed for the dashboard by a scheduled job."""

import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from analytics.models import Snapshot
from analytics.scope import Scope


def snapshot_get_or_compute(
    metric: str, scope: Scope, compute: Callable[[], dict], *, refresh: bool = False
) -> dict:
    """The answer for ``metric`` and ``scope`` with ``snapshot`` (when it was computed and how long
    it took) added; recomputed when missing, stale or ``refresh`` is set."""
    key = scope.key()
    max_age = timedelta(minutes=settings.ANALYTICS_SNAPSHOT_MAX_AGE_MINUTES)
    if not refresh and max_age:
        fresh = Snapshot.objects.filter(
            metric=metric, params_key=key, computed_at__gte=timezone.now() - max_age
        ).first()
        if fresh is not None:
            return _with_meta(fresh, cached=True)
    started = time.monotonic()
    payload = compute()
    fields = {
        "params": scope.as_dict(),
        "payload": payload,
        "computed_at": timezone.now(),
        "duration_ms": int((time.monotonic() - started) * 1000),
    }
    try:
        with transaction.atomic():
            snapshot, _ = Snapshot.objects.update_or_create(metric=metric, params_key=key, defaults=fields)
    except IntegrityError:  # another worker stored the same answer a moment ago
        Snapshot.objects.filter(metric=metric, params_key=key).update(**fields)
        snapshot = Snapshot(metric=metric, params_key=key, **fields)
    return _with_meta(snapshot, cached=False)


def _with_meta(snapshot: Snapshot, *, cached: bool) -> dict:
    return {
        **snapshot.payload,
        "snapshot": {
            "computed_at": snapshot.computed_at.isoformat(),
            "duration_ms": snapshot.duration_ms,
            "from_snapshot": cached,
        },
    }

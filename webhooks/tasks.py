"""django-q2 entry points: thin, idempotent (deliveries are claimed row by row)."""

from webhooks.delivery import deliveries_sweep as _sweep
from webhooks.delivery import endpoint_drain as _drain


def endpoint_drain(endpoint_id: int) -> dict[str, int]:
    return _drain(endpoint_id=endpoint_id)


def deliveries_sweep() -> int:
    return _sweep()

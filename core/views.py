"""Probes for load balancers and orchestrators. No authentication, no session, never cached."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.health import readiness


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 while the process serves requests. Touches nothing else."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database, the broker, the worker and the queue are fine; else 503
    naming the failing parts (``failing`` and ``detail``), each check's facts in ``checks``."""
    checks = readiness()
    failing = [name for name, check in checks.items() if not check.ok]
    body = {
        "status": "failing" if failing else "ok",
        "failing": failing,
        "checks": {name: check.as_dict() for name, check in checks.items()},
    }
    if failing:
        body["detail"] = "Not ready: " + "; ".join(f"{name} ({checks[name].detail})" for name in failing)
    return JsonResponse(body, status=503 if failing else 200)

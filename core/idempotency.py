"""``Idempotency-Key`` on every API POST: the same key from the same caller with the same body
gets the first answer again (header ``Idempotent-Replayed: true``); the same key with another
body answers 422; a duplicate that arrives while the first is still running answers 409.

Keys are scoped to the caller (an API token, or a signed-in user) and kept for
``settings.IDEMPOTENCY_KEY_HOURS`` (at least 24). A claim is a row inserted before the view runs:
the unique (scope, key) constraint lets exactly one of two concurrent requests run."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.settings import api_settings

from core.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Answers that say the request never ran (or may run later): not kept, the key is freed.
NOT_KEPT = {401, 403, 408, 425, 429}


def caller_scope(request) -> str | None:
    """Whose keys these are: the API token (``token:<id>``) or else the signed-in user
    (``user:<id>``); None for an anonymous caller. Takes an authenticated DRF request."""
    token = getattr(request, "auth", None)
    if token is not None and getattr(token, "pk", None) is not None:
        return f"token:{token.pk}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _authenticated_scope(request: HttpRequest) -> str | None:
    """Authenticates the way the API views will (their authentication classes), before they run.
    A caller who fails authentication gets no scope: the view answers 401/403 itself."""
    original_user = request.__dict__.get("user")
    drf_request = Request(
        request, authenticators=[cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    )
    try:
        drf_request.user  # noqa: B018 -- runs the authenticators
    except APIException:
        return None
    finally:
        if original_user is not None:
            request.user = original_user  # DRF's Request sets it; the view authenticates again
    return caller_scope(drf_request)


def _error(status: int, detail: str, code: str, **headers) -> JsonResponse:
    response = JsonResponse({"detail": detail, "code": code}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256(f"{request.method} {request.get_full_path()}\n".encode())
    digest.update(request.body)
    return digest.hexdigest()


def _claim(scope: str, key: str, print_: str) -> tuple[IdempotencyKey | None, bool]:
    """Insert the claim; when the key is taken, return the row that holds it (None if it was
    released between the insert and the read)."""
    now = timezone.now()
    expired_before = now - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    try:
        with transaction.atomic():
            IdempotencyKey.objects.filter(scope=scope, key=key, created_at__lt=expired_before).delete()
            return IdempotencyKey.objects.create(
                scope=scope, key=key, fingerprint=print_, created_at=now
            ), True
    except IntegrityError:
        return IdempotencyKey.objects.filter(scope=scope, key=key).first(), False


def _replay(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(record.response_body), status=record.status_code)
    if record.content_type:
        response["Content-Type"] = record.content_type
    if record.location:
        response["Location"] = record.location
    response[REPLAYED_HEADER] = "true"
    return response


def _keep(record: IdempotencyKey, response: HttpResponse) -> None:
    IdempotencyKey.objects.filter(pk=record.pk).update(
        status_code=response.status_code,
        content_type=response.get("Content-Type", ""),
        location=response.get("Location", "")[:2000],
        response_body=response.content,
    )


class IdempotencyMiddleware:
    """Applies the rules above to POSTs under /api/ that carry the header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get(HEADER)
        if key is None or request.method != "POST" or not request.path_info.startswith("/api/"):
            return self.get_response(request)
        if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            return _error(
                400,
                f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.",
                "invalid_idempotency_key",
            )
        scope = _authenticated_scope(request)
        if scope is None:
            return self.get_response(request)
        try:
            print_ = fingerprint(request)
        except RequestDataTooBig:
            return _error(
                413,
                f"{HEADER} is accepted for bodies up to {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes; "
                "send this request without it.",
                "request_too_large",
            )
        record, claimed = _claim(scope, key, print_)
        if not claimed:
            if record is not None and record.fingerprint != print_:
                return _error(
                    422,
                    f"This {HEADER} was already used for a different request (another body or path). "
                    "Use a new key for a new request.",
                    "idempotency_key_reused",
                )
            if record is None or record.status_code is None:
                return _error(
                    409,
                    f"A request with this {HEADER} is still being processed; retry shortly.",
                    "idempotency_key_in_use",
                    Retry_After="1",
                )
            return _replay(record)
        try:
            response = self.get_response(request)
        except BaseException:
            IdempotencyKey.objects.filter(pk=record.pk).delete()
            raise
        if response.status_code >= 500 or response.status_code in NOT_KEPT or response.streaming:
            IdempotencyKey.objects.filter(pk=record.pk).delete()  # free to retry
        else:
            _keep(record, response)
        return response


def idempotency_keys_purge(*, now=None) -> int:
    """Forget keys older than the retention window; returns how many were deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted

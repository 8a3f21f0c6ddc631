"""One error base for the domain and its one translation to HTTP: ``exception_handler`` for
the REST API (settings REST_FRAMEWORK["EXCEPTION_HANDLER"]) and ``html_domain_errors`` for
server-rendered views. Services raise a ``DomainError``; views do not map errors by hand."""

import math
from collections import Counter
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.db.models import ProtectedError
from django.http import HttpRequest, HttpResponse
from rest_framework import status
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback


class DomainError(Exception):
    """Something a user or an integration asked for that the domain refuses.

    ``code`` is machine-readable, ``message`` is for people, ``status`` is the HTTP status it
    answers with. The API body is ``{"detail": message, "code": code}``; a subclass that
    belongs to one input field sets ``field`` and answers like a field's validation error,
    ``{field: [message]}``. Subclasses set class defaults and may take them per instance."""

    code: str = "invalid"
    status: int = status.HTTP_400_BAD_REQUEST
    field: str | None = None

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict:
        """The JSON body the API answers with."""
        if self.field:
            return {self.field: [self.message]}
        return {"detail": self.message, "code": self.code}


def exception_handler(exc, context):
    """The REST API's one exception handler: domain errors with their status and body, DRF's
    own errors as DRF answers them, and database conflicts a client caused as 4xx, never 500."""
    if isinstance(exc, DomainError):
        set_rollback()  # as DRF does for its own errors, should requests be atomic
        return Response(exc.body(), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(as_serializer_error(exc))
    response = drf_exception_handler(exc, context)
    if response is not None:
        if isinstance(exc, Throttled):
            rate_limit_headers(response, context.get("view"), exc.wait)
        return response
    if isinstance(exc, ProtectedError):
        counts = Counter(obj._meta for obj in exc.protected_objects)
        listed = ", ".join(
            f"{n} {meta.verbose_name if n == 1 else meta.verbose_name_plural}"
            for meta, n in sorted(counts.items(), key=lambda item: item[0].label)
        )
        return Response(
            {"detail": f"Cannot delete: it still has {listed}, kept as history. Re-assign or merge first."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, IntegrityError):
        # Two writers raced past validation; the database kept the data consistent.
        return Response(
            {"detail": "Conflicts with an existing record (a unique value is already taken)."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DataError):
        # A value the database cannot represent (a date in year 137 at UTC+23:58, a number past
        # the column's range) that got past the field's own validation: the client's input.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid value"
        return Response(
            {"detail": f"A value in the request is out of range for the database: {first_line}"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return None


def rate_limit_headers(response: Response, view, wait: float | None) -> None:
    """``RateLimit-Policy`` and ``RateLimit`` (IETF draft-ietf-httpapi-ratelimit-headers) beside
    ``Retry-After`` on a 429: each of the view's rate throttles as ``"<scope>";q=<requests>;w=<seconds>``
    and, for the one that refused, ``r=0`` requests left and ``t`` seconds until there are more."""
    policies = []
    for throttle in view.get_throttles() if view is not None else []:
        limit, window = getattr(throttle, "num_requests", None), getattr(throttle, "duration", None)
        if limit and window:
            policies.append(
                (getattr(throttle, "scope", None) or type(throttle).__name__.lower(), limit, window)
            )
    if not policies:
        return
    response["RateLimit-Policy"] = ", ".join(
        f'"{name}";q={limit};w={window}' for name, limit, window in policies
    )
    name, _, window = policies[0]
    response["RateLimit"] = f'"{name}";r=0;t={math.ceil(wait) if wait is not None else window}'


ErrorPage = Callable[..., HttpResponse]


def html_domain_errors(error_page: ErrorPage):
    """View decorator, the HTML views' one translation: a ``DomainError`` raised by the view is
    answered by ``error_page(request, error, *args, **kwargs)`` (typically the same page again
    with ``error.message`` beside the form), with ``error.status`` as its status code; an error
    page that redirects (a flash message, then the page the user came from) keeps its redirect."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                return view(request, *args, **kwargs)
            except DomainError as error:
                response = error_page(request, error, *args, **kwargs)
                if not response.has_header("Location"):  # a redirect with a message keeps its 302
                    response.status_code = error.status
                return response

        return wrapper

    return decorate

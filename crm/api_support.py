"""Shared REST API plumbing: pagination and an exception handler that never lets a client
turn a database-level conflict into a 500."""

from collections import Counter

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.db.models import ProtectedError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(as_serializer_error(exc))
    response = drf_exception_handler(exc, context)
    if response is not None:
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

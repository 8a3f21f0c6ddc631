"""How API lists are cut into pages.

Most lists page by number (``?page=``, ``?page_size=``, with ``count``). Append-only feeds
(messages, events, activities, enrollments, the consent ledger) page by cursor: ``next`` and
``previous`` are opaque links that stay correct while new rows arrive and cost the same at any
depth, so an integration can walk a large feed without skipping or repeating rows. A feed still
pages by number when the request names a ``page``, for clients written before cursors."""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class Pagination(PageNumberPagination):
    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class FeedPagination(CursorPagination):
    """Cursor pages in the list's ordering (its ``?ordering=`` or default); ``?page=N`` switches
    to numbered pages. A cursor that was not handed out by us answers 400 naming ``cursor``."""

    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = "-id"  # when the view declares none
    numbered: Pagination | None = None

    def paginate_queryset(self, queryset, request, view=None):
        if Pagination.page_query_param in request.query_params:
            self.numbered = Pagination()
            return self.numbered.paginate_queryset(queryset, request, view)
        self.numbered = None
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {self.cursor_query_param: ["Invalid cursor: follow `next` or `previous`."]}
            ) from None

    def get_paginated_response(self, data):
        if self.numbered is not None:
            return self.numbered.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count"] = {
            "type": "integer",
            "description": "Only with `?page=` (numbered pages); cursor pages do not count.",
        }
        return response

    def get_schema_operation_parameters(self, view):
        page = Pagination().get_schema_operation_parameters(view)[0]
        page["schema"]["description"] = page["description"] = (
            "Page number: pages by number (with `count`) instead of by cursor; for older clients."
        )
        return [*super().get_schema_operation_parameters(view), page]

"""Shared REST API plumbing: search (``RecordSearchFilter``). Pagination lives in
``core.pagination`` (``Pagination`` is kept here so the settings' old dotted path keeps working);
the one exception handler is ``core.errors``."""

from rest_framework.filters import SearchFilter

from core.pagination import Pagination

__all__ = ["Pagination", "RecordSearchFilter"]


class RecordSearchFilter(SearchFilter):
    """``?search=``: a view with a ``search_records(queryset, q)`` method searches with it (the
    function its HTML list and the global search box use, so all three find the same records:
    a phone number in national format included); other views keep DRF's ``search_fields``."""

    def filter_queryset(self, request, queryset, view):
        search = getattr(view, "search_records", None)
        if search is None:
            return super().filter_queryset(request, queryset, view)
        return search(queryset, request.query_params.get(self.search_param, ""))

"""The global search box: every record type at once, as you type."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm.search import MAX_QUERY_LENGTH, normalize_query, search_everything

# Hits per record type in the box; the full page shows more.
BOX_LIMIT = 5
PAGE_LIMIT = 20


def global_search(request: HttpRequest) -> HttpResponse:
    """``?q=``: contacts, accounts, deals and conversations by name, email, domain or phone.
    htmx asks for the results partial (the dropdown under the box); a plain GET is a page."""
    q = normalize_query(request.GET.get("q"))
    partial = bool(getattr(request, "htmx", False)) and not request.htmx.boosted
    groups = search_everything(q, user=request.user, limit=BOX_LIMIT if partial else PAGE_LIMIT)
    context = {
        "q": q,
        "groups": groups,
        "found": sum(len(group.hits) for group in groups),
        "max_length": MAX_QUERY_LENGTH,
    }
    template = "crm/partials/search_results.html" if partial else "crm/search.html"
    return render(request, template, context)

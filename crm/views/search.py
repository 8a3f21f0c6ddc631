"""The global search box (every record type at once, as you type) and the searchable pickers."""

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from crm import search
from crm.forms import active_users, contact_label
from crm.models import Account, Contact
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


PICK_LIMIT = 10


def _pick_users(q: str):
    users = active_users()
    for word in q.split():
        users = users.filter(
            Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(username__icontains=word)
        )
    return [(user.pk, str(user), user.get_role_display()) for user in users[:PICK_LIMIT]]


def _pick_accounts(q: str):
    accounts = search.accounts_search(Account.objects.only("id", "name", "domain"), q).order_by("name", "id")
    return [(account.pk, account.name, account.domain) for account in accounts[:PICK_LIMIT]]


def _pick_contacts(q: str):
    contacts = search.contacts_search(Contact.objects.select_related("account"), q).order_by(
        *search.CONTACT_RESULT_ORDER
    )
    return [(c.pk, contact_label(c), c.email or c.phone or "") for c in contacts[:PICK_LIMIT]]


PICKERS = {"user": _pick_users, "account": _pick_accounts, "contact": _pick_contacts}


def record_pick(request: HttpRequest, kind: str) -> HttpResponse:
    """The options of a searchable picker (crm.forms.SearchPicker): up to ten records of
    ``kind`` matching ``?q=`` (the first ten by name when it is empty), in one query."""
    pick = PICKERS.get(kind)
    if pick is None:
        raise Http404("No such picker.")
    options = pick(normalize_query(request.GET.get("q")))
    return render(request, "crm/partials/picker_options.html", {"options": options})

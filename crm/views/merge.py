"""Duplicate contacts: the list of likely duplicates, and the side-by-side merge page."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from crm.data_forms import MergeForm
from crm.forms import add_service_errors
from crm.merge import account_merge, contact_merge, duplicate_groups, load_group_contacts, related_counts
from crm.models import Account, Contact

GROUPS_PER_PAGE = 25


def contact_duplicates(request: HttpRequest) -> HttpResponse:
    page = Paginator(duplicate_groups(), GROUPS_PER_PAGE).get_page(request.GET.get("page"))
    load_group_contacts(page.object_list)
    return render(request, "crm/contact_duplicates.html", {"page_obj": page})


def _pair(model, request: HttpRequest):
    ids = [request.GET.get("survivor", ""), request.GET.get("other", "")]
    if not all(value.isdigit() for value in ids) or ids[0] == ids[1]:
        raise Http404("Choose two different records to merge.")
    related = ("account", "owner") if model is Contact else ("owner", "ae")
    found = model.objects.select_related(*related).in_bulk([int(value) for value in ids])
    if len(found) != 2:
        raise Http404("One of the records no longer exists.")
    return found[int(ids[0])], found[int(ids[1])]


def _merge_page(request: HttpRequest, model, merge, what: str) -> HttpResponse:
    first, second = _pair(model, request)
    form = MergeForm(request.POST or None, first=first, second=second)
    if request.method == "POST" and form.is_valid():
        survivor, other = form.records()
        try:
            result = merge(survivor=survivor, other=other, keep=form.keep(), actor=request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            moved = ", ".join(f"{n} {label}" for label, n in sorted(result.moved.items()))
            messages.success(
                request, f"Merged {what} #{other.pk} into this one" + (f" (moved {moved})." if moved else ".")
            )
            return redirect(result.survivor)
    counts = related_counts(model, [first.pk, second.pk])
    context = {
        "form": form,
        "first": first,
        "second": second,
        "what": what,
        "first_counts": counts.get(first.pk, {}),
        "second_counts": counts.get(second.pk, {}),
    }
    return render(request, "crm/merge.html", context, status=400 if request.method == "POST" else 200)


def contact_merge_page(request: HttpRequest) -> HttpResponse:
    """?survivor=<id>&other=<id>: both records side by side, a choice per differing field."""
    return _merge_page(request, Contact, contact_merge, "contact")


def account_merge_page(request: HttpRequest) -> HttpResponse:
    return _merge_page(request, Account, account_merge, "account")

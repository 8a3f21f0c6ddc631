from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render

from crm import exports, selectors, services
from crm.forms import RenewalFilterForm, RenewalForm
from crm.models import Account, Renewal
from crm.views.common import form_data, paginate, redirect_next, save_with


def _filtered(request: HttpRequest) -> tuple[RenewalFilterForm, QuerySet[Renewal]]:
    filters = RenewalFilterForm(request.GET)
    filters.is_valid()  # invalid values are ignored: cleaned_data keeps only the valid ones
    renewals = selectors.renewal_due_list(
        within_days=filters.window_days(),
        status=filters.cleaned_data.get("status") or "",
        account=filters.cleaned_data.get("account"),
    )
    return filters, renewals


def renewal_list(request: HttpRequest) -> HttpResponse:
    filters, renewals = _filtered(request)
    return render(
        request, "crm/renewal_list.html", {"filters": filters, "page_obj": paginate(request, renewals)}
    )


def renewal_export(request: HttpRequest) -> StreamingHttpResponse:
    """The list with its current filters, as CSV."""
    _, renewals = _filtered(request)
    return exports.csv_response("renewals", renewals, exports.RENEWAL_COLUMNS)


def renewal_create(request: HttpRequest) -> HttpResponse:
    initial = {}
    account_id = request.GET.get("account", "")
    if account_id.isdigit():
        initial["account"] = Account.objects.filter(pk=account_id).first()
    form = RenewalForm(form_data(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        renewal = save_with(form, services.renewal_create, actor=request.user, **form.cleaned_data)
        if renewal is not None:
            messages.success(request, f"Renewal for {renewal.account} created.")
            return redirect_next(request, "renewal_list")
    return render(request, "crm/renewal_form.html", {"form": form, "renewal": None})


def renewal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    renewal = get_object_or_404(Renewal.objects.select_related("account"), pk=pk)
    title = str(renewal)  # the service may change the instance before it fails validation
    form = RenewalForm(form_data(request), instance=renewal)
    if request.method == "POST" and form.is_valid():
        saved = save_with(
            form, services.renewal_update, renewal=renewal, actor=request.user, **form.cleaned_data
        )
        if saved is not None:
            messages.success(request, f"Renewal for {renewal.account} saved.")
            return redirect_next(request, "renewal_list")
    return render(request, "crm/renewal_form.html", {"form": form, "renewal": renewal, "title": title})

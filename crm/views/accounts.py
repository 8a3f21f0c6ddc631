from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from crm import custom_fields, exports, listing, selectors, services
from crm.forms import AccountFilterForm, AccountForm, ActivityLogForm, BulkAccountForm
from crm.models import Account, CustomFieldObject, LifecycleStage
from crm.views.common import form_data, log_touch, paginate, redirect_next, save_with


def _filtered(request: HttpRequest) -> tuple[AccountFilterForm, QuerySet[Account]]:
    definitions = custom_fields.definitions(CustomFieldObject.ACCOUNT)
    filters = AccountFilterForm(request.GET, plans=selectors.account_plans(), custom=definitions)
    filters.is_valid()  # invalid values are ignored: cleaned_data keeps only the valid ones
    criteria = filters.cleaned_data
    fields = {field.key: field for field in definitions}
    conditions, filters.custom_problems = custom_fields.conditions_from_params(request.GET, fields)
    filters.custom_columns = [field for field in definitions if field.show_in_list]
    accounts = selectors.account_list(
        conditions=conditions,
        fields=fields,
        q=criteria.get("q") or "",
        stage=criteria.get("stage") or "",
        owner=criteria.get("owner"),
        plan=criteria.get("plan") or "",
        ordering=listing.ACCOUNTS.ordering(criteria.get("sort") or "")
        or listing.ACCOUNTS.ordering(listing.ACCOUNTS.default_sort),
    )
    return filters, accounts


def account_list(request: HttpRequest) -> HttpResponse:
    filters, accounts = _filtered(request)
    return render(
        request,
        "crm/account_list.html",
        {
            "filters": filters,
            "page_obj": paginate(request, accounts),
            "spec": listing.ACCOUNTS,
            "saved_views": listing.saved_views_for(request.user, listing.ACCOUNTS.name),
            "bulk_form": BulkAccountForm(),
        },
    )


def account_export(request: HttpRequest) -> StreamingHttpResponse:
    """The list with its current filters, as CSV."""
    _, accounts = _filtered(request)
    return exports.csv_response("accounts", accounts, exports.ACCOUNT_COLUMNS)


def _render_detail(request: HttpRequest, pk: int, touch_form: ActivityLogForm) -> HttpResponse:
    detail = selectors.account_detail(pk)
    if detail is None:
        raise Http404("No such account.")
    context = {"detail": detail, "touch_form": touch_form, "stages": LifecycleStage.choices}
    return render(request, "crm/account_detail.html", context)


def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, pk, ActivityLogForm())


@require_POST
def account_log_touch(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(Account, pk=pk)
    form = ActivityLogForm(request.POST)
    if log_touch(request, form, account=account):
        return redirect(account)
    return _render_detail(request, pk, form)


def account_create(request: HttpRequest) -> HttpResponse:
    """A likely duplicate (same name, or same domain) is shown first; "Create anyway" goes on."""
    form = AccountForm(form_data(request), initial={"owner": request.user})
    duplicates = []
    if request.method == "POST" and form.is_valid():
        if not request.POST.get("create_anyway"):
            duplicates = selectors.likely_duplicate_accounts(
                name=form.cleaned_data["name"], domain=form.cleaned_data.get("domain") or ""
            )
        if not duplicates:
            account = save_with(form, services.account_create, **form.service_fields())
            if account is not None:
                messages.success(request, f"Account “{account}” created.")
                return redirect_next(request, account)
    return render(request, "crm/account_form.html", {"form": form, "account": None, "duplicates": duplicates})


def account_edit(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(Account, pk=pk)
    title = str(account)  # the service may change the instance before it fails validation
    form = AccountForm(form_data(request), instance=account)
    if request.method == "POST" and form.is_valid():
        saved = save_with(form, services.account_update, account=account, **form.service_fields())
        if saved is not None:
            messages.success(request, f"Account “{account}” saved.")
            return redirect_next(request, account)
    return render(request, "crm/account_form.html", {"form": form, "account": account, "title": title})


@require_POST
def account_stage_override(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Set stage by hand" (``stage``) or "Clear, go back to derived" (``clear``)."""
    account = get_object_or_404(Account, pk=pk)
    stage = "" if request.POST.get("clear") else (request.POST.get("stage") or "").strip()
    if not stage and not request.POST.get("clear"):
        messages.error(request, "Choose a stage to set by hand.")
        return redirect(account)
    try:
        services.account_stage_override(account=account, stage=stage, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(account)
    if stage:
        messages.success(
            request, f"Stage set by hand to {account.get_lifecycle_stage_display()}; it stays until cleared."
        )
    else:
        messages.success(request, f"Back to the derived stage: {account.get_lifecycle_stage_display()}.")
    return redirect(account)

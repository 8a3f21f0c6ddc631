from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm import exports, selectors, services
from crm.forms import DealFilterForm, DealForm, DealMoveForm
from crm.models import Account, Deal, PipelineStage
from crm.views.common import form_data, redirect_next, save_with


def _board_context(request: HttpRequest, **extra) -> dict:
    filters = DealFilterForm(request.GET)
    filters.is_valid()  # invalid values are ignored: cleaned_data keeps only the valid ones
    criteria = filters.cleaned_data
    board = selectors.deal_board(owner=criteria.get("owner"), kind=criteria.get("kind") or "")
    filter_query = filters.data.urlencode() if filters.data else ""
    return {"board": board, "filters": filters, "filter_query": filter_query, **extra}


def deal_board(request: HttpRequest) -> HttpResponse:
    return render(request, "crm/deal_board.html", _board_context(request))


def deal_export(request: HttpRequest) -> StreamingHttpResponse:
    """The deals on the board with its current filters, as CSV."""
    filters = DealFilterForm(request.GET)
    filters.is_valid()
    criteria = filters.cleaned_data
    deals = selectors.deals_on_board(owner=criteria.get("owner"), kind=criteria.get("kind") or "")
    return exports.csv_response(
        "deals", deals.order_by("stage__position", "-amount", "id"), exports.DEAL_COLUMNS
    )


@require_POST
def deal_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a deal to another stage from its board card. htmx requests get the board back;
    plain form posts are redirected to it (keeping the board's filters)."""
    deal = get_object_or_404(Deal.objects.select_related("stage", "account", "contact"), pk=pk)
    form = DealMoveForm(request.POST, stages=PipelineStage.objects.all())
    notice, error = "", ""
    if not form.is_valid():
        error = "Choose a stage to move the deal to."
    elif form.cleaned_data["stage"] != deal.stage:
        stage = form.cleaned_data["stage"]
        try:
            services.deal_update(deal=deal, actor=request.user, stage=stage)
            notice = f"Moved “{deal}” to {stage}."
        except ValidationError as exc:
            error = f"Could not move “{deal}”: {' '.join(exc.messages)}"
    if request.htmx:
        return render(
            request, "crm/partials/deal_board.html", _board_context(request, notice=notice, error=error)
        )
    if error:
        messages.error(request, error)
    elif notice:
        messages.success(request, notice)
    query = request.GET.urlencode()
    return redirect(reverse("deal_board") + (f"?{query}" if query else ""))


def deal_create(request: HttpRequest) -> HttpResponse:
    initial = {"owner": request.user, "stage": PipelineStage.objects.filter(is_closed=False).first()}
    account_id = request.GET.get("account", "")
    if account_id.isdigit():
        initial["account"] = Account.objects.filter(pk=account_id).first()
    form = DealForm(form_data(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        deal = save_with(form, services.deal_create, actor=request.user, **form.cleaned_data)
        if deal is not None:
            messages.success(request, f"Deal “{deal}” created.")
            return redirect_next(request, "deal_board")
    return render(request, "crm/deal_form.html", {"form": form, "deal": None})


def deal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    deal = get_object_or_404(Deal.objects.select_related("stage", "account"), pk=pk)
    title = str(deal)  # the service may change the instance before it fails validation
    form = DealForm(form_data(request), instance=deal)
    if request.method == "POST" and form.is_valid():
        saved = save_with(form, services.deal_update, deal=deal, actor=request.user, **form.cleaned_data)
        if saved is not None:
            messages.success(request, f"Deal “{deal}” saved.")
            return redirect_next(request, "deal_board")
    return render(request, "crm/deal_form.html", {"form": form, "deal": deal, "title": title})

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm import custom_fields, exports, listing, selectors, services
from crm.forms import ActivityLogForm, BulkContactForm, ContactFilterForm, ContactForm
from crm.models import Account, Contact, CustomFieldObject, Tag
from crm.views.common import form_data, log_touch, paginate, redirect_next, save_with


def _filtered(request: HttpRequest) -> tuple[ContactFilterForm, QuerySet[Contact]]:
    definitions = custom_fields.definitions(CustomFieldObject.CONTACT)
    filters = ContactFilterForm(request.GET, custom=definitions)
    filters.is_valid()  # invalid values are ignored: cleaned_data keeps only the valid ones
    criteria = filters.cleaned_data
    fields = {field.key: field for field in definitions}
    conditions, filters.custom_problems = custom_fields.conditions_from_params(request.GET, fields)
    filters.custom_columns = [field for field in definitions if field.show_in_list]
    contacts = selectors.contact_list(
        tag=criteria.get("tag") or "",
        conditions=conditions,
        fields=fields,
        q=criteria.get("q") or "",
        account=criteria.get("account"),
        owner=criteria.get("owner"),
        consent=criteria.get("consent") or "",
        clv_tier=criteria.get("clv_tier") or "",
        ordering=listing.CONTACTS.ordering(criteria.get("sort") or ""),
    )
    return filters, contacts


def contact_list(request: HttpRequest) -> HttpResponse:
    filters, contacts = _filtered(request)
    return render(
        request,
        "crm/contact_list.html",
        {
            "filters": filters,
            "page_obj": paginate(request, contacts),
            "spec": listing.CONTACTS,
            "columns": listing.CONTACTS.shown_columns(filters.cleaned_data.get("columns")),
            "sort": filters.cleaned_data.get("sort") or "",
            "saved_views": listing.saved_views_for(request.user, listing.CONTACTS.name),
            "bulk_form": BulkContactForm(),
            "tag_names": list(Tag.objects.order_by("name").values_list("name", flat=True)[:500]),
        },
    )


def contact_export(request: HttpRequest) -> StreamingHttpResponse:
    """The list with its current filters, as CSV."""
    _, contacts = _filtered(request)
    # The export's columns do not include the tags: no prefetch of them per chunk.
    return exports.csv_response("contacts", contacts.prefetch_related(None), exports.CONTACT_COLUMNS)


def _render_detail(request: HttpRequest, pk: int, touch_form: ActivityLogForm) -> HttpResponse:
    detail = selectors.contact_detail(pk)
    if detail is None:
        raise Http404("No such contact.")
    # Other modules add panels to the contact page (settings.CONTACT_PAGE_PANELS: URL names that
    # take the contact id); they load with htmx so crm never imports them.
    panels = [reverse(name, args=[pk]) for name in settings.CONTACT_PAGE_PANELS]
    return render(
        request, "crm/contact_detail.html", {"detail": detail, "touch_form": touch_form, "panels": panels}
    )


def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_detail(request, pk, ActivityLogForm())


@require_POST
def contact_log_touch(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    form = ActivityLogForm(request.POST)
    if log_touch(request, form, contact=contact):
        return redirect(contact)
    return _render_detail(request, pk, form)


def contact_create(request: HttpRequest) -> HttpResponse:
    initial = {"owner": request.user}
    account_id = request.GET.get("account", "")
    if account_id.isdigit():
        initial["account"] = Account.objects.filter(pk=account_id).first()
    form = ContactForm(form_data(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        contact = save_with(form, services.contact_create, actor=request.user, **form.service_fields())
        if contact is not None:
            messages.success(request, f"Contact “{contact}” created.")
            return redirect_next(request, contact)
    return render(request, "crm/contact_form.html", {"form": form, "contact": None})


def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact.objects.select_related("account"), pk=pk)
    title = str(contact)  # the service may change the instance before it fails validation
    form = ContactForm(form_data(request), instance=contact)
    if request.method == "POST" and form.is_valid():
        saved = save_with(
            form, services.contact_update, contact=contact, actor=request.user, **form.service_fields()
        )
        if saved is not None:
            messages.success(request, f"Contact “{contact}” saved.")
            return redirect_next(request, contact)
    return render(request, "crm/contact_form.html", {"form": form, "contact": contact, "title": title})

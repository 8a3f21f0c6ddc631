"""Settings → Custom fields: admins define the typed fields of accounts and contacts (add,
edit, reorder, delete). Everyone else gets a 403. Changes go through crm.services and are
kept in the change history (django-auditlog, settings.AUDITLOG_INCLUDE_TRACKING_MODELS)."""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.history import changes_for
from crm import services
from crm.forms import CustomFieldForm
from crm.models import CustomField, CustomFieldObject
from crm.roles import can_manage_users
from crm.views.common import save_with

ADMINS_ONLY = "Only admins can define custom fields."


def admin_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not can_manage_users(request.user):
            raise PermissionDenied(ADMINS_ONLY)
        return view(request, *args, **kwargs)

    return wrapped


def _page(request: HttpRequest, form: CustomFieldForm, *, status: int = 200) -> HttpResponse:
    fields = list(CustomField.objects.order_by("object_type", "position", "id"))
    groups = [
        (value, label, [field for field in fields if field.object_type == value])
        for value, label in CustomFieldObject.choices
    ]
    return render(request, "crm/custom_fields.html", {"groups": groups, "form": form}, status=status)


@admin_required
def custom_field_list(request: HttpRequest) -> HttpResponse:
    """The fields of accounts and of contacts, in order; a form to add one."""
    if request.method == "POST":
        form = CustomFieldForm(request.POST)
        if form.is_valid():
            field = save_with(form, services.custom_field_save, actor=request.user, **form.cleaned_data)
            if field is not None:
                messages.success(
                    request, f"Field “{field.label}” added to {field.get_object_type_display().lower()}."
                )
                return redirect("custom_field_list")
        return _page(request, form, status=400)
    return _page(request, CustomFieldForm(initial={"object_type": request.GET.get("for", "contact")}))


@admin_required
def custom_field_edit(request: HttpRequest, pk: int) -> HttpResponse:
    field = get_object_or_404(CustomField, pk=pk)
    form = CustomFieldForm(request.POST or None, instance=field)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            values = {k: v for k, v in form.cleaned_data.items() if k not in ("object_type", "key")}
            if save_with(form, services.custom_field_save, field=field, actor=request.user, **values):
                messages.success(request, f"Field “{field.label}” saved.")
                return redirect("custom_field_list")
            field.refresh_from_db()  # the refused change is not shown as if it were kept
        status = 400
    return render(
        request,
        "crm/custom_field_form.html",
        {"form": form, "field": field, "history": changes_for(field)},
        status=status,
    )


@require_POST
@admin_required
def custom_field_delete(request: HttpRequest, pk: int) -> HttpResponse:
    field = get_object_or_404(CustomField, pk=pk)
    services.custom_field_delete(field=field, actor=request.user)
    messages.success(
        request, f"Field “{field.label}” deleted. Its values stay on the records as plain attributes."
    )
    return redirect("custom_field_list")


@require_POST
@admin_required
def custom_field_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a field one place up or down among its type's fields."""
    field = get_object_or_404(CustomField, pk=pk)
    keys = list(
        CustomField.objects.filter(object_type=field.object_type)
        .order_by("position", "id")
        .values_list("key", flat=True)
    )
    index = keys.index(field.key)
    other = index - 1 if request.POST.get("direction") == "up" else index + 1
    if 0 <= other < len(keys):
        keys[index], keys[other] = keys[other], keys[index]
        services.custom_fields_reorder(object_type=field.object_type, keys=keys, actor=request.user)
    return redirect("custom_field_list")

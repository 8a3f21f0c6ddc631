"""What every list page shares: saved views (save, delete) and bulk actions on the selected rows.
Each bulk action is one set-based service call, whatever the number of rows selected."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_POST

from core import bulk
from crm import exports, listing, services
from crm.forms import (
    BulkAccountForm,
    BulkContactForm,
    BulkTaskForm,
    SavedViewForm,
    add_service_errors,
    contact_bulk_extensions,
)
from crm.models import Contact, SavedView

LIST_URLS = {SavedView.ListName.CONTACTS: "contact_list", SavedView.ListName.ACCOUNTS: "account_list"}


def _list_url(list_name: str, query: str = "") -> str:
    return reverse(LIST_URLS[list_name]) + (f"?{query}" if query else "")


@require_POST
def saved_view_save(request: HttpRequest, list_name: str) -> HttpResponse:
    """Keep the list as it is now (its filters, sort and columns) under a name."""
    spec = listing.SPECS.get(list_name)
    if spec is None:
        raise Http404("No such list.")
    form = SavedViewForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Give the view a name (at most 80 characters).")
    query = spec.view_query(QueryDict(form.cleaned_data["query"]))
    view = services.saved_view_save(
        owner=request.user,
        list_name=list_name,
        name=form.cleaned_data["name"],
        query=query,
        shared=form.cleaned_data["shared"],
    )
    messages.success(request, f"View “{view}” saved{' and shared with the team' if view.shared else ''}.")
    return redirect(_list_url(list_name, f"{query}&view={view.pk}" if query else f"view={view.pk}"))


@require_POST
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk)
    try:
        services.saved_view_delete(view=view, actor=request.user)
    except PermissionDenied as exc:
        return HttpResponse(str(exc), status=403)
    messages.success(request, f"View “{view}” deleted.")
    return redirect(_list_url(view.list_name))


def _back(request: HttpRequest, list_name: str) -> str:
    target = request.POST.get("next", "")
    return target if target.startswith(reverse(LIST_URLS[list_name])) else _list_url(list_name)


@require_POST
def contacts_bulk(request: HttpRequest) -> HttpResponse:
    """Assign an owner to, add a task to, tag or untag, export, or delete the selected contacts, or hand them
    to a bulk action an app above crm owns (record an opt-out, enroll in a play). Adding a task
    and deleting show a page first (the task to add; what will go); its confirmed form acts."""
    form = BulkContactForm(request.POST)
    back = _back(request, SavedView.ListName.CONTACTS)
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(error))
        return redirect(back)
    ids, action = form.cleaned_data["ids"], form.cleaned_data["action"]
    extension = contact_bulk_extensions().get(action)
    if extension is not None:
        return import_string(extension[1])(request, ids=ids, back=back)
    if action == BulkContactForm.ADD_TASK:
        return _contacts_add_task(request, ids, back, confirmed=form.cleaned_data["confirm"])
    try:
        if action == BulkContactForm.EXPORT:
            # The list's own export (same columns), of the selection.
            selected = Contact.objects.filter(bulk.in_ids("pk", services.bulk_ids(ids)))
            return exports.csv_response(
                "contacts-selected",
                selected.select_related("account", "owner").order_by("pk"),
                exports.CONTACT_COLUMNS,
            )
        if action == BulkContactForm.ASSIGN_OWNER:
            owner = form.cleaned_data.get("owner")
            changed = services.contacts_assign_owner(contact_ids=ids, owner=owner, actor=request.user)
            messages.success(
                request, f"{changed} contact{'s' if changed != 1 else ''} now owned by {owner or 'nobody'}."
            )
        elif action in (BulkContactForm.ADD_TAG, BulkContactForm.REMOVE_TAG):
            name = form.cleaned_data["tag"]
            if action == BulkContactForm.ADD_TAG:
                changed = services.contacts_add_tag(contact_ids=ids, name=name, actor=request.user)
                done = f"Tagged {changed} contact{'s' if changed != 1 else ''} “{name.strip()}”."
            else:
                changed = services.contacts_remove_tag(contact_ids=ids, name=name, actor=request.user)
                done = f"Removed “{name.strip()}” from {changed} contact{'s' if changed != 1 else ''}."
            messages.success(request, done)
        elif not form.cleaned_data["confirm"]:
            doomed = Contact.objects.filter(pk__in=ids).order_by("last_name", "first_name", "id")
            return render(
                request,
                "crm/bulk_delete_confirm.html",
                {"ids": ids, "count": doomed.count(), "sample": doomed[:20], "next": back},
            )
        else:
            result = services.contacts_delete(contact_ids=ids, actor=request.user)
            note = f" {result.kept} with orders kept (merge them instead)." if result.kept else ""
            messages.success(
                request, f"{result.deleted} contact{'s' if result.deleted != 1 else ''} deleted.{note}"
            )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(back)


def _contacts_add_task(request: HttpRequest, ids: list[int], back: str, *, confirmed: bool) -> HttpResponse:
    """The task form for the selection; once filled in, one task per contact."""
    task_form = BulkTaskForm(request.POST if confirmed else None, initial={"owner": request.user})
    if confirmed and task_form.is_valid():
        try:
            created = services.contacts_add_task(
                contact_ids=ids, actor=request.user, **task_form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(task_form, exc)
        else:
            owner = task_form.cleaned_data["owner"]
            messages.success(
                request, f"Task added to {created} contact{'s' if created != 1 else ''}, for {owner}."
            )
            return redirect(back)
    return render(
        request,
        "crm/bulk_task.html",
        {"ids": ids, "count": len(ids), "form": task_form, "next": back},
        status=400 if confirmed else 200,
    )


@require_POST
def accounts_bulk(request: HttpRequest) -> HttpResponse:
    """Move the selected accounts to a lifecycle stage, or assign them an owner."""
    form = BulkAccountForm(request.POST)
    back = _back(request, SavedView.ListName.ACCOUNTS)
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(error))
        return redirect(back)
    ids, action = form.cleaned_data["ids"], form.cleaned_data["action"]
    try:
        if action == BulkAccountForm.SET_STAGE:
            changed = services.accounts_set_stage(
                account_ids=ids, stage=form.cleaned_data["stage"], actor=request.user
            )
            messages.success(request, f"{changed} account{'s' if changed != 1 else ''} moved.")
        else:
            owner = form.cleaned_data.get("owner")
            changed = services.accounts_assign_owner(account_ids=ids, owner=owner, actor=request.user)
            messages.success(
                request, f"{changed} account{'s' if changed != 1 else ''} now owned by {owner or 'nobody'}."
            )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(back)

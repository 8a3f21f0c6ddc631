from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from crm import exports, selectors, services
from crm.forms import TaskFilterForm, TaskForm
from crm.models import Account, Contact, Task, TaskStatus
from crm.views.common import form_data, paginate, redirect_next, save_with


def _filtered(request: HttpRequest) -> tuple[TaskFilterForm, str, QuerySet[Task]]:
    filters = TaskFilterForm(request.GET, user=request.user)
    filters.is_valid()  # invalid values are ignored: cleaned_data keeps only the valid ones
    show = filters.cleaned_data.get("show") or "open"
    due = filters.cleaned_data.get("due") or ""
    return filters, show, selectors.task_list(**filters.scope(), show=show, due=due)


def task_export(request: HttpRequest) -> StreamingHttpResponse:
    """The tasks as listed (whose, open or done, due when), as CSV."""
    _, _, tasks = _filtered(request)
    return exports.csv_response("tasks", tasks, exports.TASK_COLUMNS)


def task_list(request: HttpRequest) -> HttpResponse:
    filters, show, tasks = _filtered(request)
    return render(
        request,
        "crm/task_list.html",
        {"filters": filters, "show": show, "mine": filters.is_mine(), "page_obj": paginate(request, tasks)},
    )


def _after_save(task: Task):
    """Back to the record the task is about, else to my tasks."""
    return task.contact or task.account or "task_list"


def task_create(request: HttpRequest) -> HttpResponse:
    initial: dict = {"owner": request.user}
    contact_id, account_id = request.GET.get("contact", ""), request.GET.get("account", "")
    if contact_id.isdigit():
        contact = Contact.objects.select_related("account").filter(pk=contact_id).first()
        if contact is not None:
            initial.update(contact=contact, account=contact.account)
    if account_id.isdigit():
        initial["account"] = Account.objects.filter(pk=account_id).first()
    form = TaskForm(form_data(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        task = save_with(form, services.task_create, actor=request.user, **form.cleaned_data)
        if task is not None:
            messages.success(request, f"Task “{task}” created.")
            return redirect_next(request, _after_save(task))
    return render(request, "crm/task_form.html", {"form": form, "task": None})


def task_edit(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(Task.objects.select_related("account", "contact"), pk=pk)
    title = str(task)  # the service may change the instance before it fails validation
    form = TaskForm(form_data(request), instance=task)
    if request.method == "POST" and form.is_valid():
        saved = save_with(form, services.task_update, task=task, **form.cleaned_data)
        if saved is not None:
            messages.success(request, f"Task “{task}” saved.")
            return redirect_next(request, _after_save(task))
    return render(request, "crm/task_form.html", {"form": form, "task": task, "title": title})


@require_POST
def task_done(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(Task, pk=pk)
    if task.status != TaskStatus.DONE:
        services.task_update(task=task, status=TaskStatus.DONE)
        messages.success(request, f"Done: “{task}”.")
    return redirect_next(request, "task_list")

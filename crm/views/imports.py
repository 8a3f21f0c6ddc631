"""CSV import pages: upload -> column mapping -> dry run (row by row) -> import, the last two
in the background with a progress bar polled by htmx; the error report downloads as CSV."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from crm import exports
from crm.data_forms import ImportMappingForm, ImportUploadForm
from crm.forms import add_service_errors
from crm.imports import importer_class
from crm.imports.jobs import (
    import_job_create,
    import_job_map,
    import_job_sample,
    import_job_start,
    import_report_rows,
)
from crm.models import ImportAction, ImportJob, ImportRowOutcome, ImportStatus
from crm.views.common import paginate

OUTCOMES_PER_PAGE = 100


def import_list(request: HttpRequest) -> HttpResponse:
    """Start an import (pick the kind, upload the file) and see earlier ones."""
    initial = {"kind": request.GET.get("kind", "contacts")}
    form = ImportUploadForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = import_job_create(
                kind=form.cleaned_data["kind"],
                upload=upload,
                file_name=upload.name,
                options=form.import_options(),
                actor=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect(job)
    jobs = ImportJob.objects.select_related("created_by").order_by("-created_at", "-id")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "crm/import_list.html",
        {"form": form, "page_obj": paginate(request, jobs, 20)},
        status=status,
    )


def _outcomes_page(request: HttpRequest, job: ImportJob):
    outcomes = ImportRowOutcome.objects.filter(job=job, phase=job.phase).order_by("line")
    action = request.GET.get("action", "")
    if action == "problems":
        outcomes = outcomes.exclude(
            action__in=[ImportAction.CREATE, ImportAction.UPDATE, ImportAction.UNCHANGED], warnings=""
        )
    elif action in ImportAction.values:
        outcomes = outcomes.filter(action=action)
    return action, Paginator(outcomes, OUTCOMES_PER_PAGE).get_page(request.GET.get("page"))


def _mapping_context(job: ImportJob, form: ImportMappingForm) -> dict:
    """The mapping form, each column with its first values from the file."""
    sample = import_job_sample(job)
    columns = [
        (field, [row[position] for row in sample if position < len(row) and row[position].strip()])
        for position, field in enumerate(form.column_bound_fields())
    ]
    return {"form": form, "columns": columns}


def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.select_related("created_by"), pk=pk)
    importer = importer_class(job.kind)
    context = {"job": job, "importer": importer, "accounts_created": job.counts.get("accounts created", 0)}
    editing = job.status == ImportStatus.UPLOADED or (
        request.GET.get("edit")
        and job.status in (ImportStatus.PLANNED, ImportStatus.FAILED)
        and job.chunks.exists()
    )
    if editing:
        context.update(_mapping_context(job, ImportMappingForm(job=job)))
    elif not job.is_working:
        context["action"], context["page_obj"] = _outcomes_page(request, job)
        context["action_counts"] = dict(
            ImportRowOutcome.objects.filter(job=job, phase=job.phase)
            .order_by()
            .values_list("action")
            .annotate(n=Count("pk"))
            .values_list("action", "n")
        )
    return render(request, "crm/import_detail.html", context)


@require_POST
def import_map(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the mapping and start the dry run."""
    job = get_object_or_404(ImportJob, pk=pk)
    form = ImportMappingForm(request.POST, job=job)
    if form.is_valid():
        try:
            import_job_map(job=job, mapping=form.mapping(), options=form.import_options())
            import_job_start(job=job, dry_run=True)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return redirect(job)
    context = {"job": job, "importer": importer_class(job.kind), **_mapping_context(job, form)}
    return render(request, "crm/import_detail.html", context, status=400)


@require_POST
def import_start(request: HttpRequest, pk: int) -> HttpResponse:
    """Run the import the dry run showed."""
    job = get_object_or_404(ImportJob, pk=pk)
    try:
        import_job_start(job=job, dry_run=False)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Importing {job.file_name}: you can leave this page, it carries on.")
    return redirect(job)


def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled by htmx while the job works; when it is done the page reloads
    to show the outcome."""
    job = get_object_or_404(ImportJob, pk=pk)
    if request.htmx and not job.is_working:
        return HttpResponseClientRefresh()
    return render(request, "crm/partials/import_progress.html", {"job": job})


def import_report(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The rows with a problem, as they were in the file, with the line and the reason."""
    job = get_object_or_404(ImportJob, pk=pk)
    return exports.rows_response(f"import-{job.pk}-problems", import_report_rows(job))

"""Import jobs: upload -> column mapping -> dry run -> run, for the UI (in the background,
django-q2) and the ``import_csv`` command (in the foreground).

The uploaded file is kept in the database in 1 MiB pieces, so any worker can stream it. A
worker holds a job with a lease and works for a bounded time; what is left is handed to a
new task, which resumes after the last committed batch (``resume_after_line``). A task that
dies loses its lease and the periodic sweep hands the job to another worker."""

import contextlib
import io
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import islice

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.imports import UnknownImportKind, importer_class
from crm.imports.base import RowPlan
from crm.imports.reading import CHUNK_BYTES, ByteSource, ImportFileError, iter_rows, open_text, read_layout
from crm.imports.runner import RunResult, run_import
from crm.models import (
    ImportAction,
    ImportFileChunk,
    ImportJob,
    ImportPhase,
    ImportRowOutcome,
    ImportStatus,
)
from crm.phones import is_region_code

logger = logging.getLogger(__name__)

# A task works this long, then hands the rest on (the django-q task timeout is 60 s).
TASK_BUDGET_SECONDS = 40.0
# Longer than a task may live (Q_CLUSTER timeout 60 s), so a live task never loses its job.
LEASE = timedelta(seconds=90)
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
REPORT_COLUMNS = ["line", "action", "problem"]


# --- The file in the database ----------------------------------------------------------------


class _ChunkStream(io.RawIOBase):
    """Reads a job's pieces in order, one query per piece."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.next_position = 0
        self.buffer = b""
        self.offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        if self.offset >= len(self.buffer):
            data = (
                ImportFileChunk.objects.filter(job_id=self.job_id, position=self.next_position)
                .values_list("data", flat=True)
                .first()
            )
            if data is None:
                return 0
            self.buffer, self.offset = bytes(data), 0
            self.next_position += 1
        size = min(len(target), len(self.buffer) - self.offset)
        target[:size] = self.buffer[self.offset : self.offset + size]
        self.offset += size
        return size


class JobFileSource(ByteSource):
    def __init__(self, job: ImportJob):
        self.job_id, self.name, self.size = job.pk, job.file_name, job.file_size

    def open(self) -> io.RawIOBase:
        return _ChunkStream(self.job_id)


def _pieces(upload, size: int) -> Iterator[bytes]:
    if hasattr(upload, "chunks"):
        yield from upload.chunks(size)
        return
    while piece := upload.read(size):
        yield piece


# --- Creating and configuring a job ----------------------------------------------------------


def clean_options(options: dict | None) -> dict:
    options = dict(options or {})
    region = (options.get("phone_region") or "").strip().upper()
    if region and not is_region_code(region):
        raise ValidationError({"phone_region": f"{region!r} is not a known region code (e.g. US, GB)."})
    if region:
        options["phone_region"] = region
    return options


def import_job_create(
    *, kind: str, upload, file_name: str, options: dict | None = None, actor=None
) -> ImportJob:
    """Store an uploaded CSV and read its layout (encoding, delimiter, header); the mapping
    starts as the auto-detected one. Raises ValidationError for an unknown kind or a file
    that is not CSV."""
    try:
        importer = importer_class(kind)()
    except UnknownImportKind as exc:
        raise ValidationError({"kind": str(exc)}) from None
    options = clean_options(options)
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind, file_name=file_name[:255], options=options, created_by=actor
        )
        size = 0
        for position, piece in enumerate(_pieces(upload, CHUNK_BYTES)):
            size += len(piece)
            if size > MAX_UPLOAD_BYTES:
                raise ValidationError({"file": f"The file is larger than {MAX_UPLOAD_BYTES // 2**20} MB."})
            ImportFileChunk.objects.create(job=job, position=position, data=piece)
        job.file_size = size
        source = JobFileSource(job)
        try:
            layout = read_layout(source)
        except ImportFileError as exc:
            raise ValidationError({"file": str(exc)}) from None
        job.encoding, job.delimiter, job.header = layout.encoding, layout.delimiter, layout.header
        job.mapping = importer.auto_map(layout.header)
        job.save()
    return job


def import_job_create_from_path(*, kind: str, source: ByteSource, options: dict | None = None, actor=None):
    """A job for a file read in place (the command): nothing is copied into the database."""
    try:
        importer = importer_class(kind)()
    except UnknownImportKind as exc:
        raise ValidationError({"kind": str(exc)}) from None
    try:
        layout = read_layout(source)
    except ImportFileError as exc:
        raise ValidationError({"file": str(exc)}) from None
    return ImportJob.objects.create(
        kind=kind,
        file_name=source.name[:255],
        file_size=source.size,
        encoding=layout.encoding,
        delimiter=layout.delimiter,
        header=layout.header,
        mapping=importer.auto_map(layout.header),
        options=clean_options(options),
        created_by=actor,
    )


def import_job_map(*, job: ImportJob, mapping: dict[str, str], options: dict | None = None) -> ImportJob:
    """Set the column mapping (column -> field, "" to ignore). A new mapping needs a new dry run."""
    if job.is_working:
        raise ValidationError("The import is working; wait for it to finish.")
    if job.status == ImportStatus.DONE:
        raise ValidationError("This file has been imported; upload it again to import it again.")
    problems = importer_class(job.kind)().check_mapping(mapping, job.header)
    if problems:
        raise ValidationError({"mapping": problems})
    job.mapping = {column: target for column, target in mapping.items() if target}
    if options is not None:
        job.options = clean_options({**job.options, **options})
    job.status = ImportStatus.UPLOADED
    job.save(update_fields=["mapping", "options", "status", "updated_at"])
    return job


# --- Running -------------------------------------------------------------------------------


def import_job_begin(*, job: ImportJob, dry_run: bool) -> ImportJob:
    """Move the job into its dry run or run, from a state that allows it, exactly once."""
    allowed = [ImportStatus.UPLOADED, ImportStatus.PLANNED, ImportStatus.FAILED]
    problems = importer_class(job.kind)().check_mapping(job.mapping, job.header)
    if problems:
        raise ValidationError({"mapping": problems})
    resuming = job.status == ImportStatus.FAILED and not job.dry_run and not dry_run and job.resume_after_line
    fields = {
        "status": ImportStatus.PLANNING if dry_run else ImportStatus.RUNNING,
        "dry_run": dry_run,
        "error": "",
        "finished_at": None,
        "lease_until": None,
        "updated_at": timezone.now(),
    }
    if not resuming:
        fields.update(bytes_done=0, rows_done=0, resume_after_line=0, counts={}, started_at=timezone.now())
    with transaction.atomic():
        if not ImportJob.objects.filter(pk=job.pk, status__in=allowed).update(**fields):
            raise ValidationError("The import is already working or finished.")
        if not resuming:
            phase = ImportPhase.PLAN if dry_run else ImportPhase.RUN
            ImportRowOutcome.objects.filter(job=job, phase=phase).delete()
    job.refresh_from_db()
    return job


def import_job_start(*, job: ImportJob, dry_run: bool) -> ImportJob:
    """Queue the dry run (writes nothing) or the run of an uploaded file; a worker does it."""
    job = import_job_begin(job=job, dry_run=dry_run)
    transaction.on_commit(lambda: _enqueue(job.pk), robust=True)
    return job


def _enqueue(job_id: int) -> None:
    from django_q.tasks import async_task

    try:
        async_task("crm.imports.tasks.import_job_work", job_id, task_name=f"import-{job_id}-{time.time_ns()}")
    except Exception:
        # The periodic sweep (imports_resume_stalled) picks the job up.
        logger.exception("Could not enqueue import job %s", job_id)


def import_job_work(*, job_id: int, budget_seconds: float | None = TASK_BUDGET_SECONDS) -> str:
    """The background task: take the job's lease, work until the budget is spent, hand the
    rest to a new task. A job someone else holds, or that is not working, is left alone."""
    now = timezone.now()
    claimed = (
        ImportJob.objects.filter(pk=job_id, status__in=[ImportStatus.PLANNING, ImportStatus.RUNNING])
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE)
    )
    if not claimed:
        return "not claimed"
    job = ImportJob.objects.get(pk=job_id)
    deadline = time.monotonic() + budget_seconds if budget_seconds else None
    try:
        result = import_job_execute(job=job, source=JobFileSource(job), deadline=deadline)
    except ImportFileError as exc:
        _fail(job, str(exc))
        return "failed"
    except Exception as exc:
        logger.exception("Import job %s failed", job_id)
        _fail(job, f"Stopped by an unexpected error after line {job.resume_after_line}: {exc}")
        return "failed"
    if not result.finished:
        ImportJob.objects.filter(pk=job_id).update(lease_until=None)
        _enqueue(job_id)
        return "continues"
    return "done"


def _fail(job: ImportJob, error: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.FAILED, error=error[:2000], lease_until=None, finished_at=timezone.now()
    )


ProgressCallback = Callable[[ImportJob], None]


def import_job_execute(
    *,
    job: ImportJob,
    source: ByteSource,
    deadline: float | None = None,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Do the job's dry run or run (``job.dry_run``) from where it stands. Each batch commits
    its writes, its outcomes and the job's progress together, so a resumed job neither loses
    nor repeats a row."""
    importer = importer_class(job.kind)(
        options=job.options, actor=job.created_by, dry_run=job.dry_run, job=job
    )
    phase = ImportPhase.PLAN if job.dry_run else ImportPhase.RUN
    counts = Counter(job.counts)

    def on_batch(rows: list[RowPlan], bytes_read: int) -> None:
        ImportRowOutcome.objects.bulk_create(
            [_outcome(job, phase, row) for row in rows if job.dry_run or _has_problem(row)], batch_size=500
        )
        for row in rows:
            counts[row.action] += 1
            if row.warnings and row.action != ImportAction.SKIP:
                counts["warnings"] += 1
        counts.update({name: n for name, n in importer.extra_counts.items() if n})
        importer.extra_counts.clear()
        job.bytes_done, job.rows_done = bytes_read, job.rows_done + len(rows)
        job.resume_after_line, job.counts = rows[-1].line, dict(counts)
        ImportJob.objects.filter(pk=job.pk).update(
            bytes_done=job.bytes_done,
            rows_done=job.rows_done,
            resume_after_line=job.resume_after_line,
            counts=job.counts,
            lease_until=timezone.now() + LEASE,
            updated_at=timezone.now(),
        )
        if progress is not None:
            progress(job)

    result = run_import(
        importer=importer,
        source=source,
        encoding=job.encoding,
        delimiter=job.delimiter,
        header=job.header,
        mapping=job.mapping,
        on_batch=on_batch,
        resume_after_line=job.resume_after_line,
        deadline=deadline,
    )
    if result.finished:
        _finish(job, counts)
    return result


def _finish(job: ImportJob, counts: Counter) -> None:
    job.status = ImportStatus.PLANNED if job.dry_run else ImportStatus.DONE
    job.counts, job.finished_at, job.lease_until, job.bytes_done = (
        dict(counts),
        timezone.now(),
        None,
        job.file_size,
    )
    fields = ["status", "counts", "finished_at", "lease_until", "bytes_done", "updated_at"]
    if job.dry_run:
        job.plan_counts = dict(counts)
        fields.append("plan_counts")
    with transaction.atomic():
        job.save(update_fields=fields)
        if not job.dry_run:
            # The rows are in; the report keeps what a person needs from the file.
            ImportFileChunk.objects.filter(job=job).delete()


def _has_problem(row: RowPlan) -> bool:
    return row.action == ImportAction.SKIP or bool(row.warnings)


def _outcome(job: ImportJob, phase: str, row: RowPlan) -> ImportRowOutcome:
    return ImportRowOutcome(
        job=job,
        phase=phase,
        line=row.line,
        action=row.action,
        key=row.label[:300],
        reason=row.reason,
        warnings=" ".join(row.warnings),
        record_id=row.record_id,
        cells=row.cells if _has_problem(row) else [],
        changes=[list(change) for change in row.changes] if row.action == ImportAction.UPDATE else [],
    )


def imports_resume_stalled(*, stalled_after: timedelta = timedelta(minutes=3)) -> int:
    """Periodic: hand working jobs whose worker died (lease expired) or whose task was never
    enqueued to a new task."""
    now = timezone.now()
    stalled = ImportJob.objects.filter(status__in=[ImportStatus.PLANNING, ImportStatus.RUNNING]).filter(
        Q(lease_until__lt=now) | Q(lease_until__isnull=True, updated_at__lt=now - stalled_after)
    )
    ids = list(stalled.values_list("pk", flat=True))
    for job_id in ids:
        _enqueue(job_id)
    return len(ids)


def import_job_sample(job: ImportJob, rows: int = 5) -> list[list[str]]:
    """The first rows of an uploaded file, to show next to the mapping (reads one piece)."""
    text, _ = open_text(JobFileSource(job), job.encoding)
    sample: list[list[str]] = []
    # A row past the limits ends the sample; the dry run reports it with its line.
    with text, contextlib.suppress(ImportFileError):
        sample.extend(row.cells for row in islice(iter_rows(text, job.delimiter), rows))
    return sample


# --- The error report --------------------------------------------------------------------------


def import_report_rows(job: ImportJob) -> Iterator[list[str]]:
    """The rows with a problem (skipped, or imported with warnings) in the latest phase, as
    they were in the file, with the line and the problem in front: fix them and re-import."""
    yield [*REPORT_COLUMNS, *job.header]
    outcomes = (
        ImportRowOutcome.objects.filter(job=job, phase=job.phase)
        .filter(Q(action=ImportAction.SKIP) | ~Q(warnings=""))
        .order_by("line")
        .values_list("line", "action", "reason", "warnings", "cells")
    )
    for line, action, reason, warnings, cells in outcomes.iterator(chunk_size=2000):
        problem = reason if action == ImportAction.SKIP else warnings
        if action == ImportAction.SKIP and warnings:
            problem = f"{reason} {warnings}"
        yield [str(line), action, problem, *cells]

"""Running an import in tests the way the background task does, minus the broker."""

import io

from crm.imports.jobs import (
    JobFileSource,
    import_job_begin,
    import_job_create,
    import_job_execute,
    import_job_map,
)
from crm.models import ImportJob, ImportRowOutcome


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.strip("\n").encode(encoding) + b"\n"


def upload(
    kind: str, data: bytes | str, *, options: dict | None = None, actor=None, name="file.csv"
) -> ImportJob:
    if isinstance(data, str):
        data = csv_bytes(data)
    return import_job_create(kind=kind, upload=io.BytesIO(data), file_name=name, options=options, actor=actor)


def run_job(job: ImportJob, *, dry_run: bool = False, mapping: dict | None = None) -> ImportJob:
    if mapping is not None:
        import_job_map(job=job, mapping={**job.mapping, **mapping})
    job = import_job_begin(job=job, dry_run=dry_run)
    import_job_execute(job=job, source=JobFileSource(job))
    job.refresh_from_db()
    return job


def run(kind: str, data, *, dry_run=False, mapping=None, options=None, actor=None) -> ImportJob:
    return run_job(upload(kind, data, options=options, actor=actor), dry_run=dry_run, mapping=mapping)


def outcomes(job: ImportJob) -> dict[int, ImportRowOutcome]:
    return {o.line: o for o in ImportRowOutcome.objects.filter(job=job, phase=job.phase)}

"""django-q2 entry points of imports: load by id, call the service."""

from crm.imports import jobs


def import_job_work(job_id: int) -> str:
    return jobs.import_job_work(job_id=job_id)


def imports_resume_stalled() -> int:
    return jobs.imports_resume_stalled()

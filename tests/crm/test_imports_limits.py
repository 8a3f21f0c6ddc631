"""Import files past the limits (columns, header size, cell size, rows) are refused with the
reason; a 100,000-column file is refused from its first bytes, not parsed into a 99 MB page."""

from unittest import mock

import pytest
from django.urls import reverse

from crm.imports import reading
from crm.imports.jobs import import_job_begin, import_job_work
from crm.models import ImportJob, ImportStatus
from tests.crm.imports_helpers import upload
from tests.crm.test_imports_views import _upload, broker  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def test_a_100000_column_file_is_refused_with_the_reason_and_a_small_page(web, broker):  # noqa: F811
    data = (",".join(f"c{n}" for n in range(100_000)) + "\n" + ",".join("x" * 100_000) + "\n").encode()
    response = _upload(web, data)
    assert response.status_code == 400
    assert "at most 200 columns" in response.content.decode()
    assert len(response.content) < 100_000
    assert not ImportJob.objects.exists() and not broker.called


def test_a_header_of_more_columns_than_the_limit_is_refused(web, broker):  # noqa: F811
    response = _upload(web, (",".join(f"c{n}" for n in range(201)) + "\nx\n").encode())
    assert response.status_code == 400 and "has 201 columns" in response.content.decode()
    assert _upload(web, (",".join(f"c{n}" for n in range(200)) + "\nx\n").encode()).status_code == 302


def run(kind: str, data: str) -> ImportJob:
    """The background task's way: a file error fails the job with its reason."""
    job = import_job_begin(job=upload(kind, data), dry_run=False)
    import_job_work(job_id=job.pk, budget_seconds=None)
    job.refresh_from_db()
    return job


def test_rows_past_the_cell_count_or_size_stop_the_run_with_the_line():
    wide = run("contacts", "email\nann@example.com\n" + ",".join(["b@example.com"] * 201) + "\n")
    assert wide.status == ImportStatus.FAILED and "Line 3 has 201 cells" in wide.error
    big = run("contacts", "email,first_name\nann@example.com,Ann\nbob@example.com," + "B" * 10_001 + "\n")
    assert big.status == ImportStatus.FAILED
    assert "Line 3 has a cell longer than 10,000 characters" in big.error


def test_files_of_more_rows_than_the_limit_stop_with_the_reason():
    with mock.patch.object(reading, "MAX_ROWS", 3):
        job = run("contacts", "email\n" + "".join(f"p{n}@example.com\n" for n in range(5)))
    assert job.status == ImportStatus.FAILED and "more than 3 rows" in job.error


def test_the_mapping_page_shows_a_sample_even_when_a_row_is_past_the_limits(web):
    job = upload("contacts", "email\nann@example.com\n" + "x" * 10_001 + "\n")
    response = web.get(reverse("import_detail", args=[job.pk]))
    assert response.status_code == 200 and "ann@example.com" in response.content.decode()

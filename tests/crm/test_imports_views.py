"""The import pages: upload, mapping, dry run table, progress polling, run, error report."""

from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.imports.jobs import import_job_work
from crm.models import Contact, ImportJob, ImportStatus
from tests.crm.imports_helpers import run

pytestmark = pytest.mark.django_db

PEOPLE = b"First Name,Email,Phone,Shoe\nAnn,ann@example.com,(212) 200-0001,38\nBob,bob@example,,41\n"


@pytest.fixture
def broker():
    """The django-q broker is the boundary: tasks are recorded here and run by the test."""
    with mock.patch("django_q.tasks.async_task") as enqueue:
        yield enqueue


def _upload(web, data=PEOPLE, kind="contacts"):
    return web.post(
        reverse("import_list"),
        {"kind": kind, "file": SimpleUploadedFile("people.csv", data, "text/csv"), "phone_region": "US"},
    )


def _run_enqueued(broker):
    for call in broker.call_args_list:
        import_job_work(job_id=call.args[1])
    broker.reset_mock()


def test_pages_need_login(client):
    for name in ("import_list", "contact_duplicates", "contact_export"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_upload_map_dry_run_then_import(web, broker, django_capture_on_commit_callbacks):
    response = _upload(web)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("import_detail", args=[job.pk])
    page = web.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Which column fills which field?" in html
    assert 'name="column_1"' in html and "ann@example.com · bob@example" in html  # first values shown
    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(
            reverse("import_map", args=[job.pk]),
            {"column_0": "first_name", "column_1": "email", "column_2": "phone", "column_3": "attribute",
             "phone_region": "US", "create_accounts": "on"},
        )  # fmt: skip
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.PLANNING and job.mapping["Shoe"] == "attribute"
    assert "import-progress" in web.get(job.get_absolute_url()).content.decode()
    _run_enqueued(broker)
    page = web.get(job.get_absolute_url()).content.decode()
    assert "Dry run: what the import will do" in page
    assert "New contact." in page and "&#x27;bob@example&#x27; is not an email address." in page
    assert not Contact.objects.exists()
    skipped = web.get(job.get_absolute_url() + "?action=skip").content.decode()
    assert "bob@example" in skipped and "New contact." not in skipped

    with django_capture_on_commit_callbacks(execute=True):
        response = web.post(reverse("import_start", args=[job.pk]))
    assert response.status_code == 302
    _run_enqueued(broker)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.counts == {"create": 1, "skip": 1}
    assert Contact.objects.get().attributes == {"Shoe": "38"}
    report = web.get(reverse("import_report", args=[job.pk]))
    assert report["Content-Disposition"].startswith(f'attachment; filename="import-{job.pk}-problems-')
    body = b"".join(report.streaming_content).decode("utf-8-sig")
    assert body.splitlines() == [
        "line,action,problem,First Name,Email,Phone,Shoe",
        "3,skip,'bob@example' is not an email address.,Bob,bob@example,,41",
    ]


def test_progress_is_polled_and_reloads_the_page_when_done(web, broker, django_capture_on_commit_callbacks):
    _upload(web)
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        web.post(reverse("import_map", args=[job.pk]), {"column_1": "email", "phone_region": "US"})
    polled = web.get(reverse("import_progress", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert polled.status_code == 200
    assert 'hx-trigger="every 1s"' in polled.content.decode() and "<progress" in polled.content.decode()
    _run_enqueued(broker)
    polled = web.get(reverse("import_progress", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert polled.status_code == 200 and polled["HX-Refresh"] == "true"


def test_bad_uploads_and_mappings_answer_400_with_the_reason(web, broker):
    response = _upload(web, b"PK\x03\x04zip")
    assert response.status_code == 400 and "save it as CSV" in response.content.decode()
    response = _upload(web, kind="widgets")
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    _upload(web)
    job = ImportJob.objects.get()
    response = web.post(
        reverse("import_map", args=[job.pk]), {"column_0": "first_name", "phone_region": "US"}
    )
    assert response.status_code == 400
    assert "something to match contacts on" in response.content.decode()
    assert not broker.called


def test_the_run_cannot_start_twice(web, broker, django_capture_on_commit_callbacks):
    job = run("contacts", "email\nann@example.com\n", dry_run=True)
    with django_capture_on_commit_callbacks(execute=True):
        web.post(reverse("import_start", args=[job.pk]))
        response = web.post(reverse("import_start", args=[job.pk]), follow=True)
    assert "already working or finished" in response.content.decode()
    assert broker.call_count == 1


def test_import_list_shows_earlier_imports_in_constant_queries(web, django_assert_max_num_queries):
    for _ in range(5):
        run("contacts", "email\nann@example.com\n")
    with django_assert_max_num_queries(8):
        response = web.get(reverse("import_list"))
    assert response.content.decode().count("file.csv") == 5


def test_the_dry_run_table_pages_in_constant_queries(web, django_assert_max_num_queries):
    data = "email\n" + "".join(f"p{i}@example.com\n" for i in range(250))
    job = run("contacts", data, dry_run=True)
    with django_assert_max_num_queries(10):
        response = web.get(job.get_absolute_url() + "?page=2")
    assert "p100@example.com" in response.content.decode() and "Page 2 of 3" in response.content.decode()

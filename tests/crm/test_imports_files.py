"""Import files and jobs: encodings, delimiters, streaming, background work, the command and
the error report."""

import csv
import io
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from crm.imports import importer_class
from crm.imports.jobs import LEASE, import_job_start, import_job_work, import_report_rows
from crm.imports.reading import ByteSource, BytesSource, detect_encoding, read_layout
from crm.imports.runner import run_import
from crm.models import Contact, ImportJob, ImportStatus
from tests.crm.imports_helpers import run, upload

pytestmark = pytest.mark.django_db


# --- Encodings and delimiters ----------------------------------------------------------------


def test_utf8_with_a_byte_order_mark_reads_the_header_and_accents():
    data = "\ufeffFirst Name;Email\nJosé;jose@example.com\nZoë;zoe@example.com\n".encode()
    job = upload("contacts", data)
    assert (job.encoding, job.delimiter) == ("utf-8-sig", ";")
    assert job.header == ["First Name", "Email"] and job.mapping["First Name"] == "first_name"
    run_job_done = run("contacts", data)
    assert run_job_done.counts == {"create": 2}
    assert set(Contact.objects.values_list("first_name", flat=True)) == {"José", "Zoë"}


def test_latin1_and_windows_files_are_recognised():
    cp1252 = "first name,email\nRené\u2019s,rene@example.com\n".encode("cp1252")  # U+2019 is 0x92 there
    assert detect_encoding(BytesSource(cp1252)) == "cp1252"
    latin1 = "first name,email\nMüller\x81,mueller@example.com\n".encode("latin-1")  # 0x81: no cp1252
    assert detect_encoding(BytesSource(latin1)) == "latin-1"
    job = run("contacts", "first name,last name,email\nJosé,Müller,jose@example.com\n".encode("latin-1"))
    assert job.encoding == "cp1252"
    assert Contact.objects.get().last_name == "Müller"


def test_plain_utf8_stays_utf8_even_when_the_odd_character_is_far_down():
    data = ("email\n" + "a@example.com\n" * 100_000 + "zoë@example.com\n").encode()
    assert detect_encoding(BytesSource(data)) == "utf-8"
    assert detect_encoding(BytesSource(data + b"\xe9\n")) == "cp1252"


def test_tab_separated_and_quoted_cells_with_line_breaks():
    data = b'email\tfirst name\tnotes\n"ann@example.com"\t"Ann"\t"two\nlines"\nbob@example.com\tBob\t\n'
    job = upload("contacts", data)
    assert job.delimiter == "\t"
    from crm.imports.base import ATTRIBUTE
    from tests.crm.imports_helpers import run_job

    done = run_job(job, mapping={"notes": ATTRIBUTE})
    assert Contact.objects.get(email="ann@example.com").attributes == {"notes": "two\nlines"}
    assert done.counts == {"create": 2}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"PK\x03\x04rest-of-a-zip", "save it as CSV"),
        (b"\xd0\xcf\x11\xe0old-excel", "old Excel"),
        (b",,,\nann@example.com,,,\n", "The first line must name the columns"),
    ],
)
def test_files_that_are_not_csv_are_refused_with_the_reason(data, message):
    with pytest.raises(ValidationError) as error:
        upload("contacts", data)
    assert message in str(error.value)
    assert not ImportJob.objects.exists()


def test_spreadsheet_formula_escapes_are_undone():
    run("contacts", "first name,email\n'=Ann,ann@example.com\n")
    assert Contact.objects.get().first_name == "=Ann"


# --- Streaming ---------------------------------------------------------------------------------


class GeneratedCsv(ByteSource):
    """A large CSV produced row by row as it is read: it never exists in memory as a whole."""

    name = "generated.csv"

    def __init__(self, rows: int):
        self.rows = rows
        self.size = sum(len(self._line(i)) for i in range(-1, rows))
        self.largest_read = 0

    @staticmethod
    def _line(index: int) -> bytes:
        if index < 0:
            return b"email,first name\n"
        return f"person{index}@example.com,Person {index}\n".encode()

    def open(self):
        source = self

        class Stream(io.RawIOBase):
            def __init__(self):
                self.index, self.pending = -1, b""

            def readable(self):
                return True

            def readinto(self, buffer):
                source.largest_read = max(source.largest_read, len(buffer))
                while len(self.pending) < len(buffer) and self.index < source.rows:
                    self.pending += source._line(self.index)
                    self.index += 1
                size = min(len(buffer), len(self.pending))
                buffer[:size], self.pending = self.pending[:size], self.pending[size:]
                return size

        return Stream()


def test_large_files_are_streamed_in_batches_not_loaded_whole():
    source = GeneratedCsv(60_000)
    layout = read_layout(source)
    importer = importer_class("contacts")(dry_run=True)
    seen = []
    result = run_import(
        importer=importer,
        source=source,
        encoding=layout.encoding,
        delimiter=layout.delimiter,
        header=layout.header,
        mapping=importer.auto_map(layout.header),
        on_batch=lambda rows, read: seen.append((len(rows), read)),
    )
    assert result.rows == 60_000 and result.counts == {"create": 60_000}
    assert len(seen) == 60 and all(size == 1000 for size, _ in seen)
    # When the first batch was planned, only a small part of the ~2 MB file had been read.
    assert seen[0][1] < source.size / 2
    assert source.largest_read <= 1024 * 1024


# --- Background work -------------------------------------------------------------------------


def test_the_ui_flow_runs_in_tasks_that_hand_on_what_their_time_budget_leaves(monkeypatch):
    monkeypatch.setattr(importer_class("contacts"), "batch_size", 2)
    data = "email\n" + "".join(f"p{i}@example.com\n" for i in range(7))
    job = upload("contacts", data)
    with mock.patch("django_q.tasks.async_task") as enqueue, pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.db.transaction.on_commit", lambda func, robust=False: func())
        job = import_job_start(job=job, dry_run=False)
        assert job.status == ImportStatus.RUNNING and enqueue.call_count == 1
        assert import_job_work(job_id=job.pk, budget_seconds=1e-9) == "continues"
        job.refresh_from_db()
        assert (job.status, job.resume_after_line, job.rows_done) == (ImportStatus.RUNNING, 3, 2)
        assert Contact.objects.count() == 2 and enqueue.call_count == 2
        while import_job_work(job_id=job.pk, budget_seconds=1e-9) == "continues":
            pass
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.counts == {"create": 7} and job.rows_done == 7
    assert Contact.objects.count() == 7


def test_a_job_held_by_a_live_worker_is_not_taken_and_a_dead_ones_is():
    from django.utils import timezone

    job = upload("contacts", "email\nann@example.com\n")
    with mock.patch("django_q.tasks.async_task"):
        import_job_start(job=job, dry_run=True)
    ImportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() + LEASE)
    assert import_job_work(job_id=job.pk) == "not claimed"
    ImportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - LEASE)
    assert import_job_work(job_id=job.pk) == "done"
    job.refresh_from_db()
    assert job.status == ImportStatus.PLANNED and job.counts == {"create": 1}


def test_a_job_cannot_be_started_twice():
    job = upload("contacts", "email\nann@example.com\n")
    with mock.patch("django_q.tasks.async_task"):
        import_job_start(job=job, dry_run=True)
        with pytest.raises(ValidationError, match="already working"):
            import_job_start(job=job, dry_run=True)


def test_stalled_jobs_are_handed_to_a_new_task():
    from crm.imports.jobs import imports_resume_stalled

    job = upload("contacts", "email\nann@example.com\n")
    with mock.patch("django_q.tasks.async_task"):
        import_job_start(job=job, dry_run=True)
    from django.utils import timezone

    ImportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - LEASE)
    with mock.patch("django_q.tasks.async_task") as enqueue:
        assert imports_resume_stalled() == 1
    assert enqueue.call_args.args == ("crm.imports.tasks.import_job_work", job.pk)


# --- The error report --------------------------------------------------------------------------


def test_the_error_report_lists_problem_rows_as_they_were_with_line_and_reason():
    job = run(
        "contacts", "email,phone\nann@example.com,212-200-0001\nbad,212-200-0002\ncy@example.com,nope\n"
    )
    rows = list(import_report_rows(job))
    assert rows == [
        ["line", "action", "problem", "email", "phone"],
        ["3", "skip", "'bad' is not an email address.", "bad", "212-200-0002"],
        [
            "4",
            "create",
            "Phone kept as typed: 'nope' is not a phone number (not a number).",
            "cy@example.com",
            "nope",
        ],
    ]


# --- The command -----------------------------------------------------------------------------


def test_import_csv_command_dry_run_then_run(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(
        "Email,Mobile,Full name\nann@example.com,(212) 200-0001,Ann Lee\nbad,,\n", encoding="utf-8"
    )
    out, err = io.StringIO(), io.StringIO()
    call_command("import_csv", "contacts", str(path), "--dry-run", stdout=out, stderr=err)
    assert "Would create 1, update 0, unchanged 0, skipped 1" in out.getvalue()
    assert "line 3: skip" in out.getvalue() and "100%" in err.getvalue()
    assert not Contact.objects.exists()
    report = tmp_path / "errors.csv"
    call_command(
        "import_csv", "contacts", str(path), "--report", str(report), stdout=io.StringIO(), stderr=err
    )
    assert Contact.objects.get().full_name == "Ann Lee"
    assert list(csv.reader(report.open()))[1][:3] == ["3", "skip", "'bad' is not an email address."]
    again = io.StringIO()
    call_command("import_csv", "contacts", str(path), stdout=again, stderr=io.StringIO())
    assert "Created 0, updated 0, unchanged 1, skipped 1" in again.getvalue()


def test_import_csv_command_takes_a_mapping_and_refuses_bad_input(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("Address,Who\nann@example.com,Ann\n")
    with pytest.raises(CommandError, match="something to match contacts on"):
        call_command("import_csv", "contacts", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    call_command(
        "import_csv", "contacts", str(path), "--map", "Address=email", "--map", "Who=first_name",
        stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip
    assert Contact.objects.get().first_name == "Ann"
    with pytest.raises(CommandError, match="Unknown kind 'widgets'"):
        call_command("import_csv", "widgets", str(path))
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_csv", "contacts", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="there is no column 'Nope'"):
        call_command("import_csv", "contacts", str(path), "--map", "Nope=email")


def test_a_file_that_breaks_csv_further_down_fails_the_job_with_the_line(monkeypatch):
    monkeypatch.setattr(importer_class("contacts"), "batch_size", 1)
    data = b'email\nann@example.com\n"' + b"x" * 200_000 + b"\n"  # a cell beyond the csv field limit
    job = upload("contacts", data)
    with mock.patch("django_q.tasks.async_task"):
        import_job_start(job=job, dry_run=False)
    assert import_job_work(job_id=job.pk) == "failed"
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "cannot be read after line" in job.error
    assert Contact.objects.get().email == "ann@example.com"  # the rows before it are in

import csv
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from crm.imports import import_kinds, importer_class
from crm.imports.base import ATTRIBUTE, IGNORE
from crm.imports.jobs import (
    import_job_begin,
    import_job_create_from_path,
    import_job_execute,
    import_job_map,
    import_report_rows,
)
from crm.imports.reading import ImportFileError, PathSource
from crm.models import ImportAction, ImportJob, ImportRowOutcome

SHOWN_PROBLEMS = 20
BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Import a CSV file: contacts (with their accounts), orders, renewals or consent. Columns are "
        "matched to fields automatically (override with --map). Rows are upserted on their natural "
        "keys, so importing the same file twice changes nothing; bad rows are reported and skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", help=f"What the file holds: {', '.join(import_kinds())}.")
        parser.add_argument("file", help="Path to the CSV file (UTF-8, UTF-8 with BOM, cp1252 or Latin-1).")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what would be created, updated and skipped; write nothing.",
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=FIELD",
            help="Map a column to a field ('' to ignore it, 'attribute' for a custom attribute); repeatable.",
        )
        parser.add_argument(
            "--phone-region", default="", help="Region for numbers without +country (e.g. US)."
        )
        parser.add_argument("--day-first", action="store_true", help="Read 03/04/2025 as 3 April.")
        parser.add_argument(
            "--no-create-accounts",
            action="store_true",
            help="Contacts: an account that does not exist is an error.",
        )
        parser.add_argument(
            "--keep-existing",
            action="store_true",
            help="Contacts: only fill blank fields; never overwrite a value a record has.",
        )
        parser.add_argument(
            "--user", default="", help="Username recorded as the actor (consent, new accounts)."
        )
        parser.add_argument(
            "--report",
            default="",
            help="Write the rows with problems (skipped or with warnings) to this CSV file.",
        )

    def handle(
        self,
        *args,
        kind,
        file,
        dry_run,
        map,
        phone_region,
        day_first,
        no_create_accounts,
        keep_existing,
        user,
        report,
        **opts,
    ):
        if kind not in import_kinds():
            raise CommandError(f"Unknown kind {kind!r}: use one of {', '.join(import_kinds())}.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        actor = self._actor(user)
        options = {
            "phone_region": phone_region,
            "day_first": day_first,
            "create_accounts": not no_create_accounts,
            "keep_existing": keep_existing,
        }
        try:
            job = import_job_create_from_path(
                kind=kind, source=PathSource(path), options=options, actor=actor
            )
            mapping = {**job.mapping, **self._parse_map(map, job.header)}
            job = import_job_map(job=job, mapping=mapping)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self._describe_mapping(job)
        job = import_job_begin(job=job, dry_run=dry_run)
        self.show_bar = opts.get("verbosity", 1) > 0
        try:
            import_job_execute(job=job, source=PathSource(path), progress=self._progress)
        except ImportFileError as exc:
            job.refresh_from_db()
            raise CommandError(f"{exc} Rows up to line {job.resume_after_line} are imported.") from None
        if self.show_bar:
            self.stderr.write("")
        job.refresh_from_db()
        self._summary(job, dry_run, verbose=opts.get("verbosity", 1) > 1)
        if report:
            self._write_report(job, Path(report))

    def _actor(self, username: str):
        if not username:
            return None
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None

    def _parse_map(self, items: list[str], header: list[str]) -> dict[str, str]:
        mapping = {}
        for item in items:
            column, sep, target = item.partition("=")
            if not sep:
                raise CommandError(f"--map takes COLUMN=FIELD, not {item!r}.")
            if column not in header:
                raise CommandError(f"--map: there is no column {column!r} (columns: {', '.join(header)}).")
            mapping[column] = target.strip()
        return mapping

    def _describe_mapping(self, job: ImportJob) -> None:
        importer = importer_class(job.kind)()
        self.stdout.write(f"{job.file_name}: {job.encoding}, delimiter {job.delimiter!r}")
        for column in job.header:
            target = job.mapping.get(column, IGNORE)
            shown = {IGNORE: "(ignored)", ATTRIBUTE: "custom attribute"}.get(target) or importer.target_label(
                target
            )
            self.stdout.write(f"  {column} -> {shown}")

    def _progress(self, job: ImportJob) -> None:
        if not self.show_bar:
            return
        share = job.bytes_done / job.file_size if job.file_size else 1.0
        filled = int(BAR_WIDTH * share)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stderr.write(f"\r[{bar}] {share:4.0%}  {job.rows_done:,} rows", ending="")
        self.stderr.flush()

    def _summary(self, job: ImportJob, dry_run: bool, *, verbose: bool) -> None:
        counts = job.counts
        verb = "Would create" if dry_run else "Created"
        parts = [
            f"{verb} {counts.get(ImportAction.CREATE, 0):,}",
            f"update {counts.get(ImportAction.UPDATE, 0):,}"
            if dry_run
            else f"updated {counts.get('update', 0):,}",
            f"unchanged {counts.get(ImportAction.UNCHANGED, 0):,}",
            f"skipped {counts.get(ImportAction.SKIP, 0):,}",
            f"with warnings {counts.get('warnings', 0):,}",
        ]
        if counts.get("accounts created"):
            parts.append(f"accounts {'to create' if dry_run else 'created'} {counts['accounts created']:,}")
        self.stdout.write(", ".join(parts) + ".")
        outcomes = ImportRowOutcome.objects.filter(job=job, phase=job.phase).order_by("line")
        if not verbose:
            outcomes = outcomes.exclude(
                action__in=[ImportAction.CREATE, ImportAction.UPDATE, ImportAction.UNCHANGED], warnings=""
            )
        for shown, outcome in enumerate(outcomes.iterator(chunk_size=2000)):
            if not verbose and shown >= SHOWN_PROBLEMS:
                self.stdout.write("  … more in the report (--report FILE).")
                break
            note = f" [{outcome.warnings}]" if outcome.warnings else ""
            self.stdout.write(
                f"  line {outcome.line}: {outcome.action} {outcome.key} — {outcome.reason}{note}"
            )

    def _write_report(self, job: ImportJob, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            for row in import_report_rows(job):
                writer.writerow(row)
        self.stdout.write(f"Report: {path}")

"""The import loop: stream the rows, prepare each, plan and write them in batches.

Each batch is written in its own transaction after every row in it has been validated, so a
bad row is reported and skipped and never aborts the others. If the database still refuses a
batch (a concurrent writer took a unique email meanwhile), the batch is retried row by row,
each in its own savepoint, and only the rows that conflict are skipped. A dry run plans
exactly like a run and writes nothing."""

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DataError, IntegrityError, transaction

from crm.imports.base import ATTRIBUTE, IGNORE, Importer, RowPlan
from crm.imports.reading import ByteSource, clean_cell, iter_rows, open_text
from crm.models import ImportAction

logger = logging.getLogger(__name__)

BatchCallback = Callable[[list[RowPlan], int], None]


@dataclass
class RunResult:
    counts: Counter = field(default_factory=Counter)
    rows: int = 0
    last_line: int = 0
    bytes_read: int = 0
    finished: bool = True


@dataclass(frozen=True)
class ColumnPlan:
    """Which cell fills which field, from the header and the mapping."""

    fields: tuple[tuple[int, str], ...]
    attributes: tuple[tuple[int, str], ...]

    @classmethod
    def build(cls, header: list[str], mapping: dict[str, str]) -> "ColumnPlan":
        fields, attributes = [], []
        for index, column in enumerate(header):
            target = mapping.get(column, IGNORE)
            if target == ATTRIBUTE:
                attributes.append((index, column))
            elif target != IGNORE:
                fields.append((index, target))
        return cls(fields=tuple(fields), attributes=tuple(attributes))

    def texts(self, cells: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        size = len(cells)
        texts = {target: clean_cell(cells[i]) if i < size else "" for i, target in self.fields}
        attributes = {
            name: clean_cell(cells[i]) for i, name in self.attributes if i < size and cells[i].strip()
        }
        return texts, attributes


class Batcher:
    """Plans and writes batches, remembering the natural keys already imported from this file
    so that a key repeated further down is reported instead of imported twice."""

    def __init__(self, importer: Importer):
        self.importer = importer
        self.seen: dict[str, int] = {}  # natural key or record -> first line that had it

    def remember(self, row: RowPlan) -> None:
        """For a resumed run: a row an earlier task already handled."""
        if row.errors or any(key in self.seen for key in row.keys):
            return
        for key in row.keys:
            self.seen[key] = row.line

    def process(self, rows: list[RowPlan]) -> None:
        fresh = self._drop_repeats(rows)
        self.importer.plan(fresh)
        self._drop_repeated_records(fresh)
        if not self.importer.dry_run:
            self._write(fresh)
        for row in fresh:
            if row.action != ImportAction.SKIP:
                for key in row.keys:
                    self.seen.setdefault(key, row.line)

    def _drop_repeats(self, rows: list[RowPlan]) -> list[RowPlan]:
        fresh, batch_seen = [], {}
        for row in rows:
            if row.errors:
                row.skip(" ".join(row.errors))
                continue
            repeated = next((key for key in row.keys if key in self.seen or key in batch_seen), None)
            if repeated is not None:
                first = self.seen.get(repeated) or batch_seen[repeated]
                what = repeated.split(":", 1)[0].replace("_", " ")
                row.skip(f"Line {first} has the same {what}; only the first row with it is imported.")
                continue
            for key in row.keys:
                batch_seen[key] = row.line
            fresh.append(row)
        return fresh

    def _drop_repeated_records(self, rows: list[RowPlan]) -> None:
        """Two rows with different keys can still point at one existing record (one has its
        email, the other its phone): the first row wins, the second is reported."""
        batch_seen: dict[str, int] = {}
        for row in rows:
            record_key = row.extra.get("record_key")
            if not record_key or row.action == ImportAction.SKIP:
                continue
            first = self.seen.get(record_key) or batch_seen.get(record_key)
            if first is not None:
                row.skip(f"Line {first} already imports into the same record ({record_key}).")
                continue
            batch_seen[record_key] = row.line
            row.keys.append(record_key)

    def _write(self, rows: list[RowPlan]) -> None:
        writing = [row for row in rows if row.writes]
        if not writing:
            return
        try:
            with transaction.atomic():
                self.importer.write(writing)
            return
        except (IntegrityError, DataError) as exc:
            logger.info("Import batch refused by the database (%s); retrying row by row", exc)
        for row in writing:
            row.reset_plan()
            self.importer.plan([row])
            if not row.writes:
                continue
            try:
                with transaction.atomic():
                    self.importer.write([row])
            except IntegrityError:
                row.skip(
                    "Conflicts with a record saved at the same time (a unique value is taken); re-import it."
                )
            except DataError as exc:
                row.skip(f"The database refused a value: {str(exc).splitlines()[0]}")


def run_import(
    *,
    importer: Importer,
    source: ByteSource,
    encoding: str,
    delimiter: str,
    header: list[str],
    mapping: dict[str, str],
    on_batch: BatchCallback | None = None,
    resume_after_line: int = 0,
    deadline: float | None = None,
) -> RunResult:
    """Import (or with ``importer.dry_run`` plan) the file. ``on_batch(rows, bytes_read)`` is
    called after each batch is committed. With a ``deadline`` (time.monotonic()), it stops
    after the first batch that ends past it and says where (``last_line``), so a task can
    resume there; lines up to ``resume_after_line`` are only re-read to remember their keys."""
    columns = ColumnPlan.build(header, mapping)
    batcher = Batcher(importer)
    result = RunResult(last_line=resume_after_line)
    text, counter = open_text(source, encoding)
    with text:
        batch: list[RowPlan] = []
        for source_row in iter_rows(text, delimiter):
            row = RowPlan(line=source_row.line, cells=source_row.cells)
            texts, row.attributes = columns.texts(source_row.cells)
            importer.prepare(row, texts)
            if row.line <= resume_after_line:
                batcher.remember(row)
                continue
            batch.append(row)
            if len(batch) >= importer.batch_size:
                _finish_batch(batcher, batch, result, counter.bytes_read, on_batch)
                batch = []
                if deadline is not None and time.monotonic() > deadline:
                    result.finished = False
                    return result
        if batch:
            _finish_batch(batcher, batch, result, counter.bytes_read, on_batch)
        result.bytes_read = counter.bytes_read
    return result


def _finish_batch(
    batcher: Batcher, batch: list[RowPlan], result: RunResult, bytes_read: int, on_batch
) -> None:
    # The batch's writes and what on_batch records about them (outcomes, progress) commit
    # together: a resumed import neither repeats nor loses a row.
    with transaction.atomic():
        batcher.process(batch)
        if on_batch is not None:
            on_batch(batch, bytes_read)
    result.rows += len(batch)
    result.last_line = batch[-1].line
    result.bytes_read = bytes_read
    for row in batch:
        result.counts[row.action] += 1
        if row.warnings and row.action != ImportAction.SKIP:
            result.counts["warnings"] += 1

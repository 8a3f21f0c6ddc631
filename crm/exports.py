"""CSV exports of the list pages, streamed: a list of any size goes out in one query read in
chunks, never held in memory. Column headers match what the importer recognises, so an
exported contact or renewal list can be edited and imported back."""

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

# Text starting like this is run as a formula by spreadsheet programs (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 2000


def _is_plain_number(text: str) -> bool:
    """'+12125550100' or '-15.00' cannot run as a formula; they stay as they are."""
    body = text[1:] if text[:1] in "+-" else text
    return bool(body) and body.replace(".", "", 1).isdigit()


def csv_safe(value: Any) -> str:
    """A cell: times in UTC ISO 8601, numbers as they are, formula-like text quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | int | Decimal | float):
        return str(value.isoformat() if isinstance(value, date) else value)
    text = str(value)
    if text.startswith(FORMULA_START) and not _is_plain_number(text):
        return "'" + text
    return text


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], Any]


def _user(user) -> str:
    return user.username if user is not None else ""


ACCOUNT_COLUMNS = (
    Column("Account id", lambda a: a.pk),
    Column("Account name", lambda a: a.name),
    Column("Account domain", lambda a: a.domain),
    Column("Owner", lambda a: _user(a.owner)),
    Column("Plan", lambda a: a.plan),
    Column("Seats", lambda a: a.seats),
    Column("Lifecycle stage", lambda a: a.lifecycle_stage),
    Column("Signed up at", lambda a: a.signed_up_at),
    Column("Churned at", lambda a: a.churned_at),
    Column("Acquisition channel", lambda a: a.acquisition_channel),
    Column("Acquisition cost", lambda a: a.acquisition_cost),
    Column("Timezone", lambda a: a.timezone),
    Column("Contacts", lambda a: getattr(a, "contacts_count", "")),
)

CONTACT_COLUMNS = (
    Column("Contact id", lambda c: c.pk),
    Column("External id", lambda c: c.external_id),
    Column("First name", lambda c: c.first_name),
    Column("Last name", lambda c: c.last_name),
    Column("Email", lambda c: c.email),
    Column("Phone", lambda c: c.phone or c.phone_raw),
    Column("Phone valid", lambda c: c.phone_valid),
    Column("Account id", lambda c: c.account_id),
    Column("Account name", lambda c: c.account.name if c.account_id else ""),
    Column("Owner", lambda c: _user(c.owner)),
    Column("Timezone", lambda c: c.timezone),
    Column("Acquisition channel", lambda c: c.acquisition_channel),
    Column("SMS consent", lambda c: c.sms_consent),
    Column("Created at", lambda c: c.created_at),
)

DEAL_COLUMNS = (
    Column("Deal id", lambda d: d.pk),
    Column("Deal", lambda d: d.name),
    Column("Account id", lambda d: d.account_id),
    Column("Account name", lambda d: d.account.name),
    Column("Contact id", lambda d: d.contact_id),
    Column("Owner", lambda d: _user(d.owner)),
    Column("Kind", lambda d: d.kind),
    Column("Stage", lambda d: d.stage.slug),
    Column("Probability", lambda d: d.stage.probability),
    Column("Amount", lambda d: d.amount),
    Column("Next step", lambda d: d.next_step),
    Column("Next step date", lambda d: d.next_step_date),
    Column("Expected close", lambda d: d.expected_close),
    Column("Closed at", lambda d: d.closed_at),
)

RENEWAL_COLUMNS = (
    Column("Renewal id", lambda r: r.pk),
    Column("Account id", lambda r: r.account_id),
    Column("Account name", lambda r: r.account.name),
    Column("Owner", lambda r: _user(r.account.owner)),
    Column("Start date", lambda r: r.start_date),
    Column("End date", lambda r: r.end_date),
    Column("ACV", lambda r: r.acv),
    Column("Status", lambda r: r.status),
    Column("Renewed ACV", lambda r: r.renewed_acv),
    Column("Decided at", lambda r: r.decided_at),
)

TASK_COLUMNS = (
    Column("Task id", lambda t: t.pk),
    Column("Title", lambda t: t.title),
    Column("Owner", lambda t: _user(t.owner)),
    Column("Account name", lambda t: t.account.name if t.account_id else ""),
    Column("Contact", lambda t: str(t.contact) if t.contact_id else ""),
    Column("Due at", lambda t: t.due_at),
    Column("Status", lambda t: t.status),
    Column("Source", lambda t: t.source),
    Column("Completed at", lambda t: t.completed_at),
)


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def table_rows(queryset: QuerySet | Iterable, columns: Iterable[Column]) -> Iterator[list]:
    """The header, then one row per record (a queryset is read in chunks)."""
    columns = tuple(columns)
    yield [column.header for column in columns]
    records = queryset.iterator(chunk_size=CHUNK_SIZE) if isinstance(queryset, QuerySet) else queryset
    for record in records:
        yield [column.value(record) for column in columns]


def csv_lines(rows: Iterable[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM, so spreadsheet programs read UTF-8 as UTF-8
    for row in rows:
        yield writer.writerow([csv_safe(value) for value in row])


def rows_response(name: str, rows: Iterable[list]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


def csv_response(
    name: str, queryset: QuerySet | Iterable, columns: Iterable[Column]
) -> StreamingHttpResponse:
    return rows_response(name, table_rows(queryset, columns))

"""Renewals (contract terms) from CSV, upserted on account + start date: an account has one
term starting on a given day. A term imported as decided lands on the timeline like one
decided in the UI."""

from decimal import Decimal

from django.utils import timezone

from crm import services
from crm.imports.base import (
    AccountIndex,
    Importer,
    RowPlan,
    Target,
    account_ref_from,
    parse_choice,
    parse_day,
    parse_money,
)
from crm.models import ActivityKind, ImportAction, Renewal, RenewalStatus

_STATUS_SYNONYMS = {
    "open": RenewalStatus.UPCOMING,
    "pending": RenewalStatus.UPCOMING,
    "lost": RenewalStatus.CHURNED,
}


class RenewalImporter(Importer):
    kind = "renewals"
    label = "Renewals"
    description = (
        "Contract terms of existing accounts (by id, domain or name), matched on account and start "
        "date. Status is upcoming, renewed, expanded, downgraded or churned; a decided term needs "
        "its renewed ACV (churned: none)."
    )
    targets = (
        Target("account_id", "Account id", ()),
        Target("account_name", "Account name", ("account", "company", "customer", "company name")),
        Target("account_domain", "Account domain", ("domain", "website")),
        Target("start_date", "Start date", ("start", "term start", "contract start", "starts")),
        Target("end_date", "End date", ("end", "term end", "contract end", "renewal date", "ends")),
        Target("acv", "ACV", ("annual contract value", "contract value", "arr", "value")),
        Target("status", "Status", ("renewal status", "outcome")),
        Target("renewed_acv", "Renewed ACV", ("new acv", "renewal acv", "renewed value")),
    )

    def check_fields(self, used: set[str]) -> list[str]:
        return self.require_one_of(
            used, ("account_id", "account_name", "account_domain"), "the account"
        ) + self.require_all(used, ("start_date", "end_date", "acv"))

    def prepare(self, row: RowPlan, texts: dict[str, str]) -> None:
        values = row.values
        ref = row.context["account_ref"] = account_ref_from(row, texts)
        if not ref:
            row.errors.append("The renewal needs its account.")
        for name in ("start_date", "end_date"):
            if not texts.get(name):
                row.errors.append(f"The {name.replace('_', ' ')} is missing.")
                continue
            try:
                values[name] = parse_day(texts[name], day_first=self.day_first)
            except ValueError as exc:
                row.errors.append(str(exc))
        for name, label in (("acv", "ACV"), ("renewed_acv", "renewed ACV")):
            if texts.get(name):
                try:
                    values[name] = parse_money(texts[name], what=label)
                except ValueError as exc:
                    row.errors.append(str(exc))
        if not texts.get("acv"):
            row.errors.append("The ACV is missing.")
        status = RenewalStatus.UPCOMING
        if texts.get("status"):
            try:
                status = parse_choice(
                    texts["status"], RenewalStatus.choices, what="status", synonyms=_STATUS_SYNONYMS
                )
            except ValueError as exc:
                row.errors.append(str(exc))
        values["status"] = status
        self._check_term(row)
        if ref and "start_date" in values:
            row.keys.append(f"account_and_start:{ref.key}|{values['start_date']}")
        row.label = f"{ref.name or ref.domain or ref.id or ''} {values.get('start_date', '')}".strip()

    def _check_term(self, row: RowPlan) -> None:
        """Renewal.clean's rules, so a bad term is a row error and never a failed write."""
        values = row.values
        start, end = values.get("start_date"), values.get("end_date")
        if start and end and end <= start:
            row.errors.append("The term must end after it starts.")
        status, renewed = values["status"], values.get("renewed_acv")
        if status == RenewalStatus.CHURNED and renewed not in (None, Decimal("0")):
            row.errors.append("A churned term has no renewed ACV.")
        if status not in (RenewalStatus.UPCOMING, RenewalStatus.CHURNED) and renewed is None:
            row.errors.append(f"A {status} term needs its renewed ACV.")

    def plan(self, rows: list[RowPlan]) -> None:
        accounts = AccountIndex(row.context["account_ref"] for row in rows)
        found = {}
        for row in rows:
            account, reason = accounts.find(row.context["account_ref"])
            if account is None:
                row.skip(reason)
            found[row.line] = account
        wanted = {(account.pk, row.values["start_date"]) for row in rows if (account := found[row.line])}
        existing = {
            (renewal.account_id, renewal.start_date): renewal
            for renewal in Renewal.objects.filter(
                account_id__in={pk for pk, _ in wanted}, start_date__in={day for _, day in wanted}
            )
        }
        for row in rows:
            account = found[row.line]
            if account is None:
                continue
            values = {name: row.values.get(name) for name in ("end_date", "acv", "status", "renewed_acv")}
            renewal = existing.get((account.pk, row.values["start_date"]))
            if renewal is None:
                renewal = Renewal(account=account, start_date=row.values["start_date"], **values)
                row.action, row.record = ImportAction.CREATE, renewal
                row.reason = f"New term of {account} ({renewal.start_date} to {renewal.end_date})."
                row.extra["decided"] = renewal.status != RenewalStatus.UPCOMING
                continue
            if "renewed_acv" not in row.values and renewal.status == values["status"]:
                values.pop("renewed_acv")  # a blank cell leaves the stored value alone
            changed = [name for name, value in values.items() if getattr(renewal, name) != value]
            row.extra["decided"] = "status" in changed and values["status"] != RenewalStatus.UPCOMING
            for name in changed:
                setattr(renewal, name, values[name])
            row.record, row.changed = renewal, changed
            row.extra["record_key"] = f"renewal:{renewal.pk}"
            if changed:
                described = ", ".join(name.replace("_", " ").replace("acv", "ACV") for name in changed)
                row.action, row.reason = (
                    ImportAction.UPDATE,
                    f"Term #{renewal.pk} of {account} exists; changes {described}.",
                )
            else:
                row.action, row.reason = (
                    ImportAction.UNCHANGED,
                    f"Term #{renewal.pk} of {account} exists; nothing to change.",
                )

    def write(self, rows: list[RowPlan]) -> None:
        now = timezone.now()
        for row in rows:
            renewal: Renewal = row.record
            if renewal.status == RenewalStatus.UPCOMING:
                renewal.decided_at = None
            elif row.extra.get("decided"):
                renewal.decided_at = now
        creates = [row.record for row in rows if row.action == ImportAction.CREATE]
        if creates:
            Renewal.objects.bulk_create(creates, batch_size=500)
        updates: dict[frozenset, list[Renewal]] = {}
        for row in rows:
            if row.action == ImportAction.UPDATE:
                row.record.updated_at = now
                updates.setdefault(frozenset([*row.changed, "decided_at", "updated_at"]), []).append(
                    row.record
                )
        for fields, renewals in updates.items():
            Renewal.objects.bulk_update(renewals, sorted(fields), batch_size=500)
        for row in rows:
            if row.extra.get("decided"):
                renewal = row.record
                services.activity_record(
                    kind=ActivityKind.RENEWAL_DECISION,
                    account=renewal.account,
                    actor=self.actor,
                    summary=(
                        f"Renewal {renewal.get_status_display().lower()}: "
                        f"{renewal.acv} → {renewal.renewed_acv or 0}"
                    ),
                    data={
                        "renewal": renewal.pk,
                        "status": renewal.status,
                        "acv": str(renewal.acv),
                        "renewed_acv": str(renewal.renewed_acv) if renewal.renewed_acv is not None else None,
                        "source": "import",
                    },
                )

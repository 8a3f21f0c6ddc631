"""Orders from CSV, upserted on their external id (the order number in the source system)."""

from datetime import timedelta

from django.utils import timezone

from crm.imports.base import (
    AccountIndex,
    ContactIndex,
    Importer,
    RowPlan,
    Target,
    account_ref_from,
    check_length,
    contact_ref_from,
    parse_fraction,
    parse_moment,
    parse_money,
)
from crm.models import ImportAction, Order


class OrderImporter(Importer):
    kind = "orders"
    label = "Orders"
    description = (
        "Orders of existing contacts or accounts, matched on the order's external id (required, "
        "so a re-import never duplicates an order). The customer is found by contact email, phone, "
        "external id or id, or by account id, domain or name."
    )
    targets = (
        Target(
            "external_id",
            "Order id",
            ("external id", "order id", "order number", "order no", "invoice", "id"),
        ),
        Target("amount", "Amount", ("total", "order total", "value", "revenue", "price")),
        Target("gross_margin", "Gross margin", ("margin", "gm")),
        Target("ordered_at", "Ordered at", ("date", "order date", "ordered", "created at", "purchased at")),
        Target("attribution", "Attribution", ("utm source", "utm campaign", "campaign")),
        Target("contact_email", "Contact email", ("email", "customer email", "e mail")),
        Target("contact_phone", "Contact phone", ("phone", "customer phone", "mobile")),
        Target("contact_external_id", "Contact external id", ("customer id", "contact id external")),
        Target("contact_id", "Contact id", ()),
        Target("account_id", "Account id", ()),
        Target("account_name", "Account name", ("account", "company", "company name")),
        Target("account_domain", "Account domain", ("domain", "website")),
    )
    contact_targets = ("contact_email", "contact_phone", "contact_external_id", "contact_id")
    account_targets = ("account_id", "account_name", "account_domain")

    def check_fields(self, used: set[str]) -> list[str]:
        return self.require_all(used, ("external_id", "amount", "ordered_at")) + self.require_one_of(
            used, self.contact_targets + self.account_targets, "the customer (a contact or an account)"
        )

    def prepare(self, row: RowPlan, texts: dict[str, str]) -> None:
        values = row.values
        external_id = texts.get("external_id", "")
        if not external_id:
            row.errors.append("The order id is missing (it keeps a re-import from duplicating the order).")
        else:
            try:
                values["external_id"] = check_length(external_id, 200, "order id")
            except ValueError as exc:
                row.errors.append(str(exc))
        self._parse(
            row, "amount", texts.get("amount", ""), lambda text: parse_money(text, minimum=None), True
        )
        self._parse(row, "gross_margin", texts.get("gross_margin", ""), parse_fraction, False)
        self._parse(
            row,
            "ordered_at",
            texts.get("ordered_at", ""),
            lambda t: parse_moment(t, day_first=self.day_first),
            True,
        )
        if values.get("ordered_at") and values["ordered_at"] > timezone.now() + timedelta(days=1):
            row.warnings.append("The order date is in the future.")
        if texts.get("attribution"):
            values["attribution"] = texts["attribution"][:200]
        row.context["contact_ref"] = contact_ref_from(row, texts, self.phone_region)
        row.context["account_ref"] = account_ref_from(row, texts)
        if not row.context["contact_ref"] and not row.context["account_ref"]:
            row.errors.append("The order needs a contact or an account.")
        if "external_id" in values:
            row.keys.append(f"order_id:{values['external_id']}")
        row.label = values.get("external_id", "")

    def _parse(self, row: RowPlan, name: str, text: str, parser, required: bool) -> None:
        if not text:
            if required:
                row.errors.append(f"The {self.target_label(name).lower()} is missing.")
            return
        try:
            row.values[name] = parser(text)
        except ValueError as exc:
            row.errors.append(str(exc))

    def plan(self, rows: list[RowPlan]) -> None:
        contacts = ContactIndex(row.context["contact_ref"] for row in rows)
        accounts = AccountIndex(row.context["account_ref"] for row in rows)
        existing = Order.objects.in_bulk(
            [row.values["external_id"] for row in rows], field_name="external_id"
        )
        for row in rows:
            contact = account = None
            if row.context["contact_ref"]:
                contact, reason = contacts.find(row.context["contact_ref"])
                if contact is None:
                    row.skip(reason)
                    continue
            if row.context["account_ref"]:
                account, reason = accounts.find(row.context["account_ref"])
                if account is None:
                    row.skip(reason)
                    continue
            if contact is not None and account is not None and contact.account_id not in (None, account.pk):
                row.skip(f"{contact} is a contact of another account, not of {account}.")
                continue
            fields = {
                "contact_id": contact.pk if contact else None,
                "account_id": account.pk if account else (contact.account_id if contact else None),
                "amount": row.values["amount"],
                "gross_margin": row.values.get("gross_margin"),
                "ordered_at": row.values["ordered_at"],
                "attribution": row.values.get("attribution", ""),
            }
            order = existing.get(row.values["external_id"])
            if order is None:
                row.action, row.record = (
                    ImportAction.CREATE,
                    Order(external_id=row.values["external_id"], **fields),
                )
                row.reason = f"New order for {contact or account}."
                continue
            if "gross_margin" not in row.values:
                fields.pop("gross_margin")  # a blank cell leaves the stored margin alone
            if "attribution" not in row.values:
                fields.pop("attribution")
            changed = [name for name, value in fields.items() if getattr(order, name) != value]
            for name in changed:
                setattr(order, name, fields[name])
            row.record, row.changed = order, changed
            row.extra["record_key"] = f"order:{order.pk}"
            if changed:
                described = ", ".join(name.removesuffix("_id").replace("_", " ") for name in changed)
                row.action, row.reason = (
                    ImportAction.UPDATE,
                    f"Order #{order.pk} exists; changes {described}.",
                )
            else:
                row.action, row.reason = (
                    ImportAction.UNCHANGED,
                    f"Order #{order.pk} exists; nothing to change.",
                )

    def write(self, rows: list[RowPlan]) -> None:
        now = timezone.now()
        creates = [row.record for row in rows if row.action == ImportAction.CREATE]
        if creates:
            Order.objects.bulk_create(creates, batch_size=500)
        updates: dict[frozenset, list[Order]] = {}
        for row in rows:
            if row.action == ImportAction.UPDATE:
                row.record.updated_at = now
                updates.setdefault(frozenset([*row.changed, "updated_at"]), []).append(row.record)
        for fields, orders in updates.items():
            Order.objects.bulk_update(orders, sorted(fields), batch_size=500)

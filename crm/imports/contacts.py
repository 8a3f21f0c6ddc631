"""Contacts (with their accounts) from CSV, upserted on external id, email or phone."""

from django.utils import timezone

from core.events import events_publish
from crm import custom_fields, services
from crm.imports.base import (
    AccountIndex,
    AccountRef,
    ContactIndex,
    ContactRef,
    Importer,
    RowPlan,
    Target,
    account_ref_from,
    check_length,
    check_timezone,
    conflict_reason,
    normalize_header,
    parse_choice,
    parse_email,
    parse_phone_cell,
    user_lookup,
)
from crm.models import (
    Account,
    AcquisitionChannel,
    Activity,
    ActivityKind,
    Contact,
    CustomField,
    CustomFieldObject,
    ImportAction,
)
from crm.phones import is_region_code

# Fields a row can set on a contact, in the order a change is described.
_SIMPLE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "external_id",
    "owner",
    "timezone",
    "acquisition_channel",
)


# Compared by id, so a batch never loads the users it assigns.
_ATTNAMES = {"owner": "owner_id"}


def _key(value):
    return getattr(value, "pk", value)


def _blank(value) -> bool:
    return value is None or value == ""


def _label(name: str) -> str:
    return name.replace("_", " ")


def _shown(value) -> str:
    """A value as the dry run shows it: a user or account by name, nothing as ''."""
    if value is None:
        return ""
    if hasattr(value, "get_full_name"):
        return value.get_full_name() or value.get_username()
    return str(value)


def split_full_name(text: str) -> tuple[str, str]:
    """'Lee, Ann' -> ('Ann', 'Lee'); 'Ann Marie Lee' -> ('Ann Marie', 'Lee')."""
    text = " ".join(text.split())
    if "," in text:
        last, _, first = text.partition(",")
        return first.strip(), last.strip()
    first, _, last = text.rpartition(" ")
    return (first, last) if first else (last, "")


class ContactImporter(Importer):
    kind = "contacts"
    label = "Contacts"
    description = (
        "People, matched on external id, email (any case) or phone (any format, compared in "
        "E.164). Accounts are found by id, domain or name and created when new (unless turned "
        "off). Blank cells leave the current value alone."
    )
    allows_attributes = True
    targets = (
        Target("external_id", "External id", ("external id", "crm id", "customer id", "record id")),
        Target("first_name", "First name", ("first", "firstname", "given name", "forename")),
        Target("last_name", "Last name", ("last", "lastname", "surname", "family name")),
        Target("full_name", "Full name", ("name", "contact name", "contact", "full name")),
        Target("email", "Email", ("e mail", "email address", "e mail address", "mail", "work email")),
        Target(
            "phone",
            "Phone",
            (
                "phone number",
                "mobile",
                "mobile phone",
                "mobile number",
                "cell",
                "cell phone",
                "telephone",
                "tel",
            ),
        ),
        Target("phone_region", "Phone region", ("country", "country code", "region"), "e.g. US, GB"),
        Target("account_id", "Account id", ()),
        Target(
            "account_name",
            "Account name",
            ("account", "company", "company name", "organization", "organisation"),
        ),
        Target(
            "account_domain", "Account domain", ("domain", "website", "company domain", "company website")
        ),
        Target("owner", "Owner", ("owner email", "contact owner", "assigned to", "owner username")),
        Target("timezone", "Timezone", ("time zone", "tz")),
        Target("acquisition_channel", "Acquisition channel", ("channel", "lead source", "acquisition")),
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._users = None
        self._new_account_keys: set[str] = set()
        self._custom: dict[str, CustomField] | None = None  # normalized header -> field

    @property
    def create_accounts(self) -> bool:
        return self.options.get("create_accounts", True)

    def check_fields(self, used: set[str]) -> list[str]:
        return self.require_one_of(used, ("email", "phone", "external_id"), "something to match contacts on")

    # --- prepare: one row, no queries ---

    def prepare(self, row: RowPlan, texts: dict[str, str]) -> None:
        values = row.values
        first, last = texts.get("first_name", ""), texts.get("last_name", "")
        if texts.get("full_name") and not (first or last):
            first, last = split_full_name(texts["full_name"])
        for name, value, label in (("first_name", first, "first name"), ("last_name", last, "last name")):
            if value:
                try:
                    values[name] = check_length(value, 100, label)
                except ValueError as exc:
                    row.errors.append(str(exc))
        if texts.get("email"):
            try:
                values["email"] = parse_email(texts["email"])
            except ValueError as exc:
                row.errors.append(str(exc))
        if texts.get("external_id"):
            try:
                values["external_id"] = check_length(texts["external_id"], 200, "external id")
            except ValueError as exc:
                row.errors.append(str(exc))
        self._prepare_phone(row, texts)
        self._prepare_custom_fields(row)
        row.context["account_ref"] = account_ref_from(row, texts)
        self._prepare_optional(row, texts)
        if "external_id" in values:
            row.keys.append(f"external_id:{values['external_id']}")
        if "email" in values:
            row.keys.append(f"email:{values['email']}")
        if values.get("phone"):
            row.keys.append(f"phone:{values['phone']}")
        row.label = values.get("email") or values.get("phone") or values.get("external_id") or ""
        if not row.keys and not row.errors:
            problem = row.context.get("phone_problem")
            if problem:
                row.errors.append(f"{problem} The row has no email or external id to match on either.")
            else:
                row.errors.append("The row has no email, phone or external id to match on.")

    def _prepare_phone(self, row: RowPlan, texts: dict[str, str]) -> None:
        if not texts.get("phone"):
            return
        region = self.phone_region
        if texts.get("phone_region"):
            if is_region_code(texts["phone_region"]):
                region = texts["phone_region"].upper()
            else:
                row.warnings.append(
                    f"Unknown phone region {texts['phone_region']!r}; read the number as {region}."
                )
        phone = parse_phone_cell(texts["phone"], region)
        row.values.update(phone_raw=phone.raw, phone=phone.e164, phone_valid=phone.valid)
        row.context["phone_timezone"] = phone.timezone
        if phone.problem:
            row.context["phone_problem"] = phone.problem
            if phone.e164:
                row.warnings.append(f"Phone {phone.problem} Kept, marked invalid.")
            else:
                row.warnings.append(f"Phone kept as typed: {phone.problem}")

    def _custom_field_for(self, header: str) -> CustomField | None:
        """The contact custom field an attribute column fills: by key or label, any case."""
        if self._custom is None:
            self._custom = {}
            for field in custom_fields.definitions(CustomFieldObject.CONTACT):
                self._custom.setdefault(normalize_header(field.label), field)
                self._custom[normalize_header(field.key)] = field
        return self._custom.get(normalize_header(header))

    def _prepare_custom_fields(self, row: RowPlan) -> None:
        """Attribute columns of defined custom fields are read as their type (stored under the
        field's key); a value that does not fit is a row error, so the row is skipped whole."""
        typed = {}
        for header, text in row.attributes.items():
            field = self._custom_field_for(header)
            if field is None:
                typed[header] = text
                continue
            try:
                value = custom_fields.parse(field, text)
            except ValueError as exc:
                row.errors.append(f"{field.label}: {exc}.")
                continue
            if value is not None:
                typed[field.key] = value
        row.attributes = typed

    def _prepare_optional(self, row: RowPlan, texts: dict[str, str]) -> None:
        """Owner, timezone and channel never block a row: a bad value is left out with a warning."""
        if texts.get("owner"):
            if self._users is None:
                self._users = user_lookup()
            user = self._users.get(texts["owner"].lower())
            if user is None:
                row.warnings.append(f"No active user {texts['owner']!r}; owner not set.")
            else:
                row.values["owner"] = user
        if texts.get("timezone"):
            try:
                row.values["timezone"] = check_timezone(texts["timezone"])
            except ValueError as exc:
                row.warnings.append(str(exc))
        if texts.get("acquisition_channel"):
            try:
                row.values["acquisition_channel"] = parse_choice(
                    texts["acquisition_channel"], AcquisitionChannel.choices, what="channel"
                )
            except ValueError as exc:
                row.warnings.append(f"{exc} Ignored.")

    # --- plan: the batch, a constant number of queries ---

    def plan(self, rows: list[RowPlan]) -> None:
        # The owner and account come along: the dry run shows their old values by name.
        contacts = ContactIndex((self._ref(row) for row in rows), select_related=("owner", "account"))
        accounts = AccountIndex(row.context["account_ref"] for row in rows)
        for row in rows:
            found = contacts.matches(self._ref(row))
            distinct = {contact.pk: contact for _, contact in found}
            if len(distinct) > 1:
                row.skip(conflict_reason(found))
                continue
            account, account_reason = self._plan_account(row, accounts)
            if account_reason:
                row.skip(account_reason)
                continue
            if distinct:
                key, contact = found[0]
                self._plan_update(row, contact, key, account)
            else:
                self._plan_create(row, account)
        if self.dry_run:
            for row in rows:
                ref = row.extra.get("new_account")
                if ref and row.writes and ref.key not in self._new_account_keys:
                    self._new_account_keys.add(ref.key)
                    self.extra_counts["accounts created"] += 1

    def _record_on_timeline(self, rows: list[RowPlan]) -> None:
        """One timeline entry per updated contact naming the fields and their old -> new values,
        in one INSERT for the batch."""
        source = f"Import of {self.job.file_name}" if self.job is not None else "Import"
        services.activities_record_bulk(
            [
                Activity(
                    kind=ActivityKind.RECORD_IMPORTED,
                    contact=row.record,
                    actor=self.actor,
                    summary=f"{source} changed {', '.join(label for label, _, _ in row.changes)}.",
                    data={
                        "import_job": self.job.pk if self.job is not None else None,
                        "line": row.line,
                        "changes": [list(change) for change in row.changes],
                    },
                )
                for row in rows
            ]
        )

    def _ref(self, row: RowPlan) -> ContactRef:
        values = row.values
        return ContactRef(
            external_id=values.get("external_id", ""),
            email=values.get("email", ""),
            phone=values.get("phone") or "",
        )

    def _plan_account(self, row: RowPlan, accounts: AccountIndex) -> tuple[Account | None, str]:
        """The row's account (None when it names none or a new one) or why the row cannot go in."""
        ref: AccountRef = row.context["account_ref"]
        if not ref:
            return None, ""
        account, reason = accounts.find(ref)
        if account is not None:
            return account, ""
        if ref.id is not None or "accounts have" in reason or not self.create_accounts:
            return None, reason
        row.extra["new_account"] = ref
        return None, ""

    def _plan_create(self, row: RowPlan, account: Account | None) -> None:
        values = row.values
        contact = Contact(**values, account=account, attributes=dict(row.attributes))
        contact.timezone = (
            values.get("timezone")
            or row.context.get("phone_timezone")
            or (account.timezone if account is not None else "")
            or ""
        )
        row.action, row.record = ImportAction.CREATE, contact
        new_account: AccountRef | None = row.extra.get("new_account")
        row.reason = "New contact" + (f" in a new {new_account}." if new_account else ".")

    def _plan_update(self, row: RowPlan, contact: Contact, matched_on: str, account: Account | None) -> None:
        values, changed, changes = row.values, [], []
        keep = self.keep_existing
        who = f"{contact} (#{contact.pk})"
        for name in _SIMPLE_FIELDS:
            if name not in values or getattr(contact, _ATTNAMES.get(name, name)) == _key(values[name]):
                continue
            old = getattr(contact, name)
            if keep and not _blank(old):
                continue
            changes.append((_label(name), _shown(old), _shown(values[name])))
            setattr(contact, name, values[name])
            changed.append(name)
        if "phone_raw" in values and not (keep and (contact.phone or contact.phone_raw)):
            old_phone = contact.phone or contact.phone_raw
            if self._update_phone(row, contact):
                changed.append("phone")
                changes.append(("phone", old_phone or "", contact.phone or contact.phone_raw))
        new_account = row.extra.get("new_account")
        if ((account is not None and contact.account_id != account.pk) or new_account) and not (
            keep and contact.account_id is not None
        ):
            old = contact.account.name if contact.account_id else ""
            contact.account = account
            changed.append("account")
            changes.append(("account", old, account.name if account is not None else str(new_account)))
        elif new_account:
            row.extra.pop("new_account")  # kept the current account: no new one for this row
        if row.attributes:
            current = contact.attributes or {}
            incoming = {
                key: value
                for key, value in row.attributes.items()
                if current.get(key) != value and not (keep and not _blank(current.get(key)))
            }
            if incoming:
                changes += [(key, _shown(current.get(key)), _shown(value)) for key, value in incoming.items()]
                contact.attributes = {**current, **incoming}
                changed.append("attributes")
        row.record, row.changed, row.changes = contact, changed, changes
        row.extra["record_key"] = f"contact:{contact.pk}"
        if not changed:
            kept = " (keeping existing values)" if keep else ""
            row.action, row.reason = (
                ImportAction.UNCHANGED,
                f"Matches {who} by {matched_on}; nothing to change{kept}.",
            )
            return
        described = ", ".join(name.replace("_", " ") for name in changed)
        row.action, row.reason = ImportAction.UPDATE, f"Matches {who} by {matched_on}; changes {described}."

    def _update_phone(self, row: RowPlan, contact: Contact) -> bool:
        values = row.values
        if values["phone"] is None:
            # Text that is not a number never replaces a number we can text.
            if contact.phone:
                row.warnings.append(f"Kept the current phone {contact.phone}.")
                return False
            if contact.phone_raw == values["phone_raw"]:
                return False
        elif contact.phone == values["phone"]:
            return False  # the same number, however it was typed this time
        contact.phone_raw, contact.phone, contact.phone_valid = (
            values["phone_raw"],
            values["phone"],
            values["phone_valid"],
        )
        if "timezone" not in values and not contact.timezone and row.context.get("phone_timezone"):
            contact.timezone = row.context["phone_timezone"]
        return True

    # --- write ---

    def write(self, rows: list[RowPlan]) -> None:
        new_accounts: dict[str, Account] = {}
        for row in rows:
            ref: AccountRef | None = row.extra.get("new_account")
            if ref and ref.key not in new_accounts:
                new_accounts[ref.key] = Account(
                    name=ref.name or ref.domain, domain=ref.domain, owner=self.actor
                )
        if new_accounts:
            Account.objects.bulk_create(new_accounts.values())
        now = timezone.now()
        creates, updates = [], {}
        for row in rows:
            contact: Contact = row.record
            ref = row.extra.get("new_account")
            if ref:
                contact.account = new_accounts[ref.key]
            if row.action == ImportAction.CREATE:
                creates.append(contact)
            else:
                fields = set(row.changed)
                if "phone" in fields:
                    fields |= {"phone_raw", "phone_valid", "timezone"}
                contact.updated_at = now
                updates.setdefault(frozenset(fields | {"updated_at"}), []).append(contact)
        if creates:
            Contact.objects.bulk_create(creates, batch_size=500)
        for fields, contacts in updates.items():
            Contact.objects.bulk_update(contacts, sorted(fields), batch_size=500)
        self._record_on_timeline([row for row in rows if row.action == ImportAction.UPDATE and row.changes])
        events_publish("contact.created", creates)
        events_publish("contact.updated", [contact for contacts in updates.values() for contact in contacts])
        # A number that opted out stays opted out whoever gets it (one check for the batch).
        services.contacts_numbered(
            creates + [c for fields, contacts in updates.items() if "phone" in fields for c in contacts]
        )
        self.extra_counts["accounts created"] += len(new_accounts)

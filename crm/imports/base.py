"""What every importer shares: its fields (mapping targets) with their header aliases, the
row it plans, the parsers for typed cell text, and the lookups of referenced records.

An importer handles a batch in three steps, called by ``crm.imports.runner``:
``prepare`` (one row, cell text -> clean values and natural keys, no queries), ``plan`` (the
batch: a few set-based queries to find existing records, then create / update / unchanged /
skip with the reason), ``write`` (bulk writes of what the plan creates or updates)."""

import re
import zoneinfo
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models.functions import Lower
from django.utils.dateparse import parse_date, parse_datetime

from crm.models import Account, Contact, ImportAction
from crm.phones import PhoneParseError, is_region_code, parse_phone

IGNORE = ""
ATTRIBUTE = "attribute"  # the column is kept in the record's custom attributes, under its header


def normalize_header(text: str) -> str:
    """'E-mail Address' -> 'e mail address', to compare headers with field names and aliases."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


@dataclass(frozen=True)
class Target:
    """A field a column can fill."""

    name: str
    label: str
    aliases: tuple[str, ...] = ()
    help: str = ""

    def matches(self, header: str) -> bool:
        key = normalize_header(header)
        return key in {normalize_header(self.name), normalize_header(self.label)} | {
            normalize_header(alias) for alias in self.aliases
        }


@dataclass
class RowPlan:
    """One data row on its way through an import."""

    line: int
    cells: list[str]
    values: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)  # natural keys, e.g. "email:ann@example.com"
    label: str = ""  # what identifies the row to a person
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    action: str = ""
    reason: str = ""
    record: Any = None  # the instance to create or update
    changed: list[str] = field(default_factory=list)
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (field label, old, new) as shown
    context: dict[str, Any] = field(default_factory=dict)  # importer-specific, from prepare
    extra: dict[str, Any] = field(default_factory=dict)  # importer-specific, from plan

    def skip(self, reason: str) -> None:
        self.action, self.reason, self.record, self.changed, self.changes = (
            ImportAction.SKIP,
            reason,
            None,
            [],
            [],
        )

    def reset_plan(self) -> None:
        self.action, self.reason, self.record, self.changed, self.extra = "", "", None, [], {}
        self.changes = []

    @property
    def writes(self) -> bool:
        return self.action in (ImportAction.CREATE, ImportAction.UPDATE)

    @property
    def record_id(self) -> int | None:
        return getattr(self.record, "pk", None)


class Importer:
    """Base class of the importers named in settings.IMPORT_KINDS."""

    kind = ""
    label = ""
    description = ""
    targets: tuple[Target, ...] = ()
    batch_size = 1000
    allows_attributes = False

    def __init__(self, *, options: dict | None = None, actor=None, dry_run: bool = False, job=None):
        self.options = dict(options or {})
        self.actor = actor
        self.dry_run = dry_run
        self.job = job
        # Counts beyond the rows' own outcomes, e.g. accounts created along with contacts.
        self.extra_counts: Counter[str] = Counter()

    # --- mapping ---

    def target_names(self) -> list[str]:
        return [target.name for target in self.targets]

    def auto_map(self, header: Iterable[str]) -> dict[str, str]:
        """Each column to the first field whose name, label or alias it matches; a field is
        filled by one column at most."""
        mapping, taken = {}, set()
        for column in header:
            for target in self.targets:
                if target.name not in taken and target.matches(column):
                    mapping[column] = target.name
                    taken.add(target.name)
                    break
        return mapping

    def check_mapping(self, mapping: dict[str, str], header: list[str]) -> list[str]:
        """Problems with a mapping (column -> field); empty when it can be used."""
        problems = []
        known = {*self.target_names(), IGNORE, *([ATTRIBUTE] if self.allows_attributes else [])}
        for column, target in mapping.items():
            if column not in header:
                problems.append(f"There is no column {column!r} in the file.")
            elif target not in known:
                problems.append(f"{column!r}: unknown field {target!r}.")
        used = [t for t in mapping.values() if t not in (IGNORE, ATTRIBUTE)]
        for target in sorted({t for t in used if used.count(t) > 1}):
            columns = ", ".join(repr(c) for c, t in mapping.items() if t == target)
            problems.append(f"Only one column can fill {self.target_label(target)} (now: {columns}).")
        problems += self.check_fields(set(used))
        return problems

    def check_fields(self, used: set[str]) -> list[str]:
        """Kind-specific rules about which fields must be mapped."""
        return []

    def target_label(self, name: str) -> str:
        return next((t.label for t in self.targets if t.name == name), name)

    def require_one_of(self, used: set[str], names: Iterable[str], what: str) -> list[str]:
        names = list(names)
        if used.isdisjoint(names):
            labels = ", ".join(self.target_label(n) for n in names)
            return [f"Map a column to {what} (one of: {labels})."]
        return []

    def require_all(self, used: set[str], names: Iterable[str]) -> list[str]:
        return [f"Map a column to {self.target_label(n)} (required)." for n in names if n not in used]

    # --- the three steps ---

    def prepare(self, row: RowPlan, texts: dict[str, str]) -> None:
        """Fill ``row.values``, ``row.keys``, ``row.label`` and its errors/warnings from the
        mapped cell texts (field name -> trimmed text). No queries."""
        raise NotImplementedError

    def plan(self, rows: list[RowPlan]) -> None:
        """Set each row's action and reason (and ``record``) with a few queries per batch.
        ``row.extra["record_key"]`` names the existing record a row updates."""
        raise NotImplementedError

    def write(self, rows: list[RowPlan]) -> None:
        """Write the rows the plan creates or updates; called inside a transaction."""
        raise NotImplementedError

    # --- option helpers ---

    @property
    def phone_region(self) -> str:
        from django.conf import settings

        return (self.options.get("phone_region") or settings.DEFAULT_PHONE_REGION).upper()

    @property
    def day_first(self) -> bool:
        return bool(self.options.get("day_first"))

    @property
    def keep_existing(self) -> bool:
        """Only fill blanks: a value already on a record is never overwritten."""
        return bool(self.options.get("keep_existing"))


# --- Cell parsers: typed text in, a value out, ValueError with a reason for a person -------


def parse_email(text: str) -> str:
    email = text.strip().lower()
    if email.startswith("mailto:"):
        email = email[len("mailto:") :]
    try:
        validate_email(email)
    except ValidationError:
        raise ValueError(f"{text!r} is not an email address.") from None
    if len(email) > 254:
        raise ValueError("The email address is longer than 254 characters.")
    return email


@dataclass(frozen=True)
class PhoneValue:
    raw: str
    e164: str | None
    valid: bool
    timezone: str | None
    problem: str = ""


def parse_phone_cell(text: str, region: str) -> PhoneValue:
    """Never refuses input: text that is not a phone number is kept as typed (no E.164) with
    the reason, so the row can still be imported on its other keys."""
    raw = text.strip()[:64]
    if region and not is_region_code(region):
        region = ""
    try:
        parsed = parse_phone(raw, region or "US")
    except PhoneParseError as exc:
        return PhoneValue(raw=raw, e164=None, valid=False, timezone=None, problem=str(exc))
    problem = "" if parsed.is_valid else f"{raw!r} is not a valid number for its country."
    return PhoneValue(
        raw=raw, e164=parsed.e164, valid=parsed.is_valid, timezone=parsed.timezone, problem=problem
    )


_CURRENCY = re.compile(r"[\s$€£¥]|USD|EUR|GBP", re.IGNORECASE)


def parse_decimal(text: str, *, what: str = "amount") -> Decimal:
    """'1,234.50', '$1234.5', '1.234,50' and '(12.00)' (a negative in accounting format)."""
    value = _CURRENCY.sub("", text.strip())
    negative = value.startswith("(") and value.endswith(")")
    value = value.strip("()")
    if "," in value and "." in value:
        decimal_mark = "," if value.rfind(",") > value.rfind(".") else "."
        thousands = "." if decimal_mark == "," else ","
        value = value.replace(thousands, "").replace(decimal_mark, ".")
    elif "," in value:
        value = (
            value.replace(",", "") if re.fullmatch(r"-?\d{1,3}(,\d{3})+", value) else value.replace(",", ".")
        )
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number ({what}).") from None
    if not number.is_finite():
        raise ValueError(f"{text!r} is not a number ({what}).")
    return -number if negative else number


def parse_money(text: str, *, what: str = "amount", minimum: Decimal | None = Decimal("0")) -> Decimal:
    number = parse_decimal(text, what=what)
    if minimum is not None and number < minimum:
        raise ValueError(f"The {what} cannot be negative ({text!r}).")
    number = number.quantize(Decimal("0.01"))
    if abs(number) >= Decimal("1e10"):
        raise ValueError(f"The {what} {text!r} is too large.")
    return number


def parse_fraction(text: str, *, what: str = "gross margin") -> Decimal:
    """'62%' or '0.62' -> 0.62."""
    value = text.strip()
    percent = value.endswith("%")
    number = parse_decimal(value.rstrip("%"), what=what)
    if percent:
        number = number / 100
    if not Decimal("-1") <= number <= Decimal("1"):
        raise ValueError(f"The {what} {text!r} must be a fraction (0.62) or a percent (62%).")
    return number.quantize(Decimal("0.0001"))


_DATE_FORMATS_MONTH_FIRST = ("%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y")
_DATE_FORMATS_DAY_FIRST = ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y")
_DATE_FORMATS = ("%Y/%m/%d", "%d.%m.%Y", "%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%Y%m%d")


def parse_day(text: str, *, day_first: bool = False) -> date:
    """ISO dates, and the common spreadsheet formats; 03/04/2025 is March 4 unless
    ``day_first``."""
    value = text.strip()
    try:
        parsed = parse_date(value)
    except ValueError:
        parsed = None
    if parsed is not None:
        return parsed
    as_datetime = _parse_iso_datetime(value)
    if as_datetime is not None:
        return as_datetime.date()
    formats = (_DATE_FORMATS_DAY_FIRST if day_first else _DATE_FORMATS_MONTH_FIRST) + _DATE_FORMATS
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD).")


def _parse_iso_datetime(value: str) -> datetime | None:
    try:
        return parse_datetime(value.replace(" UTC", "Z"))
    except ValueError:
        return None


def parse_moment(text: str, *, day_first: bool = False) -> datetime:
    """A point in time, aware. Without an offset it is read as UTC; a bare date is its
    midnight UTC."""
    value = text.strip()
    parsed = _parse_iso_datetime(value)
    if parsed is None:
        for fmt in (
            ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")
            if not day_first
            else ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")
        ):
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        try:
            parsed = datetime.combine(parse_day(value, day_first=day_first), time.min)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a date or time (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)."
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_choice(text: str, choices, *, what: str, synonyms: dict[str, str] | None = None) -> str:
    """A choice by its value or its label, any case."""
    key = normalize_header(text)
    for value, label in choices:
        if key in (normalize_header(value), normalize_header(str(label))):
            return value
    if synonyms and key in synonyms:
        return synonyms[key]
    allowed = ", ".join(value for value, _ in choices)
    raise ValueError(f"{text!r} is not a {what} (use one of: {allowed}).")


def check_length(text: str, limit: int, what: str) -> str:
    if len(text) > limit:
        raise ValueError(f"The {what} is longer than {limit} characters.")
    return text


def check_timezone(text: str) -> str:
    value = text.strip()
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not an IANA timezone (e.g. America/Chicago); ignored.") from None
    return value


def normalize_domain(text: str) -> str:
    value = text.strip().lower()
    value = re.sub(r"^[a-z]+://", "", value)
    value = value.split("/", 1)[0]
    return value.removeprefix("www.")


# --- Lookups of referenced records, one query per kind of key per batch ---------------------


@dataclass(frozen=True)
class AccountRef:
    """How a row names its account: our id, a domain or a name (first given wins)."""

    id: int | None = None
    domain: str = ""
    name: str = ""

    @property
    def key(self) -> str:
        if self.id is not None:
            return f"id:{self.id}"
        if self.domain:
            return f"domain:{self.domain}"
        return f"name:{self.name.lower()}" if self.name else ""

    def __str__(self) -> str:
        if self.id is not None:
            return f"account #{self.id}"
        return f"account {self.name or self.domain!r}"

    def __bool__(self) -> bool:
        return bool(self.key)


def account_ref_from(row: RowPlan, cells: dict[str, str], *, prefix: str = "account_") -> AccountRef:
    raw_id = cells.get(f"{prefix}id", "")
    account_id = None
    if raw_id:
        if raw_id.isdigit():
            account_id = int(raw_id)
        else:
            row.errors.append(f"Account id {raw_id!r} is not a number.")
    name = cells.get(f"{prefix}name", "")
    if len(name) > 200:
        row.errors.append("The account name is longer than 200 characters.")
    return AccountRef(id=account_id, domain=normalize_domain(cells.get(f"{prefix}domain", "")), name=name)


class AccountIndex:
    """The accounts a batch refers to, found with one query per kind of reference."""

    def __init__(self, refs: Iterable[AccountRef]):
        refs = [ref for ref in refs if ref]
        ids = {ref.id for ref in refs if ref.id is not None}
        domains = {ref.domain for ref in refs if ref.id is None and ref.domain}
        names = {ref.name.lower() for ref in refs if ref.id is None and not ref.domain and ref.name}
        self.by_id = Account.objects.in_bulk(ids) if ids else {}
        self.by_domain: dict[str, list[Account]] = {}
        self.by_name: dict[str, list[Account]] = {}
        if domains:
            for account in Account.objects.alias(d=Lower("domain")).filter(d__in=domains).order_by("pk"):
                self.by_domain.setdefault(account.domain.lower(), []).append(account)
        if names:
            for account in Account.objects.alias(n=Lower("name")).filter(n__in=names).order_by("pk"):
                self.by_name.setdefault(account.name.lower(), []).append(account)

    def find(self, ref: AccountRef) -> tuple[Account | None, str]:
        """The account, or None with the reason (unknown, or ambiguous)."""
        if ref.id is not None:
            account = self.by_id.get(ref.id)
            return (account, "") if account else (None, f"Unknown account: no account has id {ref.id}.")
        if ref.domain:
            found = self.by_domain.get(ref.domain, [])
            what = f"domain {ref.domain!r}"
        else:
            found = self.by_name.get(ref.name.lower(), [])
            what = f"name {ref.name!r}"
        if len(found) == 1:
            return found[0], ""
        if len(found) > 1:
            return None, f"{len(found)} accounts have the {what}: use the account id or domain."
        return None, f"Unknown account: no account has the {what}."


@dataclass(frozen=True)
class ContactRef:
    id: int | None = None
    external_id: str = ""
    email: str = ""
    phone: str = ""  # E.164

    @property
    def key(self) -> str:
        for name in ("id", "external_id", "email", "phone"):
            value = getattr(self, name)
            if value:
                return f"{name}:{value}"
        return ""

    def __str__(self) -> str:
        if self.id is not None:
            return f"contact #{self.id}"
        return f"contact {self.external_id or self.email or self.phone!r}"

    def __bool__(self) -> bool:
        return bool(self.key)


def contact_ref_from(
    row: RowPlan, cells: dict[str, str], region: str, *, prefix: str = "contact_"
) -> ContactRef:
    raw_id = cells.get(f"{prefix}id", "")
    contact_id = None
    if raw_id:
        if raw_id.isdigit():
            contact_id = int(raw_id)
        else:
            row.errors.append(f"Contact id {raw_id!r} is not a number.")
    email = ""
    if cells.get(f"{prefix}email"):
        try:
            email = parse_email(cells[f"{prefix}email"])
        except ValueError as exc:
            row.errors.append(str(exc))
    phone = ""
    if cells.get(f"{prefix}phone"):
        parsed = parse_phone_cell(cells[f"{prefix}phone"], region)
        if parsed.e164:
            phone = parsed.e164
        else:
            row.errors.append(f"Cannot find the contact by phone: {parsed.problem}")
    return ContactRef(
        id=contact_id, external_id=cells.get(f"{prefix}external_id", ""), email=email, phone=phone
    )


class ContactIndex:
    """The contacts a batch refers to, found with one query per kind of key."""

    def __init__(self, refs: Iterable[ContactRef], *, select_related: tuple[str, ...] = ()):
        refs = [ref for ref in refs if ref]
        ids = {r.id for r in refs if r.id is not None}
        external = {r.external_id for r in refs if r.external_id}
        emails = {r.email for r in refs if r.email}
        phones = {r.phone for r in refs if r.phone}
        base = Contact.objects.select_related(*select_related)
        self.by_id = base.in_bulk(ids) if ids else {}
        self.by_external = (
            {c.external_id: c for c in base.filter(external_id__in=external)} if external else {}
        )
        self.by_email = (
            {c.email.lower(): c for c in base.alias(e=Lower("email")).filter(e__in=emails)} if emails else {}
        )
        self.by_phone = {c.phone: c for c in base.filter(phone__in=phones)} if phones else {}

    def matches(self, ref: ContactRef) -> list[tuple[str, Contact]]:
        """Every contact a key of ``ref`` points at, with the key's name."""
        found = []
        if ref.id is not None and ref.id in self.by_id:
            found.append(("id", self.by_id[ref.id]))
        if ref.external_id and ref.external_id in self.by_external:
            found.append(("external id", self.by_external[ref.external_id]))
        if ref.email and ref.email in self.by_email:
            found.append(("email", self.by_email[ref.email]))
        if ref.phone and ref.phone in self.by_phone:
            found.append(("phone", self.by_phone[ref.phone]))
        return found

    def find(self, ref: ContactRef) -> tuple[Contact | None, str]:
        found = self.matches(ref)
        distinct = {contact.pk: contact for _, contact in found}
        if len(distinct) == 1:
            return next(iter(distinct.values())), ""
        if len(distinct) > 1:
            return None, conflict_reason(found)
        return None, f"Unknown contact: no contact matches {ref}."


def conflict_reason(found: list[tuple[str, Contact]]) -> str:
    parts = ", ".join(f"the {key} is {contact} (#{contact.pk})'s" for key, contact in found)
    return f"The row points at different contacts ({parts}): merge them first or fix the row."


def user_lookup() -> dict[str, Any]:
    """Active users by lowercased username, email and full name, to read an 'owner' cell."""
    users: dict[str, Any] = {}
    for user in get_user_model().objects.filter(is_active=True).order_by("pk"):
        for key in (user.username, user.email, user.get_full_name()):
            if key:
                users.setdefault(key.strip().lower(), user)
    return users

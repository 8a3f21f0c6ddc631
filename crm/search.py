"""One search over CRM records, shared by the list pages, the API's ``?search=`` and the global
search box: a record found in one is found in the others.

Names, emails and domains match by substring, every word of the query somewhere; a query that
reads as a phone number (digits with the usual punctuation, in any format) matches the stored
E.164 number by its digits, and exactly once parsed in the team's region. On PostgreSQL each
matched column has a pg_trgm GIN index (migration ``crm/migrations/*search_trigram_indexes``),
so a substring search at 100,000 contacts does not scan the table (bench scenario 5)."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.module_loading import import_string

from crm import fts
from crm.models import Account, Contact, Deal
from crm.phones import PhoneParseError, parse_phone

# Digits with spaces, brackets, dashes, dots, slashes and a leading plus: "(212) 200-0001".
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]+$")
MIN_PHONE_DIGITS = 3
MAX_QUERY_LENGTH = 200


def normalize_query(q: str | None) -> str:
    return " ".join((q or "").split())[:MAX_QUERY_LENGTH]


def phone_digits(q: str) -> str | None:
    """The digits to look for in stored E.164 numbers when ``q`` reads as (part of) a phone
    number; None otherwise. A national trunk prefix ("020 ...", "0 6 12 ...") is dropped: the
    E.164 form carries the country code instead."""
    if not _PHONE_LIKE.match(q):
        return None
    digits = re.sub(r"\D", "", q)
    if not q.startswith("+"):
        digits = digits.lstrip("0")
    return digits if len(digits) >= MIN_PHONE_DIGITS else None


def _phone_match(q: str, phone_field: str) -> Q | None:
    digits = phone_digits(q)
    if digits is None:
        return None
    prefix = phone_field.removesuffix("phone")
    condition = _fts_match(Contact, [digits], ("phone",), prefix) or Q(**{f"{phone_field}__contains": digits})
    try:
        parsed = parse_phone(q, settings.DEFAULT_PHONE_REGION)
    except PhoneParseError:
        return condition
    return condition | Q(**{phone_field: parsed.e164})


def _fts_match(model, words: list[str], columns: tuple[str, ...], prefix: str = "") -> Q | None:
    """On SQLite, the rows of ``model`` whose ``columns`` hold every word of 3 or more
    characters (as substrings, case-insensitively, each word within one column), read from its
    FTS5 trigram index (crm/fts.py); None elsewhere, or with no such word."""
    words = [word for word in words if len(word) >= fts.TRIGRAM]
    if not words or not fts.fts_available(connection):
        return None
    table = fts.fts_table(model._meta.db_table)
    spec = "{" + " ".join(columns) + "}"
    expression = " AND ".join(f'{spec} : "{word.replace(chr(34), chr(34) * 2)}"' for word in words)
    # The table is ours; the words travel as the MATCH parameter, each a quoted FTS5 string.
    ids = RawSQL(f"SELECT rowid FROM {table} WHERE {table} MATCH %s", [expression])  # noqa: S608, S611
    return Q(**{f"{prefix}pk__in": ids})


def _every_word(q: str, fields: tuple[str, ...], model=None, prefix: str = "") -> Q:
    """Every word of ``q`` in one of ``fields`` (of ``model``, reached through ``prefix``), as a
    case-insensitive substring. On SQLite the words the trigram index can look up (3+ characters)
    are read from it; shorter ones, and other databases, match with LIKE."""
    words = q.split()
    condition = _fts_match(model, words, fields, prefix) if model is not None else None
    if condition is None:
        condition = Q()
    else:
        words = [word for word in words if len(word) < fts.TRIGRAM]
    for word in words:
        any_field = Q()
        for name in fields:
            any_field |= Q(**{f"{prefix}{name}__icontains": word})
        condition &= any_field
    return condition


CONTACT_FIELDS = ("first_name", "last_name", "email")
# How search results are ordered. Not the list's plain (last_name, first_name, id): with a
# LIMIT, PostgreSQL would walk that index and filter row by row (200 ms for a rare name at 100k
# contacts) instead of reading the matches from the trigram indexes and sorting them (25 ms).
CONTACT_RESULT_ORDER = (Lower("last_name"), Lower("first_name"), "id")
ACCOUNT_FIELDS = ("name", "domain")


def contact_match(q: str, *, prefix: str = "") -> Q:
    """The contacts ``q`` finds (``prefix`` reaches them through a relation: ``contact__``)."""
    q = normalize_query(q)
    phone = _phone_match(q, f"{prefix}phone")
    if phone is not None:
        return phone
    return _every_word(q, CONTACT_FIELDS, Contact, prefix)


def account_match(q: str) -> Q:
    return _every_word(normalize_query(q), ACCOUNT_FIELDS, Account)


def deal_match(q: str) -> Q:
    """By the deal's name, or its account or contact as those searches find them. The three are
    a UNION of deal ids, each part an indexed lookup the planner joins on its own: an OR of
    ``name`` with ``account IN (...)`` and ``contact IN (...)`` could use none of the indexes
    and read every deal (30-40 ms at 100,000 contacts, 10,000 deals; EXPLAIN in bench/RESULTS.md)."""
    q = normalize_query(q)
    by_name = Deal.objects.filter(_every_word(q, ("name",), Deal))
    by_account = Deal.objects.filter(account__in=Account.objects.filter(account_match(q)).values("pk"))
    by_contact = Deal.objects.filter(contact__in=Contact.objects.filter(contact_match(q)).values("pk"))
    ids = [part.order_by().values("pk") for part in (by_name, by_account, by_contact)]
    return Q(pk__in=ids[0].union(*ids[1:], all=True))


def contacts_search(contacts: QuerySet[Contact], q: str) -> QuerySet[Contact]:
    """The matches in CONTACT_RESULT_ORDER (a caller's own order_by replaces it): the API's
    ``?search=`` without ``?ordering=`` would otherwise walk the name index (200 ms for a rare
    name at 100,000 contacts)."""
    if not normalize_query(q):
        return contacts
    return contacts.filter(contact_match(q)).order_by(*CONTACT_RESULT_ORDER)


def accounts_search(accounts: QuerySet[Account], q: str) -> QuerySet[Account]:
    return accounts.filter(account_match(q)) if normalize_query(q) else accounts


def deals_search(deals: QuerySet[Deal], q: str) -> QuerySet[Deal]:
    return deals.filter(deal_match(q)) if normalize_query(q) else deals


# --- The global search box --------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    title: str
    detail: str
    url: str


@dataclass
class SearchGroup:
    """What one provider found: at most ``limit`` hits, and a link to the full list when
    there are more."""

    label: str
    hits: list[SearchHit] = field(default_factory=list)
    more_url: str = ""


Provider = Callable[..., SearchGroup]


def _group(label: str, rows: list, limit: int, hit: Callable, more_url: str) -> SearchGroup:
    return SearchGroup(
        label=label, hits=[hit(row) for row in rows[:limit]], more_url=more_url if len(rows) > limit else ""
    )


def contacts_group(q: str, *, user, limit: int) -> SearchGroup:
    # The first matches are chosen on the contact table alone, then joined to their accounts:
    # joining first would join every match (10,000 for a common surname) before the sort.
    first = contacts_search(Contact.objects.all(), q).values("pk")[: limit + 1]
    rows = list(
        Contact.objects.select_related("account").filter(pk__in=first).order_by(*CONTACT_RESULT_ORDER)
    )
    return _group(
        "Contacts",
        rows,
        limit,
        lambda c: SearchHit(
            str(c),
            " · ".join(
                x for x in (c.account.name if c.account_id else "", c.email or "", c.phone or "") if x
            ),
            c.get_absolute_url(),
        ),
        reverse("contact_list") + "?" + urlencode({"q": q}),
    )


def accounts_group(q: str, *, user, limit: int) -> SearchGroup:
    rows = list(accounts_search(Account.objects.all(), q).order_by("name", "id")[: limit + 1])
    return _group(
        "Accounts",
        rows,
        limit,
        lambda a: SearchHit(a.name, a.domain, a.get_absolute_url()),
        reverse("account_list") + "?" + urlencode({"q": q}),
    )


def deals_group(q: str, *, user, limit: int) -> SearchGroup:
    rows = list(
        deals_search(Deal.objects.select_related("account", "stage"), q).order_by("-created_at", "-id")[
            : limit + 1
        ]
    )
    return _group(
        "Deals",
        rows,
        limit,
        lambda d: SearchHit(d.name, f"{d.account.name} · {d.stage.name}", d.get_absolute_url()),
        "",
    )


def search_everything(q: str, *, user, limit: int = 5) -> list[SearchGroup]:
    """Every provider's group (settings.SEARCH_PROVIDERS: crm's records, and the apps built on
    crm add theirs, such as conversations), in order; one query each."""
    q = normalize_query(q)
    if not q:
        return []
    return [import_string(path)(q, user=user, limit=limit) for path in settings.SEARCH_PROVIDERS]

"""Duplicates: finding them (set-based) and merging two contacts, or two accounts, into one.

A merge is one transaction. The survivor keeps the values chosen field by field (by default
its own, with blanks filled from the other record); every row that pointed at the other
record is moved to the survivor (orders, deals, tasks, events, timeline here; messages,
consent, conversation, enrollments by the apps in settings.MERGE_HOOKS, which crm does not
import); the other record is deleted; the merge is recorded on the survivor's timeline with
the identity of the record that went away. Rows moved keep the account they were filed
under: history does not change account."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Concat, Length, Lower, Replace, Right, StrIndex, Substr, Trim
from django.utils.module_loading import import_string

from crm import services
from crm.models import Account, ActivityKind, Contact, ContactTag

SURVIVOR, OTHER = "survivor", "other"

# Fields a person chooses between; "phone" carries phone_raw, phone and phone_valid together.
CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "external_id",
    "account",
    "owner",
    "timezone",
    "acquisition_channel",
)
ACCOUNT_FIELDS = (
    "name",
    "domain",
    "owner",
    "ae",
    "plan",
    "seats",
    "lifecycle_stage",
    "signed_up_at",
    "churned_at",
    "acquisition_channel",
    "acquisition_cost",
    "timezone",
)
_PHONE_PARTS = ("phone_raw", "phone", "phone_valid")
_DEFAULTS = {"acquisition_channel": "other", "lifecycle_stage": "onboarding", "seats": 0}


@dataclass
class MergeResult:
    survivor: Any
    merged: dict  # identity of the record that went away
    moved: dict[str, int] = field(default_factory=dict)


def field_value(record, name: str):
    if name == "phone" and isinstance(record, Contact):
        return record.phone_raw if record.phone is None else record.phone
    return getattr(record, f"{name}_id" if _is_relation(record, name) else name)


def _is_relation(record, name: str) -> bool:
    return isinstance(type(record)._meta.get_field(name), models.ForeignKey)


def _blank(record, name: str) -> bool:
    value = field_value(record, name)
    return value in (None, "") or _DEFAULTS.get(name) == value


def merge_fields(record) -> tuple[str, ...]:
    return CONTACT_FIELDS if isinstance(record, Contact) else ACCOUNT_FIELDS


def default_choices(survivor, other) -> dict[str, str]:
    """The survivor's value, unless it is blank (or a default) and the other record's is not."""
    return {
        name: OTHER if _blank(survivor, name) and not _blank(other, name) else SURVIVOR
        for name in merge_fields(survivor)
    }


def _check_choices(fields: tuple[str, ...], keep: dict[str, str]) -> None:
    unknown = sorted(set(keep) - set(fields))
    bad = sorted(name for name, side in keep.items() if name in fields and side not in (SURVIVOR, OTHER))
    if unknown or bad:
        problems = []
        if unknown:
            problems.append(f"Cannot choose {', '.join(unknown)}; fields: {', '.join(fields)}.")
        if bad:
            problems.append(f"Choose '{SURVIVOR}' or '{OTHER}' for {', '.join(bad)}.")
        raise ValidationError({"keep": problems})


def _identity(record) -> dict:
    if isinstance(record, Contact):
        return {
            "id": record.pk,
            "name": record.full_name,
            "email": record.email,
            "phone": record.phone or record.phone_raw,
            "external_id": record.external_id,
            "account": record.account_id,
        }
    return {"id": record.pk, "name": record.name, "domain": record.domain}


def _lock_pair(model, survivor_id: int, other_id: int):
    if survivor_id == other_id:
        raise ValidationError({"other": "A record cannot be merged with itself."})
    # Locked in id order so two merges of the same pair cannot deadlock.
    locked = {
        obj.pk: obj
        for obj in model.objects.select_for_update().filter(pk__in=[survivor_id, other_id]).order_by("pk")
    }
    if len(locked) != 2:
        raise ValidationError({"other": "One of the records no longer exists."})
    return locked[survivor_id], locked[other_id]


def _move_related(model, survivor, other) -> Counter:
    """Point every row that references ``other`` at ``survivor``, whatever app it is in."""
    moved = Counter()
    for relation in model._meta.related_objects:
        if relation.many_to_many or not relation.field.concrete:
            continue
        related = relation.related_model
        count = related._base_manager.filter(**{relation.field.name: other}).update(
            **{relation.field.name: survivor}
        )
        if count:
            moved[str(related._meta.verbose_name_plural)] += count
    return moved


@transaction.atomic
def contact_merge(
    *, survivor: Contact, other: Contact, keep: dict[str, str] | None = None, actor=None
) -> MergeResult:
    """Merge ``other`` into ``survivor``. ``keep`` says, per field of CONTACT_FIELDS, whose
    value stays ("survivor" or "other"); unnamed fields follow ``default_choices``."""
    survivor, other = _lock_pair(Contact, survivor.pk, other.pk)
    _check_choices(CONTACT_FIELDS, keep or {})
    choices = {**default_choices(survivor, other), **(keep or {})}
    identity = _identity(other)
    # The other record lets go of its unique values first, so the survivor can take them.
    Contact.objects.filter(pk=other.pk).update(email=None, phone=None, external_id=None)
    for name, side in choices.items():
        if side != OTHER:
            continue
        if name == "phone":
            for part in _PHONE_PARTS:
                setattr(survivor, part, getattr(other, part))
        else:
            setattr(
                survivor, f"{name}_id" if _is_relation(survivor, name) else name, field_value(other, name)
            )
    survivor.attributes = {**(other.attributes or {}), **(survivor.attributes or {})}
    survivor.save()
    moved = Counter()
    for path in settings.MERGE_HOOKS:
        moved.update(import_string(path)(survivor=survivor, loser=other, actor=actor) or {})
    # Tags: the survivor takes the other's; one both have stays once (a contact has a tag once).
    ContactTag.objects.filter(
        contact=other, tag__in=ContactTag.objects.filter(contact=survivor).values("tag")
    ).delete()
    moved.update(_move_related(Contact, survivor, other))
    other.delete()
    survivor.refresh_from_db()
    services.activity_record(
        kind=ActivityKind.CONTACT_MERGED,
        contact=survivor,
        actor=actor,
        summary=f"Merged {identity['name'] or identity['email'] or identity['phone'] or 'a contact'} "
        f"(#{identity['id']}) into this contact",
        data={
            "merged": identity,
            "kept_from_merged": sorted(n for n, s in choices.items() if s == OTHER),
            "moved": dict(moved),
        },
    )
    return MergeResult(survivor=survivor, merged=identity, moved=dict(moved))


@transaction.atomic
def account_merge(
    *, survivor: Account, other: Account, keep: dict[str, str] | None = None, actor=None
) -> MergeResult:
    """Merge ``other`` into ``survivor``: its contacts, deals, renewals, orders, events, tasks
    and timeline move over; ``keep`` chooses field values like ``contact_merge``."""
    survivor, other = _lock_pair(Account, survivor.pk, other.pk)
    _check_choices(ACCOUNT_FIELDS, keep or {})
    choices = {**default_choices(survivor, other), **(keep or {})}
    identity = _identity(other)
    for name, side in choices.items():
        if side == OTHER:
            setattr(
                survivor, f"{name}_id" if _is_relation(survivor, name) else name, field_value(other, name)
            )
    survivor.attributes = {**(other.attributes or {}), **(survivor.attributes or {})}
    survivor.full_clean()
    survivor.save()
    moved = _move_related(Account, survivor, other)
    other.delete()
    services.activity_record(
        kind=ActivityKind.ACCOUNT_MERGED,
        account=survivor,
        actor=actor,
        summary=f"Merged account {identity['name']} (#{identity['id']}) into this account",
        data={
            "merged": identity,
            "kept_from_merged": sorted(n for n, s in choices.items() if s == OTHER),
            "moved": dict(moved),
        },
    )
    return MergeResult(survivor=survivor, merged=identity, moved=dict(moved))


def related_counts(model, ids: list[int]) -> dict[int, dict[str, int]]:
    """How many rows of each kind point at each record: one query, a subquery per relation."""
    annotations = {}
    labels = {}
    for relation in model._meta.related_objects:
        if relation.many_to_many or not relation.field.concrete:
            continue
        related = relation.related_model
        alias = f"n_{related._meta.label_lower.replace('.', '_')}_{relation.field.name}"
        counts = (
            related._base_manager.filter(**{relation.field.name: OuterRef("pk")})
            .order_by()
            .values(relation.field.name)
            .annotate(c=Count("pk"))
            .values("c")
        )
        annotations[alias] = Coalesce(Subquery(counts, output_field=IntegerField()), 0)
        labels[alias] = str(related._meta.verbose_name_plural)
    rows = model.objects.filter(pk__in=ids).annotate(**annotations).values("pk", *annotations)
    result = {}
    for row in rows:
        result[row["pk"]] = {labels[a]: row[a] for a in annotations if row[a]}
    return result


# --- Finding duplicates ----------------------------------------------------------------------


@dataclass
class DuplicateGroup:
    rule: str  # email | phone | name
    reason: str
    contact_ids: tuple[int, ...]
    contacts: list[Contact] = field(default_factory=list)


def _mailbox():
    """'Ann+crm@X.com' -> 'ann@x.com': the address without a +tag."""
    email = Lower("email", output_field=models.CharField())
    plus, at = StrIndex(email, Value("+")), StrIndex(email, Value("@"))
    without_tag = Concat(
        Substr(email, 1, F("plus_at") - 1), Substr(email, F("at_at")), output_field=models.CharField()
    )
    mailbox = Case(
        When(Q(plus_at__gt=0) & Q(plus_at__lt=F("at_at")), then=without_tag),
        default=email,
        output_field=models.CharField(),
    )
    return mailbox, {"plus_at": plus, "at_at": at}


def _phone_digits():
    digits = F("phone_raw")
    for char in (" ", "-", "(", ")", ".", "+", "/"):
        digits = Replace(digits, Value(char), Value(""))
    return Right(digits, 10)


def _rule_queries():
    mailbox, helpers = _mailbox()
    return {
        "email": (
            Contact.objects.filter(email__isnull=False).alias(**helpers).annotate(dup_key=mailbox),
            Q(),
            "same email address (ignoring case and +tags)",
        ),
        "phone": (
            Contact.objects.exclude(phone_raw="").annotate(dup_key=_phone_digits()),
            Q(key_length__gte=7),
            "same phone number (ignoring formatting and country code)",
        ),
        "name": (
            Contact.objects.filter(account__isnull=False)
            .exclude(first_name="", last_name="")
            .annotate(
                dup_key=Concat(
                    Lower(Trim("first_name")),
                    Value(" "),
                    Lower(Trim("last_name")),
                    Value("|"),
                    F("account_id"),
                    output_field=models.CharField(),
                )
            ),
            Q(),
            "same name in the same account",
        ),
    }


def duplicate_groups() -> list[DuplicateGroup]:
    """Groups of contacts that look like one person, by rule: two queries per rule, whatever
    the number of contacts. The same set of contacts found by two rules is listed once."""
    groups: dict[tuple[int, ...], DuplicateGroup] = {}
    for rule, (queryset, having, reason) in _rule_queries().items():
        keyed = queryset.alias(key_length=Length("dup_key")).filter(having) if rule == "phone" else queryset
        keys = (
            keyed.order_by()
            .values("dup_key")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .values_list("dup_key", flat=True)
        )
        members: dict[str, list[int]] = {}
        for key, pk in keyed.filter(dup_key__in=keys).order_by("pk").values_list("dup_key", "pk"):
            members.setdefault(key, []).append(pk)
        for ids in members.values():
            group_ids = tuple(ids)
            if group_ids in groups:
                groups[group_ids].reason += f"; {reason}"
            else:
                groups[group_ids] = DuplicateGroup(rule=rule, reason=reason, contact_ids=group_ids)
    return sorted(groups.values(), key=lambda g: g.contact_ids)


def load_group_contacts(groups: list[DuplicateGroup]) -> list[DuplicateGroup]:
    """Fill in the contacts of a page of groups with one query."""
    ids = {pk for group in groups for pk in group.contact_ids}
    contacts = Contact.objects.select_related("account", "owner").in_bulk(ids)
    for group in groups:
        group.contacts = [contacts[pk] for pk in group.contact_ids if pk in contacts]
    return groups

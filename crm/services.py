"""Writes to the CRM. Views, the API, imports and other apps change CRM records through these
functions so that validation, derived fields and the timeline stay in one place."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.module_loading import import_string

from core import bulk
from core.events import events_publish
from crm import custom_fields, stages
from crm.models import (
    Account,
    Activity,
    ActivityKind,
    ClvTier,
    Contact,
    ContactTag,
    CustomField,
    CustomFieldObject,
    CustomFieldType,
    Deal,
    Event,
    HealthBand,
    HealthSource,
    LifecycleStage,
    Order,
    PipelineStage,
    Renewal,
    RenewalStatus,
    SavedView,
    Tag,
    Task,
    TaskStatus,
    User,
    validate_timezone,
)
from crm.phones import PhoneParseError, is_region_code, parse_phone

_UNSET: Any = object()


# --- Shared rules ---------------------------------------------------------------------------


def check_contact_account(contact: Contact | None, account: Account | None) -> None:
    """A contact given together with an account must belong to that account (or to none)."""
    if contact is None or account is None:
        return
    if contact.account_id is not None and contact.account_id != account.pk:
        raise ValidationError({"contact": f"{contact} is a contact of another account, not of {account}."})


# --- Accounts -------------------------------------------------------------------------------


def _typed_attributes(object_type: str, fields: dict) -> None:
    """Defined custom fields in ``attributes`` to their canonical form, or a ValidationError
    naming the field (crm.custom_fields)."""
    if "attributes" in fields:
        fields["attributes"] = custom_fields.check_attributes(object_type, fields["attributes"] or {})


@transaction.atomic
def account_create(**fields) -> Account:
    _typed_attributes(CustomFieldObject.ACCOUNT, fields)
    account = Account(**fields)
    account.full_clean()
    account.save()
    return account


HAND_SET_REASON = "Set by hand."


@transaction.atomic
def account_update(*, account: Account, **fields) -> Account:
    """A changed ``lifecycle_stage`` is a stage set by hand: it sticks through the daily
    derivation until cleared (``account_stage_override``)."""
    _typed_attributes(CustomFieldObject.ACCOUNT, fields)
    stage = fields.get("lifecycle_stage")
    if stage and stage != account.lifecycle_stage:
        fields.update(lifecycle_stage_override=stage, lifecycle_stage_reason=HAND_SET_REASON)
    for name, value in fields.items():
        setattr(account, name, value)
    account.full_clean()
    account.save()
    return account


# --- Users ----------------------------------------------------------------------------------

USER_ADMIN_FIELDS = ("role", "manager", "timezone", "notify_by_email")


def user_check_manager(user: User, manager: User | None) -> None:
    """A manager chain never loops back (one query for the whole chain)."""
    if manager is None:
        return
    if manager.pk == user.pk:
        raise ValidationError({"manager": "A user cannot be their own manager."})
    managers = dict(User.objects.values_list("pk", "manager_id"))
    seen, current = set(), manager.pk
    while current is not None and current not in seen:
        if current == user.pk:
            raise ValidationError({"manager": f"{manager} already reports to {user}: that would be a loop."})
        seen.add(current)
        current = managers.get(current)


@transaction.atomic
def user_update(*, user: User, **fields) -> User:
    """Change a user's role, manager, timezone (IANA; blank: the team's) or email opt-in."""
    unknown = set(fields) - set(USER_ADMIN_FIELDS)
    if unknown:
        raise ValidationError(f"Cannot change {', '.join(sorted(unknown))} here.")
    if "timezone" in fields:
        fields["timezone"] = (fields["timezone"] or "").strip()
        try:
            validate_timezone(fields["timezone"])
        except ValidationError as exc:
            raise ValidationError({"timezone": exc.messages}) from None
    if "role" in fields and fields["role"] not in User.Role.values:
        raise ValidationError({"role": f"Unknown role {fields['role']!r}."})
    if "manager" in fields:
        user_check_manager(user, fields["manager"])
    for name, value in fields.items():
        setattr(user, name, value)
    if fields:
        user.save(update_fields=[*fields, "updated_at"])
    return user


# --- Timeline -------------------------------------------------------------------------------


def _timeline_entry_check(kind: str, *, has_contact: bool, has_account: bool) -> None:
    """What every timeline entry needs, however it is written."""
    if not (has_contact or has_account):
        raise ValidationError("A timeline entry needs a contact or an account.")
    if kind not in ActivityKind.values:
        raise ValidationError({"kind": f"Unknown activity kind {kind!r}."})


def activity_record(
    *,
    kind: str,
    contact: Contact | None = None,
    account: Account | None = None,
    occurred_at=None,
    actor=None,
    summary: str = "",
    data: dict | None = None,
) -> Activity:
    """Append one entry to the timeline. A contact's entry is also filed on its account."""
    _timeline_entry_check(kind, has_contact=contact is not None, has_account=account is not None)
    check_contact_account(contact, account)
    account_id = account.pk if account is not None else (contact.account_id if contact else None)
    return Activity.objects.create(
        kind=kind,
        contact=contact,
        account_id=account_id,
        occurred_at=occurred_at or timezone.now(),
        actor=actor,
        summary=summary[:300],
        data=data or {},
    )


def activities_record_bulk(entries: Sequence[Activity], *, batch_size: int = 1000) -> list[Activity]:
    """Append many timeline entries at once (a batch of sends, a demo history): the same rules
    as ``activity_record`` (a contact or an account, a known kind, the contact's account filed
    with it, a 300-character summary) in one INSERT per ``batch_size``. Entries without
    ``occurred_at`` happened now."""
    now = timezone.now()
    # Entries that name their contact by id alone: the contacts' accounts in one query.
    unfiled = {
        entry.contact_id
        for entry in entries
        if entry.account_id is None and entry.contact_id is not None and not Activity.contact.is_cached(entry)
    }
    accounts = {}
    if unfiled:
        accounts = dict(Contact.objects.filter(bulk.in_ids("pk", unfiled)).values_list("pk", "account_id"))
    for entry in entries:
        _timeline_entry_check(
            entry.kind, has_contact=entry.contact_id is not None, has_account=entry.account_id is not None
        )
        if entry.account_id is None and entry.contact_id is not None:
            in_query = entry.contact_id in accounts
            entry.account_id = accounts[entry.contact_id] if in_query else entry.contact.account_id
        entry.occurred_at = entry.occurred_at or now
        entry.summary = (entry.summary or "")[:300]
        entry.data = entry.data or {}
    return Activity.objects.bulk_create(entries, batch_size=batch_size)


def activity_insert(
    *,
    kind: str,
    contact_id: int | None,
    account_id: int | None,
    occurred_at=None,
    summary: str = "",
    data: dict | None = None,
) -> None:
    """``activity_record`` by ids, as one cached single-row INSERT (no model instance, no
    lookups): for hot paths such as the provider's status callbacks. The caller passes the
    contact's account."""
    _timeline_entry_check(kind, has_contact=contact_id is not None, has_account=account_id is not None)
    bulk.row_insert(
        Activity,
        {
            "kind": kind,
            "contact": contact_id,
            "account": account_id,
            "occurred_at": occurred_at or timezone.now(),
            "actor": None,
            "summary": summary[:300],
            "data": data or {},
        },
    )


# --- Contacts -------------------------------------------------------------------------------


def normalize_email(email: str | None) -> str | None:
    email = (email or "").strip().lower()
    return email or None


def contact_apply_phone(contact: Contact, raw: str, *, region: str | None = None) -> None:
    """Set phone_raw, the E.164 phone, its validity and (when unknown) the timezone.

    Raises ValidationError on ``phone`` for text that is not a phone number."""
    raw = (raw or "").strip()
    if not raw:
        contact.phone_raw, contact.phone, contact.phone_valid = "", None, False
        return
    region = (region or settings.DEFAULT_PHONE_REGION).upper()
    if not is_region_code(region):
        raise ValidationError({"phone_region": f"{region!r} is not a known region code (e.g. US, GB)."})
    try:
        parsed = parse_phone(raw, region)
    except PhoneParseError as exc:
        raise ValidationError({"phone": str(exc)}) from None
    contact.phone_raw, contact.phone, contact.phone_valid = parsed.raw, parsed.e164, parsed.is_valid
    if not contact.timezone and parsed.timezone:
        contact.timezone = parsed.timezone


def contact_check_unique(contact: Contact) -> None:
    others = Contact.objects.exclude(pk=contact.pk)
    errors = {}
    if contact.email and others.filter(email__iexact=contact.email).exists():
        errors["email"] = f"Another contact already uses {contact.email}."
    if contact.phone and others.filter(phone=contact.phone).exists():
        errors["phone"] = f"Another contact already uses {contact.phone}."
    if errors:
        raise ValidationError(errors)


def contacts_numbered(contacts: Sequence[Contact]) -> None:
    """Tell the apps in settings.CONTACT_NUMBER_HOOKS that these contacts were created with, or
    moved to, their current phone number (the number's consent follows it). Call inside the
    writer's transaction, after the rows are saved."""
    contacts = [contact for contact in contacts if contact.phone]
    if not contacts:
        return
    for path in settings.CONTACT_NUMBER_HOOKS:
        import_string(path)(contacts=contacts)


def contacts_signalled(*, contact_ids: Iterable[int] = (), account_ids: Iterable[int] = ()) -> None:
    """Tell the apps in settings.CONTACT_SIGNAL_HOOKS, once the caller's transaction commits,
    that something that may end an automated sequence happened to these contacts or accounts
    (a reply, an opt-out, a deal opened); they re-read what happened, so a repeat is harmless."""
    contact_ids = sorted({pk for pk in contact_ids if pk is not None})
    account_ids = sorted({pk for pk in account_ids if pk is not None})
    if not contact_ids and not account_ids:
        return
    for path in settings.CONTACT_SIGNAL_HOOKS:
        hook = import_string(path)
        transaction.on_commit(
            lambda hook=hook: hook(contact_ids=contact_ids, account_ids=account_ids), robust=True
        )


def _contact_finish(contact: Contact, *, renumbered: bool) -> Contact:
    contact.email = normalize_email(contact.email)
    if not contact.timezone and contact.account_id and contact.account.timezone:
        contact.timezone = contact.account.timezone
    contact_check_unique(contact)
    contact.full_clean(exclude=["phone", "sms_consent"], validate_unique=False, validate_constraints=False)
    contact.save()
    if renumbered:
        contacts_numbered([contact])
    return contact


@transaction.atomic
def contact_create(
    *,
    phone: str = "",
    phone_region: str | None = None,
    tags: Sequence[str] | None = None,
    actor=None,
    **fields,
) -> Contact:
    """Create a contact from typed input: email lowercased, phone parsed to E.164 with
    ``phone_region`` (default setting DEFAULT_PHONE_REGION), timezone inferred from the
    number when not given. Raises ValidationError with per-field messages."""
    _typed_attributes(CustomFieldObject.CONTACT, fields)
    contact = Contact(**fields)
    contact_apply_phone(contact, phone, region=phone_region)
    _contact_finish(contact, renumbered=True)
    if tags:
        contact_set_tags(contact=contact, names=tags, actor=actor)
    events_publish("contact.created", [contact])
    return contact


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    phone: str | None = _UNSET,
    phone_region: str | None = None,
    tags: Sequence[str] | None = None,
    actor=None,
    **fields,
) -> Contact:
    """Change the given fields; ``phone`` re-parses the number only when it is passed."""
    _typed_attributes(CustomFieldObject.CONTACT, fields)
    previous = contact.phone
    for name, value in fields.items():
        setattr(contact, name, value)
    if phone is not _UNSET and (phone or "") != contact.phone_raw:
        if "timezone" not in fields and contact.timezone and contact.timezone == _timezone_of(contact.phone):
            contact.timezone = ""  # it came from the old number; infer it from the new one
        contact_apply_phone(contact, phone or "", region=phone_region)
    # A form may have put the new value on the instance already: any phone passed counts.
    _contact_finish(contact, renumbered=phone is not _UNSET or contact.phone != previous)
    if tags is not None:  # None: leave the tags alone
        contact_set_tags(contact=contact, names=tags, actor=actor)
    events_publish("contact.updated", [contact])
    return contact


def _timezone_of(e164: str | None) -> str | None:
    if not e164:
        return None
    try:
        return parse_phone(e164).timezone
    except PhoneParseError:
        return None


# --- Deals ----------------------------------------------------------------------------------


def _deal_stage_changed(deal: Deal, previous: PipelineStage | None, actor, *, at=None) -> None:
    """``at``: when the stage changed (default now)."""
    at = at or timezone.now()
    if deal.stage.is_closed and deal.closed_at is None:
        deal.closed_at = at
    elif not deal.stage.is_closed:
        deal.closed_at = None
    deal.save(update_fields=["closed_at", "updated_at"])
    activity_record(
        kind=ActivityKind.DEAL_STAGE_CHANGE,
        account=deal.account,
        contact=deal.contact,
        actor=actor,
        occurred_at=at,
        summary=f"{deal.name}: {previous.name if previous else 'new'} → {deal.stage.name}",
        data={
            "deal": deal.pk,
            "from": previous.slug if previous else None,
            "to": deal.stage.slug,
            "amount": str(deal.amount),
        },
    )


@transaction.atomic
def deal_create(*, actor=None, **fields) -> Deal:
    deal = Deal(**fields)
    check_contact_account(deal.contact, deal.account)
    deal.full_clean()
    deal.save()
    _deal_stage_changed(deal, None, actor, at=deal.created_at)  # created_at: now, unless replayed
    events_publish("deal.created", [deal])
    contacts_signalled(contact_ids=[deal.contact_id], account_ids=[deal.account_id])
    return deal


@transaction.atomic
def deal_update(*, deal: Deal, actor=None, **fields) -> Deal:
    """Change a deal; a stage change stamps closed_at and lands on the timeline."""
    previous = deal.stage
    for name, value in fields.items():
        setattr(deal, name, value)
    check_contact_account(deal.contact, deal.account)
    deal.full_clean()
    deal.save()
    if deal.stage_id != previous.pk:
        _deal_stage_changed(deal, previous, actor)
    return deal


# --- Renewals -------------------------------------------------------------------------------


def _renewal_decided(renewal: Renewal, actor) -> None:
    renewal.decided_at = renewal.decided_at or timezone.now()
    renewal.save(update_fields=["decided_at", "updated_at"])
    activity_record(
        kind=ActivityKind.RENEWAL_DECISION,
        account=renewal.account,
        actor=actor,
        summary=f"Renewal {renewal.get_status_display().lower()}: {renewal.acv} → {renewal.renewed_acv or 0}",
        data={
            "renewal": renewal.pk,
            "status": renewal.status,
            "acv": str(renewal.acv),
            "renewed_acv": str(renewal.renewed_acv) if renewal.renewed_acv is not None else None,
        },
    )


@transaction.atomic
def renewal_create(*, actor=None, **fields) -> Renewal:
    renewal = Renewal(**fields)
    renewal.full_clean()
    renewal.save()
    if renewal.status != RenewalStatus.UPCOMING:
        _renewal_decided(renewal, actor)
    return renewal


@transaction.atomic
def renewal_update(*, renewal: Renewal, actor=None, **fields) -> Renewal:
    """Change a term; moving it out of 'upcoming' records the decision on the timeline."""
    previous_status = renewal.status
    for name, value in fields.items():
        setattr(renewal, name, value)
    if renewal.status == RenewalStatus.UPCOMING:
        renewal.decided_at = None
    renewal.full_clean()
    renewal.save()
    if renewal.status != previous_status and renewal.status != RenewalStatus.UPCOMING:
        _renewal_decided(renewal, actor)
    return renewal


# --- Tasks ----------------------------------------------------------------------------------


def _task_sync_completion(task: Task) -> None:
    if task.status == TaskStatus.DONE and task.completed_at is None:
        task.completed_at = timezone.now()
    elif task.status != TaskStatus.DONE:
        task.completed_at = None


@transaction.atomic
def task_create(*, actor=None, **fields) -> Task:
    task = Task(**fields)
    if task.contact_id and not task.account_id:
        task.account_id = task.contact.account_id
    check_contact_account(task.contact, task.account)
    _task_sync_completion(task)
    task.full_clean()
    task.save()
    if task.account_id or task.contact_id:
        activity_record(
            kind=ActivityKind.TASK_CREATED,
            contact=task.contact,
            account=task.account,
            actor=actor,
            occurred_at=task.created_at,  # now, unless a replayed history says when
            summary=task.title,
            data={"task": task.pk, "owner": task.owner_id, "source": task.source},
        )
    events_publish("task.created", [task])
    return task


@transaction.atomic
def tasks_create_bulk(*, tasks: Sequence[Task], actor=None) -> list[Task]:
    """Create many tasks (e.g. a play's follow-ups) with their timeline entries in two bulk
    inserts. The tasks are trusted, already-valid rows."""
    created = Task.objects.bulk_create(tasks, batch_size=500)
    activities_record_bulk(
        [
            Activity(
                kind=ActivityKind.TASK_CREATED,
                contact_id=task.contact_id,
                account_id=task.account_id,
                actor=actor,
                occurred_at=task.created_at,  # now, unless a replayed history says when
                summary=task.title,
                data={"task": task.pk, "owner": task.owner_id, "source": task.source},
            )
            for task in created
            if task.account_id or task.contact_id
        ],
        batch_size=500,
    )
    events_publish("task.created", created)
    return created


@transaction.atomic
def task_update(*, task: Task, **fields) -> Task:
    for name, value in fields.items():
        setattr(task, name, value)
    check_contact_account(task.contact, task.account)
    _task_sync_completion(task)
    task.full_clean()
    task.save()
    return task


# --- Orders and events: bulk, idempotent on external_id -------------------------------------


@dataclass(frozen=True)
class UpsertResult:
    objects: list
    created: int
    updated: int


def _fill_account_from_contact(rows: Sequence[dict]) -> None:
    for row in rows:
        contact = row.get("contact")
        check_contact_account(contact, row.get("account"))
        if contact is not None and row.get("account") is None and contact.account_id:
            row.pop("account", None)
            row["account_id"] = contact.account_id


def _upsert_by_external_id(
    model: type[models.Model], rows: Sequence[dict], update_fields: Iterable[str]
) -> UpsertResult:
    """Insert rows, updating those whose external_id already exists. Several rows with one
    external_id in the same batch collapse to the last. A constant number of queries."""
    keyed: dict[str, dict] = {}
    order: list[tuple[str, Any]] = []
    for row in rows:
        external_id = row.get("external_id") or None
        if external_id:
            if external_id not in keyed:
                order.append(("key", external_id))
            keyed[external_id] = row
        else:
            order.append(("new", model(**{**row, "external_id": None})))
    existing = set(model.objects.filter(external_id__in=list(keyed)).values_list("external_id", flat=True))
    with transaction.atomic():
        if keyed:
            model.objects.bulk_create(
                [model(**row) for row in keyed.values()],
                update_conflicts=True,
                unique_fields=["external_id"],
                update_fields=list(update_fields),
            )
        unkeyed = [obj for tag, obj in order if tag == "new"]
        if unkeyed:
            model.objects.bulk_create(unkeyed)
    by_key = model.objects.in_bulk(list(keyed), field_name="external_id") if keyed else {}
    objects = [by_key[value] if tag == "key" else value for tag, value in order]
    created = len(unkeyed) + len(set(keyed) - existing)
    return UpsertResult(objects=objects, created=created, updated=len(existing))


def orders_upsert(*, rows: Sequence[dict]) -> UpsertResult:
    """Store orders given as dicts of model fields (contact/account as instances). An order
    whose ``external_id`` is known is updated in place, so re-sending a batch is harmless."""
    _fill_account_from_contact(rows)
    return _upsert_by_external_id(
        Order,
        rows,
        ["contact", "account", "amount", "gross_margin", "ordered_at", "attribution", "updated_at"],
    )


def events_ingest(*, rows: Sequence[dict]) -> UpsertResult:
    """Store usage events; idempotent on ``external_id`` like orders. After commit, the
    modules named in settings.EVENT_HOOKS hear about the newly created events (plays run
    their event triggers there); re-sent events are not announced twice."""
    _fill_account_from_contact(rows)
    keys = [row.get("external_id") for row in rows if row.get("external_id")]
    known = set(Event.objects.filter(external_id__in=keys).values_list("pk", flat=True)) if keys else set()
    result = _upsert_by_external_id(Event, rows, ["contact", "account", "name", "properties", "occurred_at"])
    new_ids = [event.pk for event in result.objects if event.pk not in known]
    if new_ids:
        for path in settings.EVENT_HOOKS:
            hook = import_string(path)
            transaction.on_commit(lambda hook=hook: hook(event_ids=new_ids), robust=True)
    return result


# --- Bulk edits from the lists ------------------------------------------------------------------

BULK_LIMIT = 500


def bulk_ids(ids: Sequence[int]) -> list[int]:
    """The distinct ids of a bulk action, within BULK_LIMIT (ValidationError otherwise)."""
    ids = sorted({int(i) for i in ids})
    if not ids:
        raise ValidationError("Select at least one record.")
    if len(ids) > BULK_LIMIT:
        raise ValidationError(f"Select at most {BULK_LIMIT} records at a time.")
    return ids


@transaction.atomic
def contacts_assign_owner(*, contact_ids: Sequence[int], owner, actor=None) -> int:
    """Give the contacts an owner (None: nobody) in one UPDATE; returns how many changed."""
    ids = bulk_ids(contact_ids)
    return Contact.objects.filter(pk__in=ids).update(owner=owner, updated_at=timezone.now())


@dataclass(frozen=True)
class BulkDeleteResult:
    deleted: int
    kept: int  # with orders: revenue history keeps its customer (merge them instead)


@transaction.atomic
def contacts_delete(*, contact_ids: Sequence[int], actor=None) -> BulkDeleteResult:
    """Delete the contacts that have no orders (their timeline, tasks and events go with them);
    the others are kept and counted."""
    ids = bulk_ids(contact_ids)
    found = Contact.objects.filter(pk__in=ids)
    deletable = found.exclude(Exists(Order.objects.filter(contact_id=OuterRef("pk"))))
    total = found.count()
    deleted = deletable.delete()[1].get(Contact._meta.label, 0)
    return BulkDeleteResult(deleted=deleted, kept=total - deleted)


@transaction.atomic
def contacts_add_task(
    *, contact_ids: Sequence[int], title: str, owner, due_at=None, notes: str = "", actor=None
) -> int:
    """One open task for ``owner`` on each selected contact (filed on its account), with the
    timeline entries, in a few queries whatever the number; returns how many were created."""
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "Give the task a title."})
    if len(title) > 200:
        raise ValidationError({"title": "The title is longer than 200 characters."})
    ids = bulk_ids(contact_ids)
    now = timezone.now()
    tasks = [
        Task(
            contact_id=contact_id,
            account_id=account_id,
            owner=owner,
            title=title,
            notes=notes,
            due_at=due_at,
            created_at=now,
            updated_at=now,
        )
        for contact_id, account_id in Contact.objects.filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", "account_id")
    ]
    return len(tasks_create_bulk(tasks=tasks, actor=actor)) if tasks else 0


@transaction.atomic
def accounts_set_stage(*, account_ids: Sequence[int], stage: str, actor=None) -> int:
    """Set the accounts' lifecycle stage by hand in one UPDATE: it sticks (the daily derivation
    does not replace it) until cleared on the account's page. Returns how many changed."""
    if stage not in LifecycleStage.values:
        raise ValidationError({"stage": f"{stage!r} is not a lifecycle stage."})
    ids = bulk_ids(account_ids)
    return (
        Account.objects.filter(pk__in=ids)
        .exclude(lifecycle_stage=stage, lifecycle_stage_override=stage)
        .update(
            lifecycle_stage=stage,
            lifecycle_stage_override=stage,
            lifecycle_stage_reason=HAND_SET_REASON,
            updated_at=timezone.now(),
        )
    )


@transaction.atomic
def accounts_assign_owner(*, account_ids: Sequence[int], owner, actor=None) -> int:
    ids = bulk_ids(account_ids)
    return Account.objects.filter(pk__in=ids).update(owner=owner, updated_at=timezone.now())


# --- Scores and derived stages (set-based, by the daily jobs) -------------------------------------

HEALTH_COLUMNS = ("churn_risk", "health_band", "health_factors", "health_source", "health_scored_at")


@transaction.atomic
def accounts_health_write(*, rows: Iterable[tuple], scored_at) -> int:
    """Store health scores: ``rows`` of (account id, churn risk 0-1 or None, band, factors,
    source), one bulk UPDATE per chunk of rows whatever their number. ``updated_at`` is left
    alone: a nightly score is not an edit (sync feeds would otherwise resend every account).
    Returns how many accounts were written."""
    bands, sources = {"", *HealthBand.values}, {"", *HealthSource.values}

    def checked():
        for pk, risk, band, factors, source in rows:
            if band not in bands or source not in sources:
                raise ValidationError(f"Account {pk}: {band!r} / {source!r} is not a health band / source.")
            if risk is not None and not 0.0 <= risk <= 1.0:
                raise ValidationError(f"Account {pk}: churn risk {risk!r} is not between 0 and 1.")
            yield (pk, risk, band, list(factors), source, scored_at)

    return bulk.rows_update(Account, HEALTH_COLUMNS, checked())


@transaction.atomic
def lifecycle_stages_refresh(*, now=None, account_ids: Sequence[int] | None = None) -> int:
    """Derive every account's lifecycle stage (``crm.stages``: the documented rules, a stage set
    by hand sticking until cleared) and store it with its reason, one bulk UPDATE per chunk.
    Returns how many accounts were written."""
    now = now or timezone.now()
    rows = ((pk, stage, reason, now) for pk, stage, reason in stages.derive(now, account_ids))
    return bulk.rows_update(
        Account, ("lifecycle_stage", "lifecycle_stage_reason", "lifecycle_stage_derived_at"), rows
    )


@transaction.atomic
def account_stage_override(*, account: Account, stage: str, actor=None) -> Account:
    """Set the account's stage by hand (it sticks through every derivation until cleared) or,
    with ``stage`` blank, clear it: the derived stage applies again at once."""
    if stage and stage not in LifecycleStage.values:
        raise ValidationError({"stage": f"{stage!r} is not a lifecycle stage."})
    Account.objects.filter(pk=account.pk).update(lifecycle_stage_override=stage, updated_at=timezone.now())
    lifecycle_stages_refresh(account_ids=[account.pk])
    account.refresh_from_db()
    return account


# --- Saved views ------------------------------------------------------------------------------


@transaction.atomic
def saved_view_save(*, owner, list_name: str, name: str, query: str, shared: bool = False) -> SavedView:
    """Save (or overwrite, by name) one of the owner's views of a list."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the view a name."})
    view, _ = SavedView.objects.update_or_create(
        owner=owner, list_name=list_name, name=name[:80], defaults={"query": query[:1000], "shared": shared}
    )
    return view


def saved_view_delete(*, view: SavedView, actor) -> None:
    """Only its owner deletes a view (a shared one too)."""
    if view.owner_id != actor.pk:
        raise PermissionDenied("Only the person who saved this view can delete it.")
    view.delete()


# --- Custom fields ----------------------------------------------------------------------------

CUSTOM_FIELD_CHOICE_TYPES = (CustomFieldType.CHOICE, CustomFieldType.MULTI_CHOICE)
CUSTOM_FIELD_MODELS = {CustomFieldObject.ACCOUNT: Account, CustomFieldObject.CONTACT: Contact}
_NORMALIZE_BATCH = 1000


def _custom_field_values_fit(field: CustomField) -> None:
    """Every stored value under the field's key fits its type (a ValidationError with the count
    of rows that do not, and an example); values that fit but are not in canonical form (text
    "42" for a number, "Gold" for the choice gold) are rewritten in batches."""
    model = CUSTOM_FIELD_MODELS[field.object_type]
    rows = (
        model.objects.filter(attributes__has_key=field.key)
        .order_by("pk")
        .values_list("pk", "attributes")
        .iterator(chunk_size=_NORMALIZE_BATCH)
    )
    misfits, example, rewrite = 0, None, []
    for pk, attributes in rows:
        stored = attributes.get(field.key)
        try:
            value = custom_fields.parse(field, stored)
        except ValueError as exc:
            misfits += 1
            example = example or str(exc)
            continue
        if value != stored:
            rewrite.append(model(pk=pk, attributes={**attributes, field.key: value}))
            if value is None:
                rewrite[-1].attributes.pop(field.key)
    if misfits:
        noun = (
            f"{model._meta.verbose_name} has" if misfits == 1 else f"{model._meta.verbose_name_plural} have"
        )
        raise ValidationError(
            {
                "field_type": f"{misfits} {noun} a “{field.key}” value that does not fit a "
                f"{field.get_field_type_display().lower()} field (e.g. {example}). Change or clear "
                "those values first, or pick another type."
            }
        )
    model.objects.bulk_update(rewrite, ["attributes"], batch_size=_NORMALIZE_BATCH)


@transaction.atomic
def custom_field_save(*, field: CustomField | None = None, actor=None, **values) -> CustomField:
    """Define a custom field, or change one. The key is a slug unique per object type (it
    cannot change once defined: the values live under it); choice types need choices; a type or
    choice change that stored values would not fit is refused with their count."""
    creating = field is None
    field = field or CustomField(position=0)
    before = (field.field_type, list(field.choices or [])) if not creating else None
    if not creating:
        values.pop("object_type", None)
        if values.get("key", field.key) != field.key:
            raise ValidationError({"key": "A field's key cannot change: its values are stored under it."})
    for name, value in values.items():
        setattr(field, name, value)
    if field.object_type not in CustomFieldObject.values:
        raise ValidationError({"object_type": "Fields are for accounts or contacts."})
    field.key = custom_fields.check_key(field.key)
    field.label = (field.label or "").strip()
    if not field.label:
        raise ValidationError({"label": "Give the field a label."})
    if field.field_type not in CustomFieldType.values:
        raise ValidationError({"field_type": f"Unknown type {field.field_type!r}."})
    if field.field_type in CUSTOM_FIELD_CHOICE_TYPES:
        if not field.choices:
            raise ValidationError({"choices": "A choice field needs at least one choice."})
    else:
        field.choices = []
    clash = CustomField.objects.filter(object_type=field.object_type, key=field.key).exclude(pk=field.pk)
    if clash.exists():
        raise ValidationError({"key": f"The {field.object_type}s already have a field “{field.key}”."})
    if creating:
        last = CustomField.objects.filter(object_type=field.object_type).order_by("-position").first()
        field.position = (last.position + 1) if last else 0
    if creating or before != (field.field_type, list(field.choices)):
        _custom_field_values_fit(field)
    field.full_clean(validate_constraints=False)
    field.save()
    return field


@transaction.atomic
def custom_field_delete(*, field: CustomField, actor=None) -> None:
    """Remove the definition; the values stay in the records' attributes (shown untyped)."""
    field.delete()


@transaction.atomic
def custom_fields_reorder(*, object_type: str, keys: Sequence[str], actor=None) -> None:
    """Put the fields in the order of ``keys`` (the others after them, as they were)."""
    fields = list(CustomField.objects.filter(object_type=object_type).order_by("position", "id"))
    rank = {key: index for index, key in enumerate(keys)}
    fields.sort(key=lambda f: (rank.get(f.key, len(rank)), f.position, f.pk))
    now = timezone.now()
    for position, field in enumerate(fields):
        field.position, field.updated_at = position, now
    CustomField.objects.bulk_update(fields, ["position", "updated_at"])


# --- Tags -------------------------------------------------------------------------------------

TAG_MAX = 50


def tag_names(names: Iterable[str]) -> list[str]:
    """Clean tag names: trimmed, inner spaces collapsed, at most 50 characters, each once
    whatever the case (the first spelling wins)."""
    cleaned, seen = [], set()
    for name in names:
        name = " ".join(str(name or "").split())
        if not name:
            continue
        if len(name) > TAG_MAX:
            raise ValidationError({"tags": f"“{name[:20]}…” is longer than {TAG_MAX} characters."})
        if name.lower() not in seen:
            seen.add(name.lower())
            cleaned.append(name)
    return cleaned


def tags_get_or_create(names: Sequence[str]) -> list[Tag]:
    """The tags of these names (any case), created when new: two queries."""
    names = tag_names(names)
    if not names:
        return []
    Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True)
    found = {tag.name.lower(): tag for tag in Tag.objects.filter(_tag_named(names))}
    return [found[name.lower()] for name in names]


def _tag_named(names: Sequence[str]) -> models.Q:
    q = models.Q(pk__in=[])
    for name in names:
        q |= models.Q(name__iexact=name)
    return q


def _tags_on_timeline(rows: Sequence[tuple[int, int | None]], summary: str, data: dict, actor) -> None:
    activities_record_bulk(
        [
            Activity(
                kind=ActivityKind.TAGS_CHANGED,
                contact_id=contact_id,
                account_id=account_id,
                actor=actor,
                summary=summary,
                data=data,
            )
            for contact_id, account_id in rows
        ],
        batch_size=500,
    )


@transaction.atomic
def contacts_add_tag(*, contact_ids: Sequence[int], name: str, actor=None) -> int:
    """Tag the contacts (those that have it already are left alone) with a timeline entry on
    each one tagged, in a constant number of queries; returns how many were tagged."""
    ids = bulk_ids(contact_ids)
    tags = tags_get_or_create([name])
    if not tags:
        raise ValidationError({"tag": "Give the tag a name."})
    tag = tags[0]
    untagged = list(
        Contact.objects.filter(pk__in=ids)
        .exclude(Exists(ContactTag.objects.filter(contact_id=OuterRef("pk"), tag=tag)))
        .order_by("pk")
        .values_list("pk", "account_id")
    )
    ContactTag.objects.bulk_create(
        [ContactTag(contact_id=pk, tag=tag) for pk, _ in untagged], ignore_conflicts=True, batch_size=500
    )
    _tags_on_timeline(untagged, f"Tagged “{tag.name}”", {"added": [tag.name]}, actor)
    return len(untagged)


@transaction.atomic
def contacts_remove_tag(*, contact_ids: Sequence[int], name: str, actor=None) -> int:
    """Take the tag off the contacts that have it, with a timeline entry on each; returns how
    many lost it. An unknown tag changes nothing."""
    ids = bulk_ids(contact_ids)
    names = tag_names([name])
    if not names:
        raise ValidationError({"tag": "Give the tag a name."})
    links = ContactTag.objects.filter(contact_id__in=ids, tag__name__iexact=names[0])
    tagged = list(links.order_by("contact_id").values_list("contact_id", "contact__account_id", "tag__name"))
    if not tagged:
        return 0
    ContactTag.objects.filter(pk__in=links.values("pk")).delete()
    shown = tagged[0][2]
    _tags_on_timeline([(c, a) for c, a, _ in tagged], f"Untagged “{shown}”", {"removed": [shown]}, actor)
    return len(tagged)


@transaction.atomic
def contact_set_tags(*, contact: Contact, names: Sequence[str], actor=None) -> list[Tag]:
    """Give the contact exactly these tags; one timeline entry names what was added and removed."""
    wanted = tags_get_or_create(names)
    current = {tag.pk: tag for tag in contact.tags.all()}
    added = [tag for tag in wanted if tag.pk not in current]
    wanted_ids = {tag.pk for tag in wanted}
    removed = [tag for pk, tag in current.items() if pk not in wanted_ids]
    if removed:
        ContactTag.objects.filter(contact=contact, tag__in=removed).delete()
    if added:
        ContactTag.objects.bulk_create(
            [ContactTag(contact=contact, tag=tag) for tag in added], ignore_conflicts=True
        )
    if added or removed:
        parts = [f"Tagged {', '.join(f'“{t.name}”' for t in added)}" if added else ""]
        parts.append(f"untagged {', '.join(f'“{t.name}”' for t in removed)}" if removed else "")
        summary = "; ".join(part for part in parts if part)
        _tags_on_timeline(
            [(contact.pk, contact.account_id)],
            summary[0].upper() + summary[1:],
            {"added": [t.name for t in added], "removed": [t.name for t in removed]},
            actor,
        )
    if hasattr(contact, "_prefetched_objects_cache"):
        contact._prefetched_objects_cache.pop("tags", None)
    return wanted


# --- Scores written by jobs (issue 21) ------------------------------------------------------


CLV_TIERS = frozenset(ClvTier.values)


@dataclass(frozen=True)
class ClvScoresWritten:
    scored: int
    cleared: int


@transaction.atomic
def contacts_clv_scores_set(*, scores: Iterable[tuple[int, float, Any, str]], scored_at) -> ClvScoresWritten:
    """Store each contact's CLV score ``(contact id, P(alive), expected 12-month value, tier)``,
    set-based: one UPDATE ... FROM per 5,000 contacts (core.bulk.rows_update), whatever the
    number of contacts up to that. Contacts scored before but absent from ``scores`` (no
    purchase any more) are cleared to "not scored" in one more UPDATE. Tiers must be high, mid,
    low; P(alive) within 0-1. Scores are derived, so ``updated_at`` is left alone. Not on the
    timeline (no one did anything)."""
    rows = []
    for contact_id, p_alive, value, tier in scores:
        if tier not in CLV_TIERS:
            raise ValidationError({"clv_tier": f"{tier!r} is not a CLV tier."})
        if p_alive is None or not (0.0 <= float(p_alive) <= 1.0):
            raise ValidationError({"clv_p_alive": f"P(alive) must be within 0-1, not {p_alive!r}."})
        rows.append((contact_id, float(p_alive), value, tier, scored_at))
    scored = bulk.rows_update(Contact, ["clv_p_alive", "clv_expected_12m", "clv_tier", "clv_scored_at"], rows)
    stale = Contact.objects.filter(clv_scored_at__isnull=False).exclude(clv_scored_at=scored_at)
    cleared = stale.update(clv_p_alive=None, clv_expected_12m=None, clv_tier="", clv_scored_at=None)
    return ClvScoresWritten(scored=scored, cleared=cleared)

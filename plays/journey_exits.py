"""Journey exits and the facts they and branches read: what ended an enrollment (a reply, an
opt-out, a deal opened, an event), since when. Set-based: one query per kind of fact, whatever
the number of enrollments. ``journeys_exit`` is what the lower layers' hooks reach (through
``plays.hooks``); the advancer (``plays.journey``) asks ``exit_reasons`` before every step."""

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max, Q
from django.utils import timezone

from core import bulk
from crm.models import Deal, Event
from plays.models import IN_FLIGHT, Enrollment, EnrollmentState, Play
from sms.models import ConsentAction, ConsentEvent, Direction, Message


@dataclass
class Entered:
    """An in-flight enrollment as the exit checks see it."""

    id: int
    contact_id: int
    account_id: int | None
    decided_at: datetime


def latest(rows: Iterable[tuple]) -> dict:
    return {key: at for key, at in rows if key is not None}


def exit_reasons(rows: list, exit_on_of: dict[int, list[str]], play_of: dict[int, int], now) -> dict:
    """{enrollment id: exit reason} for the rows whose play's exit happened since they entered.
    One query per kind of exit the plays use, whatever the number of rows."""
    if not rows:
        return {}
    wanted = {item for play_id in set(play_of.values()) for item in exit_on_of.get(play_id, [])}
    if not wanted:
        return {}
    contact_ids = {row.contact_id for row in rows}
    account_ids = {row.account_id for row in rows} - {None}
    since = min(row.decided_at for row in rows)
    facts: dict[str, tuple[dict, dict]] = {}  # exit -> (latest by contact, latest by account)
    if "reply" in wanted:
        facts["reply"] = (
            latest(
                Message.objects.filter(
                    bulk.in_ids("contact_id", contact_ids),
                    direction=Direction.INBOUND,
                    created_at__gte=since,
                    created_at__lte=now,
                )
                .order_by()
                .values("contact_id")
                .annotate(at=Max("created_at"))
                .values_list("contact_id", "at")
            ),
            {},
        )
    if "opt_out" in wanted:
        facts["opt_out"] = (
            latest(
                ConsentEvent.objects.filter(
                    bulk.in_ids("contact_id", contact_ids),
                    action=ConsentAction.OPT_OUT,
                    occurred_at__gte=since,
                    occurred_at__lte=now,
                )
                .order_by()
                .values("contact_id")
                .annotate(at=Max("occurred_at"))
                .values_list("contact_id", "at")
            ),
            {},
        )
    if "deal_opened" in wanted:
        deals = Deal.objects.filter(
            Q(bulk.in_ids("account_id", account_ids)) | Q(bulk.in_ids("contact_id", contact_ids)),
            created_at__gte=since,
            created_at__lte=now,
        ).order_by()
        by_contact, by_account = {}, {}
        for contact_id, account_id, at in deals.values_list("contact_id", "account_id", "created_at"):
            if contact_id is not None:
                by_contact[contact_id] = max(at, by_contact.get(contact_id, at))
            by_account[account_id] = max(at, by_account.get(account_id, at))
        facts["deal_opened"] = (by_contact, by_account)
    event_names = sorted(item.split(":", 1)[1] for item in wanted if item.startswith("event:"))
    if event_names:
        for item, pair in event_facts(event_names, contact_ids, account_ids, since, now).items():
            facts[f"event:{item}"] = pair
    reasons = {}
    for row in rows:
        for item in exit_on_of.get(play_of[row.id], []):
            by_contact, by_account = facts.get(item, ({}, {}))
            at = by_contact.get(row.contact_id) or (
                by_account.get(row.account_id) if row.account_id else None
            )
            if at is not None and at >= row.decided_at:
                reasons[row.id] = item
                break
    return reasons


def event_facts(names, contact_ids, account_ids, since, now) -> dict[str, tuple[dict, dict]]:
    """{event name: (latest by contact, latest by account)} of these events in [since, now]."""
    facts: dict[str, tuple[dict, dict]] = {name: ({}, {}) for name in names}
    events = Event.objects.filter(
        Q(bulk.in_ids("contact_id", contact_ids)) | Q(bulk.in_ids("account_id", account_ids)),
        name__in=names,
        occurred_at__gte=since,
        occurred_at__lte=now,
    ).order_by()
    for name, contact_id, account_id, at in (
        events.values("name", "contact_id", "account_id")
        .annotate(at=Max("occurred_at"))
        .values_list("name", "contact_id", "account_id", "at")
    ):
        by_contact, by_account = facts[name]
        if contact_id is not None:
            by_contact[contact_id] = max(at, by_contact.get(contact_id, at))
        if account_id is not None:
            by_account[account_id] = max(at, by_account.get(account_id, at))
    return facts


def journeys_exit(*, contact_ids: Collection[int] = (), account_ids: Collection[int] = (), now=None) -> int:
    """End at once the in-flight enrollments of these contacts (and accounts) whose journey's
    exit has happened since they entered: called where replies, opt-outs, events and deals are
    recorded (``plays.hooks``). A fixed number of queries; returns how many exited."""
    now = now or timezone.now()
    if not contact_ids and not account_ids:
        return 0
    exit_on_of = {pk: exit_on for pk, exit_on in Play.objects.values_list("pk", "exit_on") if exit_on}
    if not exit_on_of:
        return 0
    who = Q(bulk.in_ids("contact_id", set(contact_ids))) | Q(bulk.in_ids("account_id", set(account_ids)))
    rows, play_of = [], {}
    for pk, play_id, contact_id, account_id, decided_at in (
        Enrollment.objects.filter(who, state__in=IN_FLIGHT, play_id__in=list(exit_on_of))
        .order_by()
        .values_list("pk", "play_id", "contact_id", "account_id", "decided_at")
    ):
        rows.append(Entered(pk, contact_id, account_id, decided_at))
        play_of[pk] = play_id
    reasons = exit_reasons(rows, exit_on_of, play_of, now)
    by_reason: dict[str, list[int]] = defaultdict(list)
    for pk, reason in reasons.items():
        by_reason[reason].append(pk)
    exited = 0
    for reason, ids in by_reason.items():
        # Only rows still in flight: an advancer holding one finishes first, then this re-checks.
        exited += Enrollment.objects.filter(bulk.in_ids("pk", ids), state__in=IN_FLIGHT).update(
            state=EnrollmentState.EXITED, exit_reason=reason, next_at=None
        )
    return exited

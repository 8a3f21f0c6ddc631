"""The play engine: trigger occurrences -> holdout -> governance -> enrollments and texts.

A run is a fixed number of queries per batch of candidates, whatever the batch size: one for
the candidates, then per batch one to drop occurrences already decided, governance's fixed
set, three to load what the texts need, and the bulk writes (ids for the texts, enrollments,
texts, and delivery tasks of 50 texts each once the batch commits). Ids go to the database as
one array parameter and rows are written from plain tuples (``core.bulk``): at 10^5 contacts the
ORM's per-value and per-instance work, not the database, was most of a run."""

import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core import bulk
from core.errors import DomainError
from core.events import EVENT_TYPES, events_publish
from crm import services as crm_services
from crm.models import Contact, Task, TaskSource
from plays import audience, journey, steps, triggers
from plays.models import IN_FLIGHT, Arm, Enrollment, EnrollmentState, Outcome, Play, PlayStatus
from plays.render import Decided, texts_render
from sms import governance
from sms.services.sending import AutomatedText, message_ids_reserve, messages_queue_bulk

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000
SAMPLE_SIZE = 5
# A run holding the claim longer than this died; the next run may take over.
STALE_RUN = timedelta(minutes=10)
OUTCOME_OF = {
    governance.SEND: Outcome.SENT,
    governance.DEFERRED: Outcome.DEFERRED,
    governance.SUPPRESSED: Outcome.SUPPRESSED,
}


GLOBAL_CONTROL_DECISION = (Arm.GLOBAL_CONTROL, Outcome.SUPPRESSED, audience.GLOBAL_CONTROL)


def arm_for(play_id: int | str, contact_id: int | str, holdout_percent: int) -> str:
    """The contact's arm in this play: stable across runs, processes and machines."""
    digest = hashlib.sha256(f"play:{play_id}:contact:{contact_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % 10_000  # basis points
    return Arm.CONTROL if bucket < holdout_percent * 100 else Arm.TREATMENT


class PlayNotRunnable(DomainError):
    """The play may not run now; ``reason`` (the message) says why. ``code``: not_active |
    running. The API answers 409 ``{"detail", "code"}``."""

    status = 409

    def __init__(self, reason: str, *, code: str):
        super().__init__(reason, code=code)
        self.reason = reason


@dataclass
class RunResult:
    play_id: int
    dry_run: bool
    candidates: int = 0
    already_decided: int = 0
    arms: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    samples: list[dict] = field(default_factory=list)
    tasks_created: int = 0
    # A journey's run also advances its enrollments (``journey.AdvanceResult.as_dict``).
    advanced: dict | None = None
    journey: bool = False

    @property
    def decided(self) -> int:
        return sum(self.outcomes.values())

    def as_dict(self) -> dict:
        return {
            "play": self.play_id,
            "dry_run": self.dry_run,
            "candidates": self.candidates,
            "already_decided": self.already_decided,
            "decided": self.decided,
            "arms": {arm: self.arms.get(arm, 0) for arm in Arm.values},
            # "entered" (a journey's treatment arm at entry) only for journeys.
            "outcomes": {
                outcome: self.outcomes.get(outcome, 0)
                for outcome in Outcome.values
                if outcome != Outcome.ENTERED or self.journey
            },
            "reasons": dict(self.reasons.most_common()),
            "samples": self.samples,
            "tasks_created": self.tasks_created,
            "advanced": self.advanced,
        }


def play_run(
    play: Play,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    event_ids: Sequence[int] | None = None,
    batch_size: int = BATCH_SIZE,
) -> RunResult:
    """Decide every new trigger occurrence of an active play: control arm first (never
    texted), then governance for the treatment arm; write enrollments and queue texts.
    ``dry_run`` decides the same way and writes nothing (any status may be previewed).
    Raises PlayNotRunnable when the play is not active or a run of it is in progress."""
    now = now or timezone.now()
    if dry_run:
        return _evaluate(play, now=now, dry_run=True, event_ids=event_ids, batch_size=batch_size)
    claimed_at = _claim(play)
    try:
        result = _evaluate(play, now=now, dry_run=False, event_ids=event_ids, batch_size=batch_size)
        if play.is_journey:  # the new entries' first steps, and every wait that has elapsed
            play.status = PlayStatus.ACTIVE
            result.advanced = journey.journeys_advance(play, now=now, batch_size=batch_size).as_dict()
        return result
    finally:
        Play.objects.filter(pk=play.pk, running_since=claimed_at).update(
            running_since=None, last_run_at=timezone.now()
        )


def play_enroll_contacts(
    play: Play, *, contact_ids: Sequence[int], now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> RunResult:
    """Enroll chosen contacts (the contact list's bulk action) as if the play's trigger had
    fired for them today: the same holdout split, governance and consent as a run, then the
    journey's first steps. A contact is enrolled in a play by hand at most once a day
    (occurrence ``manual:<date>``). Raises PlayNotRunnable unless the play is active."""
    now = now or timezone.now()
    claimed_at = _claim(play)
    try:
        result = RunResult(play_id=play.pk, dry_run=False, journey=play.is_journey)
        occurrence = f"manual:{now:%Y-%m-%d}"
        rows = [
            triggers.Row(contact_id, account_id, occurrence, segments)
            for contact_id, account_id, *segments in Contact.objects.filter(
                bulk.in_ids("pk", set(contact_ids))
            )
            .order_by("pk")
            .values_list("pk", "account_id", *triggers.SEGMENT_FIELDS)
        ]
        result.candidates = len(rows)
        owners: dict[int, str] = {}
        for start in range(0, len(rows), batch_size):
            _run_batch(
                play, rows[start : start + batch_size], now=now, dry_run=False, result=result, owners=owners
            )
        if play.is_journey:
            play.status = PlayStatus.ACTIVE
            result.advanced = journey.journeys_advance(play, now=now, batch_size=batch_size).as_dict()
        return result
    finally:
        Play.objects.filter(pk=play.pk, running_since=claimed_at).update(running_since=None)


def _claim(play: Play) -> datetime:
    claimed_at = timezone.now()
    free = Q(running_since__isnull=True) | Q(running_since__lt=claimed_at - STALE_RUN)
    if Play.objects.filter(free, pk=play.pk, status=PlayStatus.ACTIVE).update(running_since=claimed_at):
        return claimed_at
    status = Play.objects.values_list("status", flat=True).get(pk=play.pk)
    if status != PlayStatus.ACTIVE:
        raise PlayNotRunnable(
            f"The play is {status}; only active plays run (preview works in any status).", code="not_active"
        )
    raise PlayNotRunnable("A run of this play is already in progress.", code="running")


def _evaluate(play: Play, *, now, dry_run: bool, event_ids, batch_size: int) -> RunResult:
    result = RunResult(play_id=play.pk, dry_run=dry_run, journey=play.is_journey)
    rows = triggers.candidates(play.trigger, play.audience or {}, now=now, event_ids=event_ids)
    result.candidates = len(rows)
    owners: dict[int, str] = {}  # owner id -> name as texts sign it, loaded once per run
    for start in range(0, len(rows), batch_size):
        _run_batch(
            play, rows[start : start + batch_size], now=now, dry_run=dry_run, result=result, owners=owners
        )
    return result


def _run_batch(play: Play, rows, *, now, dry_run: bool, result: RunResult, owners: dict[int, str]) -> None:
    contact_ids = {contact_id for contact_id, _, _ in rows}
    # The segments each contact is in as it enters, read by the candidate query (both arms).
    entry = {row[0]: triggers.segments_of(row) for row in rows}
    # An unsaved play (a preview of a new one) has decided nothing yet.
    seen = set() if play.pk is None else _decided_before(play, contact_ids)
    fresh = []
    for contact_id, account_id, occurrence in rows:
        if (contact_id, occurrence) in seen:
            result.already_decided += 1
            continue
        seen.add((contact_id, occurrence))
        fresh.append((contact_id, account_id, occurrence))
    if not fresh:
        return
    decided: list[Decided] = []
    treatment = []
    # Holdout before governance: the control arm is the same population governance sees.
    for contact_id, account_id, occurrence in fresh:
        if audience.in_global_control(contact_id, account_id):  # recorded in its own arm, never texted
            decided.append(Decided(contact_id, account_id, occurrence, *GLOBAL_CONTROL_DECISION))
        elif arm_for(play.pk, contact_id, play.holdout_percent) == Arm.CONTROL:
            decided.append(
                Decided(contact_id, account_id, occurrence, Arm.CONTROL, Outcome.SUPPRESSED, "holdout")
            )
        else:
            treatment.append((contact_id, account_id, occurrence))
    if play.is_journey and not (dry_run and play.steps[0]["type"] == "send"):
        # A journey's steps decide each text as the enrollment reaches them (``journey``); a
        # contact still in the journey from an earlier occurrence does not enter it twice.
        busy = _in_journey(play, {contact_id for contact_id, _, _ in treatment}) if play.pk else set()
        for contact_id, account_id, occurrence in treatment:
            if contact_id in busy:
                decided.append(
                    Decided(
                        contact_id,
                        account_id,
                        occurrence,
                        Arm.TREATMENT,
                        Outcome.SUPPRESSED,
                        "journey:in_progress",
                    )
                )
            else:
                decided.append(Decided(contact_id, account_id, occurrence, Arm.TREATMENT, Outcome.ENTERED))
        treatment = []
    decisions = governance.decide(
        [
            governance.Candidate(
                contact_id=contact_id,
                account_id=account_id,
                play_id=play.pk,
                moment=play.moment,
                cooldown_days=play.cooldown_days,
            )
            for contact_id, account_id, _ in treatment
        ],
        now=now,
    )
    first = play.journey_steps[0]
    for (contact_id, account_id, occurrence), decision in zip(treatment, decisions, strict=True):
        item = Decided(
            contact_id,
            account_id,
            occurrence,
            Arm.TREATMENT,
            OUTCOME_OF[decision.outcome],
            decision.reason,
            decision.send_at,
        )
        if play.is_journey:  # a preview of a journey's first text: the contact's variant
            name = steps.variant_for(play.pk or 0, 0, contact_id, first["variants"])
            item.template = next(v["template"] for v in first["variants"] if v["name"] == name)
        decided.append(item)
    texts_render(
        play,
        [d for d in decided if d.outcome in (Outcome.SENT, Outcome.DEFERRED)],
        now=now,
        dry_run=dry_run,
        owners=owners,
    )
    for item in decided:
        result.arms[item.arm] += 1
        result.outcomes[item.outcome] += 1
        if item.reason:
            result.reasons[item.reason] += 1
        if item.body and len(result.samples) < SAMPLE_SIZE:
            result.samples.append(
                {
                    "contact": item.contact_id,
                    "outcome": item.outcome,
                    "send_at": item.send_at.isoformat() if item.send_at else None,
                    "body": item.body,
                }
            )
    if not dry_run:
        _write(play, decided, now=now, result=result, entry=entry)


def _in_journey(play: Play, contact_ids: set[int]) -> set[int]:
    """Contacts with an enrollment of this journey still in flight."""
    return set(
        Enrollment.objects.filter(bulk.in_ids("contact_id", contact_ids), play=play, state__in=IN_FLIGHT)
        .order_by()
        .values_list("contact_id", flat=True)
    )


def _decided_before(play: Play, contact_ids: set[int]) -> set[tuple[int, str]]:
    """(contact, occurrence) pairs of these contacts the play has decided already."""
    if connection.vendor == "postgresql":
        # One probe of the unique key per contact. A run adds thousands of the play's rows per
        # batch, faster than the planner's statistics follow, and with a plain filter it comes
        # to scan all of the play's rows for every batch (quadratic in the run's size).
        table = connection.ops.quote_name(Enrollment._meta.db_table)
        # OFFSET 0 keeps the planner from flattening the probe into a join over all the play's rows.
        probe = (
            f"SELECT contact_id, occurrence FROM {table} WHERE play_id = %s AND contact_id = c.id OFFSET 0"  # noqa: S608
        )
        sql = f"SELECT e.* FROM unnest(%s::bigint[]) AS c(id) CROSS JOIN LATERAL ({probe}) AS e"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [bulk.pg_int_array(contact_ids), play.pk])
            return set(cursor.fetchall())
    # Unordered: sorted by decided_at (the model's default), SQLite walks the (play, decided_at)
    # index through all of the play's rows.
    return set(
        Enrollment.objects.filter(bulk.in_ids("contact_id", contact_ids), play=play)
        .order_by()
        .values_list("contact_id", "occurrence")
    )


# Columns of an enrollment row as the engine writes it (the rest take their defaults).
ENROLLMENT_COLUMNS = (
    "play_id",
    "contact_id",
    "account_id",
    "occurrence",
    "arm",
    "outcome",
    "reason",
    "message_id",
    "decided_at",
    "run_token",
)
# The enrollment.decided event's fields after the enrollment's id, in ENROLLMENT_COLUMNS order
# (the run token stays ours).
DECIDED_EVENT = EVENT_TYPES["enrollment.decided"].fields[1:]
# The segments at entry (``plays.triggers.SEGMENT_FIELDS``): lift by segment splits by them.
ENTRY_COLUMNS = ("clv_tier_at_entry", "health_band_at_entry", "lifecycle_stage_at_entry")
# With where the enrollment stands in its journey (what the engine writes since journeys), and
# the segments the contact entered in.
JOURNEY_COLUMNS = (
    *ENROLLMENT_COLUMNS,
    "state",
    "exit_reason",
    "step",
    "variant",
    "version",
    "next_at",
    *ENTRY_COLUMNS,
)


def enrollments_insert(
    rows: Sequence[tuple], *, returning: Sequence[str] = (), columns: Sequence[str] = ENROLLMENT_COLUMNS
) -> list[tuple]:
    """Write decisions to the enrollment log in bulk: ``rows`` are tuples in ``columns`` order
    (``ENROLLMENT_COLUMNS`` or ``JOURNEY_COLUMNS``). An occurrence already decided for the
    contact (the log's unique key) is skipped, never decided twice. Returns the ``returning``
    columns of the rows this call inserted (on databases that can say; see ``_write`` for the
    others)."""
    return bulk.rows_insert(Enrollment, columns, rows, ignore_conflicts=True, returning=returning)


def journey_place(play: Play, item: Decided) -> tuple:
    """(state, exit_reason, step, variant, next_at) of a decision at entry. The control arm
    exits at once and never gets any step; a journey's treatment arm is due at step 0 now; a
    one-text play's text completes its one step, and a text not sent ends it with the reason."""
    if item.arm == Arm.CONTROL:
        return EnrollmentState.EXITED, "holdout", 0, "", None
    if item.outcome == Outcome.ENTERED:
        first = steps.first_variant_step(play.steps)
        variant = steps.variant_for(play.pk, first, item.contact_id, play.steps[first]["variants"])
        return EnrollmentState.ACTIVE, "", 0, variant, None
    if item.outcome in (Outcome.SENT, Outcome.DEFERRED):
        return EnrollmentState.COMPLETED, "", 0, "A" if not play.is_journey else "", None
    return EnrollmentState.EXITED, f"{item.outcome}:{item.reason}"[:100], 0, "", None


def _write(play: Play, decided: list[Decided], *, now, result: RunResult, entry: dict[int, tuple]) -> None:
    """Enrollments first, then texts only for the enrollments this run inserted.

    The order is what keeps a text from going twice: if this run's claim went stale and a
    second run took the play over, both may decide the same occurrence; the unique key lets
    only one enrollment in (the other insert waits for the first transaction, then skips), and
    only the run whose row went in queues the text. The text ids are reserved up front so the
    enrollment row carries its text's id from the start (the foreign key is checked at
    commit), instead of a second pass linking each enrollment to its text."""
    token = uuid.uuid4()
    sending = [item for item in decided if item.outcome in (Outcome.SENT, Outcome.DEFERRED)]
    with transaction.atomic():
        for item, message_id in zip(sending, message_ids_reserve(count=len(sending)), strict=True):
            item.message_id = message_id
        rows = []
        for item in decided:
            state, exit_reason, step, variant, _ = journey_place(play, item)
            rows.append(
                (
                    play.pk,
                    item.contact_id,
                    item.account_id,
                    item.occurrence,
                    item.arm,
                    item.outcome,
                    item.reason,
                    item.message_id,
                    now,
                    token,
                    state,
                    exit_reason,
                    step,
                    variant,
                    play.version,
                    now if state == EnrollmentState.ACTIVE else None,
                    *entry.get(item.contact_id, triggers.NOT_RECORDED),
                )
            )
        key = ("id", "contact_id", "occurrence")
        if connection.features.can_return_rows_from_bulk_insert:
            inserted = enrollments_insert(rows, returning=key, columns=JOURNEY_COLUMNS)
        else:  # SQLite before 3.35: read back what this run inserted
            enrollments_insert(rows, columns=JOURNEY_COLUMNS)
            inserted = Enrollment.objects.filter(play=play, run_token=token).values_list(*key)
        ours = {(contact_id, occurrence): pk for pk, contact_id, occurrence in inserted}
        events_publish(
            "enrollment.decided",
            (
                {"id": ours[row[1:4:2]], **dict(zip(DECIDED_EVENT, row[:9], strict=True))}
                for row in rows
                if row[1:4:2] in ours
            ),
        )
        sending = [item for item in sending if (item.contact_id, item.occurrence) in ours]
        messages_queue_bulk(
            texts=[
                AutomatedText(
                    item.contact_id, item.to_number, item.body, item.send_at, item.message_id, item.reason
                )
                for item in sending
            ],
            source=governance.play_source(play.pk),
        )
        next_step = play.next_step or {}
        if sending and next_step.get("create_task"):
            result.tasks_created += _tasks_for_owners(play, sending, now=now)


def _tasks_for_owners(play: Play, sending: list[Decided], *, now) -> int:
    """One follow-up task per text for the account's owner (the contact's, for B2C).

    Written in bulk, each with its timeline entry."""
    contacts = Contact.objects.select_related("account").in_bulk([item.contact_id for item in sending])
    tasks = []
    for item in sending:
        contact = contacts[item.contact_id]
        owner_id = (contact.account.owner_id if contact.account else None) or contact.owner_id
        tasks.append(
            Task(
                owner_id=owner_id,
                account_id=contact.account_id,
                contact=contact,
                title=play.next_step["task_title"][:200],
                notes=f"Play “{play.name}” texted {contact}: {item.body}",
                due_at=(item.send_at or now) + timedelta(days=1),
                source=TaskSource.PLAY,
            )
        )
    crm_services.tasks_create_bulk(tasks=tasks)
    return len(tasks)

"""Journeys: moving enrollments through a play's steps (exits: ``journey_exits``).

An enrollment of a journey enters in ``engine`` (the control arm exits there, never getting any
step) as ``active`` at step 0 and is advanced here: every step it can take now is taken (a send
through governance, a task, a branch) until it reaches a wait (``waiting`` until ``next_at``),
the end (``completed``) or an exit (``exited`` with the reason). ``journeys_advance`` takes the
due enrollments of a play in batches; each batch is one transaction that locks its rows (``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, so racing advancers share the work and never take the same
row) and costs a fixed number of queries whatever its size: the exits' facts, then per step
index reached the queries of that step's type, then the bulk writes. Each step taken writes one
``StepDecision`` keyed by (enrollment, move): a step is never decided, nor a text sent, twice.

On PostgreSQL an advance runs ``JOURNEY_ADVANCERS`` advancers side by side (threads, each with
its own connection): while one computes a batch in Python the database writes another's. Each
takes its own lane of the due enrollments, by account (by contact without one), so every text
to one account or contact in an advance is decided by one advancer and the caps count them."""

import gc
import time
import zoneinfo
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import BigIntegerField, Max, Value
from django.db.models.functions import Coalesce, Mod
from django.utils import timezone

from core import bulk
from crm import services as crm_services
from crm.models import Account, Contact, Task, TaskSource
from plays import journey_exits
from plays import steps as journey_steps
from plays.models import (
    IN_FLIGHT,
    Enrollment,
    EnrollmentState,
    Outcome,
    Play,
    PlayStatus,
    PlayVersion,
    StepDecision,
    StepKind,
)
from plays.render import Decided, texts_render
from sms import governance, quiet_hours
from sms.inbox.business_hours import parse_workdays
from sms.models import Direction, Message, ShortLink
from sms.services.sending import AutomatedText, message_ids_reserve, messages_queue_bulk

# Enrollments per batch (one transaction): governance's chunk and a multi-row statement's size.
BATCH_SIZE = 5000
# A send step that governance holds back for a while (a cap, a deferral the contact asked for, a
# person already talking to them, another play's text this run) waits and is tried again this
# often, for at most HOLD_LIMIT; consent, a missing number or the play's re-entry cooldown end
# the enrollment at once.
HOLD_RETRY = timedelta(hours=4)
HOLD_LIMIT = timedelta(days=14)
HELD = "held"
HELD_PREFIXES = ("cap:contact_", "cap:account_", "deferral:", "human:", "priority:")


def held(reason: str) -> bool:
    """Whether governance's reason passes with time (the step waits) or not (the journey ends)."""
    return reason.startswith(HELD_PREFIXES) or (reason.startswith("state:") and reason.endswith("_daily_cap"))


DECISION_COLUMNS = (
    "enrollment_id",
    "play_id",
    "move",
    "step",
    "kind",
    "outcome",
    "reason",
    "variant",
    "message_id",
    "task_id",
    "decided_at",
)


# Where each enrollment stands after a batch (``bulk.rows_update``: the key first).
PLACE_COLUMNS = ("state", "next_at", "exit_reason", "step", "waited_since", "moves")


@dataclass
class AdvanceResult:
    """What one advance did: enrollments moved, texts by outcome, tasks, and where they stopped."""

    moved: int = 0
    texts: Counter = field(default_factory=Counter)
    tasks: int = 0
    waiting: int = 0
    held: int = 0  # send steps governance held back for now, tried again later
    completed: int = 0
    exited: Counter = field(default_factory=Counter)
    # Stopped at the caller's deadline with enrollments possibly still due (the job goes on).
    unfinished: bool = False

    def as_dict(self) -> dict:
        return {
            "moved": self.moved,
            "texts": {
                outcome: self.texts.get(outcome, 0)
                for outcome in (*Outcome.values, HELD)
                if outcome != Outcome.ENTERED
            },
            "tasks_created": self.tasks,
            "waiting": self.waiting,
            "held": self.held,
            "completed": self.completed,
            "exited": dict(self.exited.most_common()),
        }

    def add(self, other: "AdvanceResult") -> None:
        """Another advancer's share of the same advance."""
        self.moved += other.moved
        self.texts.update(other.texts)
        self.tasks += other.tasks
        self.waiting += other.waiting
        self.held += other.held
        self.completed += other.completed
        self.exited.update(other.exited)
        self.unfinished = self.unfinished or other.unfinished


@dataclass
class _InFlight:
    id: int
    contact_id: int
    account_id: int | None
    occurrence: str
    variant: str
    decided_at: datetime
    moves: int
    since: datetime  # when the current wait began (branches look from here on)
    index: int  # the step to take next
    base: datetime  # when a wait starting now starts (a deferred text: when it goes)
    last: int  # the last step taken
    version: int  # the play's version it entered: the steps it follows
    decisions: list = field(default_factory=list)
    # How it ends this advance: (state, next_at, exit_reason).
    end: tuple | None = None
    held_at: datetime | None = None  # when governance first held its current send step
    hold: datetime | None = None  # set when it is held (again) in this advance

    def held_since(self, now: datetime) -> datetime:
        return self.held_at or now


# --- Advancing ---------------------------------------------------------------------------------


def journeys_advance(
    play: Play,
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    advancers: int | None = None,
    deadline: float | None = None,
) -> AdvanceResult:
    """Take every step that is due for the play's in-flight enrollments (only an active play's
    move). Batches of ``batch_size``, each one transaction with a fixed number of queries;
    ``advancers`` (default ``JOURNEY_ADVANCERS``) take them side by side where they can
    (``advancer_lanes``). With a ``deadline`` (``time.monotonic()``) no batch starts after it:
    the result says ``unfinished`` and the rest waits for the next advance."""
    now = now or timezone.now()
    result = AdvanceResult()
    if play.status != PlayStatus.ACTIVE:
        return result
    context = _Context(play, now)
    if not any(context.versions.values()):
        return result
    lanes = advancer_lanes(settings.JOURNEY_ADVANCERS if advancers is None else advancers)
    with _collector_paused():
        if lanes == 1:
            _advance_batches(play, context, now, batch_size, result, deadline=deadline)
        else:
            _advance_side_by_side(play, now, batch_size, lanes, result, deadline)
    return result


def advancer_lanes(advancers: int) -> int:
    """How many advancers can run side by side here: ``advancers`` on PostgreSQL outside a
    transaction; one on SQLite (one writer at a time) or inside the caller's transaction (other
    connections would not see what it has written, nor could they join it)."""
    if advancers > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        return advancers
    return 1


def _advance_side_by_side(
    play: Play, now, batch_size: int, lanes: int, result: AdvanceResult, deadline: float | None
) -> None:
    """``lanes`` advancers, each on its own thread and connection and its own lane of the due
    enrollments. Python holds one core while it computes a batch, the database another while it
    writes one: side by side the two overlap (100,000 enrollments: 16.7 s alone, 9.7 s with two,
    bench scenario 6). A lane that fails raises here once the others are done; every batch that
    committed before stays advanced, as with one advancer."""

    def advance_lane(lane: int) -> AdvanceResult:
        lane_result = AdvanceResult()
        try:
            _advance_batches(
                play, _Context(play, now), now, batch_size, lane_result, lane=(lane, lanes), deadline=deadline
            )
        finally:
            connection.close()  # this thread's own connection
        return lane_result

    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix=f"journey-{play.pk}") as pool:
        futures = [pool.submit(advance_lane, lane) for lane in range(lanes)]
    for future in futures:
        result.add(future.result())


@contextmanager
def _collector_paused():
    """Python's cycle collector off while batches run: a batch makes a few hundred thousand
    short-lived tuples, freed by reference counting, and the collector would walk the whole
    heap over and over for them (about 0.5 s of 7 at 20,000 enrollments, measured)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def due(play: Play, now, lane: tuple[int, int] | None = None):
    """The play's enrollments due by ``now``, in due order (the partial index of in-flight
    enrollments, plays 0008). ``lane`` (k, lanes): only those whose account (contact without
    one) falls in lane k of ``lanes``."""
    queryset = Enrollment.objects.filter(play=play, state__in=IN_FLIGHT, next_at__lte=now)
    if lane is not None:
        k, lanes = lane
        # "Not in any other lane", not "= k" (the same rows: the key is a positive id): without
        # statistics on the expression PostgreSQL guesses that 0.5% of rows match "= k", and
        # would sort every due enrollment of the play for each batch instead of reading the
        # partial index in due order until the batch is full (at 500,000 due: 170 ms a batch).
        queryset = queryset.alias(
            lane=Mod(Coalesce("account_id", "contact_id"), Value(lanes), output_field=BigIntegerField())
        ).exclude(lane__in=[other for other in range(lanes) if other != k])
    return queryset.order_by("next_at", "id")


def _advance_batches(
    play: Play,
    context: "_Context",
    now,
    batch_size: int,
    result: AdvanceResult,
    lane: tuple[int, int] | None = None,
    deadline: float | None = None,
) -> None:
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            result.unfinished = True
            return
        with transaction.atomic():
            rows = list(
                due(play, now, lane)
                .select_for_update(skip_locked=True)
                .values_list(
                    "pk",
                    "contact_id",
                    "account_id",
                    "occurrence",
                    "variant",
                    "decided_at",
                    "moves",
                    "waited_since",
                    "step",
                    "state",
                    "version",
                )[:batch_size]
            )
            if not rows:
                break
            _advance_batch(context, rows, result)
        if len(rows) < batch_size:
            break


def journeys_advance_all(
    *, now: datetime | None = None, deadline: float | None = None
) -> tuple[dict[int, int], bool]:
    """The scheduled job: advance every active journey. ({play id: enrollments moved},
    whether the ``deadline`` stopped it with enrollments possibly still due)."""
    moved = {}
    for play in Play.objects.filter(status=PlayStatus.ACTIVE).order_by("pk"):
        if play.steps or play.version > 1:  # a one-text play's old version may be a journey
            result = journeys_advance(play, now=now, deadline=deadline)
            moved[play.pk] = result.moved
            if result.unfinished:
                return moved, True
    return moved, False


class _Context:
    """The play and what its steps need, loaded once per advance (users) or batch (people)."""

    def __init__(self, play: Play, now: datetime):
        self.play = play
        self.now = now
        # Each version's steps (enrollments go on with the version they entered); the current
        # one is the play's own. One query per advance.
        older = PlayVersion.objects.filter(play=play).exclude(version=play.version)
        self.versions: dict[int, list[dict]] = dict(older.values_list("version", "steps"))
        self.versions[play.version] = play.steps or []
        self.owners: dict[int, str] = {}  # for texts' {owner}
        self.team_tz = zoneinfo.ZoneInfo(settings.INBOX_TIMEZONE)
        self.workdays = parse_workdays(settings.INBOX_BUSINESS_DAYS)
        self.people: dict[int, tuple] = {}  # contact -> (timezone, account tz, owner id)
        self.users: dict[int, tuple] = {}  # user -> (manager id, timezone, active)

    def steps_for(self, version: int) -> list[dict]:
        """The steps of ``version``; a version whose steps were never kept (edited before
        versions kept them) goes on with the play's current ones."""
        if version in self.versions:
            return self.versions[version]
        return self.play.steps or []

    def load_people(self, contact_ids: set[int]) -> None:
        """Contacts' time zones and owners (the account's owner, else the contact's) and the
        owners' managers: three queries for any number of contacts."""
        missing = contact_ids - set(self.people)
        if not missing:
            return
        contacts = list(
            Contact.objects.filter(bulk.in_ids("pk", missing))
            .order_by()
            .values_list("pk", "timezone", "account_id", "owner_id")
        )
        accounts = {
            pk: (tz, owner_id)
            for pk, tz, owner_id in Account.objects.filter(
                bulk.in_ids("pk", {row[2] for row in contacts} - {None})
            )
            .order_by()
            .values_list("pk", "timezone", "owner_id")
        }
        for pk, tz, account_id, owner_id in contacts:
            account_tz, account_owner = accounts.get(account_id, ("", None))
            self.people[pk] = (tz or "", account_tz or "", account_owner or owner_id)
        wanted = {row[2] for row in self.people.values()} - {None} - set(self.users)
        for pk, manager_id, tz, active in (
            get_user_model()
            .objects.filter(pk__in=wanted)
            .values_list("pk", "manager_id", "timezone", "is_active")
        ):
            self.users[pk] = (manager_id, tz, active)
        managers = {user[0] for user in self.users.values()} - {None} - set(self.users)
        for pk, manager_id, tz, active in (
            get_user_model()
            .objects.filter(pk__in=managers)
            .values_list("pk", "manager_id", "timezone", "is_active")
        ):
            self.users[pk] = (manager_id, tz, active)

    def owner_of(self, contact_id: int) -> int | None:
        return self.people.get(contact_id, ("", "", None))[2]

    def wait_ends(self, step: dict, row: _InFlight) -> datetime:
        contact_tz, account_tz, owner_id = self.people.get(row.contact_id, ("", "", None))
        owner_tz = self.users.get(owner_id, (None, "", True))[1] if owner_id else ""
        return journey_steps.wait_ends(
            step,
            row.base,
            contact_tz=quiet_hours.recipient_tz(contact_tz, account_tz),
            team_tz=quiet_hours.resolve_timezone(owner_tz, settings.INBOX_TIMEZONE),
            open_hour=settings.INBOX_BUSINESS_HOURS_START,
            close_hour=settings.INBOX_BUSINESS_HOURS_END,
            workdays=self.workdays,
        )


def _advance_batch(context: _Context, rows: list[tuple], result: AdvanceResult) -> None:
    play, now = context.play, context.now
    flights = []
    for row in rows:
        # (pk, contact, account, occurrence, variant, decided_at, moves: the first seven fields
        # as they are), then waited_since, step, state, version.
        waited_since, step, state, version = row[7:]
        # An active row with a wait start is one whose send step governance held back.
        held_at = waited_since if state == EnrollmentState.ACTIVE else None
        index = step + 1 if state == EnrollmentState.WAITING else step
        since = waited_since or row[5]
        flights.append(_InFlight(*row[:7], since, index, now, step, version, held_at=held_at))
    result.moved += len(flights)
    exits = journey_exits.exit_reasons(
        flights, {play.pk: play.exit_on or []}, {row.id: play.pk for row in flights}, now
    )
    moving = []
    for row in flights:
        if row.id in exits:
            row.end = (EnrollmentState.EXITED, None, exits[row.id])
        else:
            moving.append(row)
    by_version: dict[int, list[_InFlight]] = defaultdict(list)
    for row in moving:
        by_version[row.version].append(row)
    if any(step["type"] in ("wait", "task") for version in by_version for step in context.steps_for(version)):
        context.load_people({row.contact_id for row in moving})
    texts: list[AutomatedText] = []
    tasks: list[tuple[_InFlight, Task]] = []
    # Each version's enrollments on their own steps: a batch costs a fixed number of queries
    # per version in flight (one, but for the weeks after a live journey was edited).
    for version, group in sorted(by_version.items()):
        _walk(context, context.steps_for(version), group, texts, tasks, result)
    _write(context, flights, texts, tasks, result)


def _walk(
    context: _Context,
    steps: list[dict],
    moving: list[_InFlight],
    texts: list[AutomatedText],
    tasks: list[tuple[_InFlight, Task]],
    result: AdvanceResult,
) -> None:
    """Take every step the rows can take now on ``steps``, hop by hop: each hop groups the rows
    by the step they are at and takes each step for its group at once."""
    play, now = context.play, context.now
    # Without a loop that skips every wait (validation refuses one), no row takes more steps
    # than there are in one advance.
    for _ in range(len(steps) + 1):
        if not moving:
            break
        by_index: dict[int, list[_InFlight]] = defaultdict(list)
        for row in moving:
            by_index[row.index].append(row)
        moving = []
        sends = []
        for index, group in sorted(by_index.items()):
            if index >= len(steps):
                for row in group:
                    row.end = (EnrollmentState.COMPLETED, None, "")
                continue
            step = steps[index]
            kind = step["type"]
            if kind == "wait":
                for row in group:
                    row.last = index
                    row.end = (EnrollmentState.WAITING, context.wait_ends(step, row), "")
            elif kind == "branch":
                taken = _branch_taken(play, step["if"], group, now)
                for row in group:
                    way = "then" if row.id in taken else "else"
                    row.decisions.append((index, StepKind.BRANCH, way, step["if"], "", None, None))
                    row.last, row.index = (
                        index,
                        step["then"] if way == "then" else step.get("else", index + 1),
                    )
                    moving.append(row)
            elif kind == "task":
                for row in group:
                    task, reason = _task_for(context, step, row)
                    tasks.append((row, task))
                    row.decisions.append((index, StepKind.TASK, "created", reason, "", None, task))
                    row.last, row.index = index, index + 1
                    moving.append(row)
            else:
                sends.extend((index, row) for row in group)
        if sends:
            moving.extend(_send(context, steps, sends, texts, result))
    for row in moving:  # cannot happen with valid steps; never leave a row due forever
        row.end = (EnrollmentState.WAITING, now + timedelta(minutes=1), "")


def _branch_taken(play: Play, condition: str, rows: list[_InFlight], now) -> set[int]:
    """The rows for which ``condition`` happened since their wait began (and by now)."""
    contact_ids = {row.contact_id for row in rows}
    since = min(row.since for row in rows)
    by_account: dict = {}
    if condition in ("replied",) or condition.startswith("intent:"):
        inbound = Message.objects.filter(
            bulk.in_ids("contact_id", contact_ids),
            direction=Direction.INBOUND,
            created_at__gte=since,
            created_at__lte=now,
        )
        if condition.startswith("intent:"):
            inbound = inbound.filter(intent=condition.split(":", 1)[1])
        by_contact = journey_exits.latest(
            inbound.order_by()
            .values("contact_id")
            .annotate(at=Max("created_at"))
            .values_list("contact_id", "at")
        )
    elif condition == "clicked":
        by_contact = journey_exits.latest(
            ShortLink.objects.filter(
                bulk.in_ids("contact_id", contact_ids),
                source=governance.play_source(play.pk),
                first_clicked_at__gte=since,
                first_clicked_at__lte=now,
            )
            .order_by()
            .values("contact_id")
            .annotate(at=Max("first_clicked_at"))
            .values_list("contact_id", "at")
        )
    else:  # event:<name>
        name = condition.split(":", 1)[1]
        account_ids = {row.account_id for row in rows} - {None}
        by_contact, by_account = journey_exits.event_facts([name], contact_ids, account_ids, since, now)[name]
    taken = set()
    for row in rows:
        at = by_contact.get(row.contact_id) or (by_account.get(row.account_id) if row.account_id else None)
        if at is not None and at >= row.since:
            taken.add(row.id)
    return taken


def _task_for(context: _Context, step: dict, row: _InFlight) -> tuple[Task, str]:
    """The step's task for the owner or the owner's manager. A manager task for an owner with
    no (active) manager goes to the owner; with no owner it is left unassigned, with a note."""
    owner_id = context.owner_of(row.contact_id)
    assignee, reason, note = owner_id, "owner", ""
    if step.get("assignee") == "manager":
        manager_id = context.users.get(owner_id, (None, "", True))[0] if owner_id else None
        if manager_id and context.users.get(manager_id, (None, "", False))[2]:
            assignee, reason = manager_id, "manager"
        else:
            reason, note = (
                "owner:no_manager",
                "Meant for the owner's manager; the owner has none, so it is theirs.",
            )
    if assignee is None:
        reason, note = "unassigned:no_owner", "No owner to give this to: assign it."
    due = context.now + timedelta(hours=step.get("due_hours", 24))
    notes = f"Journey “{context.play.name}”, step {row.index}."
    return (
        Task(
            owner_id=assignee,
            account_id=row.account_id,
            contact_id=row.contact_id,
            title=step["title"][:200],
            notes=f"{notes} {note}".strip(),
            due_at=due,
            source=TaskSource.PLAY,
        ),
        reason,
    )


def _recent_variants(play: Play, contact_ids: set[int], now) -> tuple[dict, set[int]]:
    """{(contact, step): variants texted within the play's cooldown} (rotation), and the
    enrollments that have texted already in this journey. Two queries, each by an indexed list
    (the contacts' enrollments in the play, then their send decisions): a query from the play's
    decisions would read all of them for every batch."""
    used: dict[tuple[int, int], set[str]] = defaultdict(set)
    texted: set[int] = set()
    window = now - timedelta(days=play.cooldown_days) if play.cooldown_days else None
    contact_of = dict(
        Enrollment.objects.filter(bulk.in_ids("contact_id", contact_ids), play=play)
        .order_by()
        .values_list("pk", "contact_id")
    )
    # By the enrollments alone (their unique (enrollment, move) index), the kind and outcome
    # tested here: a filter on them lets PostgreSQL AND in the index of every decision of the
    # play of that kind, which grows with the journey (measured at 500,000: 4 s of the advance).
    rows = (
        StepDecision.objects.filter(bulk.in_ids("enrollment_id", contact_of))
        .order_by()
        .values_list("enrollment_id", "step", "variant", "decided_at", "kind", "outcome")
    )
    texts = (Outcome.SENT, Outcome.DEFERRED)
    for enrollment_id, step, variant, decided_at, kind, outcome in rows:
        if kind != StepKind.SEND or outcome not in texts:
            continue
        texted.add(enrollment_id)
        if window is not None and decided_at >= window:
            used[contact_of[enrollment_id], step].add(variant)
    return used, texted


def _send(
    context: _Context,
    steps: list[dict],
    sends: list[tuple[int, _InFlight]],
    texts: list,
    result: AdvanceResult,
) -> list:
    """The send steps reached in this hop: governance for all at once, as a play's entry is
    decided (consent, suppression, deferrals, caps, quiet hours, state rules); a suppressed text
    ends the enrollment with the reason, a deferred one is queued for its window and the
    journey moves on from when it goes. Returns the rows that move on."""
    play, now = context.play, context.now
    used, texted = _recent_variants(play, {row.contact_id for _, row in sends}, now)
    chosen: dict[int, str | None] = {}
    for index, row in sends:
        variants = steps[index]["variants"]
        assigned = (
            row.variant
            if index == journey_steps.first_variant_step(steps) and row.variant
            else journey_steps.variant_for(play.pk, index, row.contact_id, variants)
        )
        chosen[row.id] = journey_steps.rotated(assigned, variants, used.get((row.contact_id, index), set()))
    decisions = governance.decide(
        [
            governance.Candidate(
                contact_id=row.contact_id,
                account_id=row.account_id,
                play_id=play.pk,
                moment=play.moment,
                # The play's cooldown keeps a contact from re-entering it too soon; it does not
                # hold back a journey's own next text.
                cooldown_days=0 if row.id in texted else play.cooldown_days,
            )
            for _, row in sends
        ],
        now=now,
    )
    rendering = []
    moving = []
    for (index, row), decision in zip(sends, decisions, strict=True):
        row.last = index
        variant = chosen[row.id]
        if not decision.sends and held(decision.reason):
            if now - row.held_since(now) >= HOLD_LIMIT:
                row.decisions.append(
                    (index, StepKind.SEND, Outcome.SUPPRESSED, decision.reason, "", None, None)
                )
                result.texts[Outcome.SUPPRESSED] += 1
                row.end = (EnrollmentState.EXITED, None, f"suppressed:{decision.reason}"[:100])
            else:  # the step itself waits and is tried again; the journey does not skip it
                row.decisions.append((index, StepKind.SEND, HELD, decision.reason, "", None, None))
                result.texts[HELD] += 1
                row.end = (EnrollmentState.ACTIVE, now + HOLD_RETRY, "")
                row.hold = row.held_since(now)
            continue
        if not decision.sends:
            row.decisions.append(
                (index, StepKind.SEND, Outcome.SUPPRESSED, decision.reason, variant or "", None, None)
            )
            result.texts[Outcome.SUPPRESSED] += 1
            row.end = (EnrollmentState.EXITED, None, f"suppressed:{decision.reason}"[:100])
            continue
        if variant is None:
            row.decisions.append(
                (index, StepKind.SEND, Outcome.SUPPRESSED, "rotation:all_variants_sent", "", None, None)
            )
            result.texts[Outcome.SUPPRESSED] += 1
            row.index = index + 1
            moving.append(row)
            continue
        template = next(v["template"] for v in steps[index]["variants"] if v["name"] == variant)
        outcome = Outcome.SENT if decision.outcome == governance.SEND else Outcome.DEFERRED
        item = Decided(
            row.contact_id,
            row.account_id,
            row.occurrence,
            "treatment",
            outcome,
            decision.reason,
            decision.send_at,
            template=template,
        )
        rendering.append((index, row, variant, item))
    texts_render(play, [item for *_, item in rendering], now=now, dry_run=False, owners=context.owners)
    ids = iter(message_ids_reserve(count=sum(1 for *_, item in rendering if item.outcome != Outcome.FAILED)))
    for index, row, variant, item in rendering:
        if item.outcome == Outcome.FAILED:
            row.decisions.append((index, StepKind.SEND, Outcome.FAILED, item.reason, variant, None, None))
            result.texts[Outcome.FAILED] += 1
            row.end = (EnrollmentState.EXITED, None, f"failed:{item.reason}"[:100])
            continue
        item.message_id = next(ids)
        texts.append(
            AutomatedText(
                item.contact_id, item.to_number, item.body, item.send_at, item.message_id, item.reason
            )
        )
        row.decisions.append(
            (index, StepKind.SEND, item.outcome, item.reason, variant, item.message_id, None)
        )
        result.texts[item.outcome] += 1
        row.base = max(now, item.send_at or now)
        row.index = index + 1
        moving.append(row)
    return moving


def _write(
    context: _Context, flights: list[_InFlight], texts: list, tasks: list, result: AdvanceResult
) -> None:
    """Texts, tasks, the step decisions, then each enrollment's new place, grouped so that rows
    ending alike share one UPDATE."""
    play, now = context.play, context.now
    messages_queue_bulk(texts=texts, source=governance.play_source(play.pk))
    if tasks:
        crm_services.tasks_create_bulk(tasks=[task for _, task in tasks])
        result.tasks += len(tasks)
    rows = []
    for row in flights:
        for move, (index, kind, outcome, reason, variant, message_id, task) in enumerate(
            row.decisions, start=1
        ):
            rows.append(
                (
                    row.id,
                    play.pk,
                    row.moves + move,
                    index,
                    kind,
                    outcome,
                    reason[:100],
                    variant,
                    message_id,
                    task.pk if task is not None else None,
                    now,
                )
            )
    bulk.rows_insert(StepDecision, DECISION_COLUMNS, rows)
    places = []
    for row in flights:
        state, next_at, exit_reason = row.end
        waited_since = row.base if state == EnrollmentState.WAITING else row.hold
        places.append(
            (row.id, state, next_at, exit_reason, row.last, waited_since, row.moves + len(row.decisions))
        )
        if state == EnrollmentState.WAITING:
            result.waiting += 1
        elif state == EnrollmentState.ACTIVE:
            result.held += 1
        elif state == EnrollmentState.COMPLETED:
            result.completed += 1
        else:
            result.exited[exit_reason] += 1
    # One statement for the whole batch, whatever the number of distinct places (a wait that
    # ends at each contact's own morning gives as many as there are contacts).
    bulk.rows_update(Enrollment, PLACE_COLUMNS, places)

"""The demo journeys' history past their first text: what the advancer would have done for each
treated enrollment whose first text went (``demo.plays`` writes that first step). Each one walks
its journey's steps from when its first text went: waits end (business hours in the team's time),
branches read the reply the history drew, tasks go to the owner or the owner's manager, later
texts go through the same governance draw as the first ones, and the journey's exits end it at
the moment their fact happened (a reply, a deal opened, the onboarding goal's event). What has
not happened by today is left where it stands: waiting at a wait, due then.

Generated in memory like the rest of the demo's history and written with the same bulk writers
(step decisions through ``core.bulk.rows_insert`` in ``DECISION_COLUMNS``); nothing runs the
engine for past days, and nothing here is sent."""

import random
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from crm.models import Deal, Task, TaskSource, TaskStatus, User
from plays import journey
from plays import steps as journey_steps
from plays.models import EnrollmentState, Outcome, StepKind
from sms.inbox.business_hours import parse_workdays

EXIT_FACTS = ("reply", "deal_opened")  # plus "event:<name>": the account's first such event


@dataclass
class Walk:
    """What one enrollment did after its first text, and where it stands."""

    state: str = EnrollmentState.COMPLETED
    exit_reason: str = ""
    step: int = 0
    next_at: datetime | None = None
    waited_since: datetime | None = None
    # (step, kind, outcome, reason, variant, message or None, task or None, decided_at)
    decisions: list = field(default_factory=list)


@dataclass
class Facts:
    """What the exits and branches read: replies per enrollment (the history's draw), each demo
    account's first deal and first event of each name, and each owner's manager."""

    events: dict[str, dict[int, datetime]]
    deals: dict[int, list[datetime]]
    managers: dict[int, int | None]

    @classmethod
    def load(cls, event_names: set[str], first_events) -> "Facts":
        deals: dict[int, list[datetime]] = {}
        for account_id, at in Deal.objects.filter(account__attributes__demo=True).values_list(
            "account_id", "created_at"
        ):
            deals.setdefault(account_id, []).append(at)
        managers = dict(User.objects.values_list("pk", "manager_id"))
        return cls({name: first_events(name) for name in event_names}, deals, managers)


class Walker:
    """Walks enrollments through a journey's steps; ``send`` makes a later text (the caller's
    message factory, so it is written with the history's other texts)."""

    def __init__(self, facts: Facts, ref: datetime, rng: random.Random, governance, send):
        self.facts, self.ref, self.rng = facts, ref, rng
        self.governance = governance  # ((outcome, reason, cumulative share), ...)
        self.send = send  # (enrollment, row, template, sent_at, deferred) -> Message
        self.team_tz = zoneinfo.ZoneInfo(settings.INBOX_TIMEZONE)
        self.workdays = parse_workdays(settings.INBOX_BUSINESS_DAYS)

    def _exit_at(self, play, entered: datetime, contact_id, account_id, reply_at, until) -> tuple:
        """The first of the play's exits to happen after entry and by ``until``: (time, reason)."""
        found = []
        for item in play.exit_on or []:
            if item == "reply" and reply_at is not None:
                found.append((reply_at, item))
            elif item == "deal_opened":
                found += [(at, item) for at in self.facts.deals.get(account_id, ())]
            elif item.startswith("event:"):
                at = self.facts.events.get(item.split(":", 1)[1], {}).get(account_id)
                if at is not None:
                    found.append((at, item))
        found = [(at, reason) for at, reason in found if entered <= at <= until]
        return min(found) if found else (None, "")

    def walk(self, enrollment, row, first_sent: datetime, reply_at: datetime | None) -> Walk:
        play, contact = enrollment.play, row.contact
        steps = play.steps
        walk = Walk()
        index, clock, since = journey_steps.first_variant_step(steps) + 1, first_sent, first_sent
        for _ in range(3 * len(steps) + 100):  # a held text is tried again a few times
            if index >= len(steps):
                walk.state = EnrollmentState.COMPLETED
                return walk
            step = steps[index]
            kind = step["type"]
            if kind == "wait":
                ends = journey_steps.wait_ends(
                    step,
                    clock,
                    contact_tz=self.team_tz,
                    team_tz=self.team_tz,
                    open_hour=settings.INBOX_BUSINESS_HOURS_START,
                    close_hour=settings.INBOX_BUSINESS_HOURS_END,
                    workdays=self.workdays,
                )
                _, reason = self._exit_at(
                    play, enrollment.decided_at, contact.pk, contact.account_id, reply_at, min(ends, self.ref)
                )
                walk.step = index
                if reason:  # the hook ended it when the fact was recorded
                    walk.state, walk.exit_reason = EnrollmentState.EXITED, reason
                    return walk
                if ends > self.ref:
                    walk.state, walk.next_at, walk.waited_since = EnrollmentState.WAITING, ends, clock
                    return walk
                since, clock, index = clock, ends, index + 1
            elif kind == "branch":
                replied = reply_at is not None and since <= reply_at <= clock
                way = "then" if replied else "else"
                walk.decisions.append((index, StepKind.BRANCH, way, step["if"], "", None, None, clock))
                walk.step = index
                index = step["then"] if replied else step.get("else", index + 1)
            elif kind == "task":
                task, reason = self._task(play, step, contact, clock)
                walk.decisions.append((index, StepKind.TASK, "created", reason, "", None, task, clock))
                walk.step, index = index, index + 1
            else:
                walk.step = index
                outcome, reason = self._governed()
                if outcome == Outcome.SUPPRESSED and journey.held(reason):
                    # Held back for now (a cap, a deferral, a person talking to them): the step
                    # waits and is tried again, never skipped.
                    walk.decisions.append((index, StepKind.SEND, journey.HELD, reason, "", None, None, clock))
                    walk.waited_since = walk.waited_since or clock
                    clock += journey.HOLD_RETRY
                    if clock > self.ref:
                        walk.state, walk.next_at = EnrollmentState.ACTIVE, clock
                        return walk
                    continue
                walk.waited_since = None
                if outcome == Outcome.SUPPRESSED:
                    walk.decisions.append((index, StepKind.SEND, outcome, reason, "", None, None, clock))
                    walk.state, walk.exit_reason = EnrollmentState.EXITED, f"suppressed:{reason}"
                    return walk
                variant = step["variants"][0]
                sent_at = clock + timedelta(seconds=self.rng.randint(2, 40))
                if outcome == Outcome.DEFERRED:
                    sent_at += timedelta(hours=self.rng.randint(8, 14))
                sent_at = min(sent_at, self.ref - timedelta(seconds=30))
                deferred = outcome == Outcome.DEFERRED
                message = self.send(enrollment, row, variant["template"], sent_at, deferred)
                walk.decisions.append(
                    (index, StepKind.SEND, outcome, reason, variant["name"], message, None, clock)
                )
                clock, index = max(clock, sent_at), index + 1
        raise AssertionError("a demo journey loops without a wait")  # validation refuses these

    def _governed(self) -> tuple[str, str]:
        """A later text's governance, drawn as the first texts' are; the play's cooldown holds
        back re-entry, never a journey's own next text."""
        draw = self.rng.random()
        outcome, reason = next((o, r) for o, r, share in self.governance if draw < share)
        return (Outcome.SENT, "") if reason == "cap:play_cooldown" else (outcome, reason)

    def _task(self, play, step, contact, at: datetime) -> tuple[Task, str]:
        owner_id, reason = contact.owner_id, "owner"
        if step.get("assignee") == "manager":
            manager_id = self.facts.managers.get(owner_id) if owner_id else None
            owner_id, reason = (manager_id, "manager") if manager_id else (owner_id, "owner:no_manager")
        if owner_id is None:
            reason = "unassigned:no_owner"
        due = at + timedelta(hours=step.get("due_hours", 24))
        done = due < self.ref - timedelta(days=3)
        task = Task(
            owner_id=owner_id,
            account_id=contact.account_id,
            contact_id=contact.pk,
            title=step["title"][:200],
            notes=f"Journey “{play.name}”: {contact.first_name} {contact.last_name} has not replied.",
            due_at=due,
            source=TaskSource.PLAY,
            status=TaskStatus.DONE if done else TaskStatus.OPEN,
            completed_at=due - timedelta(hours=6) if done else None,
        )
        return task, reason

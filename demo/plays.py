"""The plays part of the demo, on top of the CRM book and the SMS inbox: the standard library
of lifecycle plays, and about six months of their history so analytics has something to
measure.

The history is generated in memory and bulk-inserted (the engine is not run once per past
day). It mirrors what the engine writes: one enrollment per trigger occurrence and contact,
the arm from ``arm_for`` keyed on the play's name and the contact's phone (stable across
``--force``, which recreates every row with new primary keys), the control
arm suppressed as ``holdout`` and never texted, governance reasons for the treatment arm, and
for every text an automated Message with the play's source, its timeline entries, and (for the
seat-limit play) the owner's follow-up task.

Occurrences are prefixed ``demo:`` so they never collide with the keys the real triggers
produce: a real run after seeding still decides today's occurrences.

SYNTHETIC LIFT: the treatment arm is made measurably better than control on purpose, so the
analytics pages have an effect to show on demo data; it says nothing about real plays. It uses
only rows this module owns:
which occurrences were enrolled (a modest, arm-dependent thinning against the account's known
outcome: renewal decision, churn, integration, first campaign, expansion deal), replies from
treated contacts, and reorders after the reorder reminder (``demo-order-play-`` orders, removed
by the CRM demo cleanup). Same seed and day: same data, also after ``--force``. (Real runs key
arms on primary keys, so a demo contact's arm in the history and in later real runs may differ;
each enrollment records its own arm.)

Demo plays are recognised by their fixed names and a demo staff owner."""

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils.text import slugify

from analytics.clv.tiers import clv_tiers_score
from core import bulk
from crm import services as crm_services
from crm.models import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    DealKind,
    Event,
    LifecycleStage,
    Order,
    Renewal,
    RenewalStatus,
    SmsConsent,
    Task,
    TaskSource,
    TaskStatus,
    User,
)
from demo import journeys as demo_journeys
from demo.crm import ORDER_PREFIX
from demo.vocabulary import STAFF
from plays import steps as journey_steps
from plays import templates
from plays.engine import (
    ENROLLMENT_COLUMNS,
    ENTRY_COLUMNS,
    JOURNEY_COLUMNS,
    arm_for,
    enrollments_insert,
    journey_place,
)
from plays.journey import DECISION_COLUMNS
from plays.models import Arm, Enrollment, Outcome, Play, PlayStatus, StepDecision, StepKind
from plays.services import play_create
from plays.triggers.milestone_missing import MILESTONE_NUDGE_WINDOW
from sms.governance import play_source
from sms.models import Direction, Message, MessageKind, MessageStatus
from sms.segments import count_segments
from sms.services.sending import message_ids_reserve

HISTORY_DAYS = 182
SID_PREFIX = "SMdemoplay"
PLAY_ORDER_PREFIX = f"{ORDER_PREFIX}play-"
FROM_NUMBER = "+15005550006"
BATCH = 1000
DEMO_USERNAMES = tuple(username for username, *_ in STAFF)

ONBOARDING = "Onboarding: connect your integration"
ONBOARDING_TEXTS = {
    "A": "Hi {first_name}, it's {owner} from Lifecycle CRM. {account} is set up, but your integration "
    "isn't connected yet. It takes about 5 minutes and starts syncing your contacts. Want me to "
    "walk you through it? Just reply here.",
    "B": "Hi {first_name}, {account} is one step from syncing: connect your integration (about 5 "
    "minutes). Reply GUIDE and {owner} will send the setup guide.",
}
ONBOARDING_REMINDER = (
    "Hi {first_name}, {owner} again: {account}'s integration still isn't connected. Most teams "
    "finish it in one sitting; reply with a time and I'll call you."
)
ADOPTION = "Adoption: send your first campaign"
RENEWAL = "Renewal journey: 60 days out, escalating"
RENEWAL_TEXTS = (
    "Hi {first_name}, {account}'s plan renews on {renewal_date} ({renewal_acv}/yr). Want to review "
    "usage and options before then? Reply and {owner} will set up a quick call.",
    "Hi {first_name}, a reminder that {account} renews on {renewal_date}. Questions about seats or "
    "your plan? Reply here and {owner} will sort it out.",
    "Hi {first_name}, {account}'s renewal is one week out ({renewal_date}). Nothing to do if all "
    "looks good; reply if you'd like any changes. - {owner}",
)
RISK = "Risk: inactivity check-in"
EXPANSION = "Expansion: seat-limit offer"
REORDER = "Reactivation: reorder reminder"

ROUTE = {"route_replies_to_owner": True}
STANDARD_PLAYS: tuple[dict, ...] = (
    {
        # A journey with an A/B test of its first text: A offers a walkthrough, B is short and
        # links the guide. A reply hands the contact to the owner at once; silence gets one
        # reminder, then the owner's task. Connecting the integration (the goal) ends it.
        "name": ONBOARDING,
        "moment": "onboarding",
        "trigger": {"type": "milestone_missing", "event": "integration_connected", "days": 3},
        "template": ONBOARDING_TEXTS["A"],
        "steps": [
            {
                "type": "send",
                "variants": [
                    {"name": name, "template": text, "weight": 1} for name, text in ONBOARDING_TEXTS.items()
                ],
            },
            {"type": "wait", "days": 2},
            {"type": "branch", "if": "replied", "then": 5},
            {"type": "send", "variants": [{"name": "A", "template": ONBOARDING_REMINDER, "weight": 1}]},
            {"type": "wait", "days": 3},
            {"type": "task", "title": "Onboarding: help them connect the integration", "assignee": "owner"},
        ],
        "exit_on": ["opt_out", "event:integration_connected"],
        "next_step": ROUTE,
        "cooldown_days": 7,
        "holdout_percent": 20,
    },
    {
        "name": ADOPTION,
        "moment": "adoption",
        "trigger": {"type": "milestone_missing", "event": "first_campaign_sent", "days": 7},
        "template": (
            "Hi {first_name}, {account} is all connected. Next step: your first campaign. Pick a template, "
            "send it to a small list and watch the replies come in. Stuck? Reply and {owner} will help."
        ),
        "next_step": ROUTE,
        "cooldown_days": 7,
        "holdout_percent": 20,
    },
    {
        # One journey instead of three independent reminders that kept texting after a reply:
        # a reply (or an opt-out, or a deal opened) ends it at once, and silence escalates to
        # the owner, then the owner's manager, in business hours.
        "name": RENEWAL,
        "moment": "renewal",
        "trigger": {"type": "renewal_window", "days": 60},
        "template": RENEWAL_TEXTS[0],
        "steps": [
            {"type": "send", "variants": [{"name": "A", "template": RENEWAL_TEXTS[0], "weight": 1}]},
            {"type": "wait", "business_hours": 8},
            {"type": "branch", "if": "replied", "then": 7},
            {"type": "task", "title": "Renewal text unanswered: call them", "assignee": "owner"},
            {"type": "wait", "business_hours": 8},
            {"type": "branch", "if": "replied", "then": 7},
            {"type": "task", "title": "Renewal still unanswered: step in", "assignee": "manager"},
            {"type": "wait", "days": 30},
            {"type": "send", "variants": [{"name": "A", "template": RENEWAL_TEXTS[1], "weight": 1}]},
            {"type": "wait", "days": 22},
            {"type": "send", "variants": [{"name": "A", "template": RENEWAL_TEXTS[2], "weight": 1}]},
        ],
        "exit_on": ["reply", "opt_out", "deal_opened"],
        "next_step": ROUTE,
        "cooldown_days": 14,
        "holdout_percent": 20,
    },
    {
        "name": RISK,
        "moment": "risk",
        "trigger": {"type": "inactivity", "events": ["login"], "days": 14},
        "template": (
            "Hi {first_name}, {owner} here. We haven't seen the {account} team log in for a couple of weeks. "
            "Anything blocking you? Happy to help - just reply."
        ),
        "next_step": ROUTE,
        "cooldown_days": 14,
        "holdout_percent": 20,
    },
    {
        "name": EXPANSION,
        "moment": "expansion",
        "trigger": {"type": "event", "event": "seat_limit_90"},
        "template": (
            "Hi {first_name}, {account} is using 90%+ of its seats. Want a quote for a few more so nobody "
            "gets locked out? Reply and {owner} will send options."
        ),
        "next_step": {
            "create_task": True,
            "task_title": "Seat limit reached: send an expansion quote",
            "route_replies_to_owner": True,
        },
        "cooldown_days": 14,
        "holdout_percent": 50,
    },
    {
        "name": REORDER,
        "moment": "reactivation",
        "trigger": {"type": "days_since_order", "days": 45},
        "template": (
            "Hi {first_name}, it's been a while since your last order. Running low? Reply here and we'll "
            "set up your reorder in a minute."
        ),
        "next_step": ROUTE,
        "cooldown_days": 30,
        "holdout_percent": 50,
    },
)
STANDARD_NAMES = tuple(spec["name"] for spec in STANDARD_PLAYS)

# Treatment-arm governance outcomes for opted-in contacts: (outcome, reason, cumulative share).
GOVERNANCE = (
    (Outcome.SENT, "", 0.80),
    (Outcome.DEFERRED, "quiet_hours", 0.86),
    (Outcome.SUPPRESSED, "cap:contact_weekly", 0.905),
    (Outcome.SUPPRESSED, "human:other_channel", 0.935),
    (Outcome.SUPPRESSED, "cap:play_cooldown", 0.955),
    (Outcome.SUPPRESSED, "deferral:contact", 0.97),
    (Outcome.SUPPRESSED, "human:agent_conversation", 0.98),
    (Outcome.SUPPRESSED, "human:late_stage_deal", 0.99),
    (Outcome.SUPPRESSED, "cap:account_weekly", 1.0),
)
# Share of occurrences kept for contacts who have not opted in (they show up as consent
# suppressions; most plays' audiences are mostly opted-in contacts in practice).
NOT_OPTED_IN_KEPT = 0.15
# Lift by selection: enrollments dropped when the arm "did the expected thing" (treatment with
# a bad outcome, control with a good one). Roughly balanced, so the arm split stays near the
# holdout percent.
DROP_TREATMENT_BAD = 0.5
DROP_CONTROL_GOOD = 0.25
# The demo's story: two plays with an effect the statistics can measure (a half-and-half holdout
# and a stronger synthetic difference: seat-limit offers lead to expansions, reorder reminders to
# reorders), the others with one too small for their arms to show, so they honestly read "no
# measurable effect". tests/demo/test_demo_story.py pins the verdicts.
# Play name -> (share dropped of treatment enrollments with a bad outcome, of control ones with a good one).
DROPS_BY_PLAY = {EXPANSION: (0.25, 0.9)}
# Analytics' default lift window for expansion plays (analytics.metrics.lift.DEFAULT_WINDOWS).
EXPANSION_WINDOW = timedelta(days=90)
REPLY_RATE = {
    "onboarding": 0.12,
    "adoption": 0.08,
    "renewal": 0.10,
    "risk": 0.14,
    "expansion": 0.18,
    "reactivation": 0.06,
}
REORDER_RATE = 0.45
# The reorder reminder helps high-tier customers most and low-tier ones not at all: the play lift
# page's split by CLV tier (values at entry) shows it (tests/demo/test_demo_story.py). The tier is a
# real score: the CLV job as of the history's start (``seed``), from the orders before it, is the
# tier each reorder enrollment records at entry; the job runs again at the end (demo/clv.py), so
# the contact pages show today's tier, which the play's reorders have since moved.
REORDER_RATE_BY_TIER = {"high": 0.9, "mid": 0.45, "low": 0.0}
REPLIES = {
    "onboarding": (
        "Thanks! Can you send me the setup guide?",
        "We use HubSpot, does that work?",
        "Yes please, can we do a quick call tomorrow?",
        "Done, just connected it",
    ),
    "adoption": ("Will do, thanks", "How do I import my list?", "Can someone show me the templates?"),
    "renewal": (
        "Can we set up a call next week to go over the renewal?",
        "All good, thanks for the heads up",
        "Can we add 2 seats at renewal?",
        "What's the price if we go annual on Pro?",
    ),
    "risk": (
        "We've been slammed, will get back into it next week",
        "Honestly the reports are confusing, can someone help?",
        "Thanks for checking in, all good",
    ),
    "expansion": (
        "Yes, send a quote for 5 more seats",
        "How much would 10 more seats cost?",
        "Not right now, maybe next quarter",
    ),
    "reactivation": ("Yes please reorder the same as last time", "Thanks, I just placed an order", "ok"),
}
FAILURES = (
    (MessageStatus.UNDELIVERED, "30003", "Unreachable destination handset"),
    (MessageStatus.UNDELIVERED, "30005", "Unknown destination handset"),
    (MessageStatus.FAILED, "30006", "Landline or unreachable carrier"),
    (MessageStatus.FAILED, "30007", "Message filtered by the carrier"),
)


@dataclass
class _Contact:
    pk: int
    account_id: int | None
    first_name: str
    last_name: str
    phone: str
    consent: str
    created_at: datetime
    owner: str
    owner_id: int | None
    clv_tier: str = ""


@dataclass
class _Row:
    """One decision, before arms: pk-independent except for ``arm``."""

    play: Play
    contact: _Contact
    occurrence: str
    decided_at: datetime
    good: bool | None = None  # the account's later outcome, when known
    renewal: tuple | None = None  # (end_date, acv) for renewal placeholders


def _at(day: date, rng: random.Random, hours: tuple[int, int] = (14, 23)) -> datetime:
    """A moment on ``day`` (UTC, US business hours by default)."""
    return datetime(
        day.year, day.month, day.day, rng.randrange(*hours), rng.randrange(60), rng.randrange(60), tzinfo=UTC
    )


def _owner_name(user_row: tuple) -> str:
    first, last, username = user_row
    return f"{first} {last}".strip() or username or ""


def _manager() -> User | None:
    managers = [username for username, _, _, team in STAFF if team == "manager"]
    by_name = {user.username: user for user in User.objects.filter(username__in=DEMO_USERNAMES)}
    for username in (*managers, *DEMO_USERNAMES):
        if username in by_name:
            return by_name[username]
    return None


def _create_plays(owner: User | None, start: datetime) -> dict[str, Play]:
    plays = {}
    for spec in STANDARD_PLAYS:
        plays[spec["name"]] = play_create(status=PlayStatus.ACTIVE, owner=owner, **spec)
    # Launched before the history starts; last run on the last day of history.
    Play.objects.filter(pk__in=[p.pk for p in plays.values()]).update(
        created_at=start - timedelta(days=3), activated_at=start - timedelta(days=1)
    )
    return plays


def seed(*, seed: int, today: date) -> dict[str, int]:
    rng = random.Random(seed * 104729 + 31)
    delete()
    ref = datetime(today.year, today.month, today.day, tzinfo=UTC)
    start = ref - timedelta(days=HISTORY_DAYS)
    plays = _create_plays(_manager(), start)
    # The nightly CLV job as it ran when the plays started: only the orders before then count.
    # Every enrollment of the history records these tiers at entry.
    clv_tiers_score(now=start)
    contacts, by_account, accounts = _load_people()
    rows: list[_Row] = []
    rows += _milestone_rows(
        plays[ONBOARDING], "integration_connected", 3, by_account, accounts, start, ref, rng
    )
    rows += _milestone_rows(plays[ADOPTION], "first_campaign_sent", 7, by_account, accounts, start, ref, rng)
    rows += _renewal_rows(plays, by_account, start, ref, rng)
    rows += _inactivity_rows(plays[RISK], by_account, accounts, start, ref, rng)
    rows += _expansion_rows(plays[EXPANSION], by_account, accounts, start, ref, rng)
    reorder_rows, order_facts = _reorder_rows(plays[REORDER], contacts, start, ref, rng)
    rows += reorder_rows
    counts = _write(rows, accounts, order_facts, ref, rng)
    for play in plays.values():
        last = max((r.decided_at for r in rows if r.play is play), default=None)
        Play.objects.filter(pk=play.pk).update(last_run_at=last)
    return {"plays": len(plays), **counts}


# --- What the triggers would have seen -------------------------------------------------------


def _load_people() -> tuple[dict[int, _Contact], dict[int, list[_Contact]], dict[int, dict]]:
    accounts = {}
    for row in Account.objects.filter(attributes__demo=True).values(
        "pk",
        "name",
        "lifecycle_stage",
        "health_band",
        "signed_up_at",
        "churned_at",
        "owner_id",
        "owner__first_name",
        "owner__last_name",
        "owner__username",
    ):
        row["owner"] = _owner_name(
            (row["owner__first_name"], row["owner__last_name"], row["owner__username"])
        )
        accounts[row["pk"]] = row
    contacts, by_account = {}, defaultdict(list)
    for row in (
        Contact.objects.filter(attributes__demo=True)
        .exclude(phone=None)
        .exclude(phone="")
        .order_by("pk")
        .values_list(
            "pk",
            "account_id",
            "first_name",
            "last_name",
            "phone",
            "sms_consent",
            "created_at",
            "owner_id",
            "owner__first_name",
            "owner__last_name",
            "owner__username",
            "clv_tier",
        )
    ):
        pk, account_id, first, last, phone, consent, created_at, owner_id, *owner, tier = row
        account = accounts.get(account_id)
        contact = _Contact(
            pk,
            account_id,
            first,
            last,
            phone,
            consent,
            created_at,
            (account["owner"] if account else "") or _owner_name(tuple(owner)),
            (account["owner_id"] if account else None) or owner_id,
            tier,
        )
        contacts[pk] = contact
        if account_id:
            by_account[account_id].append(contact)
    return contacts, by_account, accounts


def _account_rows(play, contacts, occurrence, decided_at, good=None, renewal=None) -> list[_Row]:
    """An account-level occurrence reaches every contact with a phone who existed then."""
    return [
        _Row(play, contact, occurrence, decided_at, good, renewal)
        for contact in contacts
        if contact.created_at is None or contact.created_at <= decided_at
    ]


def _first_events(name: str) -> dict[int, datetime]:
    first = {}
    for account_id, at in (
        Event.objects.filter(name=name, account__attributes__demo=True)
        .order_by("occurred_at", "pk")
        .values_list("account_id", "occurred_at")
    ):
        first.setdefault(account_id, at)
    return first


def _milestone_rows(play, event, days, by_account, accounts, start, ref, rng) -> list[_Row]:
    """A nudge ``days`` after sign-up while the milestone is missing, repeated weekly (the
    play's cooldown) within the nudge window."""
    reached = _first_events(event)
    rows = []
    for account_id in sorted(by_account):
        signed_up, done = accounts[account_id]["signed_up_at"], reached.get(account_id)
        for nudge, offset in enumerate(range(days, days + MILESTONE_NUDGE_WINDOW.days, play.cooldown_days)):
            due = signed_up + timedelta(days=offset)
            if due >= ref or (done is not None and done <= due):
                break
            if due < start:
                continue
            decided = min(due + timedelta(minutes=rng.randint(5, 55)), ref - timedelta(seconds=1))
            good = done is not None and done <= decided + timedelta(days=14)
            occurrence = f"demo:milestone:{event}:{nudge + 1}"
            rows += _account_rows(play, by_account[account_id], occurrence, decided, good)
    return rows


def _renewal_rows(plays, by_account, start, ref, rng) -> list[_Row]:
    windows = ((plays[RENEWAL], 60),)
    renewals = Renewal.objects.filter(
        account_id__in=list(by_account),
        end_date__gte=start.date(),
        end_date__lte=ref.date() + timedelta(days=61),
    ).order_by("end_date", "account_id", "pk")
    good_statuses = {RenewalStatus.RENEWED, RenewalStatus.EXPANDED, RenewalStatus.DOWNGRADED}
    rows = []
    for renewal in renewals.values_list("account_id", "end_date", "acv", "status", "decided_at"):
        account_id, end, acv, status, decided_at = renewal
        good = None if status == RenewalStatus.UPCOMING else status in good_statuses
        for play, days in windows:
            day = end - timedelta(days=days)
            if not start.date() <= day < ref.date():
                continue
            decided = _at(day, rng)
            if decided_at is not None and decided_at <= decided:
                continue  # decided before the window opened: the trigger only sees upcoming terms
            occurrence = f"demo:renewal:{end.isoformat()}:{days}"
            rows += _account_rows(play, by_account[account_id], occurrence, decided, good, (end, acv))
    return rows


def _inactivity_rows(play, by_account, accounts, start, ref, rng) -> list[_Row]:
    """Streaks of 14+ days without a login. The CRM demo records logins for an account's last
    ~75 active days only; before that, streaks are drawn week by week, more often for accounts
    that went on to churn or are at risk now."""
    logins = defaultdict(list)
    for account_id, at in (
        Event.objects.filter(
            name="login", account__attributes__demo=True, occurred_at__gte=start - timedelta(days=14)
        )
        .order_by("account_id", "occurred_at", "pk")
        .values_list("account_id", "occurred_at")
    ):
        logins[account_id].append(at)
    rows = []
    for account_id in sorted(by_account):
        account = accounts[account_id]
        churned_at, times = account["churned_at"], logins.get(account_id, [])
        streaks = []  # (last activity, due)
        recorded_from = times[0] if times else (churned_at or ref)
        troubled = churned_at is not None or account["lifecycle_stage"] == LifecycleStage.AT_RISK
        day = max(start, account["signed_up_at"] + timedelta(days=45))
        while day < recorded_from - timedelta(days=1):
            if rng.random() < (0.15 if troubled else 0.04):
                streaks.append((day - timedelta(days=14 + rng.randint(0, 6)), day))
            day += timedelta(days=7)
        for last, following in zip(times, [*times[1:], None], strict=False):
            due = last + timedelta(days=14)
            if following is None or following > due:
                streaks.append((last, due))
        for last, due in streaks:
            if not start <= due < ref or (churned_at is not None and churned_at <= due):
                continue
            decided = min(max(_at(due.date(), rng), due), ref - timedelta(seconds=1))
            good = churned_at is None or churned_at > decided + timedelta(days=120)
            rows += _account_rows(
                play, by_account[account_id], f"demo:inactive:{last.date().isoformat()}", decided, good
            )
    return rows


def _expansion_rows(play, by_account, accounts, start, ref, rng) -> list[_Row]:
    """Seat-limit signals (seat_limit_90, or seats_used at 90%+), one per account per cooldown.
    The CRM demo records them for the last weeks only; earlier ones are drawn for the accounts
    that expand (an expansion deal, an expanded renewal, or in the expansion stage now)."""
    signals = defaultdict(list)
    for account_id, at in (
        Event.objects.filter(account__attributes__demo=True, occurred_at__gte=start, occurred_at__lt=ref)
        .filter(Q(name="seat_limit_90") | Q(name="seats_used", properties__ratio__gte=0.9))
        .order_by("account_id", "occurred_at", "pk")
        .values_list("account_id", "occurred_at")
    ):
        signals[account_id].append(at)
    expanded = set(
        Deal.objects.filter(kind=DealKind.EXPANSION, account__attributes__demo=True).values_list(
            "account_id", flat=True
        )
    ) | set(
        Renewal.objects.filter(status=RenewalStatus.EXPANDED, account__attributes__demo=True).values_list(
            "account_id", flat=True
        )
    )
    # When each account expanded (won expansion deal, expanded renewal): analytics counts an
    # expansion within its window after the signal, so that is what "good" means here.
    expansions = defaultdict(list)
    for account_id, at in Deal.objects.filter(
        kind=DealKind.EXPANSION, stage__is_won=True, account__attributes__demo=True, closed_at__isnull=False
    ).values_list("account_id", "closed_at"):
        expansions[account_id].append(at)
    for account_id, at in Renewal.objects.filter(
        status=RenewalStatus.EXPANDED, account__attributes__demo=True, decided_at__isnull=False
    ).values_list("account_id", "decided_at"):
        expansions[account_id].append(at)
    rows = []
    for account_id in sorted(by_account):
        account = accounts[account_id]
        grows = account_id in expanded or account["lifecycle_stage"] == LifecycleStage.EXPANSION
        recorded = signals.get(account_id, [])
        drawn = []
        day = max(start, account["signed_up_at"] + timedelta(days=60))
        end = min(recorded[0] if recorded else ref, account["churned_at"] or ref)
        while day < end - timedelta(days=1):
            if rng.random() < (0.3 if grows else 0.015):
                drawn.append(_at(day.date(), rng))
            day += timedelta(days=rng.randint(21, 35))
        last_kept = None
        for at in [*drawn, *recorded]:
            if last_kept is not None and at - last_kept < timedelta(days=play.cooldown_days):
                continue
            last_kept = at
            decided = min(at + timedelta(seconds=rng.randint(20, 600)), ref - timedelta(seconds=1))
            good = any(decided <= at_ < decided + EXPANSION_WINDOW for at_ in expansions.get(account_id, ()))
            rows += _account_rows(
                play, by_account[account_id], f"demo:event:seat_limit:{at.date().isoformat()}", decided, good
            )
    return rows


def _reorder_rows(play, contacts, start, ref, rng) -> tuple[list[_Row], dict[int, Decimal]]:
    """Forty-five days after an order not followed by another one (by that contact)."""
    orders = defaultdict(list)
    for contact_id, at, amount in (
        Order.objects.filter(contact_id__in=list(contacts))
        .order_by("contact_id", "ordered_at", "pk")
        .values_list("contact_id", "ordered_at", "amount")
    ):
        orders[contact_id].append((at, amount))
    rows, typical = [], {}
    for contact_id in sorted(orders):
        history = orders[contact_id]
        typical[contact_id] = sum(amount for _, amount in history) / len(history)
        seen = set()
        for (last, _), following in zip(history, [*history[1:], (None, None)], strict=True):
            due = last + timedelta(days=45)
            if (following[0] is not None and following[0] <= due) or not start <= due < ref:
                continue
            occurrence = f"demo:order:{last.date().isoformat()}"
            if occurrence in seen:
                continue
            seen.add(occurrence)
            decided = min(max(_at(due.date(), rng), due), ref - timedelta(seconds=1))
            rows.append(_Row(play, contacts[contact_id], occurrence, decided))
    return rows, typical


# --- Decisions and writes --------------------------------------------------------------------


def _write(
    rows: list[_Row], accounts: dict, typical: dict, ref: datetime, rng: random.Random
) -> dict[str, int]:
    enrollments, messages, activities, tasks, orders = [], [], [], [], []
    walking: list[list] = []  # [enrollment, row, first text, reply time]: journeys to walk on
    seen = set()
    for row in rows:
        play, contact = row.play, row.contact
        # Every draw happens whatever the arm, so the schedule does not depend on primary keys.
        keep, drop, pick, status_draw, reply_draw, order_draw = (rng.random() for _ in range(6))
        delays = (rng.randint(2, 40), rng.randint(2, 25), rng.randint(3, 600), rng.randint(1, 12))
        key = (play.pk, contact.pk, row.occurrence)
        if key in seen or (contact.consent != SmsConsent.OPTED_IN and keep >= NOT_OPTED_IN_KEPT):
            continue
        arm = arm_for(play.name, contact.phone, play.holdout_percent)
        drop_bad, drop_good = DROPS_BY_PLAY.get(play.name, (DROP_TREATMENT_BAD, DROP_CONTROL_GOOD))
        if row.good is not None and drop < (drop_bad if arm == Arm.TREATMENT and not row.good else 0) + (
            drop_good if arm == Arm.CONTROL and row.good else 0
        ):
            continue
        seen.add(key)
        enrollment = Enrollment(
            play=play,
            contact_id=contact.pk,
            account_id=contact.account_id,
            occurrence=row.occurrence,
            arm=arm,
            outcome=Outcome.SUPPRESSED,
            reason="holdout",
            decided_at=row.decided_at,
            **_at_entry(contact, accounts),
        )
        enrollments.append(enrollment)
        if arm == Arm.CONTROL:
            continue
        # Assigned at entry whether or not a text goes (the variants are compared intention-to-treat).
        enrollment.variant, template = _variant(play, contact)
        if contact.consent == SmsConsent.OPTED_OUT:
            enrollment.reason = "consent:opted_out"
            continue
        if contact.consent != SmsConsent.OPTED_IN:
            enrollment.reason = "consent:not_opted_in"
            continue
        outcome, reason = next((o, r) for o, r, share in GOVERNANCE if pick < share)
        enrollment.outcome, enrollment.reason = outcome, reason
        if outcome == Outcome.SUPPRESSED:
            continue
        sent_at = row.decided_at + timedelta(seconds=delays[0])
        if outcome == Outcome.DEFERRED:  # held for the contact's next morning window
            morning = (row.decided_at + timedelta(days=1)).replace(hour=13, minute=0, second=0)
            sent_at = min(morning + timedelta(seconds=delays[2] * 6), ref - timedelta(seconds=30))
            sent_at = max(sent_at, row.decided_at + timedelta(seconds=delays[0]))
        deferred = outcome == Outcome.DEFERRED
        message = _message(
            play, row, accounts, sent_at, status_draw, delays[1], len(messages), deferred, template
        )
        enrollment.message = message
        message.created_at = row.decided_at
        messages.append(message)
        activities += _timeline(play, contact, message)
        if play.next_step.get("create_task"):
            tasks.append(_task(play, contact, accounts, message, ref))
        walked = [enrollment, row, message, None] if play.is_journey else None
        if walked:
            walking.append(walked)
        if message.status != MessageStatus.DELIVERED:
            continue
        if reply_draw < REPLY_RATE[play.moment]:
            replies = REPLIES[play.moment]
            at = min(sent_at + timedelta(minutes=delays[2]), ref - timedelta(seconds=1))
            reply = Message(
                contact_id=contact.pk,
                direction=Direction.INBOUND,
                kind=MessageKind.INBOUND,
                body=replies[int(reply_draw * 1000) % len(replies)],
                to_number=FROM_NUMBER,
                from_number=contact.phone,
                status=MessageStatus.RECEIVED,
                provider="console",
                provider_sid=f"{SID_PREFIX}in{len(messages):06d}",
                status_updated_at=at,
            )
            reply.created_at = at
            messages.append(reply)
            if walked:
                walked[3] = at
            activities.append(
                Activity(
                    kind=ActivityKind.SMS_REPLY,
                    contact_id=contact.pk,
                    account_id=contact.account_id,
                    occurred_at=at,
                    summary=reply.body[:300],
                    data={"sms": reply},
                )
            )
        reorder_rate = REORDER_RATE_BY_TIER.get(contact.clv_tier, REORDER_RATE)
        if play.moment == "reactivation" and order_draw < reorder_rate and contact.pk in typical:
            at = min(sent_at + timedelta(days=delays[3], hours=delays[0] % 8), ref - timedelta(seconds=1))
            orders.append(
                Order(
                    contact_id=contact.pk,
                    account_id=contact.account_id,
                    amount=(typical[contact.pk] * Decimal(f"{0.8 + 0.4 * order_draw:.2f}")).quantize(
                        Decimal("0.01")
                    ),
                    gross_margin=Decimal(f"{0.45 + order_draw * 0.3:.4f}"),
                    ordered_at=at,
                    # By the play's name, not its id: the same seed gives the same orders.
                    attribution=f"sms:play:{slugify(play.name)}",
                    external_id=f"{PLAY_ORDER_PREFIX}{len(orders) + 1:06d}",
                )
            )
    enrollments += _cover_both_arms(rows, enrollments, seen, accounts)
    _journeys_walk(walking, accounts, ref, rng, messages, activities, tasks)
    for message, message_id in zip(messages, message_ids_reserve(count=len(messages)), strict=True):
        message.pk = message_id
    # created_at is the past: a plain INSERT keeps it (``bulk_create`` would stamp it now).
    bulk.rows_insert(
        Message, MESSAGE_COLUMNS, [tuple(getattr(m, c) for c in MESSAGE_COLUMNS) for m in messages]
    )
    # The engine's own writer of the log; the texts' ids are known by now.
    for enrollment in enrollments:
        enrollment.message_id = enrollment.message.pk if enrollment.message is not None else None
    enrollments_insert(
        [_journey_row(e) for e in enrollments], columns=(*JOURNEY_COLUMNS, "moves", "waited_since")
    )
    ids = _first_steps_record([e for e in enrollments if e.play.is_journey and e.arm == Arm.TREATMENT])
    for activity in activities:
        if "sms" in activity.data:
            message = activity.data.pop("sms")
            activity.data = {"message": message.pk, **activity.data}
    crm_services.activities_record_bulk(activities, batch_size=BATCH)
    Task.objects.bulk_create(tasks, batch_size=BATCH)
    for task in tasks:
        task.created_at = task.due_at - timedelta(days=1)
    Task.objects.bulk_update(tasks, ["created_at"], batch_size=BATCH)
    _later_steps_record(walking, ids)
    Order.objects.bulk_create(orders, batch_size=BATCH)
    for order in orders:
        order.created_at = order.ordered_at
    Order.objects.bulk_update(orders, ["created_at"], batch_size=BATCH)
    outbound = sum(1 for m in messages if m.direction == Direction.OUTBOUND)
    return {
        "enrollments": len(enrollments),
        "play_messages": outbound,
        "play_replies": len(messages) - outbound,
        "play_tasks": len(tasks),
        "play_orders": len(orders),
    }


# What the history sets on its texts; every other column takes its default.
MESSAGE_COLUMNS = (
    "id",
    "contact_id",
    "direction",
    "kind",
    "source",
    "body",
    "to_number",
    "from_number",
    "status",
    "provider",
    "provider_sid",
    "error_code",
    "error_message",
    "segments",
    "encoding",
    "attempts",
    "next_attempt_at",
    "deferred_reason",
    "sent_at",
    "delivered_at",
    "status_updated_at",
    "created_at",
)


def _at_entry(contact: _Contact, accounts: dict) -> dict:
    """The segments an enrollment of the history records at entry: the contact's CLV tier as the
    job scored it when the plays started, the account's health band (the stand-in, fixed by the
    simulated health the history follows). The lifecycle stage is not recorded: the generator
    keeps only the stage its accounts end in (churned after a lost renewal, for one), and storing
    that as the stage at entry would be the after-the-fact split values at entry exist to avoid."""
    account = accounts.get(contact.account_id)
    return {
        "clv_tier_at_entry": contact.clv_tier,
        "health_band_at_entry": account["health_band"] if account else "",
        "lifecycle_stage_at_entry": None if account else "",
    }


def _cover_both_arms(
    rows: list[_Row], enrollments: list[Enrollment], seen: set, accounts: dict
) -> list[Enrollment]:
    """A small book can leave a play without one arm: enroll the first occurrence that lands in
    the missing arm (a suppressed decision, so nothing else changes)."""
    arms = {(e.play.pk, e.arm) for e in enrollments}
    extra = []
    for row in rows:
        play, contact = row.play, row.contact
        arm = arm_for(play.name, contact.phone, play.holdout_percent)
        key = (play.pk, contact.pk, row.occurrence)
        if (play.pk, arm) in arms or key in seen:
            continue
        reason = "holdout" if arm == Arm.CONTROL else "consent:not_opted_in"
        if arm == Arm.TREATMENT and contact.consent == SmsConsent.OPTED_IN:
            reason = "cap:contact_weekly"
        elif arm == Arm.TREATMENT and contact.consent == SmsConsent.OPTED_OUT:
            reason = "consent:opted_out"
        seen.add(key)
        arms.add((play.pk, arm))
        extra.append(
            Enrollment(
                play=play,
                contact_id=contact.pk,
                account_id=contact.account_id,
                occurrence=row.occurrence,
                arm=arm,
                outcome=Outcome.SUPPRESSED,
                reason=reason,
                decided_at=row.decided_at,
                variant=_variant(play, contact)[0] if arm == Arm.TREATMENT else "",
                **_at_entry(contact, accounts),
            )
        )
    return extra


def _variant(play: Play, contact: _Contact) -> tuple[str, str]:
    """(variant, template) of the contact's first text. A journey's first send step picks a
    variant by weight; keyed on the play's name and the phone, like the arm, so ``--force``
    (new primary keys) draws the same. A one-text play sends its template."""
    if not play.is_journey:
        return "", play.template
    variants = play.steps[journey_steps.first_variant_step(play.steps)]["variants"]
    weights = [max(int(variant.get("weight", 1)), 0) for variant in variants]
    digest = hashlib.sha256(f"demo:{play.name}:variant:{contact.phone}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % sum(weights)
    for variant, weight in zip(variants, weights, strict=True):
        if point < weight:
            return variant["name"], variant["template"]
        point -= weight
    raise AssertionError("unreachable: the weights add up to the total")


def _journey_row(enrollment: Enrollment) -> tuple:
    """The enrollment in ``JOURNEY_COLUMNS`` order, then its moves: placed where the engine places
    a decision at entry, with the variant the history drew; a treated journey enrollment has
    taken its first step (``_first_steps_record``)."""
    state, exit_reason, step, variant, next_at = journey_place(enrollment.play, enrollment)
    moves = 1 if enrollment.play.is_journey and enrollment.arm == Arm.TREATMENT else 0
    waited_since = None
    walk = getattr(enrollment, "walk", None)
    if walk is not None:  # where the rest of its journey left it (demo.journeys)
        state, exit_reason, step, next_at = walk.state, walk.exit_reason, walk.step, walk.next_at
        moves += len(walk.decisions)
        waited_since = walk.waited_since
    return (
        *(getattr(enrollment, c) for c in ENROLLMENT_COLUMNS),
        state,
        exit_reason,
        step,
        enrollment.variant or variant,
        1,
        next_at,
        *(getattr(enrollment, c) for c in ENTRY_COLUMNS),
        moves,
        waited_since,
    )


def _first_steps_record(enrollments: list[Enrollment]) -> dict[tuple, int]:
    """A journey's first send step, decided for each treated enrollment (its governance outcome,
    variant and text), as the engine records it: the journey page counts steps from these.
    Returns the enrollments' ids by (play, contact, occurrence)."""
    if not enrollments:
        return {}
    ids = {
        (play_id, contact_id, occurrence): pk
        for pk, play_id, contact_id, occurrence in Enrollment.objects.filter(
            play_id__in={e.play.pk for e in enrollments}
        ).values_list("pk", "play_id", "contact_id", "occurrence")
    }
    rows = [
        (
            ids[e.play.pk, e.contact_id, e.occurrence],
            e.play.pk,
            1,
            journey_steps.first_variant_step(e.play.steps),
            StepKind.SEND,
            e.outcome,
            e.reason,
            e.variant,
            e.message_id,
            None,
            e.decided_at,
        )
        for e in enrollments
    ]
    bulk.rows_insert(StepDecision, DECISION_COLUMNS, rows)
    return ids


def _journeys_walk(walking, accounts, ref, rng, messages, activities, tasks) -> None:
    """The rest of each treated journey enrollment whose first text went (``demo.journeys``):
    its later texts join the history's messages and timeline, its tasks the tasks; the walk is
    kept on the enrollment for ``_journey_row`` and ``_later_steps_record``."""
    if not walking:
        return
    names = {
        item.split(":", 1)[1]
        for enrollment, *_ in walking
        for item in enrollment.play.exit_on or []
        if item.startswith("event:")
    }

    def send(enrollment, row, template, sent_at, deferred):
        draws = (rng.random(), rng.randint(2, 25))
        message = _message(enrollment.play, row, accounts, sent_at, *draws, len(messages), deferred, template)
        message.created_at = sent_at
        messages.append(message)
        activities.extend(_timeline(enrollment.play, row.contact, message))
        return message

    walker = demo_journeys.Walker(demo_journeys.Facts.load(names, _first_events), ref, rng, GOVERNANCE, send)
    for enrollment, row, first, reply_at in walking:
        enrollment.walk = walker.walk(enrollment, row, first.sent_at, reply_at)
        tasks.extend(task for *_, task, _ in enrollment.walk.decisions if task is not None)


def _later_steps_record(walking, ids: dict[tuple, int]) -> None:
    """Each walked enrollment's steps after its first, as the advancer records them (moves 2...)."""
    rows = [
        (
            ids[e.play.pk, e.contact_id, e.occurrence],
            e.play.pk,
            move,
            step,
            kind,
            outcome,
            reason[:100],
            variant,
            message.pk if message is not None else None,
            task.pk if task is not None else None,
            at,
        )
        for e, *_ in walking
        for move, (step, kind, outcome, reason, variant, message, task, at) in enumerate(e.walk.decisions, 2)
    ]
    bulk.rows_insert(StepDecision, DECISION_COLUMNS, rows)


def _message(play, row, accounts, sent_at, status_draw, delay, index, deferred, template) -> Message:
    contact = row.contact
    account = accounts.get(contact.account_id)
    renewal_date = renewal_acv = None
    if row.renewal:
        renewal_date, renewal_acv = (
            templates.format_date(row.renewal[0]),
            templates.format_money(row.renewal[1]),
        )
    body = templates.render(
        template,
        templates.MessageContext(
            first_name=contact.first_name,
            last_name=contact.last_name,
            account=account["name"] if account else "",
            owner=contact.owner,
            renewal_date=renewal_date,
            renewal_acv=renewal_acv,
        ),
    )
    info = count_segments(body)
    status, error_code, error_message, delivered_at = MessageStatus.DELIVERED, "", "", sent_at
    if status_draw >= 0.93:
        status, error_code, error_message = FAILURES[int((status_draw - 0.93) / 0.07 * len(FAILURES))]
        delivered_at = None
    settled = sent_at + timedelta(seconds=delay)
    return Message(
        contact_id=contact.pk,
        direction=Direction.OUTBOUND,
        kind=MessageKind.AUTOMATED,
        source=play_source(play.pk),
        body=body,
        to_number=contact.phone,
        from_number=FROM_NUMBER,
        status=status,
        provider="console",
        provider_sid=f"{SID_PREFIX}out{index:06d}",
        error_code=error_code,
        error_message=error_message,
        segments=info.segments,
        encoding=info.encoding,
        attempts=1,
        next_attempt_at=sent_at,
        deferred_reason="quiet_hours" if deferred else "",
        sent_at=sent_at,
        delivered_at=settled if delivered_at else None,
        status_updated_at=settled,
    )


def _timeline(play, contact, message) -> list[Activity]:
    base = {"contact_id": contact.pk, "account_id": contact.account_id}
    sent = Activity(
        kind=ActivityKind.SMS_SENT,
        occurred_at=message.sent_at,
        summary=message.body[:300],
        data={"sms": message, "segments": message.segments, "kind": message.kind},
        **base,
    )
    if message.status == MessageStatus.DELIVERED:
        settled = Activity(
            kind=ActivityKind.SMS_DELIVERED,
            occurred_at=message.status_updated_at,
            summary=message.body[:120],
            data={"sms": message, "status": message.status, "error_code": ""},
            **base,
        )
    else:
        settled = Activity(
            kind=ActivityKind.SMS_FAILED,
            occurred_at=message.status_updated_at,
            summary=f"Not delivered (error {message.error_code})",
            data={"sms": message, "status": message.status, "error_code": message.error_code},
            **base,
        )
    return [sent, settled]


def _task(play, contact, accounts, message, ref) -> Task:
    account = accounts.get(contact.account_id)
    due = message.sent_at + timedelta(days=1)
    done = due < ref - timedelta(days=3)
    return Task(
        owner_id=contact.owner_id,
        account_id=contact.account_id,
        contact_id=contact.pk,
        title=play.next_step["task_title"][:200],
        notes=f"Play “{play.name}” texted {contact.first_name} {contact.last_name} at "
        f"{account['name'] if account else 'their account'}: {message.body}",
        due_at=due,
        source=TaskSource.PLAY,
        status=TaskStatus.DONE if done else TaskStatus.OPEN,
        completed_at=due - timedelta(hours=6) if done else None,
    )


def demo_plays():
    return Play.objects.filter(name__in=STANDARD_NAMES, owner__username__in=DEMO_USERNAMES)


def delete() -> int:
    """Demo plays (their enrollments cascade), their texts and replies, tasks and reorders."""
    plays = list(demo_plays().values_list("pk", flat=True))
    demo_contact = Q(contact__attributes__demo=True)
    deleted = 0
    for queryset in (
        Message.objects.filter(
            Q(demo_contact, source__in=[play_source(pk) for pk in plays])
            | Q(provider_sid__startswith=SID_PREFIX)
        ),
        Task.objects.filter(demo_contact, source=TaskSource.PLAY),
        Order.objects.filter(external_id__startswith=PLAY_ORDER_PREFIX),
        Play.objects.filter(pk__in=plays),
    ):
        deleted += queryset.delete()[0]
    return deleted

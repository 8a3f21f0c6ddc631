"""Governance: may this contact get this text now? One module for plays and manual sends.

Every candidate gets exactly one decision with a reason. Automated sends are checked, in
order: consent, a deferral in force (the contact's or anyone's at their account), a human
already engaged (an agent replied in their conversation recently, another channel touched
them recently, an open late-stage deal), frequency caps (per contact per day and week, per
account per week, per play via its cooldown), priority between plays wanting the same
contact in one run, and finally quiet hours, which defer and never drop. Manual sends by a
person are checked for consent and quiet hours only.

Decisions are set-based: a batch of candidates costs a fixed number of queries."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from crm.models import ActivityKind, Contact, Deal, SmsConsent
from sms import bulk
from sms.models import Deferral, Direction, Message, MessageKind, MessageStatus
from sms.quiet_hours import next_send_time, resolve_timezone

SEND, DEFERRED, SUPPRESSED = "send", "deferred", "suppressed"

# Plays for these moments win when two plays want the same contact in the same run.
MOMENT_PRIORITY = {"renewal": 0, "risk": 0, "onboarding": 1, "adoption": 2, "expansion": 2, "reactivation": 3}
# Contacts per IN (...) list: one chunk covers a play engine batch (2,000), and a chunk stays
# under the database's parameter limit (999 on old SQLite builds).
CHUNK = 5000


@dataclass(frozen=True)
class Candidate:
    contact_id: int
    account_id: int | None = None
    play_id: int | None = None
    moment: str = ""  # the play's lifecycle moment, for priority
    cooldown_days: int = 0


@dataclass(frozen=True)
class Decision:
    outcome: str  # send | deferred | suppressed
    reason: str  # "" when sending now; else why (e.g. "consent:not_opted_in", "quiet_hours")
    send_at: datetime | None = None  # when the text may go (now, or the next window)

    @property
    def sends(self) -> bool:
        return self.outcome in (SEND, DEFERRED)


@dataclass(frozen=True)
class Policy:
    contact_daily_cap: int
    contact_weekly_cap: int
    account_weekly_cap: int
    agent_reply_hours: int
    other_channel_hours: int
    late_stage_deal_suppresses: bool

    @classmethod
    def from_settings(cls) -> "Policy":
        return cls(
            contact_daily_cap=settings.GOVERNANCE_CONTACT_DAILY_CAP,
            contact_weekly_cap=settings.GOVERNANCE_CONTACT_WEEKLY_CAP,
            account_weekly_cap=settings.GOVERNANCE_ACCOUNT_WEEKLY_CAP,
            agent_reply_hours=settings.GOVERNANCE_AGENT_REPLY_HOURS,
            other_channel_hours=settings.GOVERNANCE_OTHER_CHANNEL_HOURS,
            late_stage_deal_suppresses=settings.GOVERNANCE_LATE_STAGE_DEAL_SUPPRESSES,
        )


def play_source(play_id: int) -> str:
    """The Message.source a play's texts carry, which cooldowns count."""
    return f"play:{play_id}"


def _chunks(values: Sequence[int]) -> Iterable[list[int]]:
    size = max(1, min(CHUNK, bulk.max_query_params() - 100))
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def decide(
    candidates: Sequence[Candidate],
    *,
    now: datetime | None = None,
    automated: bool = True,
    policy: Policy | None = None,
) -> list[Decision]:
    """One decision per candidate, in order. See the module docstring for the rules."""
    now = now or timezone.now()
    policy = policy or Policy.from_settings()
    if not candidates:
        return []
    contact_ids = sorted({c.contact_id for c in candidates})
    facts = _Facts.load(contact_ids, candidates, now=now, policy=policy, automated=automated)
    decisions: list[Decision | None] = [None] * len(candidates)
    # Priority: order by moment so the winning play for a contact is decided first.
    order = sorted(range(len(candidates)), key=lambda i: MOMENT_PRIORITY.get(candidates[i].moment, 5))
    planned_contact: dict[int, int] = defaultdict(int)
    planned_account: dict[int, int] = defaultdict(int)
    for index in order:
        candidate = candidates[index]
        reason = facts.block_reason(candidate, automated=automated)
        if reason is None and automated:
            if planned_contact[candidate.contact_id]:
                reason = "priority:another_play_this_run"
            else:
                reason = facts.cap_reason(candidate, planned_account)
        if reason is not None:
            decisions[index] = Decision(SUPPRESSED, reason)
            continue
        planned_contact[candidate.contact_id] += 1
        account_id = facts.account_of(candidate)
        if account_id:
            planned_account[account_id] += 1
        send_at = facts.window_opens(candidate.contact_id, now)
        decisions[index] = (
            Decision(SEND, "", now) if send_at <= now else Decision(DEFERRED, "quiet_hours", send_at)
        )
    return decisions  # type: ignore[return-value]


class _Facts:
    """What the rules need about a batch of contacts, loaded with a fixed number of queries
    per chunk of contacts."""

    def __init__(self) -> None:
        self.contacts: dict[int, dict] = {}
        self.deferred_contacts: set[int] = set()
        self.deferred_accounts: set[int] = set()
        self.agent_engaged: set[int] = set()
        self.touched_contacts: set[int] = set()
        self.touched_accounts: set[int] = set()
        self.late_stage_accounts: set[int] = set()
        self.sent_today: dict[int, int] = {}
        self.sent_week: dict[int, int] = {}
        self.account_week: dict[int, int] = {}
        self.cooling: set[tuple[int, int]] = set()  # (play_id, contact_id)

    @classmethod
    def load(cls, contact_ids, candidates, *, now, policy: Policy, automated: bool) -> "_Facts":
        facts = cls()
        facts.policy = policy
        for chunk in _chunks(contact_ids):
            for row in Contact.objects.filter(pk__in=chunk).values(
                "pk", "phone", "sms_consent", "timezone", "account_id", "account__timezone", "attributes"
            ):
                facts.contacts[row["pk"]] = row
        if not automated:
            return facts
        account_ids = sorted({row["account_id"] for row in facts.contacts.values() if row["account_id"]})
        day_ago, week_ago = now - timedelta(days=1), now - timedelta(days=7)
        automated_sent = Q(direction=Direction.OUTBOUND, kind=MessageKind.AUTOMATED) & ~Q(
            status__in=[MessageStatus.FAILED, MessageStatus.UNDELIVERED]
        )
        for chunk in _chunks(contact_ids):
            in_force = Deferral.objects.filter(until__gt=now)
            facts.deferred_contacts.update(
                in_force.filter(contact_id__in=chunk).values_list("contact_id", flat=True)
            )
            facts.agent_engaged.update(
                Message.objects.filter(
                    contact_id__in=chunk,
                    direction=Direction.OUTBOUND,
                    kind__in=[MessageKind.REPLY, MessageKind.MANUAL],
                    sent_by__isnull=False,
                    created_at__gte=now - timedelta(hours=policy.agent_reply_hours),
                    conversation__status="open",
                ).values_list("contact_id", flat=True)
            )
            facts.touched_contacts.update(
                _touches(now, policy).filter(contact_id__in=chunk).values_list("contact_id", flat=True)
            )
            counts = (
                Message.objects.filter(automated_sent, contact_id__in=chunk, created_at__gte=week_ago)
                .values("contact_id")
                .annotate(week=Count("pk"), day=Count("pk", filter=Q(created_at__gte=day_ago)))
            )
            for row in counts:
                facts.sent_week[row["contact_id"]] = row["week"]
                facts.sent_today[row["contact_id"]] = row["day"]
            plays = {c.play_id for c in candidates if c.play_id and c.cooldown_days}
            for play_id in plays:
                cooldown = max(c.cooldown_days for c in candidates if c.play_id == play_id)
                facts.cooling.update(
                    (play_id, contact_id)
                    for contact_id in Message.objects.filter(
                        contact_id__in=chunk,
                        source=play_source(play_id),
                        created_at__gte=now - timedelta(days=cooldown),
                    ).values_list("contact_id", flat=True)
                )
        for chunk in _chunks(account_ids):
            facts.deferred_accounts.update(
                Deferral.objects.filter(until__gt=now, contact__account_id__in=chunk).values_list(
                    "contact__account_id", flat=True
                )
            )
            facts.touched_accounts.update(
                _touches(now, policy).filter(account_id__in=chunk).values_list("account_id", flat=True)
            )
            if policy.late_stage_deal_suppresses:
                facts.late_stage_accounts.update(
                    Deal.objects.filter(
                        account_id__in=chunk, stage__is_late=True, stage__is_closed=False
                    ).values_list("account_id", flat=True)
                )
            for row in (
                Message.objects.filter(
                    automated_sent, contact__account_id__in=chunk, created_at__gte=week_ago
                )
                .values("contact__account_id")
                .annotate(n=Count("pk"))
            ):
                facts.account_week[row["contact__account_id"]] = row["n"]
        return facts

    def account_of(self, candidate: Candidate) -> int | None:
        row = self.contacts.get(candidate.contact_id)
        return candidate.account_id or (row["account_id"] if row else None)

    def block_reason(self, candidate: Candidate, *, automated: bool) -> str | None:
        row = self.contacts.get(candidate.contact_id)
        if row is None:
            return "contact:missing"
        if not row["phone"]:
            return "contact:no_phone"
        if row["attributes"] and row["attributes"].get("demo") and settings.SMS_PROVIDER != "console":
            return "contact:demo_data"
        if row["sms_consent"] == SmsConsent.OPTED_OUT:
            return "consent:opted_out"
        if row["sms_consent"] != SmsConsent.OPTED_IN:
            return "consent:not_opted_in"
        if not automated:
            return None
        account_id = self.account_of(candidate)
        if candidate.contact_id in self.deferred_contacts:
            return "deferral:contact"
        if account_id and account_id in self.deferred_accounts:
            return "deferral:account"
        if candidate.contact_id in self.agent_engaged:
            return "human:agent_conversation"
        if candidate.contact_id in self.touched_contacts or (
            account_id and account_id in self.touched_accounts
        ):
            return "human:other_channel"
        if account_id and account_id in self.late_stage_accounts:
            return "human:late_stage_deal"
        return None

    def cap_reason(self, candidate: Candidate, planned_account: dict[int, int]) -> str | None:
        policy = self.policy
        if candidate.play_id and (candidate.play_id, candidate.contact_id) in self.cooling:
            return "cap:play_cooldown"
        if self.sent_today.get(candidate.contact_id, 0) >= policy.contact_daily_cap:
            return "cap:contact_daily"
        if self.sent_week.get(candidate.contact_id, 0) >= policy.contact_weekly_cap:
            return "cap:contact_weekly"
        account_id = self.account_of(candidate)
        if account_id and (
            self.account_week.get(account_id, 0) + planned_account[account_id] >= policy.account_weekly_cap
        ):
            return "cap:account_weekly"
        return None

    def window_opens(self, contact_id: int, now: datetime) -> datetime:
        row = self.contacts[contact_id]
        tz = resolve_timezone(row["timezone"], row["account__timezone"] or "", settings.SMS_DEFAULT_TIMEZONE)
        return next_send_time(now, tz, settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END)


def _touches(now: datetime, policy: Policy):
    from crm.models import Activity

    return Activity.objects.filter(
        kind__in=[ActivityKind.EMAIL, ActivityKind.CALL, ActivityKind.MEETING],
        occurred_at__gte=now - timedelta(hours=policy.other_channel_hours),
    )

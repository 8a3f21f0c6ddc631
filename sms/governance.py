"""Governance: may this contact get this text now? One module for plays and manual sends.

Every candidate gets exactly one decision with a reason. Automated sends are checked, in
order: consent, a deferral in force (the contact's or anyone's at their account), a human
already engaged (an agent replied in their conversation recently, another channel touched
them recently, an open late-stage deal), frequency caps (per contact per day and week, per
account per week, per play via its cooldown), priority between plays wanting the same
contact in one run, and finally quiet hours, which defer and never drop. Manual sends by a
person are checked for consent and quiet hours only.

Some US states' telephone-solicitation laws (``state_rules``) narrow both: quiet hours become
the intersection of the configured window and the state's ("state:FL_quiet_hours" when only
the state's keeps a text waiting), and a play may text a contact there at most the state's cap
per rolling 24 hours: one over it is deferred to when the 24 hours free up, in the contact's
window from then ("state:FL_daily_cap": one play is one subject matter).

Decisions are set-based: a batch of candidates costs a fixed number of queries."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.bulk import in_ids
from crm.global_control import REASON as GLOBAL_CONTROL
from crm.global_control import global_control_members
from crm.models import Account, ActivityKind, Contact, Deal
from sms import quiet_hours, state_rules
from sms.models import Deferral, Direction, Message, MessageKind, MessageStatus
from sms.services.consent import consent_refusal
from sms.services.suppression import with_number_blocks

SEND, DEFERRED, SUPPRESSED = "send", "deferred", "suppressed"

# Plays for these moments win when two plays want the same contact in the same run.
MOMENT_PRIORITY = {"renewal": 0, "risk": 0, "onboarding": 1, "adoption": 2, "expansion": 2, "reactivation": 3}
# The rolling period of a state's cap on texts on one subject.
STATE_CAP_PERIOD = timedelta(hours=24)
# Contacts per query: one chunk covers a play engine batch. The ids go as one parameter
# (bulk.in_ids), so no database's parameter limit applies.
CHUNK = 5000


@dataclass(frozen=True)
class Candidate:
    contact_id: int
    account_id: int | None = None
    play_id: int | None = None
    moment: str = ""  # the play's lifecycle moment, for priority
    cooldown_days: int = 0
    # An agent's one clarification to a number whose reply is held for review (manual only).
    clarification: bool = False


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
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])


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
        send_at, why = facts.window_opens(candidate.contact_id, now)
        if automated and (frees := facts.state_cap_frees(candidate, send_at)) is not None:
            # Over a state's cap today: deferred (never dropped) to when the 24 hours free up,
            # in the contact's send window from then.
            why = quiet_hours.state_reason(facts.states[candidate.contact_id], "daily_cap")
            while frees is not None:
                send_at, _ = facts.window_opens(candidate.contact_id, frees)
                frees = facts.state_cap_frees(candidate, send_at)
        decisions[index] = Decision(SEND, "", now) if send_at <= now else Decision(DEFERRED, why, send_at)
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
        # (play_id, contact_id) -> when the play's texts to the contact go (or went), from 24 hours
        # ago on, for contacts in a state with a per-24-hours cap.
        self.play_times: dict[tuple[int, int], list[datetime]] = defaultdict(list)
        self.states: dict[int, str | None] = {}  # contact_id -> US state, from attributes or number
        self.account_timezones: dict[int, str] = {}
        self.global_control: set[int] = set()  # the programme's control group among the contacts

    @classmethod
    def load(cls, contact_ids, candidates, *, now, policy: Policy, automated: bool) -> "_Facts":
        """Each query reads one table by an indexed id list (contacts, accounts, their members),
        never a join that the planner may answer by scanning a whole table once the batch is
        large: a run asks once per batch, so such a scan would make the run quadratic. No
        default ordering either (``order_by()``): nothing reads these in order, and a sort can
        steer SQLite to the index that matches it instead of the one that matches the filter."""
        facts = cls()
        facts.policy = policy
        facts.now = now
        for chunk in _chunks(contact_ids):
            for row in (
                # The number's suppression and pending review, read fresh: a denormalised state
                # never outvotes them.
                with_number_blocks(Contact.objects.filter(in_ids("pk", chunk)).order_by()).values(
                    "pk",
                    "phone",
                    "sms_consent",
                    "suppressed",
                    "review_since",
                    "timezone",
                    "account_id",
                    "attributes",
                )
            ):
                facts.contacts[row["pk"]] = row
                facts.states[row["pk"]] = state_rules.contact_state(row["phone"], row["attributes"])
        account_ids = sorted({row["account_id"] for row in facts.contacts.values() if row["account_id"]})
        for chunk in _chunks(account_ids):
            facts.account_timezones.update(
                Account.objects.filter(in_ids("pk", chunk)).order_by().values_list("pk", "timezone")
            )
        if not automated:
            return facts
        facts.global_control = global_control_members(
            (pk, row["account_id"]) for pk, row in facts.contacts.items()
        )
        # Everyone at these accounts (the account-wide rules) and the contacts themselves.
        account_of = {contact_id: row["account_id"] for contact_id, row in facts.contacts.items()}
        for chunk in _chunks(account_ids):
            account_of.update(
                Contact.objects.filter(in_ids("account_id", chunk)).order_by().values_list("pk", "account_id")
            )
        people = sorted(account_of)
        candidate_set = set(contact_ids)
        day_ago, week_ago = now - timedelta(days=1), now - timedelta(days=7)
        automated_sent = Q(direction=Direction.OUTBOUND, kind=MessageKind.AUTOMATED) & ~Q(
            status__in=[MessageStatus.FAILED, MessageStatus.UNDELIVERED]
        )
        cooldowns: dict[int, int] = {}
        for candidate in candidates:
            if candidate.play_id and candidate.cooldown_days:
                cooldowns[candidate.play_id] = max(
                    cooldowns.get(candidate.play_id, 0), candidate.cooldown_days
                )
        # Texts counted in one pass over these people's recent messages: caps per contact and
        # per account, and each play's cooldown (any text of the play, whatever its status).
        since = min([week_ago, *(now - timedelta(days=days) for days in cooldowns.values())])
        counted = {
            "week": Count("pk", filter=automated_sent & Q(created_at__gte=week_ago)),
            "day": Count("pk", filter=automated_sent & Q(created_at__gte=day_ago)),
        }
        for play_id, days in cooldowns.items():
            counted[f"play_{play_id}"] = Count(
                "pk", filter=Q(source=play_source(play_id), created_at__gte=now - timedelta(days=days))
            )
        # A state's per-24-hours cap on one subject: the play's texts, whatever their status
        # (a failed attempt was still made), only for contacts in a state with such a cap.
        capped = sorted(
            {c.contact_id for c in candidates if c.play_id and facts.state_daily_cap(c.contact_id)}
        )
        capped_sources = {
            play_source(c.play_id): c.play_id for c in candidates if c.play_id and c.contact_id in set(capped)
        }
        for chunk in _chunks(people):
            for contact_id in (
                Deferral.objects.filter(in_ids("contact_id", chunk), until__gt=now)
                .order_by()
                .values_list("contact_id", flat=True)
            ):
                if contact_id in candidate_set:
                    facts.deferred_contacts.add(contact_id)
                if account_of[contact_id]:
                    facts.deferred_accounts.add(account_of[contact_id])
            for row in (
                Message.objects.filter(in_ids("contact_id", chunk), created_at__gte=since)
                .values("contact_id")
                .annotate(**counted)
            ):
                contact_id, account_id = row["contact_id"], account_of[row["contact_id"]]
                if account_id and row["week"]:
                    facts.account_week[account_id] = facts.account_week.get(account_id, 0) + row["week"]
                if contact_id not in candidate_set:
                    continue
                facts.sent_week[contact_id], facts.sent_today[contact_id] = row["week"], row["day"]
                facts.cooling.update((play_id, contact_id) for play_id in cooldowns if row[f"play_{play_id}"])
        # When each text goes: sent, else due (a text deferred by this very cap is due later),
        # else queued; counted from 24 hours ago, the future included.
        for chunk in _chunks(capped):
            for contact_id, source, moment in (
                Message.objects.filter(
                    in_ids("contact_id", chunk), source__in=sorted(capped_sources), created_at__gte=week_ago
                )
                .annotate(moment=Coalesce("sent_at", "next_attempt_at", "created_at"))
                .filter(moment__gt=day_ago)
                .order_by()
                .values_list("contact_id", "source", "moment")
            ):
                facts.play_times[capped_sources[source], contact_id].append(moment)
        for chunk in _chunks(contact_ids):
            facts.agent_engaged.update(
                Message.objects.filter(
                    in_ids("contact_id", chunk),
                    direction=Direction.OUTBOUND,
                    kind__in=[MessageKind.REPLY, MessageKind.MANUAL],
                    sent_by__isnull=False,
                    created_at__gte=now - timedelta(hours=policy.agent_reply_hours),
                    conversation__status="open",
                )
                .order_by()
                .values_list("contact_id", flat=True)
            )
            facts.touched_contacts.update(
                _touches(now, policy)
                .filter(in_ids("contact_id", chunk))
                .order_by()
                .values_list("contact_id", flat=True)
            )
        for chunk in _chunks(account_ids):
            facts.touched_accounts.update(
                _touches(now, policy)
                .filter(in_ids("account_id", chunk))
                .order_by()
                .values_list("account_id", flat=True)
            )
            if policy.late_stage_deal_suppresses:
                facts.late_stage_accounts.update(
                    Deal.objects.filter(
                        in_ids("account_id", chunk), stage__is_late=True, stage__is_closed=False
                    )
                    .order_by()
                    .values_list("account_id", flat=True)
                )
        return facts

    def state_daily_cap(self, contact_id: int) -> int:
        """The contact's state's cap on texts per 24 hours on one subject; 0 when none."""
        rule = state_rules.rule_for(self.states.get(contact_id))
        return rule.daily_cap if rule else 0

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
        if reason := consent_refusal(
            consent=row["sms_consent"],
            kind=MessageKind.AUTOMATED if automated else MessageKind.MANUAL,
            suppressed=row["suppressed"],
            review_since=row["review_since"],
            clarification=candidate.clarification and not automated,
            now=self.now,
        ):
            return reason
        if not automated:
            return None
        if candidate.contact_id in self.global_control:  # no automated text: the programme's control
            return GLOBAL_CONTROL
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

    def state_cap_frees(self, candidate: Candidate, start: datetime) -> datetime | None:
        """When the state's cap lets the play's next text to the contact go, if later than
        ``start``: the first moment from which fewer than the cap of the play's texts fall
        within 24 hours either side (the rolling 24 hours before and after it both hold)."""
        cap = self.state_daily_cap(candidate.contact_id)
        times = self.play_times.get((candidate.play_id, candidate.contact_id), [])
        if not cap or not candidate.play_id or len(times) < cap:
            return None
        moment = start
        for _ in range(len(times) + 1):
            inside = [t for t in times if moment - STATE_CAP_PERIOD < t < moment + STATE_CAP_PERIOD]
            if len(inside) < cap:
                return moment if moment > start else None
            moment = min(inside) + STATE_CAP_PERIOD
        return moment

    def window_opens(self, contact_id: int, now: datetime) -> tuple[datetime, str]:
        """When the contact's window opens and, when later than ``now``, why it waits."""
        row = self.contacts[contact_id]
        account_timezone = self.account_timezones.get(row["account_id"], "") if row["account_id"] else ""
        return quiet_hours.window_opens_why(
            now, quiet_hours.recipient_tz(row["timezone"], account_timezone or ""), self.states[contact_id]
        )


def _touches(now: datetime, policy: Policy):
    from crm.models import Activity

    return Activity.objects.filter(
        kind__in=[ActivityKind.EMAIL, ActivityKind.CALL, ActivityKind.MEETING],
        occurred_at__gte=now - timedelta(hours=policy.other_channel_hours),
    )

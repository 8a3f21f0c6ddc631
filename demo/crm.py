"""The CRM part of the demo: a believable book of SMB customers, deterministic from a seed.

``build()`` generates everything in memory from one ``random.Random(seed)`` and a reference
day; ``write()`` bulk-inserts it. The same seed on the same day gives the same data on an empty
database. Demo rows are marked so they can be found and replaced: accounts and contacts carry
``attributes["demo"] = True``; orders and events have ``demo-order-`` / ``demo-evt-`` external
ids; deals, renewals, tasks and timeline rows hang off demo accounts and contacts.

These are bulk loads of trusted generated data, so the records bypass the per-record services
but keep what the services would produce: lowercased emails, E.164 phones with validity and
timezone from the number, ``account_id`` on orders/events/timeline from the contact, deal
stage changes, renewal decisions and task creations on the timeline. The timeline itself is
written by ``crm.services.activities_record_bulk``, like every other timeline entry.
"""

from __future__ import annotations

import math
import random
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

import phonenumbers
from django.db.models import F, Q
from django.utils import timezone as djtz
from phonenumbers import timezone as phone_timezone

from crm import services as crm_services
from crm.models import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    DealKind,
    Event,
    HealthBand,
    LifecycleStage,
    Order,
    PipelineStage,
    Renewal,
    RenewalStatus,
    SmsConsent,
    Task,
    TaskStatus,
    User,
)
from crm.phones import parse_phone
from demo.vocabulary import (
    AREA_CODES,
    B2C_CHANNEL_WEIGHTS,
    B2C_CONSENT_WEIGHTS,
    B2C_EMAIL_DOMAINS,
    B2C_TOUCHES,
    CAC_PLAN_FACTOR,
    CAC_RANGES,
    CHANNEL_WEIGHTS,
    CHURN_BY_CHANNEL,
    CHURN_REASONS,
    CONSENT_WEIGHTS,
    CONTACTS_PER_PLAN,
    FIRST_NAMES,
    GATED_FEATURES,
    INDUSTRIES,
    INTEGRATIONS,
    LAST_NAMES,
    LOGINS_PER_DAY,
    NAME_PREFIXES,
    NAME_SUFFIXES,
    OPEN_NEXT_STEPS,
    PHONE_FORMATS,
    PLAN_ORDER,
    PLAN_WEIGHTS,
    PLANS,
    REPORTS,
    RISK_TOUCHES,
    STAFF,
    TITLES,
    TOUCHES,
    Industry,
)

T = TypeVar("T")

ORDER_PREFIX = "demo-order-"
EVENT_PREFIX = "demo-evt-"
BATCH = 1000

# --- Helpers ----------------------------------------------------------------------------------


def _pick(rng: random.Random, weighted: Sequence[tuple[T, float]]) -> T:
    return rng.choices([value for value, _ in weighted], weights=[w for _, w in weighted])[0]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _margin(rng: random.Random, lo: float, hi: float) -> Decimal:
    return Decimal(f"{rng.uniform(lo, hi):.4f}")


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@lru_cache(maxsize=64)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


@lru_cache(maxsize=64)
def area_timezone(area_code: int) -> str:
    number = phonenumbers.parse(f"+1{area_code}2345678")
    zones = [z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    return zones[0] if zones else "America/New_York"


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


@dataclass
class DemoData:
    """Unsaved model instances, in insertion order, with what the writer needs on the side."""

    users: list[User]
    accounts: list[Account] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    renewals: list[Renewal] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    # (instance, created_at) for tables whose created_at should reflect history.
    created_at: list[tuple[Any, datetime]] = field(default_factory=list)
    # (activity, data key, instance): the instance's pk goes into activity.data after insert.
    refs: list[tuple[Activity, str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "users": len(self.users),
            "accounts": len(self.accounts),
            "contacts": len(self.contacts),
            "deals": len(self.deals),
            "renewals": len(self.renewals),
            "orders": len(self.orders),
            "events": len(self.events),
            "tasks": len(self.tasks),
            "activities": len(self.activities),
        }


@dataclass
class _Ctx:
    rng: random.Random
    ref: datetime  # midnight UTC of the reference day; generated history lies before it
    today: date
    stages: list[PipelineStage]
    managers: list[User]
    csms: list[User]
    aes: list[User]
    data: DemoData
    used_names: set[str] = field(default_factory=set)
    used_domains: set[str] = field(default_factory=set)
    used_emails: set[str] = field(default_factory=set)
    used_phones: set[str] = field(default_factory=set)
    event_seq: int = 0
    order_seq: int = 0
    # Former customers (``build_former``): accounts that churned in the past, from their own stream.
    former: bool = False
    event_prefix: str = EVENT_PREFIX

    @property
    def open_stages(self) -> list[PipelineStage]:
        return [s for s in self.stages if not s.is_closed]

    @property
    def won_stage(self) -> PipelineStage:
        return next(s for s in self.stages if s.is_won)

    @property
    def lost_stage(self) -> PipelineStage:
        return next(s for s in self.stages if s.is_closed and not s.is_won)

    def at(self, day: date, tz: str = "America/Chicago", hours: tuple[int, int] = (8, 18)) -> datetime:
        """A moment in local business hours on ``day``, in UTC, never at or after ``ref``."""
        local = datetime(
            day.year,
            day.month,
            day.day,
            self.rng.randrange(*hours),
            self.rng.randrange(60),
            self.rng.randrange(60),
            tzinfo=_zone(tz),
        )
        moment = local.astimezone(UTC)
        while moment >= self.ref:
            moment -= timedelta(days=1)
        return moment

    def past_day(self, day: date) -> date:
        return min(day, self.today - timedelta(days=1))

    def created(self, obj: Any, moment: datetime) -> None:
        self.data.created_at.append((obj, min(moment, self.ref - timedelta(seconds=1))))


@dataclass
class _AccountState:
    account: Account
    signup_day: date
    price: int
    discount: float
    contacts: list[Contact] = field(default_factory=list)
    terms: list[Renewal] = field(default_factory=list)
    end_day: date | None = None  # exclusive end of activity: churn day or today
    churned: bool = False
    health: str = "healthy"  # onboarding, healthy, expanding, declining
    integrated_day: date | None = None
    last_outcome: str | None = None

    @property
    def age(self) -> int:
        return (self.end_day - self.signup_day).days


# --- Staff ------------------------------------------------------------------------------------


def ensure_staff() -> dict[str, list[User]]:
    """The demo team, created when missing (unusable passwords) and reused otherwise."""
    teams: dict[str, list[User]] = {"manager": [], "csm": [], "ae": []}
    for username, first, last, team in STAFF:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@lifecyclecrm.example",
                role=User.Role.MANAGER if team == "manager" else User.Role.AGENT,
            )
            user.set_unusable_password()
            user.save()
        teams[team].append(user)
    # Escalations of missed reply deadlines go to the first manager.
    head = teams["manager"][0] if teams["manager"] else None
    for user in [*teams["csm"], *teams["ae"]]:
        if head is not None and user.manager_id is None:
            crm_services.user_update(user=user, manager=head)
    return teams


# --- Generation -------------------------------------------------------------------------------


def build(
    *,
    seed: int = 42,
    accounts: int = 300,
    today: date | None = None,
    staff: dict[str, list[User]],
    stages: Sequence[PipelineStage],
    used_emails: set[str] | None = None,
    used_phones: set[str] | None = None,
) -> DemoData:
    """Generate the data set in memory. Same seed, day, staff and stages: same data."""
    today = today or djtz.now().date()
    if not any(s.is_won for s in stages) or not any(s.is_closed and not s.is_won for s in stages):
        raise ValueError("The pipeline needs a closed-won and a closed-lost stage.")
    if not any(not s.is_closed for s in stages):
        raise ValueError("The pipeline needs at least one open stage.")
    ctx = _context(random.Random(seed), today, staff, stages, used_emails, used_phones)
    states = [_build_account(ctx) for _ in range(accounts)]
    for _ in range(max(6, round(accounts * 0.2))):
        _build_b2c_contact(ctx)
    _ensure_stage_coverage(ctx, states)
    return ctx.data


def _context(rng, today, staff, stages, used_emails, used_phones) -> _Ctx:
    stages = sorted(stages, key=lambda s: (s.position, s.slug))
    return _Ctx(
        rng=rng,
        ref=datetime(today.year, today.month, today.day, tzinfo=UTC),
        today=today,
        stages=list(stages),
        managers=staff["manager"],
        csms=staff["csm"],
        aes=staff["ae"],
        data=DemoData(users=[*staff["manager"], *staff["csm"], *staff["ae"]]),
        used_emails=set(used_emails or ()),
        used_phones=set(used_phones or ()),
    )


# Former customers: accounts that signed up one to three years ago and churned at a past renewal
# (after zero to two renewed terms), about one per 3.75 active accounts (80 for the default 300).
# They give the health model (analytics/scores/health.py) the churned renewals a growing book of
# 300 lacks (its ~8% a year churn leaves 11, under HEALTH_MIN_CHURNS). Their own random stream
# ("<seed>-former"), inserted after the plays' history: the book, the plays' draws and the story
# stay as they were, and no play ever enrolled them. Most faded before churning (usage and seat
# use falling over their last 45 days, as demo.crm's declining accounts), but SILENT_CHURN of
# them churned without warning (usage steady to the end); renewers who dipped anyway are added
# by demo.health.
FORMER_PER_ACCOUNT = 0.27
FORMER_EVENT_PREFIX = f"{EVENT_PREFIX}f-"
FORMER_MIN_DAYS, FORMER_MAX_DAYS = 400, 1090  # sign-up this many days before today
FORMER_OUTCOMES = (
    (RenewalStatus.RENEWED, 45),
    (RenewalStatus.EXPANDED, 5),
    (RenewalStatus.DOWNGRADED, 5),
    (RenewalStatus.CHURNED, 45),
)
SILENT_CHURN = 0.3
# No SMS consent on record for their contacts (the demo's consent ledger is written before them,
# and nobody texts a former customer's staff from the demo's history).
FORMER_CONSENT = ((SmsConsent.UNKNOWN, 1),)
FORMER_FADE_DAYS = 75  # their decline shows over the whole login window (the book's: 45 days)


def build_former(
    *,
    seed: int,
    count: int,
    today: date,
    staff: dict[str, list[User]],
    stages: Sequence[PipelineStage],
    used_names: set[str],
    used_domains: set[str],
    used_emails: set[str],
    used_phones: set[str],
) -> DemoData:
    """``count`` former customers, each churned at a renewal before ``today``: the same account
    builder as the book, on its own random stream. Same seed, day and used sets: same data."""
    ctx = _context(random.Random(f"{seed}-former"), today, staff, stages, used_emails, used_phones)
    ctx.used_names, ctx.used_domains = set(used_names), set(used_domains)
    ctx.former, ctx.event_prefix = True, FORMER_EVENT_PREFIX
    for _ in range(count):
        _build_account(ctx)
    return ctx.data


def seed_former(*, seed: int, accounts: int, today: date) -> dict[str, int]:
    """Generate and insert the former customers for a book of ``accounts`` (see build_former)."""
    taken = list(Account.objects.values_list("name", "domain"))
    suffixes = [suffix for suffix, _ in NAME_SUFFIXES if suffix]
    names = set()
    for name, _ in taken:
        base = next((name[: -len(s)] for s in suffixes if name.endswith(s)), name)
        names.add(base.lower())
    data = build_former(
        seed=seed,
        count=round(accounts * FORMER_PER_ACCOUNT),
        today=today,
        staff=ensure_staff(),
        stages=list(PipelineStage.objects.all()),
        used_names=names,
        used_domains={domain for _, domain in taken},
        used_emails={e.lower() for e in Contact.objects.exclude(email=None).values_list("email", flat=True)},
        used_phones=set(Contact.objects.exclude(phone=None).values_list("phone", flat=True)),
    )
    write(data)
    return {f"former {key}": n for key, n in data.counts().items() if key != "users" and n}


# The demo's stand-in health band, from each account's simulated health (no random draw, so the
# rest of the book is unchanged): the health job runs only at the end (demo/health.py), so plays'
# audiences and the segments enrollments record at entry during the simulated history read these.
# CLV tiers are real scores: the CLV job runs as of the plays' start (demo/plays.py) and again at
# the end (demo/clv.py).
HEALTH_STAND_IN = {
    "healthy": HealthBand.GOOD,
    "expanding": HealthBand.GOOD,
    "onboarding": HealthBand.WATCH,
    "declining": HealthBand.AT_RISK,
}


def _company_name(ctx: _Ctx, industry: Industry, city: str) -> str:
    rng = ctx.rng
    for attempt in range(200):
        noun = rng.choice(industry.nouns)
        style = rng.random()
        if style < 0.55:
            base = f"{rng.choice(NAME_PREFIXES)} {noun}"
        elif style < 0.75:
            base = f"{city} {noun}"
        elif style < 0.9:
            base = f"{rng.choice(LAST_NAMES)} {noun}"
        else:
            base = f"{rng.choice(LAST_NAMES)} & {rng.choice(LAST_NAMES)} {noun}"
        if attempt > 100:
            base = f"{base} {rng.choice(NAME_PREFIXES)}"
        suffix = _pick(rng, NAME_SUFFIXES)
        if base.endswith(".") and suffix:
            suffix = ""
        name = f"{base}{suffix}"
        if base.lower() not in ctx.used_names:
            ctx.used_names.add(base.lower())
            return name
    raise RuntimeError("Ran out of company names")  # pragma: no cover


def _company_domain(ctx: _Ctx, name: str) -> str:
    words = [
        w for w in name.replace("&", " ").split() if w.lower().strip(".") not in {"llc", "inc", "co", "group"}
    ]
    stem = _slug("".join(words))[:40]
    candidates = [f"{stem}.com", f"{stem}.co", f"get{stem}.com", f"{stem}hq.com", f"{stem}.net"]
    for n in range(2, 100):
        candidates.append(f"{stem}{n}.com")
    for domain in candidates:
        if domain not in ctx.used_domains:
            ctx.used_domains.add(domain)
            return domain
    raise RuntimeError("Ran out of domains")  # pragma: no cover


def _acv(plan: str, seats: int, discount: float) -> Decimal:
    return Decimal(round(seats * PLANS[plan][2] * (1 - discount))).quantize(Decimal("0.01"))


def _phone(ctx: _Ctx, area_code: int):
    rng = ctx.rng
    while True:
        exchange = rng.randint(200, 999)
        if exchange % 100 == 11 or exchange in (555, 950, 958, 959, 976):
            continue
        a, e, ln = str(area_code), f"{exchange:03d}", f"{rng.randrange(10000):04d}"
        e164 = f"+1{a}{e}{ln}"
        if e164 in ctx.used_phones:
            continue
        parsed = parse_phone(rng.choice(PHONE_FORMATS).format(a=a, e=e, l=ln), "US")
        if parsed.is_valid and parsed.e164 == e164 and parsed.timezone:
            ctx.used_phones.add(e164)
            return parsed


def _email(ctx: _Ctx, local: str, domain: str) -> str:
    local = local.lower()
    email, n = f"{local}@{domain}", 1
    while email in ctx.used_emails:
        n += 1
        email = f"{local}{n}@{domain}"
    ctx.used_emails.add(email)
    return email


def _contact(
    ctx: _Ctx,
    *,
    account: Account | None,
    first: str,
    last: str,
    email: str,
    area_code: int,
    channel: str,
    consent: Sequence[tuple[str, float]],
    owner: User | None,
    attributes: dict,
    created_at: datetime,
) -> Contact:
    parsed = _phone(ctx, area_code)
    contact = Contact(
        account=account,
        first_name=first,
        last_name=last,
        email=email,
        phone_raw=parsed.raw,
        phone=parsed.e164,
        phone_valid=parsed.is_valid,
        timezone=parsed.timezone,
        owner=owner,
        acquisition_channel=channel,
        sms_consent=_pick(ctx.rng, consent),
        attributes={"demo": True, **attributes},
    )
    ctx.data.contacts.append(contact)
    ctx.created(contact, created_at)
    return contact


def _build_account(ctx: _Ctx) -> _AccountState:
    rng = ctx.rng
    industry = rng.choice(INDUSTRIES)
    area_code, city = rng.choice(AREA_CODES)
    name = _company_name(ctx, industry, city)
    domain = _company_domain(ctx, name)
    plan = _pick(rng, PLAN_WEIGHTS)
    lo, hi, price = PLANS[plan]
    seats = rng.randint(lo, hi)
    discount = 0.0 if plan == "starter" else rng.choice((0.0, 0.0, 0.05, 0.1, 0.15))
    # More recent sign-ups than old ones: the business is growing.
    if ctx.former:
        signup_day = ctx.today - timedelta(days=rng.randint(FORMER_MIN_DAYS, FORMER_MAX_DAYS))
    else:
        signup_day = ctx.today - timedelta(days=max(1, int(730 * rng.random() ** 1.25)))
    channel = _pick(rng, CHANNEL_WEIGHTS)
    cac_lo, cac_hi = CAC_RANGES[channel]
    tz = area_timezone(area_code)
    account = Account(
        name=name,
        domain=domain,
        owner=rng.choice(ctx.csms),
        ae=rng.choice(ctx.aes),
        plan=plan,
        seats=seats,
        signed_up_at=ctx.at(signup_day, tz),
        acquisition_channel=channel,
        acquisition_cost=_money(rng.uniform(cac_lo, cac_hi) * CAC_PLAN_FACTOR[plan]),
        timezone=tz,
        attributes={
            "demo": True,
            "industry": industry.label,
            "employees": rng.randint(
                max(industry.employees[0], seats), max(industry.employees[1], seats * 3)
            ),
            "city": city,
        },
    )
    if ctx.former:
        account.attributes["former"] = True
    ctx.data.accounts.append(account)
    st = _AccountState(account=account, signup_day=signup_day, price=price, discount=discount)
    _simulate_terms(ctx, st, plan, seats)
    _decide_health(ctx, st)
    _build_contacts(ctx, st, area_code)
    _build_deals(ctx, st)
    _build_events(ctx, st)
    if not ctx.former:  # the CLV tiers are scored before the former customers are added
        _build_account_orders(ctx, st)
    _build_tasks(ctx, st)
    _build_touches(ctx, st)
    return st


def _simulate_terms(ctx: _Ctx, st: _AccountState, plan: str, seats: int) -> None:
    """Annual terms from sign-up; ended ones are decided, the current one is upcoming."""
    rng, account = ctx.rng, st.account
    churn = CHURN_BY_CHANNEL.get(account.acquisition_channel, 8)
    outcomes = (
        (RenewalStatus.RENEWED, 83 - churn),
        (RenewalStatus.EXPANDED, 12),
        (RenewalStatus.DOWNGRADED, 5),
        (RenewalStatus.CHURNED, churn),
    )
    if ctx.former:
        outcomes = FORMER_OUTCOMES
    start, acv = st.signup_day, _acv(plan, seats, st.discount)
    while True:
        end = _add_years(start, 1)
        term = Renewal(
            account=account, start_date=start, end_date=end, acv=acv, status=RenewalStatus.UPCOMING
        )
        ctx.data.renewals.append(term)
        st.terms.append(term)
        ctx.created(term, ctx.at(start - timedelta(days=rng.randint(0, 3)), account.timezone))
        if end > ctx.today:
            break
        status = _pick(rng, outcomes)
        if ctx.former and _add_years(end, 1) > ctx.today:
            status = RenewalStatus.CHURNED  # a former customer's last term
        if status == RenewalStatus.DOWNGRADED and seats < 2:
            status = RenewalStatus.RENEWED
        decided_day = ctx.past_day(end - timedelta(days=rng.randint(-3, 25)))
        term.status, term.decided_at = status, ctx.at(decided_day, account.timezone)
        st.last_outcome = status
        if status == RenewalStatus.CHURNED:
            st.churned = True
            # Service runs to the end of the term, even when the decision came earlier.
            account.churned_at = max(term.decided_at, ctx.at(ctx.past_day(end), account.timezone))
            account.lifecycle_stage = LifecycleStage.CHURNED
            account.attributes["churn_reason"] = rng.choice(CHURN_REASONS)
            break
        if status == RenewalStatus.EXPANDED:
            seats = max(seats + 1, math.ceil(seats * rng.uniform(1.15, 1.6)))
            if seats > PLANS[plan][1] and plan != PLAN_ORDER[-1]:
                plan = PLAN_ORDER[PLAN_ORDER.index(plan) + 1]
        elif status == RenewalStatus.DOWNGRADED:
            seats = min(seats - 1, max(1, int(seats * rng.uniform(0.6, 0.9))))
        term.renewed_acv = _acv(plan, seats, st.discount) if status != RenewalStatus.RENEWED else acv
        start, acv = end, term.renewed_acv
    account.plan, account.seats = plan, seats
    st.price = PLANS[plan][2]
    st.end_day = account.churned_at.date() if st.churned else ctx.today


def _decide_health(ctx: _Ctx, st: _AccountState) -> None:
    rng, account = ctx.rng, st.account
    age = st.age
    if st.churned:
        st.health = "healthy" if ctx.former and rng.random() < SILENT_CHURN else "declining"
    elif age < 90:
        st.health = "onboarding"
    else:
        declining = 40 if st.last_outcome == RenewalStatus.DOWNGRADED else 17
        expanding = 30 if st.last_outcome == RenewalStatus.EXPANDED else 14
        st.health = _pick(
            rng,
            (("healthy", 100 - declining - expanding), ("expanding", expanding), ("declining", declining)),
        )
    account.health_band = HEALTH_STAND_IN[st.health]
    # Integration milestone: everyone past onboarding has it; some recent sign-ups do not yet.
    reach = 1.0 if age >= 90 else 0.35 if age < 7 else 0.7 if age < 30 else 0.92
    if age >= 2 and rng.random() < reach:
        st.integrated_day = st.signup_day + timedelta(days=rng.randint(1, min(20, age - 1)))
    if st.churned:
        return
    days_to_end = (st.terms[-1].end_date - ctx.today).days
    if days_to_end <= 60:
        account.lifecycle_stage = LifecycleStage.RENEWAL_WINDOW
    elif age < 90:
        adopting = age >= 30 and st.integrated_day is not None
        account.lifecycle_stage = LifecycleStage.ADOPTING if adopting else LifecycleStage.ONBOARDING
    else:
        account.lifecycle_stage = {
            "healthy": LifecycleStage.ACTIVE,
            "expanding": LifecycleStage.EXPANSION,
            "declining": LifecycleStage.AT_RISK,
        }[st.health]


def _build_contacts(ctx: _Ctx, st: _AccountState, area_code: int) -> None:
    rng, account = ctx.rng, st.account
    style = rng.choice(("{f}", "{f}.{l}", "{fi}{l}", "{f}{li}"))
    n = rng.randint(*CONTACTS_PER_PLAN[account.plan])
    titles = rng.sample(TITLES, n)
    for k in range(n):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        f, ln = _slug(first), _slug(last)
        local = style.format(f=f, l=ln, fi=f[0], li=ln[0])
        if k == 0:
            day = st.signup_day - timedelta(days=rng.randint(5, 40))
        else:
            day = st.signup_day + timedelta(days=rng.randint(0, max(0, min(st.age - 1, 180))))
        contact = _contact(
            ctx,
            account=account,
            first=first,
            last=last,
            email=_email(ctx, local, account.domain),
            area_code=area_code if rng.random() < 0.7 else rng.choice(AREA_CODES)[0],
            channel=account.acquisition_channel if rng.random() < 0.8 else _pick(rng, CHANNEL_WEIGHTS),
            consent=FORMER_CONSENT if ctx.former else CONSENT_WEIGHTS,
            owner=account.owner,
            attributes={"title": titles[k]},
            created_at=ctx.at(day, account.timezone),
        )
        st.contacts.append(contact)


# --- Deals ------------------------------------------------------------------------------------


def _deal(
    ctx: _Ctx,
    st: _AccountState,
    *,
    name: str,
    kind: str,
    owner: User | None,
    amount: Decimal,
    path: Sequence[PipelineStage],
    created: datetime,
    closed: datetime | None = None,
    expected_close: date | None = None,
) -> Deal:
    """A deal that walked ``path``; each step lands on the timeline like deal_update would."""
    rng, stage = ctx.rng, path[-1]
    deal = Deal(
        name=name[:200],
        account=st.account,
        contact=st.contacts[0] if st.contacts else None,
        owner=owner,
        kind=kind,
        stage=stage,
        amount=amount,
        expected_close=expected_close or (closed.date() if closed else None),
        closed_at=closed if stage.is_closed else None,
    )
    if not stage.is_closed:
        opens = ctx.open_stages
        steps = OPEN_NEXT_STEPS[
            min(len(OPEN_NEXT_STEPS) - 1, opens.index(stage) * len(OPEN_NEXT_STEPS) // len(opens))
        ]
        deal.next_step = rng.choice(steps)
        deal.next_step_date = ctx.today + timedelta(days=rng.randint(-6, 14))
    ctx.data.deals.append(deal)
    ctx.created(deal, created)
    last = closed if closed is not None else ctx.ref - timedelta(hours=rng.randint(2, 72))
    span = max(last - created, timedelta(minutes=len(path)))
    previous = None
    for i, step in enumerate(path):
        moment = created if i == 0 else created + span * i / (len(path) - 1)
        activity = _activity(
            ctx,
            kind=ActivityKind.DEAL_STAGE_CHANGE,
            account=st.account,
            contact=deal.contact,
            actor=owner,
            occurred_at=moment,
            summary=f"{deal.name}: {previous.name if previous else 'new'} → {step.name}",
            data={"from": previous.slug if previous else None, "to": step.slug, "amount": str(amount)},
        )
        ctx.data.refs.append((activity, "deal", deal))
        previous = step
    return deal


def _build_deals(ctx: _Ctx, st: _AccountState) -> None:
    rng, account = ctx.rng, st.account
    opens, won, lost = ctx.open_stages, ctx.won_stage, ctx.lost_stage
    first_term = st.terms[0]
    cycle = rng.randint(30, 90) if account.plan in ("pro", "enterprise") else rng.randint(7, 45)
    _deal(
        ctx,
        st,
        name=f"{account.name} - New business ({account.plan})",
        kind=DealKind.NEW,
        owner=account.ae,
        amount=first_term.acv,
        path=[*opens, won],
        created=account.signed_up_at - timedelta(days=cycle),
        closed=account.signed_up_at,
    )
    for term in st.terms:
        if term.status == RenewalStatus.UPCOMING:
            continue
        created = ctx.at(term.end_date - timedelta(days=rng.randint(75, 110)), account.timezone)
        churned = term.status == RenewalStatus.CHURNED
        if term.status == RenewalStatus.EXPANDED:
            renewal_amount = term.acv
        else:
            renewal_amount = term.acv if churned else term.renewed_acv
        path = [opens[0], *([opens[-1]] if len(opens) > 1 and not churned else []), lost if churned else won]
        _deal(
            ctx,
            st,
            name=f"{account.name} - Renewal {term.end_date.year}",
            kind=DealKind.RENEWAL,
            owner=account.owner,
            amount=renewal_amount,
            path=path,
            created=created,
            closed=term.decided_at,
        )
        if term.status == RenewalStatus.EXPANDED:
            _deal(
                ctx,
                st,
                name=f"{account.name} - Expansion at renewal",
                kind=DealKind.EXPANSION,
                owner=account.ae,
                amount=term.renewed_acv - term.acv,
                path=[*opens[:2], won],
                created=created + timedelta(days=rng.randint(5, 30)),
                closed=term.decided_at,
            )
    if st.churned:
        return
    current = st.terms[-1]
    days_to_end = (current.end_date - ctx.today).days
    if days_to_end <= 120:
        # Open renewal, further along the closer the term end is.
        index = min(len(opens) - 1, int((1 - days_to_end / 120) * len(opens)))
        _deal(
            ctx,
            st,
            name=f"{account.name} - Renewal {current.end_date.year}",
            kind=DealKind.RENEWAL,
            owner=account.owner,
            amount=current.acv,
            path=opens[: index + 1],
            created=ctx.at(
                ctx.past_day(current.end_date - timedelta(days=rng.randint(100, 130))), account.timezone
            ),
            expected_close=current.end_date,
        )
    wants_more = st.health == "expanding" or (st.health == "healthy" and rng.random() < 0.08)
    if wants_more:
        extra = max(1, math.ceil(account.seats * rng.uniform(0.2, 0.6)))
        stage_index = rng.randrange(len(opens))
        _deal(
            ctx,
            st,
            name=f"{account.name} - Expansion +{extra} seats",
            kind=DealKind.EXPANSION,
            owner=account.ae,
            amount=_acv(account.plan, extra, st.discount),
            path=opens[: stage_index + 1],
            created=ctx.at(ctx.today - timedelta(days=rng.randint(5, 45)), account.timezone),
            expected_close=ctx.today + timedelta(days=rng.randint(10, 60)),
        )
    if st.age > 150 and rng.random() < 0.07:
        start = st.signup_day + timedelta(days=rng.randint(60, st.age - 80))
        extra = max(1, math.ceil(account.seats * rng.uniform(0.2, 0.5)))
        _deal(
            ctx,
            st,
            name=f"{account.name} - Upgrade to {PLAN_ORDER[min(3, PLAN_ORDER.index(account.plan) + 1)]}",
            kind=DealKind.EXPANSION,
            owner=account.ae,
            amount=_acv(account.plan, extra, st.discount),
            path=[*opens[: rng.randint(1, len(opens))], lost],
            created=ctx.at(start, account.timezone),
            closed=ctx.at(start + timedelta(days=rng.randint(20, 60)), account.timezone),
        )


def _ensure_stage_coverage(ctx: _Ctx, states: list[_AccountState]) -> None:
    """Every stage of the pipeline gets at least one deal, even in a small data set."""
    rng = ctx.rng
    used = {deal.stage.slug for deal in ctx.data.deals}
    candidates = [st for st in states if not st.churned and st.age > 30] or states
    for stage in ctx.stages:
        if stage.slug in used or not candidates:
            continue
        st = candidates[rng.randrange(len(candidates))]
        account = st.account
        extra = max(1, math.ceil(account.seats * rng.uniform(0.2, 0.5)))
        opens = ctx.open_stages
        if stage.is_closed:
            path = [opens[0], stage]
            start = ctx.today - timedelta(days=rng.randint(30, max(31, min(st.age, 120))))
            closed = ctx.at(ctx.past_day(start + timedelta(days=rng.randint(10, 25))), account.timezone)
        else:
            path, closed = opens[: opens.index(stage) + 1], None
            start = ctx.today - timedelta(days=rng.randint(3, 30))
        _deal(
            ctx,
            st,
            name=f"{account.name} - Add-on seats (+{extra})",
            kind=DealKind.EXPANSION,
            owner=account.ae,
            amount=_acv(account.plan, extra, st.discount),
            path=path,
            created=ctx.at(start, account.timezone),
            closed=closed,
            expected_close=None if closed else ctx.today + timedelta(days=rng.randint(10, 45)),
        )
        used.add(stage.slug)


# --- Usage events -----------------------------------------------------------------------------


def _event(ctx: _Ctx, *, account, contact, name: str, at: datetime, properties: dict | None = None) -> None:
    ctx.event_seq += 1
    ctx.data.events.append(
        Event(
            account=account,
            contact=contact,
            name=name,
            properties=properties or {},
            occurred_at=at,
            external_id=f"{ctx.event_prefix}{ctx.event_seq:06d}",
        )
    )


def _build_events(ctx: _Ctx, st: _AccountState) -> None:
    """Onboarding milestones, seat usage over the lifetime, and daily logins over the last
    ~75 active days: healthy accounts log in steadily, declining ones fade over their last
    45 days, expanding ones push against their seat limit."""
    rng, account, contacts = ctx.rng, st.account, st.contacts
    tz, end = account.timezone, st.end_day
    weights = [3, 2, *[1] * (len(contacts) - 2)][: len(contacts)]

    def who() -> Contact:
        return rng.choices(contacts, weights=weights)[0]

    def emit(name: str, day: date, properties: dict | None = None, contact: Contact | None = None) -> None:
        moment = ctx.at(day, tz)
        if moment > account.signed_up_at:
            _event(ctx, account=account, contact=contact, name=name, at=moment, properties=properties)

    for k in range(min(account.seats - 1, rng.randint(1, 4))):
        day = st.signup_day + timedelta(days=rng.randint(0, 10))
        if day < end:
            emit("user_invited", day, {"count": rng.randint(1, 3), "step": k + 1}, contacts[0])
    if st.integrated_day is not None:
        emit(
            "integration_connected", st.integrated_day, {"integration": rng.choice(INTEGRATIONS)}, contacts[0]
        )
        first_campaign = st.integrated_day + timedelta(days=rng.randint(1, 14))
        if first_campaign < end:
            emit("first_campaign_sent", first_campaign, {"recipients": rng.randint(80, 4000)}, who())

    target = rng.uniform(0.6, 0.85)
    fade = FORMER_FADE_DAYS if ctx.former else 45  # a declining account's last days fade over this

    def ratio(day: date) -> float:
        since, left = (day - st.signup_day).days, (end - day).days
        if st.integrated_day is None or day < st.integrated_day:
            return rng.uniform(0.08, 0.2)
        value = 0.25 + (target - 0.25) * min(1.0, since / 60)
        if st.health == "expanding" and left <= 60:
            value += (rng.uniform(0.92, 1.0) - value) * (1 - left / 60)
        elif st.health == "declining" and left <= fade:
            value *= 0.35 + 0.65 * left / fade
        return max(0.05, min(1.0, value + rng.uniform(-0.04, 0.04)))

    def seats_used(day: date) -> None:
        r = ratio(day)
        emit(
            "seats_used",
            day,
            {"ratio": round(r, 2), "seats": account.seats, "used": round(r * account.seats)},
        )

    window_start = max(st.signup_day + timedelta(days=1), end - timedelta(days=75))
    day = st.signup_day + timedelta(days=30)
    while day < window_start:
        seats_used(day)
        day += timedelta(days=30)
    day = window_start
    base = LOGINS_PER_DAY[account.plan]
    while day < end:
        since, left = (day - st.signup_day).days, (end - day).days
        rate = base
        if since < 30:
            rate *= 0.35 + 0.65 * since / 30
        if st.integrated_day is None or day < st.integrated_day:
            rate *= 0.4
        if st.health == "declining" and left <= fade:
            rate *= max(0.06, left / fade) ** 1.3
        elif st.health == "expanding":
            rate *= 1.3
        if day.weekday() >= 5:
            rate *= 0.25
        for _ in range(_poisson(rng, rate)):
            contact = who()
            moment = ctx.at(day, tz)
            if moment <= account.signed_up_at:
                continue
            _event(ctx, account=account, contact=contact, name="login", at=moment, properties={})
            if rng.random() < (0.2 if st.health == "declining" else 0.4):
                viewed = min(moment + timedelta(minutes=rng.randint(1, 40)), ctx.ref - timedelta(seconds=1))
                _event(
                    ctx,
                    account=account,
                    contact=contact,
                    name="report_viewed",
                    at=viewed,
                    properties={"report": rng.choice(REPORTS)},
                )
        if (day - window_start).days % 7 == 0:
            seats_used(day)
        gated = {"expanding": 0.15, "healthy": 0.02}.get(st.health, 0.0)
        if day.weekday() < 5 and rng.random() < gated:
            emit("gated_feature_click", day, {"feature": rng.choice(GATED_FEATURES)}, who())
        day += timedelta(days=1)
    if st.health == "expanding" and not st.churned:
        for _ in range(rng.randint(1, 3)):
            r = rng.uniform(0.9, 1.0)
            emit(
                "seat_limit_90",
                end - timedelta(days=rng.randint(1, 30)),
                {"ratio": round(r, 2), "seats": account.seats, "used": round(r * account.seats)},
            )


# --- Orders -----------------------------------------------------------------------------------


def _order(
    ctx: _Ctx, *, contact: Contact, amount: Decimal, margin: Decimal, at: datetime, attribution: str = ""
) -> None:
    ctx.order_seq += 1
    ctx.data.orders.append(
        Order(
            contact=contact,
            account=contact.account,
            amount=amount,
            gross_margin=margin,
            ordered_at=at,
            attribution=attribution,
            external_id=f"{ORDER_PREFIX}{ctx.order_seq:06d}",
        )
    )


def _build_account_orders(ctx: _Ctx, st: _AccountState) -> None:
    """Add-ons: SMS credit top-ups (recurring), onboarding packages, premium support."""
    rng, account = ctx.rng, st.account
    tz, end = account.timezone, st.end_day
    buyers = st.contacts[:2]
    if rng.random() < 0.35:
        day = st.signup_day + timedelta(days=rng.randint(0, 7))
        if day < end:
            amount = Decimal(rng.choice((500, 1500, 2500)))
            _order(
                ctx,
                contact=buyers[0],
                amount=_money(amount),
                margin=_margin(rng, 0.65, 0.8),
                at=ctx.at(day, tz),
            )
    if account.plan in ("pro", "enterprise") and rng.random() < 0.45:
        for term in st.terms:
            if term.start_date < end:
                _order(
                    ctx,
                    contact=buyers[0],
                    amount=_money(float(term.acv) * rng.uniform(0.1, 0.15)),
                    margin=_margin(rng, 0.7, 0.8),
                    at=ctx.at(term.start_date, tz),
                )
    if rng.random() < 0.75:
        packs = {"starter": (49, 99), "growth": (99, 199), "pro": (199, 499), "enterprise": (499, 999)}[
            account.plan
        ]
        mean_gap = rng.uniform(10, 28)
        fade = st.health == "declining"
        day = st.signup_day + timedelta(days=rng.randint(5, 40))
        while day < end:
            if not fade or (end - day).days > 45 or rng.random() < 0.4:
                amount = rng.choice(packs) * rng.choice((1, 1, 1, 2, 3))
                _order(
                    ctx,
                    contact=rng.choice(buyers),
                    amount=_money(amount),
                    margin=_margin(rng, 0.45, 0.62),
                    at=ctx.at(day, tz),
                    attribution="in-app:credits" if rng.random() < 0.6 else "",
                )
            day += timedelta(days=max(3, round(rng.expovariate(1 / mean_gap))))


def _build_b2c_contact(ctx: _Ctx) -> None:
    """A consumer who buys directly: some once, some now and then, some all the time."""
    rng = ctx.rng
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = rng.choice(("{f}.{l}", "{f}{l}", "{f}.{l}{n}", "{fi}{l}{n}")).format(
        f=_slug(first), l=_slug(last), fi=_slug(first)[0], n=rng.randint(1, 99)
    )
    first_day = ctx.today - timedelta(days=max(1, int(720 * rng.random() ** 1.1)))
    area_code = rng.choice(AREA_CODES)[0]
    contact = _contact(
        ctx,
        account=None,
        first=first,
        last=last,
        email=_email(ctx, local, _pick(rng, B2C_EMAIL_DOMAINS)),
        area_code=area_code,
        channel=_pick(rng, B2C_CHANNEL_WEIGHTS),
        consent=B2C_CONSENT_WEIGHTS,
        owner=rng.choice(ctx.csms) if rng.random() < 0.5 else None,
        attributes={"customer_type": "b2c"},
        created_at=ctx.at(first_day - timedelta(days=rng.randint(0, 20)), area_timezone(area_code)),
    )
    tz = contact.timezone
    segment = _pick(rng, (("once", 35), ("occasional", 40), ("loyal", 25)))
    mean_gap, lapse = {"once": (0, 1.0), "occasional": (60, 0.12), "loyal": (12, 0.015)}[segment]
    basket = rng.lognormvariate(math.log(55), 0.45)
    attribution = _pick(rng, (("", 70), ("email:newsletter", 15), ("paid:search", 10), ("referral", 5)))
    day = first_day
    while day < ctx.today:
        at = ctx.at(day, tz, hours=(7, 22))
        if rng.random() < 0.6:
            viewed = at - timedelta(minutes=rng.randint(3, 600))
            _event(ctx, account=None, contact=contact, name="product_viewed", at=viewed, properties={})
        _order(
            ctx,
            contact=contact,
            amount=_money(max(9.0, basket * rng.lognormvariate(0, 0.35))),
            margin=_margin(rng, 0.45, 0.8),
            at=at,
            attribution=attribution if rng.random() < 0.5 else "",
        )
        if rng.random() < lapse:
            break
        day += timedelta(days=max(1, round(rng.expovariate(1 / mean_gap))))
    if rng.random() < 0.3:
        day = ctx.today - timedelta(days=rng.randint(1, 30))
        _event(ctx, account=None, contact=contact, name="cart_abandoned", at=ctx.at(day, tz, hours=(7, 22)))
    if rng.random() < 0.3:
        kind, summary = rng.choice(B2C_TOUCHES)
        day = first_day + timedelta(days=rng.randint(0, max(0, (ctx.today - first_day).days - 1)))
        _activity(
            ctx, kind=kind, contact=contact, actor=contact.owner, occurred_at=ctx.at(day, tz), summary=summary
        )


# --- Tasks and the timeline -------------------------------------------------------------------


def _activity(
    ctx: _Ctx,
    *,
    kind: str,
    account: Account | None = None,
    contact: Contact | None = None,
    actor: User | None,
    occurred_at: datetime,
    summary: str,
    data: dict | None = None,
) -> Activity:
    activity = Activity(
        kind=kind,
        account=account if account is not None else (contact.account if contact else None),
        contact=contact,
        actor=actor,
        occurred_at=min(occurred_at, ctx.ref - timedelta(seconds=1)),
        summary=summary[:300],
        data=data or {},
    )
    ctx.data.activities.append(activity)
    return activity


def _task(
    ctx: _Ctx,
    st: _AccountState,
    title: str,
    due_day: date,
    *,
    status: str = TaskStatus.OPEN,
    owner: User | None = None,
) -> None:
    rng, account = ctx.rng, st.account
    owner = owner or account.owner
    due = datetime(
        due_day.year, due_day.month, due_day.day, 17, 0, tzinfo=_zone(account.timezone)
    ).astimezone(UTC)
    created = ctx.at(
        ctx.past_day(min(due_day, ctx.today) - timedelta(days=rng.randint(2, 14))), account.timezone
    )
    task = Task(
        owner=owner,
        account=account,
        contact=st.contacts[0],
        title=title[:200],
        due_at=due,
        status=status,
    )
    if status == TaskStatus.DONE:
        task.completed_at = max(
            created, min(due - timedelta(hours=rng.randint(0, 72)), ctx.ref - timedelta(hours=1))
        )
    ctx.data.tasks.append(task)
    ctx.created(task, created)
    activity = _activity(
        ctx,
        kind=ActivityKind.TASK_CREATED,
        account=account,
        contact=task.contact,
        actor=owner,
        occurred_at=created,
        summary=task.title,
        data={"owner": owner.pk if owner else None, "source": task.source},
    )
    ctx.data.refs.append((activity, "task", task))


def _build_tasks(ctx: _Ctx, st: _AccountState) -> None:
    rng, account, today = ctx.rng, st.account, ctx.today
    champion = st.contacts[0].first_name
    kickoff = ctx.past_day(st.signup_day + timedelta(days=rng.randint(2, 6)))
    _task(ctx, st, f"Run kickoff call with {champion}", kickoff, status=TaskStatus.DONE)
    if st.churned:
        _task(ctx, st, "Exit interview", ctx.past_day(st.end_day + timedelta(days=5)), status=TaskStatus.DONE)
        return
    stage = account.lifecycle_stage
    if st.integrated_day is None:
        _task(
            ctx, st, f"Help {champion} connect their integration", today + timedelta(days=rng.randint(-6, 5))
        )
    if stage == LifecycleStage.RENEWAL_WINDOW:
        end = st.terms[-1].end_date
        _task(
            ctx,
            st,
            f"Prepare renewal quote for {account.name}",
            max(end - timedelta(days=45), today - timedelta(days=10)),
        )
        _task(ctx, st, "Confirm renewal decision-maker", today + timedelta(days=rng.randint(-4, 10)))
    elif stage == LifecycleStage.AT_RISK:
        _task(ctx, st, f"Call {champion} about declining usage", today + timedelta(days=rng.randint(-7, 3)))
    elif stage == LifecycleStage.EXPANSION:
        _task(
            ctx,
            st,
            "Send seat upgrade proposal",
            today + timedelta(days=rng.randint(-3, 10)),
            owner=account.ae,
        )
    elif stage == LifecycleStage.ACTIVE and rng.random() < 0.35:
        _task(ctx, st, "Check in on campaign results", today + timedelta(days=rng.randint(-10, 20)))
    if account.plan in ("pro", "enterprise"):
        day = st.signup_day + timedelta(days=90)
        while day < today - timedelta(days=3):
            _task(
                ctx,
                st,
                "Prepare QBR deck",
                day,
                status=TaskStatus.DONE if rng.random() < 0.9 else TaskStatus.CANCELLED,
            )
            day += timedelta(days=91)


def _build_touches(ctx: _Ctx, st: _AccountState) -> None:
    """Calls, meetings, emails and notes: onboarding, a steady cadence, more when at risk or
    in the renewal window, and the renewal decisions themselves."""
    rng, account = ctx.rng, st.account
    tz, csm = account.timezone, account.owner

    def touch(
        kind: str, summary: str, day: date, actor: User | None = None, contact: Contact | None = None
    ) -> None:
        if day >= st.end_day and not (st.churned and day == st.end_day):
            return
        _activity(
            ctx,
            kind=kind,
            account=account,
            contact=contact or rng.choice(st.contacts),
            actor=actor or csm,
            occurred_at=ctx.at(ctx.past_day(day), tz),
            summary=summary,
        )

    start = st.signup_day
    touch(
        ActivityKind.MEETING,
        "Kickoff meeting",
        start + timedelta(days=rng.randint(1, 5)),
        contact=st.contacts[0],
    )
    touch(ActivityKind.EMAIL, "Sent onboarding checklist", start + timedelta(days=rng.randint(0, 2)))
    if st.integrated_day is not None:
        touch(
            ActivityKind.MEETING,
            "Onboarding training session",
            st.integrated_day + timedelta(days=rng.randint(1, 7)),
        )
    cadence = {"starter": 0.3, "growth": 0.45, "pro": 0.65, "enterprise": 0.8}[account.plan]
    day = start + timedelta(days=30)
    while day < st.end_day:
        if rng.random() < cadence:
            kind = _pick(
                rng,
                (
                    (ActivityKind.EMAIL, 40),
                    (ActivityKind.CALL, 25),
                    (ActivityKind.MEETING, 15),
                    (ActivityKind.NOTE, 20),
                ),
            )
            touch(kind, rng.choice(TOUCHES[kind]), day + timedelta(days=rng.randint(0, 29)))
        day += timedelta(days=30)
    if st.health == "declining":
        for kind, summary in rng.sample(RISK_TOUCHES, 2):
            touch(kind, summary, st.end_day - timedelta(days=rng.randint(1, 40)))
    if account.lifecycle_stage == LifecycleStage.RENEWAL_WINDOW:
        touch(ActivityKind.EMAIL, "Sent renewal quote", ctx.today - timedelta(days=rng.randint(1, 14)))
        touch(
            ActivityKind.MEETING, "Renewal planning meeting", ctx.today - timedelta(days=rng.randint(1, 20))
        )
    if st.churned:
        reason = account.attributes["churn_reason"].replace("_", " ")
        touch(ActivityKind.NOTE, f"Churned: {reason}", st.end_day, contact=st.contacts[0])
    for term in st.terms:
        if term.status == RenewalStatus.UPCOMING:
            continue
        activity = _activity(
            ctx,
            kind=ActivityKind.RENEWAL_DECISION,
            account=account,
            actor=csm,
            occurred_at=term.decided_at,
            summary=f"Renewal {term.get_status_display().lower()}: {term.acv} → {term.renewed_acv or 0}",
            data={
                "status": term.status,
                "acv": str(term.acv),
                "renewed_acv": str(term.renewed_acv) if term.renewed_acv is not None else None,
            },
        )
        ctx.data.refs.append((activity, "renewal", term))


# --- Database ---------------------------------------------------------------------------------


def demo_accounts():
    return Account.objects.filter(attributes__demo=True)


def demo_contacts():
    return Contact.objects.filter(attributes__demo=True)


def demo_exists() -> bool:
    return (
        demo_accounts().exists()
        or demo_contacts().exists()
        or Order.objects.filter(external_id__startswith=ORDER_PREFIX).exists()
        or Event.objects.filter(external_id__startswith=EVENT_PREFIX).exists()
    )


def delete_demo_data() -> int:
    """Delete demo rows (and what hangs off them). The demo staff users are kept."""
    accounts, contacts = demo_accounts(), demo_contacts()
    owned = Q(account__in=accounts) | Q(contact__in=contacts)
    deleted = 0
    for queryset in (
        Event.objects.filter(owned | Q(external_id__startswith=EVENT_PREFIX)),
        Order.objects.filter(owned | Q(external_id__startswith=ORDER_PREFIX)),
        Activity.objects.filter(owned),
        Task.objects.filter(owned),
        Deal.objects.filter(account__in=accounts),
        Renewal.objects.filter(account__in=accounts),
        contacts,
        accounts,
    ):
        deleted += queryset.delete()[0]
    return deleted


def write(data: DemoData) -> None:
    """Insert the generated rows in dependency order, then backdate created_at."""
    for model, rows in (
        (Account, data.accounts),
        (Contact, data.contacts),
        (Renewal, data.renewals),
        (Deal, data.deals),
        (Task, data.tasks),
        (Order, data.orders),
        (Event, data.events),
    ):
        model.objects.bulk_create(rows, batch_size=BATCH)
    for activity, key, obj in data.refs:
        activity.data = {key: obj.pk, **activity.data}
    for activity in data.activities:
        # Built before their contact and account were inserted: take the keys they have now.
        activity.contact_id = activity.contact.pk if activity.contact else None
        activity.account_id = activity.account.pk if activity.account else None
    crm_services.activities_record_bulk(data.activities, batch_size=BATCH)
    by_model: dict[type, list] = {}
    for obj, moment in data.created_at:
        obj.created_at = moment
        by_model.setdefault(type(obj), []).append(obj)
    for model, objs in by_model.items():
        model.objects.bulk_update(objs, ["created_at"], batch_size=BATCH)
    Account.objects.filter(pk__in=[a.pk for a in data.accounts]).update(created_at=F("signed_up_at"))
    Order.objects.filter(external_id__startswith=ORDER_PREFIX).update(created_at=F("ordered_at"))
    Event.objects.filter(external_id__startswith=EVENT_PREFIX).update(received_at=F("occurred_at"))


def seed(*, seed: int, accounts: int, today: date) -> dict[str, int]:
    """Generate and insert the CRM book; returns what was written, by kind."""
    data = build(
        seed=seed,
        accounts=accounts,
        today=today,
        staff=ensure_staff(),
        stages=list(PipelineStage.objects.all()),
        used_emails={e.lower() for e in Contact.objects.exclude(email=None).values_list("email", flat=True)},
        used_phones=set(Contact.objects.exclude(phone=None).values_list("phone", flat=True)),
    )
    write(data)
    return data.counts()

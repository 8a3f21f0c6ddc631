"""Scenario 4 data: orders, contract terms, expansion deals and a play's enrollments over about
three years, at a given number of orders. Deterministic for a seed and a day.

Shape (N orders): N/100 accounts signed up over the 3 years before ``today``, N/10 contacts
(95% in an account, 5% consumers without one), N orders each by a random contact between the
contact's start and its account's churn (or today); one annual term per year of each account's
life, decided when it ends (60% renewed, 15% expanded, 10% downgraded, 15% churned, which
churns the account) and the current one upcoming; an expansion deal for 20% of accounts (60% of
them won); one renewal play with N/20 enrollments (contacts drawn at random, 80% treatment and
20% control) decided between the contact's start and today. Written with COPY / executemany
(bench.bulkload)."""

import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench import bulkload

YEARS_DAYS = 3 * 365
PLANS = ["starter", "growth", "business", "enterprise"]
CHANNELS = ["sms", "email", "paid", "referral", "organic", "other"]
STAGES = ["onboarding", "adopting", "active", "renewal_window", "expansion", "at_risk"]
TERM_OUTCOMES = [("renewed", 0.60), ("expanded", 0.15), ("downgraded", 0.10), ("churned", 0.15)]


def _cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


def _outcome(rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for status, share in TERM_OUTCOMES:
        total += share
        if roll < total:
            return status
    return TERM_OUTCOMES[-1][0]


def generate(orders: int, *, seed: int = 42) -> dict:
    """Build the data set; returns counts, the reference time and timings."""
    from crm.models import Account, Contact, Deal, DealKind, Order, PipelineStage, Renewal, User
    from plays.models import Enrollment, Play, PlayStatus

    rng = random.Random(seed)
    started = time.perf_counter()
    today = datetime.now(UTC).date()
    now = datetime.combine(today, datetime.min.time(), tzinfo=UTC)  # the day's start: reproducible
    origin = now - timedelta(days=YEARS_DAYS)
    n_accounts = max(orders // 100, 10)
    n_contacts = max(orders // 10, 50)

    owners = User.objects.bulk_create(
        [User(username=f"an{i}", first_name=f"An{i}", last_name="Bench", role="agent") for i in range(20)]
    )
    owner_ids = [u.pk for u in owners] or list(User.objects.values_list("pk", flat=True))

    # Accounts, with their terms: the account's churn follows from its renewal decisions.
    accounts, terms = [], []
    for i in range(n_accounts):
        signed = origin + timedelta(days=rng.uniform(0, YEARS_DAYS - 30))
        start = signed.date()
        acv = rng.randint(20, 600) * 10_000  # cents
        churned_at = None
        while True:
            end = start + timedelta(days=365)
            if end > today:
                terms.append((i, start, end, _cents(acv), "upcoming", None, None))
                break
            decided_at = datetime.combine(end, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
            status = _outcome(rng)
            if status == "churned":
                terms.append((i, start, end, _cents(acv), status, Decimal(0), decided_at))
                churned_at = decided_at
                break
            factor = {"renewed": 1.0, "expanded": rng.uniform(1.1, 1.6), "downgraded": rng.uniform(0.5, 0.9)}
            renewed = int(acv * factor[status])
            terms.append((i, start, end, _cents(acv), status, _cents(renewed), decided_at))
            acv, start = renewed, end
        accounts.append(
            (
                f"Analytics Account {i}",
                f"an{i}.example.com",
                rng.choice(owner_ids),
                rng.choice(PLANS),
                rng.randint(5, 200),
                "churned" if churned_at else rng.choice(STAGES),
                signed,
                churned_at,
                rng.choice(CHANNELS),
                _cents(rng.randint(500, 20_000) * 100),
            )
        )
    first_account = Account.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    bulkload.load(
        Account,
        [
            "name",
            "domain",
            "owner_id",
            "plan",
            "seats",
            "lifecycle_stage",
            "signed_up_at",
            "churned_at",
            "acquisition_channel",
            "acquisition_cost",
        ],
        accounts,
    )
    account_ids = list(
        Account.objects.filter(pk__gt=first_account).order_by("pk").values_list("pk", flat=True)
    )
    bulkload.load(
        Renewal,
        ["account_id", "start_date", "end_date", "acv", "status", "renewed_acv", "decided_at"],
        ((account_ids[i], *rest) for i, *rest in terms),
    )

    # Contacts: a start (their first possible order) after the account's sign-up, and an end.
    contacts, spans = [], []
    for c in range(n_contacts):
        if rng.random() < 0.05:
            a, begin, stop = None, origin, now
        else:
            a = rng.randrange(n_accounts)
            begin, stop = accounts[a][6], accounts[a][7] or now
        first = begin + (stop - begin) * rng.random() * 0.5
        spans.append((a, first, max((stop - first).total_seconds(), 1.0)))
        contacts.append(
            (
                None if a is None else account_ids[a],
                f"First{c % 97}",
                f"Last{c % 89}",
                f"an{c}@contacts.example.com",
                rng.choice(owner_ids),
                rng.choice(CHANNELS),
            )
        )
    first_contact = Contact.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    bulkload.load(
        Contact,
        ["account_id", "first_name", "last_name", "email", "owner_id", "acquisition_channel"],
        contacts,
    )
    contact_ids = list(
        Contact.objects.filter(pk__gt=first_contact).order_by("pk").values_list("pk", flat=True)
    )

    # Orders: each by a random contact (some buy far more than others), within its span.
    def order_rows():
        for _ in range(orders):
            c = min(int(n_contacts * rng.random() ** 1.3), n_contacts - 1)
            a, first, seconds = spans[c]
            at = first + timedelta(seconds=int(seconds * rng.random()))
            yield (
                contact_ids[c],
                None if a is None else account_ids[a],
                _cents(rng.randint(500, 40_000)),
                at,
            )

    bulkload.load(Order, ["contact_id", "account_id", "amount", "ordered_at"], order_rows())

    # Expansion deals closed over the accounts' lives.
    won = PipelineStage.objects.filter(is_won=True).values_list("pk", flat=True).first()
    lost = PipelineStage.objects.filter(is_closed=True, is_won=False).values_list("pk", flat=True).first()
    deals = []
    for i, account in enumerate(accounts):
        if rng.random() < 0.2:
            signed, end = account[6], account[7] or now
            closed = signed + (end - signed) * rng.random()
            deals.append(
                (
                    "Expansion",
                    account_ids[i],
                    DealKind.EXPANSION,
                    won if rng.random() < 0.6 else lost,
                    _cents(rng.randint(50, 3_000) * 1_000),
                    closed,
                )
            )
    bulkload.load(Deal, ["name", "account_id", "kind", "stage_id", "amount", "closed_at"], deals)

    # A renewal play and its exposure log: N/20 random contacts, 80/20 split, each decided on a
    # whole second between the contact's first possible order and today.
    play = Play.objects.create(
        name="Renewal nudge (bench)",
        moment="renewal",
        trigger={"type": "renewal_window", "days": 60},
        template="Hi {first_name}, your renewal is coming up.",
        holdout_percent=20,
        status=PlayStatus.ACTIVE,
    )
    chosen = rng.sample(range(n_contacts), min(orders // 20, n_contacts))
    enrollments = []
    for number, c in enumerate(chosen):
        a, first, _ = spans[c]
        control = rng.random() < 0.2
        sent = not control and rng.random() < 0.8
        enrollments.append(
            (
                play.pk,
                contact_ids[c],
                None if a is None else account_ids[a],
                f"renewal:{number}:60",
                "control" if control else "treatment",
                "sent" if sent else "suppressed",
                "holdout" if control else ("" if sent else "consent"),
                now - timedelta(seconds=int((now - first).total_seconds() * rng.random())),
            )
        )
    bulkload.load(
        Enrollment,
        ["play_id", "contact_id", "account_id", "occurrence", "arm", "outcome", "reason", "decided_at"],
        enrollments,
    )
    bulkload.analyze()
    return {
        "orders": orders,
        "accounts": n_accounts,
        "contacts": n_contacts,
        "renewals": len(terms),
        "churned_accounts": sum(1 for a in accounts if a[7]),
        "deals": len(deals),
        "enrollments": len(enrollments),
        "play_id": play.pk,
        "now": now.isoformat(),
        "seconds": round(time.perf_counter() - started, 2),
    }

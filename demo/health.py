"""The demo's account health: usage before the past renewals, then the daily health job.

``demo.crm`` writes daily logins for each account's last ~75 active days only; a model that
learns from past renewals also needs the usage before the renewals that were *renewed* (the
churned ones already have theirs: they end in the fade before churn). This adds those logins,
from its own random stream (so the rest of the demo, and its play story, stay as they were),
with noise: about one renewer in five dipped before renewing anyway. Then the health job runs
as every night: health bands, the model's report and derived lifecycle stages. The book alone
holds 11 churned renewals (its generator churns ~8% a year), under the model's documented
threshold (HEALTH_MIN_CHURNS, 20); with the former customers (``demo.crm.build_former``, their
own random stream: more churn in the book would change the stream the pinned play story is
drawn from) it holds enough, and the model is trained (tests/demo/test_health_demo.py)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from crm.models import Account, Contact, Event, Renewal, RenewalStatus
from demo.crm import EVENT_PREFIX, _poisson
from demo.vocabulary import LOGINS_PER_DAY, REPORTS

HISTORY_PREFIX = f"{EVENT_PREFIX}h-"
WINDOW_DAYS = 75  # as demo.crm's login window
DIP_SHARE = 0.2  # renewers whose usage dipped before the renewal anyway


def _moment(rng: random.Random, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, rng.randrange(13, 23), rng.randrange(60), tzinfo=UTC)


def add_usage_history(*, seed: int, today: date) -> int:
    """Logins (and report views) in the 75 days before each renewed past term's end that the
    crm generator did not cover; returns how many events were written."""
    rng = random.Random(f"{seed}-health-history")
    accounts = {
        row[0]: row
        for row in Account.objects.filter(attributes__demo=True)
        .values_list("pk", "plan", "signed_up_at", "churned_at")
        .order_by("pk")
    }
    contacts: dict[int, list[int]] = {}
    for pk, account_id in (
        Contact.objects.filter(account_id__in=accounts).order_by("pk").values_list("pk", "account_id")
    ):
        contacts.setdefault(account_id, []).append(pk)
    terms = (
        Renewal.objects.filter(account_id__in=accounts, decided_at__isnull=False)
        .exclude(status__in=(RenewalStatus.UPCOMING, RenewalStatus.CHURNED))
        .order_by("account_id", "end_date")
        .values_list("account_id", "end_date")
    )
    events: list[Event] = []
    for account_id, end in terms:
        _, plan, signed_up_at, churned_at = accounts[account_id]
        people = contacts.get(account_id)
        if not people:
            continue
        last_active = churned_at.date() if churned_at else today
        covered_from = last_active - timedelta(days=WINDOW_DAYS)  # demo.crm's window
        start = max(signed_up_at.date() + timedelta(days=1), end - timedelta(days=WINDOW_DAYS))
        dip = rng.random() < DIP_SHARE
        events += _logins(rng, account_id, people, plan, start, min(end, covered_from), end, fade=dip)
    return _write(events, "p")


def _logins(
    rng,
    account_id,
    people,
    plan,
    start: date,
    stop: date,
    end: date,
    *,
    fade: bool,
    over: int = 45,
    level: float = 1.0,
) -> list[Event]:
    """Daily logins (and report views) in [start, stop) as demo.crm makes them; ``fade``: they
    fade over the ``over`` days before ``end`` from ``level`` times the usual rate, as before
    a churn."""
    events, day = [], start
    while day < stop:
        left = (end - day).days
        rate = LOGINS_PER_DAY[plan] * (0.25 if day.weekday() >= 5 else 1.0)
        if fade and left <= over:
            rate *= level * max(0.06, left / over) ** 1.3
        for _ in range(_poisson(rng, rate)):
            moment = _moment(rng, day)
            contact = rng.choice(people) if people else None
            events.append(Event(account_id=account_id, contact_id=contact, name="login", occurred_at=moment))
            if rng.random() < (0.2 if fade else 0.4):
                events.append(
                    Event(
                        account_id=account_id,
                        contact_id=contact,
                        name="report_viewed",
                        properties={"report": rng.choice(REPORTS)},
                        occurred_at=moment + timedelta(minutes=rng.randint(1, 40)),
                    )
                )
        day += timedelta(days=1)
    return events


def _write(events: list[Event], tag: str) -> int:
    for n, event in enumerate(events):
        event.external_id = f"{HISTORY_PREFIX}{tag}{n:06d}"
    Event.objects.bulk_create(events, batch_size=2000)
    return len(events)


def seed(*, seed: int, today: date) -> dict[str, int]:
    from analytics.tasks import score_account_health

    added = add_usage_history(seed=seed, today=today)
    result = score_account_health(now=datetime(today.year, today.month, today.day, tzinfo=UTC))
    return {"usage history events": added, "health scores": result["scored"]}

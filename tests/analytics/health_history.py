"""A seeded synthetic history of B2B accounts for the health model's tests: yearly terms, usage
events (noise: they say nothing about churn), weekly seat-use readings and decided renewals.

``signal=True`` plants one known cause: an account whose seats sit under 35% in use churns at a
renewal with probability 0.6, others 0.05. ``signal=False`` decides every renewal by a coin with
P(churn) = 0.2, whatever the account did."""

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from crm.models import Account, Event, Renewal, RenewalStatus

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def build_history(*, accounts: int = 300, signal: bool = True, seed: int = 7, now: datetime = NOW) -> dict:
    rng = random.Random(seed)
    today = now.date()
    made = Account.objects.bulk_create(
        [
            Account(
                name=f"Synthetic {k:04d}",
                seats=10,
                signed_up_at=_at(today - timedelta(days=rng.randint(500, 1000))),
            )
            for k in range(accounts)
        ]
    )
    renewals: list[Renewal] = []
    events: list[Event] = []
    churned_accounts: list[Account] = []
    for account in made:
        start = account.signed_up_at.date()
        while True:
            end = start + timedelta(days=365)
            term = Renewal(account=account, start_date=start, end_date=end, acv=Decimal("1200.00"))
            renewals.append(term)
            # Seats in use this term: the planted cause (or noise, without the signal).
            ratio = rng.uniform(0.1, 1.0)
            first = max(start, end - timedelta(days=160))
            day = first
            while day < min(end, today):
                events.append(
                    Event(
                        account=account,
                        name="seats_used",
                        properties={"ratio": round(ratio + rng.uniform(-0.03, 0.03), 3)},
                        occurred_at=_at(day),
                    )
                )
                for _ in range(rng.randint(0, 3)):
                    events.append(
                        Event(account=account, name="login", occurred_at=_at(day, rng.randint(8, 18)))
                    )
                day += timedelta(days=7)
            if end > today - timedelta(days=5):
                break
            p = (0.6 if ratio < 0.35 else 0.05) if signal else 0.2
            churn = rng.random() < p
            term.status = RenewalStatus.CHURNED if churn else RenewalStatus.RENEWED
            term.renewed_acv = None if churn else term.acv
            term.decided_at = _at(end - timedelta(days=rng.randint(0, 10)))
            if churn:
                account.churned_at = _at(end)
                churned_accounts.append(account)
                break
            start = end
    Renewal.objects.bulk_create(renewals)
    Event.objects.bulk_create(events, batch_size=2000)
    Account.objects.bulk_update(churned_accounts, ["churned_at"])
    return {"accounts": made, "renewals": renewals, "events": len(events)}

"""``seed_demo``: the CRM book first, then the SMS inbox and the plays' history on top of it,
in one transaction; then the former customers (accounts churned in the past); last, the usage
before past renewals and the daily health job (health scores, the model's report, derived
lifecycle stages). Deterministic for a seed and a day; a second run does nothing unless
``force``, which replaces the previous demo rows (and only those)."""

import time
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils import timezone

from demo import clv, crm, health, plays, sms


@dataclass(frozen=True)
class SeedResult:
    created: bool
    counts: dict[str, int]
    deleted: int
    elapsed: float


def delete_demo() -> int:
    """Delete every demo row: the SMS and plays rows first, as they point at demo contacts."""
    return clv.delete() + sms.delete() + plays.delete() + crm.delete_demo_data()


def seed_demo(
    *, seed: int = 42, accounts: int = 300, force: bool = False, today: date | None = None
) -> SeedResult:
    """Load the demo data set in one transaction. When demo data exists, do nothing unless
    ``force``, which replaces it."""
    started = time.perf_counter()
    with transaction.atomic():
        deleted = 0
        if crm.demo_exists():
            if not force:
                return SeedResult(created=False, counts={}, deleted=0, elapsed=time.perf_counter() - started)
            deleted = delete_demo()
        today = today or timezone.now().date()
        counts = crm.seed(seed=seed, accounts=accounts, today=today)
        counts.update(sms.seed(seed=seed, today=today))
        counts.update(plays.seed(seed=seed, today=today))
        counts.update(clv.seed(seed=seed, today=today))
        # Former customers (their own random stream, never enrolled in a play), for the health
        # model's history: after the plays and CLV, which read the book as the generator left it.
        counts.update(crm.seed_former(seed=seed, accounts=accounts, today=today))
        # Last: the plays' history above reads the CRM as the generator left it.
        counts.update(health.seed(seed=seed, today=today))
    return SeedResult(created=True, counts=counts, deleted=deleted, elapsed=time.perf_counter() - started)

"""Scenario 8: account health scoring at scale (issue 21).

N accounts (100,000 at the issue's scale), each with an upcoming term, weekly seat readings,
usage events over the last 60 days, and a contact with SMS replies for one account in ten.
**Engine**: the daily job's scoring path, ``analytics.scores.health.score`` (four aggregate
queries for every account, the model on a matrix, the top factors) and
``crm.services.accounts_health_write`` (one ``UPDATE ... FROM`` per 5,000 accounts).
**Baseline**: the simplest correct per-account loop: the same feature reader for one account,
the model on one row, the factors, one UPDATE per account. It is timed on a sample of accounts
(``--baseline-accounts``) and extrapolated linearly to N (every account costs it the same four
queries and one write); both must give the same scores for the sample, or the run fails.
The lifecycle stage derivation (``crm.services.lifecycle_stages_refresh``) is timed too.
The model is fitted beforehand (untimed) on 5,000 of the accounts with seeded labels.

Run by ``bench.run`` as its own process on a throwaway database:
``python -m bench.scenarios.health --db postgres --database-url ... --accounts 100000 --out x.json``"""

import argparse
import json
import os
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

NAME = "health"
SPEEDUP_BUDGET = 20  # the set-based scoring at least 20x faster than the per-account loop
BUDGET_ACCOUNTS = 100_000
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This scenario's options on ``bench.run``."""
    parser.add_argument(
        "--health-accounts",
        type=int,
        default=100_000,
        help="scenario 8 scale in accounts (default 100000, the issue's)",
    )
    parser.add_argument(
        "--health-baseline-accounts",
        type=int,
        default=2_000,
        help="scenario 8: accounts the per-account baseline is timed on, extrapolated to the scale "
        "(default 2000)",
    )


def worker_runs(args) -> list[tuple[str, list[str]]]:
    options = [
        "--accounts",
        str(args.health_accounts),
        "--baseline-accounts",
        str(args.health_baseline_accounts),
        "--repeat",
        str(args.repeat),
    ]
    return [(f"{NAME}-{args.health_accounts}", options)]


def _stats(values: list[float]) -> dict:
    ordered = sorted(values)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return {"median": median, "min": ordered[0], "max": ordered[-1], "runs": values}


def build(accounts: int, *, seed: int = 42) -> dict:
    """The data set, in bulk: accounts, terms, events, contacts and inbound replies."""
    from decimal import Decimal

    from core.bulk import rows_insert
    from crm.models import Account, Contact, Event, Renewal
    from sms.models import Direction, Intent, Message, MessageKind, MessageStatus

    started = time.perf_counter()
    rng = random.Random(seed)
    today = NOW.date()
    offset = Account.objects.count()  # a second call grows the data (the harness's test)
    ids = [
        row[0]
        for row in rows_insert(
            Account,
            ("name", "seats", "signed_up_at"),
            ((f"Bench {k:06d}", 10, NOW - timedelta(days=rng.randint(100, 900))) for k in range(accounts)),
            returning=("id",),
        )
    ]
    rows_insert(
        Renewal,
        ("account_id", "start_date", "end_date", "acv"),
        (
            (pk, today - timedelta(days=365 - days), today + timedelta(days=days), Decimal("1200.00"))
            for pk in ids
            for days in [rng.randint(5, 360)]
        ),
    )
    events = 0

    def event_rows():
        nonlocal events
        for pk in ids:
            ratio = rng.uniform(0.1, 1.0)
            for week in range(5):
                events += 1
                yield (pk, "seats_used", {"ratio": round(ratio, 2)}, NOW - timedelta(days=1 + 7 * week))
            for _ in range(rng.randint(0, 12)):
                events += 1
                yield (pk, "login", {}, NOW - timedelta(days=rng.uniform(0.1, 59.9)))

    rows_insert(Event, ("account_id", "name", "properties", "occurred_at"), event_rows())
    replying = ids[::10]
    contacts = [
        row[0]
        for row in rows_insert(
            Contact,
            ("account_id", "first_name", "phone", "phone_valid"),
            ((pk, "Bench", f"+1415{2000000 + offset + n:07d}", True) for n, pk in enumerate(replying)),
            returning=("id",),
        )
    ]
    intents = [Intent.POSITIVE, Intent.HELP, Intent.DEFERRAL, Intent.OPT_OUT, Intent.OTHER]
    rows_insert(
        Message,
        ("contact_id", "direction", "kind", "body", "to_number", "status", "intent", "created_at"),
        (
            (
                contact,
                Direction.INBOUND,
                MessageKind.MANUAL,
                "reply",
                "+14155550100",
                MessageStatus.RECEIVED,
                rng.choice(intents),
                NOW - timedelta(days=rng.uniform(1, 80)),
            )
            for contact in contacts
            for _ in range(2)
        ),
    )
    return {
        "accounts": accounts,
        "events": events,
        "contacts": len(contacts),
        "messages": 2 * len(contacts),
        "seconds": round(time.perf_counter() - started, 1),
    }


def trained_model(accounts: int):
    """A model fitted (untimed) on 5,000 accounts' features with labels from a seeded rule."""
    import numpy as np

    from analytics.scores import health
    from crm.models import Account

    rng = random.Random(7)
    sample = list(Account.objects.order_by("pk").values_list("pk", flat=True)[:5000])
    raws = health.features_as_of(NOW, sample)
    rows = [raws.get(pk) or health.Raw() for pk in sample]
    labels = np.array([1 if rng.random() < (0.5 if (r.seat_use or 1) < 0.35 else 0.08) else 0 for r in rows])
    model = health.fit([NOW] * len(rows), rows, labels)
    return health.Trained(health.HealthSource.MODEL, {}, model)


def engine(trained) -> int:
    from analytics.scores import health
    from crm import services

    return services.accounts_health_write(rows=health.score(trained, NOW), scored_at=NOW)


def baseline(trained, account_ids: list[int]) -> list[tuple]:
    """Per account: its features (four queries), the model on one row, its factors, one UPDATE."""
    from analytics.scores import health
    from crm.models import Account

    rows = []
    for pk in account_ids:
        raw = health.features_as_of(NOW, [pk]).get(pk) or health.Raw()
        x = trained.model.matrix([NOW], [raw])
        risk = round(float(trained.model.predict(x)[0]), 4)
        factors = health.model_factors(trained.model.contributions(x)[0], raw, NOW)
        band = health.band_of(risk)
        Account.objects.filter(pk=pk).update(
            churn_risk=risk,
            health_band=band,
            health_factors=factors,
            health_source=health.HealthSource.MODEL,
            health_scored_at=NOW,
        )
        rows.append((pk, risk, band, factors))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scenarios.health")
    parser.add_argument("--db", required=True, help="label: sqlite | postgres")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--baseline-accounts", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if not 10 <= args.baseline_accounts <= args.accounts:
        parser.error("need 10 <= --baseline-accounts <= --accounts")

    from bench.worker import configure

    configure(args.database_url)
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from bench.worker import _db_version
    from crm import services
    from crm.models import Account

    load_before = os.getloadavg()
    call_command("migrate", verbosity=0, interactive=False)
    dataset = build(args.accounts)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"  [{args.db} {args.accounts:>7,} accounts] data: {dataset['events']:,} events, "
        f"{dataset['messages']:,} replies (built in {dataset['seconds']} s)",
        flush=True,
    )
    trained = trained_model(args.accounts)
    sample = list(Account.objects.order_by("pk").values_list("pk", flat=True)[: args.baseline_accounts])
    times = {"engine": [], "baseline": [], "stages": []}
    problems: list[str] = []
    with CaptureQueriesContext(connection) as captured:
        written = engine(trained)
    engine_queries = len(captured)
    if written != args.accounts:
        problems.append(f"the engine wrote {written:,} accounts, not {args.accounts:,}")
    expected = {
        pk: (risk, band, factors)
        for pk, risk, band, factors in Account.objects.filter(pk__in=sample).values_list(
            "pk", "churn_risk", "health_band", "health_factors"
        )
    }
    rows: list[tuple] = []
    for _ in range(args.repeat):  # alternate, so load on the shared machine hits both alike
        started = time.perf_counter()
        with transaction.atomic():
            engine(trained)
        times["engine"].append(time.perf_counter() - started)
        started = time.perf_counter()
        with transaction.atomic():
            rows = baseline(trained, sample)
        times["baseline"].append(time.perf_counter() - started)
        started = time.perf_counter()
        services.lifecycle_stages_refresh(now=NOW)
        times["stages"].append(time.perf_counter() - started)
    differing = [pk for pk, risk, band, factors in rows if expected.get(pk) != (risk, band, factors)]
    if differing:
        problems.append(
            f"the baseline and the engine disagree on {len(differing)} accounts, e.g. {differing[:3]}"
        )
    engine_s, sample_s = _stats(times["engine"]), _stats(times["baseline"])
    extrapolated = sample_s["median"] * args.accounts / args.baseline_accounts
    result = {
        "scenario": NAME,
        "db": args.db,
        "db_version": _db_version(connection),
        "accounts": args.accounts,
        "baseline_accounts": args.baseline_accounts,
        "dataset": dataset,
        # Not "engine": the plays report (scenario 1) reads every run that has one.
        "scoring": {**engine_s, "queries": engine_queries},
        "baseline_sample": sample_s,
        "baseline_extrapolated_seconds": extrapolated,
        "speedup": extrapolated / engine_s["median"],
        "stages": _stats(times["stages"]),
        "load_average": {"start": load_before, "end": os.getloadavg()},
        "problems": problems,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(
        f"  [{args.db} {args.accounts:>7,} accounts] engine {engine_s['median']:.2f} s "
        f"({engine_queries} queries), baseline {sample_s['median']:.2f} s on "
        f"{args.baseline_accounts:,} -> {extrapolated:.1f} s extrapolated "
        f"({result['speedup']:.0f}x); stages {result['stages']['median']:.2f} s",
        flush=True,
    )
    for problem in problems:
        print(f"WARNING: {problem}", file=sys.stderr, flush=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    connection.close()
    return 1 if problems else 0


# --- Report -----------------------------------------------------------------------------------


def markdown(runs: list[dict]) -> list[str]:
    runs = [run for run in runs if run.get("scenario") == NAME and run.get("scoring")]
    if not runs:
        return []
    lines = [
        "",
        "## Scenario 8 — account health scoring",
        "",
        "The daily job's scoring (features of every account in four aggregate queries, the model on a "
        "matrix, the top factors, one `UPDATE ... FROM` per 5,000 accounts) against the per-account loop "
        "(the same reader for one account, one UPDATE each), timed on a sample and extrapolated linearly; "
        f"both must give the same scores. Budget: at least {SPEEDUP_BUDGET}x faster at "
        f"{BUDGET_ACCOUNTS:,} accounts.",
        "",
        "| DB | accounts | engine (median, min-max) | queries | per-account loop (sample) "
        "| loop extrapolated | speed-up | stage derivation | budget |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        engine_s, sample_s = run["scoring"], run["baseline_sample"]
        met = run["speedup"] >= SPEEDUP_BUDGET
        lines.append(
            f"| {run['db']} | {run['accounts']:,} | {engine_s['median']:.2f} s ({engine_s['min']:.2f}-"
            f"{engine_s['max']:.2f}) | {engine_s['queries']} | {sample_s['median']:.2f} s on "
            f"{run['baseline_accounts']:,} | {run['baseline_extrapolated_seconds']:.1f} s *extrapolated* "
            f"| {run['speedup']:.0f}x | {run['stages']['median']:.2f} s "
            f"| {'✅' if met else '❌'} ≥ {SPEEDUP_BUDGET}x |"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())

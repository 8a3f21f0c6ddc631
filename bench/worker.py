"""One benchmark run on one database at one scale, in its own process (Django is configured
once per process). Started by ``bench.run``; writes its measurements as JSON."""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def configure(database_url: str) -> None:
    # Production-like settings: DEBUG off (no query log), quiet hours off so the outcome does
    # not depend on the hour the benchmark runs, console provider (nothing is delivered).
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-not-a-secret",
            "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SMS_PROVIDER": "console",
            "SMS_QUIET_HOURS_START": "0",
            "SMS_QUIET_HOURS_END": "24",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)  # the ORM broker: enqueueing is part of the measured path
    import django

    django.setup()


def _stats(values: list[float]) -> dict:
    ordered = sorted(values)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return {"median": median, "min": ordered[0], "max": ordered[-1], "runs": values}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True, help="label: sqlite | postgres")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--contacts", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--window-share", type=float, default=0.25)
    parser.add_argument("--baseline", action="store_true", help="also measure the baseline")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    configure(args.database_url)
    from django.core.management import call_command
    from django.db import connection

    from bench.scenarios import plays as scenario

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    migrate_seconds = time.perf_counter() - started
    from bench import data

    dataset = data.generate(args.contacts, window_share=args.window_share)
    dataset["migrate_seconds"] = round(migrate_seconds, 2)
    _check_numbers()
    play = scenario.create_play()

    engine, baseline = [], []
    for repetition in range(args.repeat):
        engine.append(scenario.measure(play, scenario.run_engine))
        _log(args, "engine", repetition, engine[-1])
        if args.baseline:
            baseline.append(scenario.measure(play, scenario.run_baseline))
            _log(args, "baseline", repetition, baseline[-1])

    problems = _compare(engine, baseline)
    result = {
        "scenario": scenario.NAME,
        "db": args.db,
        "db_version": _db_version(connection),
        "contacts": args.contacts,
        "window_share": args.window_share,
        "dataset": dataset,
        "candidates": engine[0]["candidates"],
        "decided": engine[0]["decided"],
        "outcome": engine[0]["outcome"],
        "engine": {**_stats([r["seconds"] for r in engine]), "queries": engine[0]["queries"]},
        "baseline": (
            {**_stats([r["seconds"] for r in baseline]), "queries": baseline[0]["queries"], "measured": True}
            if baseline
            else None
        ),
        "problems": problems,
    }
    if args.profile:
        path = OUT / f"profile-{scenario.NAME}-{args.db}-{args.contacts}.txt"
        result["profile"] = scenario.profile(play, scenario.run_engine, path)
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    connection.close()
    return 1 if problems else 0


def _log(args, which: str, repetition: int, run: dict) -> None:
    print(
        f"  [{args.db} {args.contacts:>7}] {which:8s} #{repetition + 1}: {run['seconds']:8.2f} s  "
        f"{run['decided']} decided, {run['outcome']['messages_queued']} texts, {run['queries']} queries",
        flush=True,
    )


def _compare(engine: list[dict], baseline: list[dict]) -> list[str]:
    """Every repetition, engine or baseline, must have written exactly the same outcome."""
    problems = []
    reference = engine[0]["outcome"]
    if reference["enrollments"] != engine[0]["candidates"]:
        problems.append(f"engine decided {reference['enrollments']} of {engine[0]['candidates']} candidates")
    if reference["messages_queued"] != reference["enrollments_with_message"]:
        problems.append("engine: texts queued != enrollments linked to a text")
    for which, runs in (("engine", engine), ("baseline", baseline)):
        for number, run in enumerate(runs, 1):
            if run["outcome"] != reference:
                problems.append(
                    f"{which} repetition {number} wrote a different outcome than engine repetition 1:\n"
                    f"    engine:   {json.dumps(reference, sort_keys=True)}\n"
                    f"    {which}: {json.dumps(run['outcome'], sort_keys=True)}"
                )
    for problem in problems:
        print(f"WARNING: {problem}", file=sys.stderr, flush=True)
    return problems


def _check_numbers() -> None:
    import phonenumbers

    from crm.models import Contact

    sample = Contact.objects.order_by("?").values_list("phone", flat=True)[:200]
    bad = [n for n in sample if not phonenumbers.is_valid_number(phonenumbers.parse(n))]
    if bad:
        raise SystemExit(f"generated invalid phone numbers, e.g. {bad[:3]}")


def _db_version(connection) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
        else:
            cursor.execute("SELECT sqlite_version()")
        return cursor.fetchone()[0]


if __name__ == "__main__":
    sys.exit(main())

"""Scenario 6: advancing journeys (issue 18). N enrollments of a journey wait at its wait step,
the wait elapsed; one ``plays.journey.journeys_advance`` takes them all through the next step, a
send with two variants (governance, variant, render, texts queued and enqueued, step decisions,
enrollments completed), with the configured advancers side by side (``JOURNEY_ADVANCERS``, 2 on
PostgreSQL; one on SQLite), and again with one advancer alone.

Two baselines measured in the same run on the same contacts:
- **entry**: the same contacts entering a one-text play through the engine
  (``plays.engine.play_run``: candidates, holdout, governance, texts): what one text per contact
  costs when it is not a journey's later step. The ratio says what a journey's step adds.
- **per enrollment**: the same advance one enrollment at a time (``batch_size=1``: the same
  code and advancers, its queries paid per enrollment), over at most ``--baseline-enrollments`` enrollments
  and extrapolated linearly above that (labelled). The issue's budget: the batched advance at
  least 20x faster.

Every repetition starts from the same state (the previous one's texts, decisions and enqueued
tasks deleted, the enrollments put back at the wait) and must write the same outcome.

Run by ``bench.run`` (``--scenario journeys``) on a throwaway database, or alone:
``python -m bench.scenarios.journeys --db sqlite --database-url sqlite:///x.db --enrollments
10000 --out x.json``"""

import argparse
import itertools
import json
import os
import resource
import statistics
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

NAME = "journeys"
SPEEDUP_BUDGET = 20  # the issue: at least 20x the per-enrollment baseline
BUDGET_SECONDS = 15  # the issue: 100,000 enrollments under 15 s on PostgreSQL
BUDGET_ENROLLMENTS = 100_000
EVENT = "bench_journey_signed_up"
SECOND_TEXTS = {
    "A": "Hi {first_name}, {owner} again: is {account} connected yet? Reply and I'll help.",
    "B": "{first_name}, one step left for {account}: connect your integration. Questions? Reply here.",
}
STEPS = [
    {"type": "send", "variants": [{"name": "A", "template": "Welcome {first_name}", "weight": 1}]},
    {"type": "wait", "days": 2},
    {"type": "send", "variants": [{"name": n, "template": t, "weight": 1} for n, t in SECOND_TEXTS.items()]},
]
WAIT_STEP = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This scenario's options on ``bench.run``."""
    group = parser.add_argument_group("scenario 6, advancing journeys")
    group.add_argument(
        "--journey-enrollments",
        type=int,
        default=None,
        help="waiting enrollments advanced (default: 10000 on SQLite, 100000 on PostgreSQL)",
    )
    group.add_argument(
        "--journey-baseline-enrollments",
        type=int,
        default=1000,
        help="enrollments the one-at-a-time baseline advances (extrapolated above; default 1000)",
    )
    group.add_argument(
        "--journey-entry-enrollments",
        type=int,
        default=10_000,
        help="contacts the one-text entry baseline enters, compared per enrollment (default 10000)",
    )


def worker_runs(args) -> list[tuple[str, list[str]]]:
    """One run per database; without ``--journey-enrollments`` each database takes its own size
    (the worker reads ``--enrollments 0`` as 10,000 on SQLite, 100,000 on PostgreSQL)."""
    options = [
        "--enrollments",
        str(args.journey_enrollments or 0),
        "--baseline-enrollments",
        str(args.journey_baseline_enrollments),
        "--entry-enrollments",
        str(args.journey_entry_enrollments),
        "--repeat",
        str(args.repeat),
    ]
    return [(f"{NAME}-{args.journey_enrollments or 'default'}", options)]


# --- Data ---------------------------------------------------------------------------------


def build(count: int, entry_count: int):
    """``count`` opted-in contacts (one per account, so the account caps stay out of it), the
    first ``entry_count`` of them with the event that enters the one-text play; the journey and
    that play. Written with multi-row INSERTs (``core.bulk.rows_insert``), then ANALYZE once.
    Returns both plays."""
    from django.utils import timezone

    from bench.data import AREAS, FIRST, LAST, phone_for
    from core.bulk import rows_insert
    from crm.models import Account, Contact, Event, SmsConsent, User
    from plays.models import Play, PlayStatus

    owner = User.objects.create(username="bench-owner", first_name="Olivia", last_name="Bench")
    # Sorted: the keys are drawn in the rows' order, whatever order RETURNING lists them in.
    account_ids = sorted(
        pk
        for (pk,) in rows_insert(
            Account,
            ("name", "timezone", "owner_id"),
            ((f"Journey Account {i}", AREAS[i % len(AREAS)][1], owner.pk) for i in range(count)),
            returning=("id",),
        )
    )
    contact_ids = sorted(
        pk
        for (pk,) in rows_insert(
            Contact,
            (
                "account_id",
                "first_name",
                "last_name",
                "phone_raw",
                "phone",
                "phone_valid",
                "timezone",
                "sms_consent",
            ),
            (
                (
                    account_ids[i],
                    FIRST[i % len(FIRST)],
                    LAST[i % len(LAST)],
                    phone,
                    phone,
                    True,
                    tz,
                    SmsConsent.OPTED_IN,
                )
                for i, (phone, tz) in ((i, phone_for(i)) for i in range(count))
            ),
            returning=("id",),
        )
    )
    at = timezone.now() - timedelta(hours=1)
    rows_insert(
        Event,
        ("contact_id", "account_id", "name", "occurred_at"),
        ((contact_ids[i], account_ids[i], EVENT, at) for i in range(entry_count)),
    )
    common = {
        "moment": "onboarding",
        "trigger": {"type": "event", "event": EVENT},
        "audience": {},
        "holdout_percent": 0,
        "cooldown_days": 0,
        "status": PlayStatus.ACTIVE,
        "owner": owner,
    }
    journey = Play(name="Bench journey", template="Welcome {first_name}", steps=STEPS, **common)
    one_text = Play(name="Bench one text", template=SECOND_TEXTS["A"], **common)
    for play in (journey, one_text):
        play.full_clean()
        play.save()
    _analyze()
    return journey, one_text


CLEARED_TABLES = ("plays_stepdecision", "plays_enrollment", "sms_message", "crm_activity", "django_q_ormq")


def _analyze(table: str = "") -> None:
    """Statistics once the data is in (the whole database, or the table just filled)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}".strip())


def _vacuum() -> None:
    """PostgreSQL: the cleared tables' dead rows gone, so a repetition does not wade through the
    previous one's (at 500,000 enrollments that is millions of row versions)."""
    from django.db import connection

    # Not inside a transaction (the harness's tests run in one; VACUUM cannot).
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM {', '.join(CLEARED_TABLES)}")


def _clear() -> None:
    """The previous repetition's enrollments, decisions, texts, timeline and enqueued delivery
    tasks (in that order: each points at the next)."""
    from django_q.models import OrmQ

    from crm.models import Activity
    from plays.models import Enrollment, StepDecision
    from sms.models import Message

    for model in (StepDecision, Enrollment, Message, Activity, OrmQ):
        queryset = model.objects.all()
        queryset._raw_delete(queryset.db)  # this throwaway database holds only our rows


def reset_waiting(journey, count: int, now) -> None:
    """``count`` enrollments of the journey waiting at its wait step, the wait over by ``now``
    (they entered three days ago and got the first text), each with its variant; nothing else."""
    from crm.models import Contact
    from plays.engine import enrollments_insert
    from plays.models import EnrollmentState, Outcome
    from plays.steps import variant_for

    _clear()
    _vacuum()
    entered = now - timedelta(days=3)
    columns = (
        "play_id", "contact_id", "account_id", "occurrence", "arm", "outcome", "reason", "decided_at",
        "state", "step", "variant", "version", "next_at", "waited_since", "moves",
    )  # fmt: skip
    rows = [
        (
            journey.pk,
            contact_id,
            account_id,
            f"bench:journey:{contact_id}",
            "treatment",
            Outcome.SENT,
            "",
            entered,
            EnrollmentState.WAITING,
            WAIT_STEP,
            variant_for(journey.pk, 0, contact_id, STEPS[0]["variants"]),
            journey.version,
            now - timedelta(minutes=5),
            entered,
            2,  # the first text and the wait
        )
        for contact_id, account_id in Contact.objects.order_by("pk").values_list("pk", "account_id")[:count]
    ]
    enrollments_insert(rows, columns=columns)
    _analyze("plays_enrollment")


def reset_one_text(one_text) -> None:
    from plays.models import Play

    _clear()
    Play.objects.filter(pk=one_text.pk).update(running_since=None, last_run_at=None)
    # No ANALYZE here: on an emptied table PostgreSQL's statistics would say "no enrollments",
    # and the engine's per-contact probe of the log would then scan the table the run is filling
    # (quadratic). The statistics of the previous N-row state are what production would have.


def outcome(play) -> dict:
    """What the repetition wrote: enrollments by state/step/exit, texts by variant, queued and
    enqueued."""
    from django.db.models import Count

    from plays.models import Enrollment, StepDecision
    from sms.governance import play_source
    from sms.models import Message

    states = Counter()
    for row in (
        Enrollment.objects.filter(play=play).values("state", "step", "exit_reason").annotate(n=Count("pk"))
    ):
        states[f"{row['state']}/{row['step']}/{row['exit_reason'] or '-'}"] = row["n"]
    return {
        "enrollments": dict(sorted(states.items())),
        "decisions": dict(
            sorted(
                Counter(
                    f"{kind}/{outcome}/{variant or '-'}"
                    for kind, outcome, variant in StepDecision.objects.filter(play=play).values_list(
                        "kind", "outcome", "variant"
                    )
                ).items()
            )
        ),
        "texts_queued": Message.objects.filter(source=play_source(play.pk)).count(),
        "texts_enqueued": Message.objects.filter(
            source=play_source(play.pk), enqueued_at__isnull=False
        ).count(),
    }


class _Queries:
    """Counts statements on every connection it is attached to (the advancers' threads each
    open their own)."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self.lock:
            self.count += 1
        return execute(sql, params, many, context)


def timed(function) -> tuple[float, int]:
    from django.db import connection
    from django.db.backends.signals import connection_created

    counter = _Queries()

    def attach(sender, connection, **kwargs):  # an advancer's own connection, opened in its thread
        connection.execute_wrappers.append(counter)

    connection_created.connect(attach)
    try:
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            function()
            return time.perf_counter() - started, counter.count
    finally:
        connection_created.disconnect(attach)


class _BatchTimes:
    """Each batch's own work (``plays.journey._advance_batch``: exits, steps, governance, the
    writes; not the read of the batch nor its commit), in the order they ran, to see whether a
    batch late in a big advance costs what an early one did."""

    def __init__(self):
        self.seconds = []
        self.lock = threading.Lock()

    def __enter__(self):
        from plays import journey

        self.real = journey._advance_batch

        def timed_batch(*args, **kwargs):
            started = time.perf_counter()
            try:
                return self.real(*args, **kwargs)
            finally:
                with self.lock:
                    self.seconds.append(time.perf_counter() - started)

        journey._advance_batch = timed_batch
        return self

    def __exit__(self, *exc):
        from plays import journey

        journey._advance_batch = self.real

    def ends(self) -> dict:
        """Mean seconds of the first and the last tenth of the batches (at least two each)."""
        tenth = max(2, len(self.seconds) // 10)
        if len(self.seconds) < 2 * tenth:
            return {}
        return {
            "batches": len(self.seconds),
            "first_tenth_mean": round(statistics.mean(self.seconds[:tenth]), 3),
            "last_tenth_mean": round(statistics.mean(self.seconds[-tenth:]), 3),
        }


def repetition(journey, one_text, *, count: int, baseline_count: int, entry_count: int, now) -> dict:
    """One of each, from a clean state: the batched advance, the same by one advancer alone, the
    one-text entry, the per-enrollment advance (on its subset)."""
    from plays.engine import play_run
    from plays.journey import journeys_advance

    def measured(function, n: int, play) -> dict:
        seconds, queries = timed(function)
        return {"seconds": seconds, "queries": queries, "n": n, "outcome": outcome(play)}

    result = {}
    reset_waiting(journey, count, now)
    result["advance"] = measured(lambda: journeys_advance(journey, now=now), count, journey)

    # The same advance by one advancer alone (what SQLite, or JOURNEY_ADVANCERS=1, runs), each
    # batch timed.
    reset_waiting(journey, count, now)
    with _BatchTimes() as batches:
        result["advance_one"] = measured(
            lambda: journeys_advance(journey, now=now, advancers=1), count, journey
        )
    result["advance_one"]["batch_seconds"] = batches.ends()

    reset_one_text(one_text)
    result["entry"] = measured(lambda: play_run(one_text, now=now), entry_count, one_text)
    result["entry"]["outcome"]["enrollments"] = count_enrollments(one_text)

    reset_waiting(journey, baseline_count, now)
    result["per_enrollment"] = measured(
        lambda: journeys_advance(journey, now=now, batch_size=1), baseline_count, journey
    )
    return result


def count_enrollments(play) -> int:
    from plays.models import Enrollment

    return Enrollment.objects.filter(play=play).count()


def _median(runs: list[dict], which: str, key: str = "seconds") -> float:
    return statistics.median(run[which][key] for run in runs)


def summarize(runs: list[dict], count: int, baseline_count: int, entry_count: int) -> tuple[dict, list[str]]:
    """Medians, the ratios, and what disagreed (outcomes across repetitions; every enrollment
    advanced to a text)."""
    problems = []
    for which in ("advance", "advance_one", "entry", "per_enrollment"):
        outcomes = {json.dumps(run[which]["outcome"], sort_keys=True) for run in runs}
        if len(outcomes) > 1:
            problems.append(f"{which}: repetitions wrote different outcomes")
    for which in ("advance", "advance_one"):
        advance = runs[0][which]["outcome"]
        if advance["texts_queued"] != count or advance["enrollments"] != {"completed/2/-": count}:
            problems.append(f"{which}: expected {count} texts and completed enrollments, got {advance}")
    if runs[0]["advance"]["outcome"] != runs[0]["advance_one"]["outcome"]:
        problems.append("side by side and alone, the advance wrote different outcomes")
    per_one = runs[0]["per_enrollment"]["outcome"]
    if per_one["texts_queued"] != baseline_count:
        problems.append(f"per-enrollment baseline: expected {baseline_count} texts, got {per_one}")
    if runs[0]["entry"]["outcome"]["texts_queued"] != entry_count:
        problems.append(f"entry baseline: expected {entry_count} texts, got {runs[0]['entry']['outcome']}")
    advance_s = _median(runs, "advance")
    entry_s = _median(runs, "entry")
    per_one_s = _median(runs, "per_enrollment")
    per_one_full = per_one_s * count / baseline_count
    summary = {
        "advance_seconds": round(advance_s, 3),
        "advance_per_second": round(count / advance_s),
        "advance_queries": runs[0]["advance"]["queries"],
        "advance_one_seconds": round(_median(runs, "advance_one"), 3),
        "advance_one_batches": runs[0]["advance_one"].get("batch_seconds", {}),
        "advance_one_queries": runs[0]["advance_one"]["queries"],
        "entry_seconds": round(entry_s, 3),
        "entry_enrollments": entry_count,
        "advance_ms_per_enrollment": round(advance_s * 1000 / count, 4),
        "entry_ms_per_enrollment": round(entry_s * 1000 / entry_count, 4),
        "per_enrollment_ms_per_enrollment": round(per_one_s * 1000 / baseline_count, 3),
        "entry_queries": runs[0]["entry"]["queries"],
        "per_enrollment_seconds": round(per_one_s, 3),
        "per_enrollment_queries": runs[0]["per_enrollment"]["queries"],
        "per_enrollment_full_seconds": round(per_one_full, 2),
        "per_enrollment_extrapolated": baseline_count < count,
        # Per enrollment: the entry baseline runs on its own sample (``--entry-enrollments``).
        "advance_vs_entry": round((advance_s / count) / (entry_s / entry_count), 2),
        "speedup_vs_per_enrollment": round(per_one_full / advance_s, 1),
    }
    return summary, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scenarios.journeys")
    parser.add_argument("--db", required=True, help="label: sqlite | postgres")
    parser.add_argument("--database-url", required=True)
    parser.add_argument(
        "--enrollments", type=int, required=True, help="0: 10000 on SQLite, 100000 on PostgreSQL"
    )
    parser.add_argument("--baseline-enrollments", type=int, default=1000)
    parser.add_argument(
        "--entry-enrollments",
        type=int,
        default=10_000,
        help="contacts the one-text entry baseline enters (its time is compared per enrollment)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    count = args.enrollments or (100_000 if args.db == "postgres" else 10_000)
    baseline_count = min(args.baseline_enrollments, count)
    entry_count = min(args.entry_enrollments, count)
    if baseline_count < 1 or entry_count < 1 or args.repeat < 1:
        parser.error("--baseline-enrollments, --entry-enrollments and --repeat must be positive")

    from bench.worker import configure

    configure(args.database_url)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from bench.worker import _db_version
    from plays.journey import advancer_lanes

    # One text per contact in the measured window: the caps are not what is measured.
    settings.GOVERNANCE_ACCOUNT_WEEKLY_CAP = 1000
    load_before = os.getloadavg()
    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    journey, one_text = build(count, entry_count)
    built = round(time.perf_counter() - started, 1)
    print(f"  [{args.db} {count:>7,} enrollments] data built in {built} s", flush=True)
    now = timezone.now()
    runs = []
    for n in range(args.repeat):
        run = repetition(
            journey, one_text, count=count, baseline_count=baseline_count, entry_count=entry_count, now=now
        )
        runs.append(run)
        print(
            f"  [{args.db} {count:>7,} enrollments] #{n + 1}: advance {run['advance']['seconds']:.2f} s "
            f"({run['advance']['queries']} queries; one advancer {run['advance_one']['seconds']:.2f} s), "
            f"one-text entry {run['entry']['seconds']:.2f} s "
            f"for {entry_count:,}, "
            f"per-enrollment {run['per_enrollment']['seconds']:.2f} s for {baseline_count:,}",
            flush=True,
        )
    summary, problems = summarize(runs, count, baseline_count, entry_count)
    for problem in problems:
        print(f"WARNING: {problem}", file=sys.stderr, flush=True)
    result = {
        "scenario": NAME,
        "db": args.db,
        "db_version": _db_version(connection),
        "enrollments": count,
        "advancers": advancer_lanes(settings.JOURNEY_ADVANCERS),
        "baseline_enrollments": baseline_count,
        "entry_enrollments": entry_count,
        "repeat": args.repeat,
        "data_seconds": built,
        "summary": summary,
        "runs": runs,
        "load_average": {"start": load_before, "end": os.getloadavg()},
        "cpus": os.cpu_count(),
        "problems": problems,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    connection.close()
    return 1 if problems else 0


# --- Report -----------------------------------------------------------------------------------


def markdown(runs: list[dict]) -> list[str]:
    runs = [run for run in runs if run.get("scenario") == NAME and run.get("summary")]
    if not runs:
        return []
    lines = [
        "",
        "## Scenario 6 — advancing journeys",
        "",
        "N enrollments wait at a journey's wait step, the wait over; one advance takes them through the "
        "next step, a send with two variants (governance, variant, texts queued and enqueued, step "
        "decisions). Baselines in the same run on the same contacts, each on a sample and compared per "
        "enrollment: the first contacts entering a one-text play through the engine, and the same advance "
        "one enrollment at a time (extrapolated linearly to N). "
        f"Budgets (issue 18): at least {SPEEDUP_BUDGET}x the "
        f"per-enrollment baseline; under {BUDGET_SECONDS} s for {BUDGET_ENROLLMENTS:,} on PostgreSQL.",
        "",
        "| DB | enrollments | advancers | advance (median) | queries | one advancer "
        "| one-text entry (sample) | advance / entry (per enrollment) | per-enrollment baseline "
        "| speed-up | budget |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        s = run["summary"]
        extrapolated = (
            " *(extrapolated from " + f"{run['baseline_enrollments']:,})*"
            if s["per_enrollment_extrapolated"]
            else ""
        )
        budget = "✅" if s["speedup_vs_per_enrollment"] >= SPEEDUP_BUDGET else "❌"
        budget += f" ≥ {SPEEDUP_BUDGET}x"
        if run["db"] == "postgres" and run["enrollments"] >= BUDGET_ENROLLMENTS:
            met = s["advance_seconds"] * BUDGET_ENROLLMENTS / run["enrollments"] < BUDGET_SECONDS
            budget += f"; {'✅' if met else '❌'} < {BUDGET_SECONDS} s"
        lines.append(
            f"| {run['db']} | {run['enrollments']:,} | {run.get('advancers', 1)} "
            f"| {s['advance_seconds']:.2f} s "
            f"({s['advance_per_second']:,}/s) | {s['advance_queries']} "
            f"| {_seconds(s.get('advance_one_seconds'))} | {s['entry_seconds']:.2f} s "
            f"for {s.get('entry_enrollments', run['enrollments']):,} | {s['advance_vs_entry']:.2f}x "
            f"| {s['per_enrollment_full_seconds']:.1f} s{extrapolated} "
            f"| {s['speedup_vs_per_enrollment']:.1f}x | {budget} |"
        )
    lines += _linearity(runs)
    for run in runs:
        load = run.get("load_average", {})
        lines.append(
            f"\n{run['db']} ({run.get('db_version', '')}): {run['repeat']} repetitions; load average "
            + " → ".join(f"{v[0]:.1f}" for v in (load.get("start"), load.get("end")) if v)
            + f" on {run.get('cpus', '?')} CPUs; {run.get('total_seconds', '?')} s in all."
        )
    return lines


def _seconds(value) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _linearity(runs: list[dict]) -> list[str]:
    """For each database measured at two sizes or more: how the advance's time grew against
    the number of enrollments (1.00x per enrollment is linear)."""
    lines = []
    for db in sorted({run["db"] for run in runs}):
        sizes = sorted(
            (run["enrollments"], run["summary"]["advance_seconds"]) for run in runs if run["db"] == db
        )
        for (n1, t1), (n2, t2) in itertools.pairwise(sizes):
            if n2 > n1:
                lines.append(
                    f"\n{db}: {n2:,} / {n1:,} enrollments ({n2 / n1:.1f}x) took {t2 / t1:.2f}x the time: "
                    f"{(t2 / n2) / (t1 / n1):.2f}x per enrollment (1.00x is linear)."
                )
    for run in runs:
        ends = run["summary"].get("advance_one_batches")
        if ends:
            lines.append(
                f"\n{run['db']} {run['enrollments']:,}, one advancer: {ends['batches']} batches; "
                f"the first tenth took {ends['first_tenth_mean']:.3f} s each, "
                f"the last tenth {ends['last_tenth_mean']:.3f} s "
                "(the batch's own work, without its read and commit)."
            )
    return lines


if __name__ == "__main__":
    sys.exit(main())

"""Scenario 2: outbox throughput. N queued texts delivered through the console provider by a
``manage.py qcluster`` with 1, 2 and 4 workers on PostgreSQL, with the Redis broker and/or the
django-q2 ORM broker; delivery is enqueued the way the product does
(``sms.services.sending.enqueue_deliveries``). Every run is counted afterwards: each text sent exactly
once (the console provider's own log of sends, one line per provider call, and the status
callbacks its playback wrote), none lost, every one delivered.

Baseline: the same texts delivered by one in-process loop calling
``sms.services.delivery.message_deliver`` per message (the simplest correct way), timed to the last
send.

Run alone: ``python -m bench.scenarios.outbox --messages 5000 --workers 1,2,4``; ``bench.run``
starts it with the shared options."""

import argparse
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from bench import processes

NAME = "outbox"
SOURCE = "bench:outbox"
BODY = "Bench outbox text {n}: your renewal is coming up, reply with any question. Reply STOP to opt out."
# The console provider's line for one provider call: "SMS to <to> (<sid>): <body>".
SEND_LINE = re.compile(r"SMS to \S+ \((SM[0-9a-f]+)\): Bench outbox text (\d+):")
CLUSTER_READY = "running."
POLL_SECONDS = 0.25


DATABASES = ("postgres",)  # the scenario is PostgreSQL; SQLite serialises every worker


def _counts(value: str) -> list[int]:
    try:
        counts = sorted({int(part) for part in value.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("takes numbers, e.g. 1,2,4") from None
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError("takes positive numbers")
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This scenario's options on ``bench.run``."""
    group = parser.add_argument_group("scenario 2, outbox throughput (PostgreSQL)")
    group.add_argument(
        "--outbox-messages", type=int, default=1000, help="queued texts per run (default 1000)"
    )
    group.add_argument(
        "--outbox-workers", type=_counts, default=[1, 2, 4], help="qcluster worker counts (default 1,2,4)"
    )
    group.add_argument(
        "--outbox-brokers", default="redis", help="redis and/or orm, comma-separated (default redis)"
    )
    group.add_argument(
        "--outbox-baseline-messages",
        type=int,
        default=300,
        help="texts the one-at-a-time baseline delivers per repetition (default 300)",
    )
    group.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/13", help="a Redis database of the benchmark's own"
    )


def worker_runs(args) -> list[tuple[str, list[str]]]:
    """(label, worker options): one worker per broker (the broker is part of Django's settings)."""
    brokers = [b.strip() for b in args.outbox_brokers.split(",") if b.strip()]
    return [
        (
            f"{NAME}-{broker}",
            [
                "--broker",
                broker,
                "--messages",
                str(args.outbox_messages),
                "--workers",
                ",".join(map(str, args.outbox_workers)),
                "--baseline-messages",
                str(args.outbox_baseline_messages),
                "--repeat",
                str(args.repeat),
                "--redis-url",
                args.redis_url,
                *(["--profile"] if args.profile else []),
            ],
        )
        for broker in brokers
    ]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scenarios.outbox", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--db", default="postgres", choices=DATABASES)
    parser.add_argument("--database-url", required=True, help="an empty PostgreSQL database")
    parser.add_argument("--out", required=True)
    parser.add_argument("--broker", choices=["redis", "orm"], default="redis")
    parser.add_argument("--messages", type=int, default=1000, help="queued texts per run (default 1000)")
    parser.add_argument(
        "--workers", type=_counts, default=[1, 2, 4], help="qcluster worker counts (default 1,2,4)"
    )
    parser.add_argument("--baseline-messages", type=int, default=300, help="0: no baseline (default 300)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=180.0, help="per run, seconds (default 180)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="a Redis DB of our own")
    parser.add_argument("--profile", action="store_true", help="one cProfile'd baseline run")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.repeat < 1 or args.baseline_messages < 0:
        parser.error("--messages and --repeat must be positive")
    return args


# --- Data ---------------------------------------------------------------------------------


def build_contacts(count: int) -> list[tuple[int, str]]:
    """``count`` opted-in contacts with distinct valid numbers in count/5 accounts."""
    from bench.data import AREAS, FIRST, LAST, phone_for
    from crm.models import Account, Contact, SmsConsent

    accounts = Account.objects.bulk_create(
        [
            Account(name=f"Outbox Account {i}", timezone=AREAS[i % len(AREAS)][1])
            for i in range(max(1, count // 5))
        ],
        batch_size=2000,
    )
    contacts = []
    for i in range(count):
        phone, tz = phone_for(i)
        contacts.append(
            Contact(
                account=accounts[i % len(accounts)],
                first_name=FIRST[i % len(FIRST)],
                last_name=LAST[i % len(LAST)],
                phone_raw=phone,
                phone=phone,
                phone_valid=True,
                timezone=tz,
                sms_consent=SmsConsent.OPTED_IN,
            )
        )
    Contact.objects.bulk_create(contacts, batch_size=2000)
    return list(Contact.objects.order_by("pk").values_list("pk", "phone"))


def reset(contacts: list[tuple[int, str]], broker) -> list[int]:
    """Forget the previous run (texts, timeline, callbacks, tasks) and queue one text per
    contact, not yet enqueued. Returns the texts' ids."""
    from django.db import connection
    from django.utils import timezone
    from django_q.models import OrmQ, Task

    from crm.models import Activity
    from sms.models import Direction, Message, MessageKind, MessageStatus, StatusCallback

    for model in (Message, Activity, StatusCallback, OrmQ, Task):
        queryset = model.objects.all()
        queryset._raw_delete(queryset.db)  # this throwaway database holds only our rows
    broker.purge_queue()
    now = timezone.now()
    messages = [
        Message(
            contact_id=contact_id,
            direction=Direction.OUTBOUND,
            kind=MessageKind.AUTOMATED,
            source=SOURCE,
            body=BODY.format(n=n),
            to_number=phone,
            status=MessageStatus.QUEUED,
            segments=1,
            next_attempt_at=now - timedelta(seconds=1),
            status_updated_at=now,
        )
        for n, (contact_id, phone) in enumerate(contacts)
    ]
    ids = [m.pk for m in Message.objects.bulk_create(messages, batch_size=2000)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sms_message")
    return ids


# --- Runs ---------------------------------------------------------------------------------


class _SendCounter(logging.Handler):
    """Counts the console provider's send lines in this process (the baseline)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(f"SMS to {record.args[0]} ({record.args[1]}): {record.args[2]}")


def run_baseline(contacts, broker) -> dict:
    from sms.services.delivery import message_deliver

    ids = reset(contacts, broker)  # the caller passes the baseline's share of the contacts
    counter = _SendCounter()
    console = logging.getLogger("sms.console")
    console.addHandler(counter)
    console.setLevel(logging.INFO)
    console.propagate = False
    started = time.perf_counter()
    try:
        with processes.CpuMeter(group=None, postgres_db=_db_name()) as cpu:
            for message_id in ids:
                message_deliver(message_id=message_id)
    finally:
        console.removeHandler(counter)
    seconds = time.perf_counter() - started
    counts = count(ids, counter.lines, expect_final=False)
    return {
        "seconds_to_sent": seconds,
        "sent_per_second": len(ids) / seconds,
        "cpu": cpu.per_item_ms(len(ids)),
        **counts,
    }


def run_cluster(contacts, broker, *, workers: int, broker_name: str, env: dict, timeout: float) -> dict:
    from django.utils import timezone

    from sms.models import FINAL_STATUSES, Message
    from sms.services.sending import enqueue_deliveries

    ids = reset(contacts, broker)
    log = processes.OUT / f"qcluster-{broker_name}-{workers}w-{os.getpid()}.log"
    log.unlink(missing_ok=True)
    cluster = processes.start(
        [sys.executable, "manage.py", "qcluster"],
        env={**env, "Q_WORKERS": str(workers), "LOG_LEVEL": "INFO"},
        log=log,
    )
    load_before = processes.load_average()
    timed_out = False
    try:
        processes.wait_for_log(cluster, log, CLUSTER_READY, timeout=60)
        _warm_up(broker, workers)
        with processes.CpuMeter(group=cluster.pid, postgres_db=_db_name()) as cpu:
            started_at = timezone.now()
            started = time.perf_counter()
            enqueue_deliveries(ids)
            enqueue_seconds = time.perf_counter() - started
            pending = Message.objects.filter(source=SOURCE).exclude(status__in=FINAL_STATUSES)
            while pending.exists():
                if time.perf_counter() - started > timeout:
                    timed_out = True
                    break
                time.sleep(POLL_SECONDS)
                cpu.sample()
            wall = time.perf_counter() - started
    finally:
        exit_code = processes.stop(cluster, grace=5.0)  # every text is final and counted already
    lines = [line for line in log.read_text(errors="replace").splitlines() if "SMS to " in line]
    counts = count(ids, lines, expect_final=True)
    first = started_at
    last_sent = counts.pop("last_sent_at")
    last_final = counts.pop("last_final_at")
    to_sent = (last_sent - first).total_seconds() if last_sent else None
    to_final = (last_final - first).total_seconds() if last_final else None
    result = {
        "workers": workers,
        "broker": broker_name,
        "enqueue_seconds": enqueue_seconds,
        "seconds_to_sent": to_sent,
        "seconds_to_final": to_final,
        "sent_per_second": len(ids) / to_sent if to_sent else None,
        "final_per_second": len(ids) / to_final if to_final else None,
        "wall_seconds": wall,
        "timed_out": timed_out,
        "cluster_exit": exit_code,
        "load_before": load_before,
        # Per text, to delivered: the qcluster (workers, pusher, monitor), PostgreSQL backends,
        # and this process (enqueue and polling).
        "cpu": cpu.per_item_ms(len(ids)),
        **counts,
    }
    if timed_out:
        result["problems"].append(f"not every text final within {timeout:.0f} s")
    return result


def _warm_up(broker, workers: int, timeout: float = 60.0) -> None:
    """Empty delivery tasks until every worker has run one: imports and database connections
    are made before the clock starts, as in a cluster that has been up for a while."""
    from django_q.models import Task
    from django_q.tasks import async_task

    for _ in range(2 * workers):
        async_task("sms.tasks.deliver_messages", [], broker=broker)
    deadline = time.monotonic() + timeout
    while Task.objects.count() < 2 * workers and time.monotonic() < deadline:
        time.sleep(0.1)
    Task.objects.all().delete()


def count(ids: list[int], send_lines: list[str], *, expect_final: bool) -> dict:
    """What happened to every text, counted from the database and the provider's own log."""
    from django.db.models import Count, Max
    from django_q.models import Task

    from crm.models import Activity, ActivityKind
    from sms.models import Message, MessageStatus, StatusCallback

    texts = Message.objects.filter(source=SOURCE)
    statuses = dict(texts.values_list("status").annotate(n=Count("pk")))
    attempts = dict(texts.values_list("attempts").annotate(n=Count("pk")))
    sids = set(texts.exclude(provider_sid=None).values_list("provider_sid", flat=True))
    sends = Counter()
    send_sids = set()
    for line in send_lines:
        match = SEND_LINE.search(line)
        if match:
            send_sids.add(match.group(1))
            sends[int(match.group(2))] += 1
    expected = len(ids)
    sent_twice = sum(n - 1 for n in sends.values() if n > 1)
    never_sent = expected - len(set(sends) & set(range(expected)))
    callbacks = dict(StatusCallback.objects.values_list("status").annotate(n=Count("pk")))
    callback_sids = set(StatusCallback.objects.values_list("provider_sid", flat=True))
    timeline = dict(
        Activity.objects.filter(kind__in=[ActivityKind.SMS_SENT, ActivityKind.SMS_DELIVERED, "sms_failed"])
        .values_list("kind")
        .annotate(n=Count("pk"))
    )
    last = texts.aggregate(sent=Max("sent_at"), final=Max("status_updated_at"))
    result = {
        "messages": expected,
        "statuses": statuses,
        "attempts": {str(k): v for k, v in attempts.items()},
        "provider_calls": sum(sends.values()),
        "sent_twice": sent_twice,
        "never_sent": never_sent,
        "distinct_sids_on_texts": len(sids),
        "status_callbacks": callbacks,
        "callbacks_for_unknown_sids": len(callback_sids - sids),
        "sids_sent_but_not_on_a_text": len(send_sids - sids),
        "timeline": timeline,
        "failed_tasks": Task.objects.filter(success=False).count(),
        "last_sent_at": last["sent"],
        "last_final_at": last["final"] if expect_final else None,
        "problems": [],
    }
    problems = result["problems"]
    if sent_twice:
        problems.append(f"{sent_twice} provider call(s) for a text already sent")
    if never_sent:
        problems.append(f"{never_sent} text(s) never reached the provider")
    if len(sids) != expected:
        problems.append(f"{len(sids)} distinct provider SIDs on {expected} texts")
    if send_sids - sids:
        problems.append(f"{len(send_sids - sids)} SID(s) sent but carried by no text (a second send)")
    want = MessageStatus.DELIVERED if expect_final else MessageStatus.SENT
    if statuses.get(want, 0) != expected:
        problems.append(f"{statuses.get(want, 0)} of {expected} texts {want}: {statuses}")
    if set(attempts) != {1}:
        problems.append(f"attempts per text: {attempts}")
    if timeline.get(ActivityKind.SMS_SENT, 0) != expected:
        problems.append(f"{timeline.get(ActivityKind.SMS_SENT, 0)} 'sms sent' timeline entries")
    if expect_final:
        if callbacks.get("delivered", 0) != expected or len(callback_sids) != expected:
            problems.append(f"status callbacks {callbacks} for {len(callback_sids)} SIDs")
        if timeline.get(ActivityKind.SMS_DELIVERED, 0) != expected:
            problems.append(f"{timeline.get(ActivityKind.SMS_DELIVERED, 0)} 'delivered' timeline entries")
        if result["failed_tasks"]:
            problems.append(f"{result['failed_tasks']} failed django-q task(s)")
    return result


def profile_worker_path(contacts, broker, path: Path) -> dict:
    """What a worker does per text, in this process without the cluster: the delivery tasks
    (``sms.tasks.deliver_messages`` on batches of 50, as enqueued) and then the console's
    playback task per text, each timed (CPU and wall) without the profiler, then once more
    under cProfile for the listing."""
    import cProfile
    import io
    import pstats

    from sms.models import Message
    from sms.services.sending import DELIVERY_BATCH
    from sms.tasks import console_delivery_playback, deliver_messages

    def deliver(ids):
        for start in range(0, len(ids), DELIVERY_BATCH):
            deliver_messages(ids[start : start + DELIVERY_BATCH])

    def play_back():
        for sid, to in Message.objects.filter(source=SOURCE).values_list("provider_sid", "to_number"):
            console_delivery_playback(sid, to)

    phases = {}
    ids = reset(contacts, broker)
    for label, step in (("deliver_messages", lambda: deliver(ids)), ("console playback", play_back)):
        with processes.CpuMeter(group=None, postgres_db=_db_name()) as cpu:
            started = time.perf_counter()
            step()
            wall = time.perf_counter() - started
        phases[label] = {"wall_ms_per_text": round(1000 * wall / len(ids), 2), **cpu.per_item_ms(len(ids))}
    ids = reset(contacts, broker)
    profiler = cProfile.Profile()
    profiler.enable()
    deliver(ids)
    play_back()
    profiler.disable()
    out = io.StringIO()
    out.write(f"{len(ids)} texts: deliver_messages in batches of {DELIVERY_BATCH}, then the playbacks\n")
    for label, phase in phases.items():
        out.write(f"  {label:18s} {phase}\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)
    path.write_text(out.getvalue())
    broker.purge_queue()
    return {"texts": len(ids), "phases": phases, "file": str(path)}


# --- Driver -------------------------------------------------------------------------------


def _broker_for(name: str, redis_url: str):
    from django_q.brokers import orm, redis_broker
    from django_q.conf import Conf

    # The queue is this run's own (BENCH_QUEUE): purging it touches no other run's tasks.
    if not Conf.CLUSTER_NAME.startswith("lcrm-bench-"):
        raise RuntimeError(f"not a benchmark queue: {Conf.CLUSTER_NAME} (run with bench.settings)")
    return orm.ORM(list_key=Conf.CLUSTER_NAME) if name == "orm" else redis_broker.Redis()


def run_broker(args, broker_name: str, database_url: str) -> dict:
    """All runs on one broker, in this process (Django is set up for that broker)."""
    from django.core.management import call_command

    redis_url = args.redis_url if broker_name == "redis" else ""
    env = processes.product_env(database_url, redis_url=redis_url)
    processes.setup_django(env)
    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    contacts = build_contacts(args.messages)
    build_seconds = time.perf_counter() - started
    broker = _broker_for(broker_name, redis_url)
    baseline, clusters = [], {w: [] for w in args.workers}
    for repetition in range(args.repeat):
        if args.baseline_messages:
            baseline.append(run_baseline(contacts[: args.baseline_messages], broker))
            _log(broker_name, "baseline", repetition, baseline[-1])
        for workers in args.workers:
            run = run_cluster(
                contacts, broker, workers=workers, broker_name=broker_name, env=env, timeout=args.timeout
            )
            clusters[workers].append(run)
            _log(broker_name, f"{workers} worker{'s' if workers > 1 else ''}", repetition, run)
    result = {
        "scenario": NAME,
        "db": "postgres",
        "label": f"{NAME}-{broker_name}",
        "db_version": _db_version(),
        "broker": broker_name,
        "messages": args.messages,
        "baseline_messages": args.baseline_messages,
        "repeat": args.repeat,
        "build_seconds": round(build_seconds, 2),
        "baseline": {**_summary(baseline, "sent_per_second"), "all": baseline} if baseline else None,
        "clusters": {
            str(w): {
                "sent_per_second": _summary(runs, "sent_per_second"),
                "final_per_second": _summary(runs, "final_per_second"),
                "runs": runs,
            }
            for w, runs in clusters.items()
        },
        "problems": [
            f"{broker_name}, {label}: {problem}"
            for label, runs in [("baseline", baseline), *[(f"{w} workers", r) for w, r in clusters.items()]]
            for run in runs
            for problem in run["problems"]
        ],
    }
    if args.profile:
        path = processes.OUT / f"profile-outbox-{broker_name}-{os.getpid()}.txt"
        result["profile"] = profile_worker_path(contacts[: max(args.baseline_messages, 300)], broker, path)
    broker.purge_queue()
    return result


def _db_name() -> str:
    from django.db import connection

    return connection.settings_dict["NAME"]


def _db_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def _summary(runs: list[dict], key: str) -> dict:
    values = [run[key] for run in runs if run.get(key)]
    return processes.stats(values) if values else {"median": None, "min": None, "max": None, "runs": []}


def _log(broker: str, label: str, repetition: int, run: dict) -> None:
    final = run.get("final_per_second")
    print(
        f"  [outbox {broker:5s}] {label:9s} #{repetition + 1}: "
        f"{run['sent_per_second'] or 0:7.1f} texts/s to sent"
        + (f", {final:7.1f}/s to delivered" if final else "")
        + f"  {run['provider_calls']} provider calls, {run['sent_twice']} twice, {run['never_sent']} never"
        + f"  CPU ms/text: {run['cpu']}"
        + (f"  PROBLEMS: {run['problems']}" if run["problems"] else ""),
        flush=True,
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    processes.exit_on_sigterm()
    processes.OUT.mkdir(parents=True, exist_ok=True)
    try:
        result = run_broker(args, args.broker, args.database_url)
    finally:
        from django.db import connections

        connections.close_all()  # before bench.run drops the database
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    for problem in result["problems"]:
        print(f"WARNING: {problem}", file=sys.stderr)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())


# --- Report -------------------------------------------------------------------------------

BUDGET_RATE = 500  # texts/s with 2 workers (issue 8)
BUDGET_WORKERS = 2


def _rate(stats: dict | None) -> str:
    if not stats or stats.get("median") is None:
        return "-"
    return f"{stats['median']:.0f} ({stats['min']:.0f}-{stats['max']:.0f})"


def _cpu(runs: list[dict]) -> str:
    """Median CPU per text: the server side (the qcluster's processes, or for the baseline this
    process) plus the PostgreSQL backends."""
    totals = [
        (r["cpu"]["server_cpu_ms"] or r["cpu"]["this_process_cpu_ms"], r["cpu"]["database_cpu_ms"])
        for r in runs
        if r.get("cpu")
    ]
    if not totals:
        return "-"
    app = processes.stats([a for a, _ in totals])["median"]
    database = processes.stats([d for _, d in totals])["median"]
    return f"{app:.1f} + {database:.1f}"


def markdown(runs: list[dict]) -> list[str]:
    """The scenario's section of the report."""
    runs = [run for run in runs if run.get("scenario") == NAME or str(run.get("label", "")).startswith(NAME)]
    if not runs:
        return []
    lines = [
        "",
        "## Scenario 2 — outbox throughput (PostgreSQL, console provider)",
        "",
        "Queued texts delivered by `manage.py qcluster` with N workers; delivery enqueued the product's "
        "way (`sms.services.sending.enqueue_deliveries`, 50 texts per task). *To sent*: texts/s from the "
        "enqueue to the last provider call (`sent_at`); *to delivered*: to the last status applied by "
        "the console's playback task (one more task and status update per text, on the same workers). "
        "Baseline: one in-process loop calling `sms.services.delivery.message_deliver` per text, same "
        "broker, same run. Every run is counted: provider calls (the console provider's log line per "
        "send), texts sent twice, texts never sent, SIDs, status callbacks and timeline entries. Medians "
        "(min-max) over the repetitions.",
        "",
        "| broker | workers | texts | to sent, texts/s | to delivered, texts/s | provider calls, all runs "
        "| sent twice | never sent | CPU ms/text: workers + PostgreSQL | ratio (to sent) | budget |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for run in runs:
        if "clusters" not in run:
            continue
        baseline = run.get("baseline") or {}
        base = baseline.get("median")
        if base:
            calls = sum(r["provider_calls"] for r in baseline.get("all", []))
            lines.append(
                f"| {run['broker']} | baseline: one loop, in-process | {run['baseline_messages']:,} "
                f"| {_rate(baseline)} | - | {calls or '-'} | | | {_cpu(baseline.get('all', []))} | 1.0x | |"
            )
        for workers, cluster in run["clusters"].items():
            sent = cluster["sent_per_second"]
            all_runs = cluster["runs"]
            ratio = f"{sent['median'] / base:.1f}x" if base and sent.get("median") else "-"
            budget = ""
            if int(workers) == BUDGET_WORKERS and sent.get("median"):
                met = sent["median"] >= BUDGET_RATE and not any(r["problems"] for r in all_runs)
                budget = f"≥ {BUDGET_RATE}/s, none twice, none lost: {'✅' if met else '❌'}"
            lines.append(
                f"| {run['broker']} | {workers} | {run['messages']:,} | {_rate(sent)} "
                f"| {_rate(cluster['final_per_second'])} | {sum(r['provider_calls'] for r in all_runs):,} "
                f"| {sum(r['sent_twice'] for r in all_runs)} | {sum(r['never_sent'] for r in all_runs)} "
                f"| {_cpu(all_runs)} | {ratio} | {budget} |"
            )
        loads = [r["load_before"][0] for c in run["clusters"].values() for r in c["runs"]]
        if loads:
            notes.append(
                f"{run['broker']}: load average (1 min) before the runs {min(loads):.1f}-{max(loads):.1f} "
                f"on {os.cpu_count()} cores."
            )
        if run.get("profile"):
            profile = run["profile"]
            notes.append(
                f"{run['broker']}: a worker's path in-process for {profile['texts']} texts (CPU ms per text, "
                "this process + PostgreSQL): "
                + "; ".join(
                    f"{label} {phase['this_process_cpu_ms']} + {phase['database_cpu_ms']} "
                    f"(wall {phase['wall_ms_per_text']} ms)"
                    for label, phase in profile["phases"].items()
                )
                + f"; listing in `{profile['file'].split('/bench/', 1)[-1]}`."
            )
    return [*lines, "", *notes] if notes else lines

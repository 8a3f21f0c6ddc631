"""Scenario 3: webhook ingestion. Signed Twilio status callbacks (for texts we sent, with
duplicates and out-of-order statuses) and inbound texts (with duplicate deliveries) posted over
loopback to the app under gunicorn (2 workers, the product's gunicorn.conf.py) on PostgreSQL,
by an asyncio + aiohttp load generator in this process. Signatures are made with the Twilio
SDK's RequestValidator against PUBLIC_BASE_URL and TWILIO_AUTH_TOKEN, as Twilio does.

Per repetition, from the same starting state each time:
- **sequential** (the baseline): one client, one request at a time;
- **capacity**: a closed loop with ``--concurrency`` clients, as fast as the server answers;
- **budget**: an open loop at ``--rate`` requests/s (each request starts at its scheduled time
  whatever the previous ones did; latency counts from the scheduled time, so a server that
  falls behind shows it in its percentiles).
After every run the database is checked: every request answered 200, each text's status moved
only forward and ended 'delivered', one StatusCallback row per distinct (SID, status), one
'delivered' timeline entry per text, and one stored inbound text (and one timeline entry) per
distinct inbound SID.

Run alone: ``python -m bench.scenarios.webhooks --texts 2000 --inbound 1000``."""

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

from bench import processes

NAME = "webhooks"
AUTH_TOKEN = "bench-twilio-auth-token-0123456789abcdef"  # noqa: S105 - a throwaway test token
TEXT_BODY = "Your renewal is coming up - reply with any question."
# Inbound texts carry SIDs of Twilio's format (SM + 32 hex) that no outbound text has.
INBOUND_SID_PREFIX = "SM" + "f" * 8
REPLIES = [
    "Thanks, got it!",
    "What would the upgrade cost for 20 more seats?",
    "Can we set up a call next week?",
    "Not right now, ask me again next month",
    "Who is our account manager?",
    "ok",
]


DATABASES = ("postgres",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This scenario's options on ``bench.run``."""
    group = parser.add_argument_group("scenario 3, webhook ingestion (PostgreSQL, gunicorn)")
    group.add_argument(
        "--webhook-texts", type=int, default=800, help="texts receiving status callbacks (800)"
    )
    group.add_argument(
        "--webhook-inbound", type=int, default=400, help="distinct inbound texts (default 400)"
    )
    group.add_argument("--webhook-rate", type=float, default=300.0, help="open-loop requests/s (default 300)")
    group.add_argument("--webhook-concurrency", type=int, default=8, help="closed-loop clients (default 8)")
    group.add_argument(
        "--webhook-sequential",
        type=int,
        default=400,
        help="requests of the sequential baseline (default 400)",
    )


def worker_runs(args) -> list[tuple[str, list[str]]]:
    return [
        (
            NAME,
            [
                "--texts",
                str(args.webhook_texts),
                "--inbound",
                str(args.webhook_inbound),
                "--rate",
                str(args.webhook_rate),
                "--concurrency",
                str(args.webhook_concurrency),
                "--sequential-requests",
                str(args.webhook_sequential),
                "--repeat",
                str(args.repeat),
                *(["--profile"] if args.profile else []),
            ],
        )
    ]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scenarios.webhooks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--db", default="postgres", choices=DATABASES)
    parser.add_argument("--database-url", required=True, help="an empty PostgreSQL database")
    parser.add_argument("--out", required=True)
    parser.add_argument("--texts", type=int, default=800, help="sent texts receiving callbacks (default 800)")
    parser.add_argument("--inbound", type=int, default=400, help="distinct inbound texts (default 400)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=float, default=300.0, help="open-loop rate, requests/s (default 300)")
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop clients (default 8)")
    parser.add_argument(
        "--sequential-requests", type=int, default=400, help="baseline requests (default 400)"
    )
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=180.0, help="per run, seconds (default 180)")
    parser.add_argument("--profile", action="store_true", help="one cProfile'd in-process pass")
    args = parser.parse_args(argv)
    if (
        min(args.texts, args.inbound, args.repeat, args.concurrency, args.gunicorn_workers) < 1
        or args.rate <= 0
    ):
        parser.error("counts and --rate must be positive")
    return args


# --- Data and requests --------------------------------------------------------------------


def build(texts: int, inbound: int) -> dict:
    """Contacts, one sent text each for the first ``texts`` of them; returns what the
    requests need (SIDs and numbers)."""
    from bench.scenarios.outbox import build_contacts

    contacts = build_contacts(max(texts, inbound))
    sids = [f"SM{n:032x}" for n in range(texts)]
    return {"contacts": contacts, "sids": sids, "texts": texts, "inbound": inbound}


def reset(data: dict) -> None:
    """The starting state of every run: each text 'sent' and nothing received yet."""
    from django.db import connection, transaction
    from django.utils import timezone

    from crm.models import Activity, Deal, Task
    from sms.models import (
        Conversation,
        Deferral,
        Direction,
        Message,
        MessageKind,
        MessageStatus,
        StatusCallback,
    )

    models = (Message, StatusCallback, Activity, Conversation, Deferral, Deal, Task)
    # This throwaway database holds only our rows. Foreign keys are checked at commit, so the
    # order of the deletes does not matter inside one transaction.
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {', '.join(m._meta.db_table for m in models)} CASCADE")
        else:
            for model in models:
                queryset = model.objects.all()
                queryset._raw_delete(queryset.db)
    now = timezone.now()
    Message.objects.bulk_create(
        [
            Message(
                contact_id=contact_id,
                direction=Direction.OUTBOUND,
                kind=MessageKind.AUTOMATED,
                source="bench:webhooks",
                body=TEXT_BODY,
                to_number=phone,
                status=MessageStatus.SENT,
                provider="twilio",
                provider_sid=sid,
                attempts=1,
                sent_at=now,
                status_updated_at=now,
            )
            for sid, (contact_id, phone) in zip(data["sids"], data["contacts"], strict=False)
        ],
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def requests_for(data: dict, seed: int = 8) -> list[tuple[str, dict]]:
    """The request mix, shuffled: per text 'delivered', plus for 30% a 'sent' (before or after
    it: out of order), and for 10% the 'delivered' again (a Twilio retry); per inbound text one
    post, 5% of them posted twice."""
    rng = random.Random(seed)
    requests = []
    for sid, (_, phone) in zip(data["sids"], data["contacts"], strict=False):
        base = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": "AC" + "b" * 32,
            "To": phone,
            "From": "+15005550006",
        }
        requests.append(
            ("/sms/twilio/status/", {**base, "MessageStatus": "delivered", "SmsStatus": "delivered"})
        )
        if rng.random() < 0.3:
            requests.append(("/sms/twilio/status/", {**base, "MessageStatus": "sent", "SmsStatus": "sent"}))
        if rng.random() < 0.1:
            requests.append(
                ("/sms/twilio/status/", {**base, "MessageStatus": "delivered", "SmsStatus": "delivered"})
            )
    for n, (_, phone) in enumerate(data["contacts"][: data["inbound"]]):
        params = {
            "MessageSid": f"{INBOUND_SID_PREFIX}{n:024x}",
            "AccountSid": "AC" + "b" * 32,
            "From": phone,
            "To": "+15005550006",
            "Body": REPLIES[n % len(REPLIES)],
            "NumMedia": "0",
        }
        requests.append(("/sms/twilio/inbound/", params))
        if rng.random() < 0.05:
            requests.append(("/sms/twilio/inbound/", params))
    rng.shuffle(requests)
    return requests


def sign(requests: list[tuple[str, dict]], base_url: str) -> list[tuple[str, dict, str]]:
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    return [(path, params, validator.compute_signature(base_url + path, params)) for path, params in requests]


# --- Load generation ----------------------------------------------------------------------


async def _post(session, base_url, request) -> int:
    path, params, signature = request
    async with session.post(
        base_url + path, data=params, headers={"X-Twilio-Signature": signature}
    ) as response:
        await response.read()
        return response.status


async def _drive(base_url: str, requests, *, concurrency: int | None, rate: float | None, timeout: float):
    """Closed loop (``concurrency`` clients) or open loop (``rate`` requests/s). Returns per
    request (status or error, latency in seconds) and the wall time."""
    import aiohttp

    loop = asyncio.get_running_loop()
    results: list = [None] * len(requests)
    # A new connection per request, as each webhook from Twilio may arrive on its own.
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    client_timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        started = loop.time()

        async def one(index: int, scheduled: float) -> None:
            try:
                status = await _post(session, base_url, requests[index])
            except Exception as exc:  # an error is a measurement, not a crash of the benchmark
                status = type(exc).__name__
            results[index] = (status, loop.time() - scheduled)

        if rate:
            outstanding = asyncio.Semaphore(1024)

            async def scheduled_one(index: int) -> None:
                at = started + index / rate
                await asyncio.sleep(max(0.0, at - loop.time()))
                async with outstanding:
                    await one(index, at)

            await asyncio.wait_for(asyncio.gather(*(scheduled_one(i) for i in range(len(requests)))), timeout)
        else:
            queue = iter(range(len(requests)))

            async def client() -> None:
                for index in queue:
                    await one(index, loop.time())

            await asyncio.wait_for(asyncio.gather(*(client() for _ in range(concurrency))), timeout)
        wall = loop.time() - started
    return results, wall


def _percentile(ordered: list[float], share: float) -> float:
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def measure(base_url: str, requests, *, concurrency=None, rate=None, timeout: float, server=None) -> dict:
    from django.db import connection

    load_before = processes.load_average()
    group = server.pid if server is not None else None
    with processes.CpuMeter(group=group, postgres_db=connection.settings_dict["NAME"]) as cpu:
        results, wall = asyncio.run(
            _drive(base_url, requests, concurrency=concurrency, rate=rate, timeout=timeout)
        )
    latencies = sorted(latency for _, latency in results)
    errors = [status for status, _ in results if status != 200]
    return {
        "requests": len(results),
        "wall_seconds": wall,
        "requests_per_second": len(results) / wall,
        "p50_ms": 1000 * _percentile(latencies, 0.50),
        "p95_ms": 1000 * _percentile(latencies, 0.95),
        "p99_ms": 1000 * _percentile(latencies, 0.99),
        "max_ms": 1000 * latencies[-1],
        "errors": len(errors),
        "error_kinds": {str(k): errors.count(k) for k in set(errors)},
        "load_before": load_before,
        # Per request: gunicorn (master and workers), PostgreSQL backends, the load generator.
        "cpu": cpu.per_item_ms(len(results)),
    }


# --- Checks -------------------------------------------------------------------------------


def check(data: dict, requests: list[tuple[str, dict, str]]) -> dict:
    """Every callback applied once, statuses only forward, every inbound text stored once."""
    from django.db.models import Count

    from crm.models import Activity, ActivityKind
    from sms.models import Direction, Message, MessageStatus, StatusCallback

    status_pairs = {
        (p["MessageSid"], p["MessageStatus"]) for path, p, _ in requests if path.endswith("status/")
    }
    inbound_sids = {p["MessageSid"] for path, p, _ in requests if path.endswith("inbound/")}
    sent_sids = {p["MessageSid"] for path, p, _ in requests if path.endswith("status/")}
    texts = Message.objects.filter(direction=Direction.OUTBOUND, provider_sid__in=sent_sids)
    statuses = dict(texts.values_list("status").annotate(n=Count("pk")))
    callbacks = StatusCallback.objects.count()
    stored_pairs = set(StatusCallback.objects.values_list("provider_sid", "status"))
    inbound = Message.objects.filter(direction=Direction.INBOUND)
    timeline = dict(Activity.objects.values_list("kind").annotate(n=Count("pk")))
    result = {
        "texts": len(sent_sids),
        "text_statuses": statuses,
        "status_callbacks_stored": callbacks,
        "distinct_status_callbacks_posted": len(status_pairs),
        "inbound_stored": inbound.count(),
        "distinct_inbound_posted": len(inbound_sids),
        "timeline": timeline,
        "problems": [],
    }
    problems = result["problems"]
    # A text ends at the highest status posted for it: 'delivered' outranks a late 'sent'.
    delivered_sids = {sid for sid, status in status_pairs if status == "delivered"}
    expected = {
        MessageStatus.DELIVERED: len(delivered_sids),
        MessageStatus.SENT: len(sent_sids - delivered_sids),
    }
    if statuses != {k: v for k, v in expected.items() if v}:
        problems.append(f"text statuses after the run: {statuses}, expected {expected}")
    if callbacks != len(status_pairs) or stored_pairs != status_pairs:
        problems.append(
            f"{callbacks} StatusCallback rows for {len(status_pairs)} distinct (SID, status) posted"
        )
    if timeline.get(ActivityKind.SMS_DELIVERED, 0) != len(delivered_sids):
        problems.append(f"{timeline.get(ActivityKind.SMS_DELIVERED, 0)} 'delivered' timeline entries")
    stored_inbound = set(inbound.values_list("provider_sid", flat=True))
    if stored_inbound != inbound_sids:
        problems.append(f"{len(stored_inbound)} inbound texts stored for {len(inbound_sids)} distinct SIDs")
    if timeline.get(ActivityKind.SMS_REPLY, 0) != len(inbound_sids):
        problems.append(f"{timeline.get(ActivityKind.SMS_REPLY, 0)} 'reply' timeline entries")
    return result


# --- Driver -------------------------------------------------------------------------------


def _gunicorn(env: dict, port: int, workers: int, log: Path):
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        # The product's settings (threaded workers), as a deployment started from the project
        # directory gets them; the options below override only the worker count and the port.
        "--config",
        "gunicorn.conf.py",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "2048",
        "--timeout",
        "30",
        "--log-level",
        "warning",
    ]
    server = processes.start(command, env=env, log=log)
    deadline = time.monotonic() + 60
    import socket

    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited {server.returncode}; see {log}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.2)
    processes.stop(server)
    raise TimeoutError("gunicorn did not listen within 60 s")


def _run(label: str, base_url: str, data: dict, requests, *, timeout: float, server, **how) -> dict:
    reset(data)
    run = measure(base_url, requests, timeout=timeout, server=server, **how)
    run.update(check(data, requests))
    if run["errors"]:
        run["problems"].append(f"{run['errors']} request(s) not answered 200: {run['error_kinds']}")
    print(
        f"  [webhooks] {label:10s}: {run['requests_per_second']:7.1f} req/s  p50 {run['p50_ms']:6.1f} ms  "
        f"p95 {run['p95_ms']:6.1f} ms  p99 {run['p99_ms']:6.1f} ms  errors {run['errors']}  "
        f"CPU ms/request: gunicorn {run['cpu']['server_cpu_ms']}, "
        f"PostgreSQL {run['cpu']['database_cpu_ms']}, "
        f"client {run['cpu']['this_process_cpu_ms']}"
        + (f"  PROBLEMS: {run['problems']}" if run["problems"] else ""),
        flush=True,
    )
    return run


def run_all(args, database_url: str) -> dict:
    from django.core.management import call_command

    port = processes.free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = processes.product_env(database_url, TWILIO_AUTH_TOKEN=AUTH_TOKEN, PUBLIC_BASE_URL=base_url)
    processes.setup_django(env)
    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    data = build(args.texts, args.inbound)
    build_seconds = time.perf_counter() - started
    requests = sign(requests_for(data), base_url)
    sequential_requests = requests[: args.sequential_requests]
    log = processes.OUT / f"gunicorn-webhooks-{os.getpid()}.log"
    log.unlink(missing_ok=True)
    runs = {"sequential": [], "capacity": [], "budget": []}
    server = _gunicorn(env, port, args.gunicorn_workers, log)
    try:
        # Warm-up: imports and connections in both workers, not measured.
        reset(data)
        measure(base_url, requests[:200], concurrency=4, timeout=args.timeout)
        for _ in range(args.repeat):
            common = {"timeout": args.timeout, "server": server}
            # The baseline checks only the texts and inbound SIDs it posted.
            runs["sequential"].append(
                _run("sequential", base_url, data, sequential_requests, **common, concurrency=1)
            )
            runs["capacity"].append(
                _run(
                    f"closed x{args.concurrency}",
                    base_url,
                    data,
                    requests,
                    **common,
                    concurrency=args.concurrency,
                )
            )
            runs["budget"].append(
                _run(f"open {args.rate:.0f}/s", base_url, data, requests, **common, rate=args.rate)
            )
    finally:
        exit_code = processes.stop(server)
    result = {
        "scenario": NAME,
        "db": "postgres",
        "label": NAME,
        "texts": args.texts,
        "inbound": args.inbound,
        "requests": len(requests),
        "status_requests": sum(1 for path, _, _ in requests if path.endswith("status/")),
        "inbound_requests": sum(1 for path, _, _ in requests if path.endswith("inbound/")),
        "sequential_requests": len(sequential_requests),
        "gunicorn_workers": args.gunicorn_workers,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "build_seconds": round(build_seconds, 2),
        "gunicorn_exit": exit_code,
        "runs": runs,
        "summary": {
            which: {
                key: processes.stats([r[key] for r in rs])
                for key in ("requests_per_second", "p50_ms", "p95_ms", "p99_ms")
            }
            for which, rs in runs.items()
            if rs
        },
        "problems": [f"{which}: {p}" for which, rs in runs.items() for r in rs for p in r["problems"]],
    }
    if args.profile:
        result["profile"] = profile(data, requests, base_url)
    return result


def profile(data: dict, requests, base_url: str) -> dict:
    """The same requests through Django's test client in this process, under cProfile: where a
    request's time goes without the network and gunicorn."""
    import cProfile
    import io
    import pstats

    from django.test import Client

    reset(data)
    client = Client(HTTP_HOST=base_url.split("//", 1)[1])
    sample = requests[:2000]
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for path, params, signature in sample:
        client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)
    profiler.disable()
    wall = time.perf_counter() - started
    out = io.StringIO()
    out.write(f"{len(sample)} webhook requests in-process: {wall:.2f} s under cProfile\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(50)
    stats.sort_stats("tottime").print_stats(25)
    path = processes.OUT / f"profile-webhooks-{os.getpid()}.txt"
    path.write_text(out.getvalue())
    return {"wall_under_profile": round(wall, 2), "requests": len(sample), "file": str(path)}


def main(argv=None) -> int:
    args = parse_args(argv)
    processes.exit_on_sigterm()
    processes.OUT.mkdir(parents=True, exist_ok=True)
    try:
        result = run_all(args, args.database_url)
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

BUDGET_RATE = 300  # requests/s (issue 8)
BUDGET_P99_MS = 100


def _cpu(runs: list[dict]) -> str:
    parts = ("server_cpu_ms", "database_cpu_ms", "this_process_cpu_ms")
    medians = [processes.stats([r["cpu"][part] for r in runs])["median"] for part in parts]
    return " + ".join(f"{value:.1f}" for value in medians)


def markdown(runs: list[dict]) -> list[str]:
    """The scenario's section of the report."""
    runs = [run for run in runs if run.get("scenario") == NAME]
    if not runs:
        return []
    lines = [
        "",
        "## Scenario 3 — webhook ingestion (PostgreSQL, gunicorn)",
        "",
        "Signed Twilio status callbacks (each text 'delivered', 30% also a 'sent' before or after it, 10% "
        "a repeated 'delivered') and inbound texts (5% posted twice), shuffled, posted over loopback to "
        "`gunicorn config.wsgi` (the product's `gunicorn.conf.py`: threaded workers) "
        "by an asyncio + aiohttp client in the benchmark process. "
        "*Sequential* (baseline): one client, one request at a time. *Closed loop*: N clients as fast as "
        "answered (capacity). *Open loop*: requests started on a fixed schedule; latency counts from the "
        "scheduled start, so queueing shows. After each run: every text at the highest status posted, "
        "one StatusCallback per distinct (SID, status), one 'delivered' timeline entry per text, one "
        "stored inbound text and timeline entry per distinct inbound SID. Medians (min-max).",
        "",
        "| run | requests | req/s | p50 | p95 | p99 | errors | checks "
        "| CPU ms/request: gunicorn + PostgreSQL + client | ratio (req/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for run in runs:
        if "summary" not in run:
            continue
        base = run["summary"].get("sequential", {}).get("requests_per_second", {}).get("median")
        labels = {
            "sequential": "sequential, 1 client (baseline)",
            "capacity": f"closed loop, {run['concurrency']} clients",
            "budget": f"open loop at {run['rate']:.0f}/s",
        }
        for which, label in labels.items():
            summary = run["summary"].get(which)
            if not summary:
                continue
            measured = run["runs"][which]
            rps = summary["requests_per_second"]

            def ms(key, summary=summary):
                return (
                    f"{summary[key]['median']:.0f} ms ({summary[key]['min']:.0f}-{summary[key]['max']:.0f})"
                )

            problems = sum(len(r["problems"]) for r in measured)
            checks = "✅ all applied once" if not problems else f"❌ {problems} problem(s)"
            ratio = f"{rps['median'] / base:.1f}x" if base else "-"
            lines.append(
                f"| {label} | {measured[0]['requests']:,} "
                f"| {rps['median']:.0f} ({rps['min']:.0f}-{rps['max']:.0f}) "
                f"| {ms('p50_ms')} | {ms('p95_ms')} | {ms('p99_ms')} | {sum(r['errors'] for r in measured)} "
                f"| {checks} | {_cpu(measured)} | {ratio} |"
            )
        capacity = run["summary"].get("capacity", {}).get("requests_per_second", {}).get("median") or 0
        p99 = run["summary"].get("budget", {}).get("p99_ms", {}).get("median")
        errors = sum(r["errors"] for rs in run["runs"].values() for r in rs)
        met = (
            capacity >= BUDGET_RATE
            and p99 is not None
            and p99 < BUDGET_P99_MS
            and not errors
            and not run["problems"]
        )
        loads = [r["load_before"][0] for rs in run["runs"].values() for r in rs]
        lines += [
            "",
            f"Budget (≥ {BUDGET_RATE} req/s with p99 < {BUDGET_P99_MS} ms at that rate, zero errors, every "
            f"callback applied once) with {run['gunicorn_workers']} gunicorn workers: "
            f"capacity {capacity:.0f} req/s, p99 {p99:.0f} ms at {run['rate']:.0f}/s, {errors} errors: "
            f"{'✅' if met else '❌'}. Load average (1 min) before the runs "
            f"{min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores.",
        ]
        if run.get("profile"):
            lines.append(
                f"Profile (the same requests in-process through Django's test client): "
                f"`{run['profile']['file'].split('/bench/', 1)[-1]}`."
            )
    return lines

"""Scenario 5: API and pages at scale (issue 8).

The contacts list, an account page, the inbox and the list APIs, requested in-process with
Django's test client as a logged-in manager, first on a small data set (the baseline) and then
on the same data grown to full size (100,000 contacts and 10,000 open conversations at the
issue's scale). Per page: p50/p95/p99 over many requests and the number of queries per request,
which must not change with the data. Budget: p95 < 150 ms at full size.

Run by ``bench.run`` as its own process on a throwaway database:
``python -m bench.scenarios.pages --db postgres --database-url ... --contacts 100000 --out x.json``"""

import argparse
import json
import os
import resource
import sys
import time
import warnings
from pathlib import Path

NAME = "pages"
P95_BUDGET_MS = 150
BUDGET_CONTACTS = 100_000
OUT = Path(__file__).resolve().parent.parent / "out"
# (label, path); {account} is filled with a different account on each request.
PAGES = [
    ("contacts list", "/contacts/"),
    ("account page", "/accounts/{account}/"),
    ("inbox", "/inbox/"),
    ("conversations API", "/api/v1/sms/conversations/"),
    ("contacts API", "/api/v1/contacts/"),
    # The global search box (issue 20): a surname shared by a tenth of the contacts, a rare
    # substring, and a phone number typed in national format ({phone}: a different contact's
    # "(AAA) EEE-NNNN" each time, one present in the baseline data too); an email fragment, a
    # domain and a company name ({n}: a different one of the first 100 each time); the list's
    # ?q= and the API's ?search=.
    ("search: name", "/search/?q=patel"),
    ("search: rare substring", "/search/?q=kai+tanak"),
    ("search: national phone", "/search/?q={phone}"),
    ("search: email fragment", "/search/?q=p{n}%40pages"),
    ("search: domain", "/search/?q=pg{n}.example.com"),
    ("search: company name", "/search/?q=Pages+Account+{n}"),
    ("contacts list search", "/contacts/?q=patel"),
    ("contacts API search", "/api/v1/contacts/?search={phone}"),
    ("contacts API search: name", "/api/v1/contacts/?search=patel"),
    ("contacts API search: email", "/api/v1/contacts/?search=p{n}%40pages"),
    # Custom fields and tags (issue 20): a choice field's rare value (2% of the contacts), in the
    # list (with its column) and the API; the list filtered by a tag (1% of the contacts).
    ("contacts list: custom field", "/contacts/?attr.plan_tier=platinum"),
    ("contacts API: custom field", "/api/v1/contacts/?attr.plan_tier=platinum"),
    ("contacts list: tag", "/contacts/?tag=vip"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This scenario's options on ``bench.run``."""
    parser.add_argument(
        "--pages-contacts",
        type=int,
        default=100_000,
        help="scenario 5 full size in contacts (a tenth get an open conversation; default 100000, "
        "the issue's)",
    )
    parser.add_argument(
        "--pages-baseline-contacts",
        type=int,
        default=1_000,
        help="scenario 5 baseline size in contacts (default 1000)",
    )
    parser.add_argument(
        "--pages-requests", type=int, default=200, help="scenario 5 requests per page and size (default 200)"
    )


def worker_runs(args) -> list[tuple[str, list[str]]]:
    options = [
        "--contacts",
        str(args.pages_contacts),
        "--baseline-contacts",
        str(args.pages_baseline_contacts),
        "--requests",
        str(args.pages_requests),
    ]
    return [(f"{NAME}-{args.pages_contacts}", options + (["--profile"] if args.profile else []))]


def _percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _summary(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    ms = [s * 1000 for s in ordered]
    return {
        "requests": len(ms),
        "p50_ms": _percentile(ms, 0.50),
        "p95_ms": _percentile(ms, 0.95),
        "p99_ms": _percentile(ms, 0.99),
        "mean_ms": sum(ms) / len(ms),
        "max_ms": ms[-1],
    }


def _national_phone(i: int) -> str:
    from urllib.parse import quote

    from bench.data import phone_for

    e164, _ = phone_for((i * 7919) % 100)
    return quote(f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}")


def measure(client, data, *, requests: int, profile_path: Path | None = None) -> tuple[dict, list[str]]:
    """Every page ``requests`` times (after a few untimed ones); its queries counted once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    problems, results = [], {}
    accounts = data.account_ids
    for label, template in PAGES:

        def path(i: int, template=template) -> str:
            return template.format(
                account=accounts[(i * 7919) % len(accounts)], phone=_national_phone(i), n=(i * 7919) % 100
            )

        def get(i: int, label=label):
            response = client.get(path(i), secure=True)
            if response.status_code != 200:
                problems.append(f"{label}: {path(i)} answered {response.status_code}")
            return response

        for i in range(5):  # warm: templates compiled, connection open, caches filled
            get(i)
        with CaptureQueriesContext(connection) as captured:
            response = get(0)
        # Read now: the next request's request_started signal empties the connection's query log.
        queries = [q["sql"] for q in captured.captured_queries]
        seconds = []
        for i in range(requests):
            started = time.perf_counter()
            get(i)
            seconds.append(time.perf_counter() - started)
        results[label] = {
            "path": template,
            "queries": len(queries),
            "sql": queries,
            "bytes": len(response.content),
            **_summary(seconds),
        }
        if profile_path is not None:
            results[label]["profile"] = _profile(
                lambda get=get: [get(i) for i in range(20)], profile_path, label
            )
        if problems:
            break
    return results, problems


def _profile(function, path: Path, label: str, top: int = 8) -> list[dict]:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(function)
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream).sort_stats("cumulative")
    stats.print_stats(40)
    with path.open("a") as out:
        out.write(f"==== {label} (20 requests)\n{stream.getvalue()}\n")
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return [
        {"function": f"{Path(f).name}:{line}({name})", "calls": calls, "seconds": tottime}
        for (f, line, name), (_, calls, tottime, _, _) in rows
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scenarios.pages")
    parser.add_argument("--db", required=True, help="label: sqlite | postgres")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--contacts", type=int, required=True)
    parser.add_argument("--baseline-contacts", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="cProfile 20 extra requests per page")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if not 100 <= args.baseline_contacts < args.contacts:
        parser.error("need 100 <= --baseline-contacts < --contacts")

    from bench.worker import configure

    configure(args.database_url)
    from django.conf import settings

    # Production settings but for one thing: the manifest storage needs `collectstatic`, which
    # would write into the working tree; the plain storage builds the same kind of URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # WhiteNoise warns that nothing was collected: the pages do not fetch static files.
    warnings.filterwarnings("ignore", message="No directory at")
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from bench.data_pages import PagesData
    from bench.worker import _db_version

    load_before = os.getloadavg()
    call_command("migrate", verbosity=0, interactive=False)
    data = PagesData()
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(data.user)
    profile_path = OUT / f"profile-{NAME}-{args.db}-{args.contacts}.txt" if args.profile else None
    if profile_path:
        profile_path.unlink(missing_ok=True)

    sizes, problems = {}, []
    for which, size in (("baseline", args.baseline_contacts), ("full", args.contacts)):
        dataset = data.grow(to=size)
        print(
            f"  [{args.db} {size:>7,} contacts] data: {dataset['open_conversations']:,} open conversations, "
            f"{dataset['accounts']:,} accounts, {dataset['messages']:,} messages "
            f"(built in {dataset['seconds']} s)",
            flush=True,
        )
        pages, found = measure(
            client, data, requests=args.requests, profile_path=profile_path if which == "full" else None
        )
        problems += found
        sizes[which] = {"dataset": dataset, "pages": pages}
        for label, page in pages.items():
            print(
                f"  [{args.db} {size:>7,} contacts] {label:18s} p50 {page['p50_ms']:6.1f} ms  "
                f"p95 {page['p95_ms']:6.1f} ms  p99 {page['p99_ms']:6.1f} ms  {page['queries']} queries",
                flush=True,
            )
    for label, full in sizes["full"]["pages"].items():
        small = sizes["baseline"]["pages"].get(label)
        if small and small["queries"] != full["queries"]:
            problems.append(
                f"{label}: {small['queries']} queries per request at {args.baseline_contacts:,} contacts, "
                f"{full['queries']} at {args.contacts:,} (must not grow with the data)"
            )
    for problem in problems:
        print(f"WARNING: {problem}", file=sys.stderr, flush=True)
    result = {
        "scenario": NAME,
        "db": args.db,
        "db_version": _db_version(connection),
        "contacts": args.contacts,
        "baseline_contacts": args.baseline_contacts,
        "requests": args.requests,
        "sizes": sizes,
        "load_average": {"start": load_before, "end": os.getloadavg()},
        "problems": problems,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    connection.close()
    return 1 if problems else 0


# --- Report -----------------------------------------------------------------------------------


def markdown(runs: list[dict]) -> list[str]:
    runs = [run for run in runs if run.get("scenario") == NAME and run.get("sizes")]
    if not runs:
        return []
    lines = [
        "",
        "## Scenario 5 — pages and list APIs at scale",
        "",
        "In-process requests with Django's test client, logged in as a manager, production settings "
        "(DEBUG off). Each page is requested many times on a small data set (the baseline) and again on "
        "the same data grown to full size; every request must answer 200 and the queries per request must "
        f"not change with the data. Budget: p95 < {P95_BUDGET_MS} ms at full size.",
        "",
        "| DB | page | queries (small / full) | p50 small | p95 small | p50 full | p95 full | p99 full "
        "| p95 full / small | budget |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        small, full = run["sizes"]["baseline"]["pages"], run["sizes"].get("full", {}).get("pages", {})
        for label, page in full.items():
            base = small.get(label, {})
            met = page["p95_ms"] < P95_BUDGET_MS
            same = base.get("queries") == page["queries"]
            binding = "" if run["contacts"] >= BUDGET_CONTACTS else " *(budget at 100k)*"
            if not base:
                continue
            lines.append(
                f"| {run['db']} | {label} (`{page['path']}`) | {base['queries']} / {page['queries']} "
                f"{'✅' if same else '❌'} | {base['p50_ms']:.1f} ms | {base['p95_ms']:.1f} ms "
                f"| {page['p50_ms']:.1f} ms | {page['p95_ms']:.1f} ms | {page['p99_ms']:.1f} ms "
                f"| {page['p95_ms'] / base['p95_ms']:.1f}x "
                f"| {'✅' if met else '❌'} p95 < {P95_BUDGET_MS} ms{binding} |"
            )
    for run in runs:
        small, full = run["sizes"]["baseline"]["dataset"], run["sizes"].get("full", {}).get("dataset", {})
        load = run.get("load_average", {})
        lines += [
            "",
            f"{run['db']} ({run.get('db_version', '')}): baseline {small['contacts']:,} contacts / "
            f"{small['open_conversations']:,} open conversations; full {full.get('contacts', 0):,} "
            f"contacts in {full.get('accounts', 0):,} accounts, {full.get('open_conversations', 0):,} open "
            f"conversations, {full.get('messages', 0):,} messages, {full.get('activities', 0):,} timeline "
            f"entries (built in {full.get('seconds', '?')} s); {run['requests']} timed requests per page "
            "and size; load average "
            + " → ".join(f"{v[0]:.1f}" for v in (load.get("start"), load.get("end")) if v)
            + f"; {run.get('total_seconds', '?')} s in all.",
        ]
    return lines


if __name__ == "__main__":
    sys.exit(main())

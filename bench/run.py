"""Run the benchmarks: ``python -m bench.run --contacts 10000 [--db sqlite|postgres|both]``.

Each (database, scale) runs in its own process on a database built for it: a SQLite file
under bench/out/ or a throwaway PostgreSQL database ``lcrm_bench_<pid>`` (created and
dropped here). Results go to bench/out/results.json and bench/out/results.md."""

import argparse
import importlib
import json
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import isolated, machine, report

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SCENARIOS = ("plays", "imports")
# Scenarios run as their own worker module through bench.isolated (issue 8, scenarios 4-5).
MODULE_SCENARIOS = {
    "analytics": "bench.scenarios.analytics",
    "outbox": "bench.scenarios.outbox",  # scenario 2 (PostgreSQL only)
    "webhooks": "bench.scenarios.webhooks",  # scenario 3 (PostgreSQL only)
    "pages": "bench.scenarios.pages",  # scenario 5
    "journeys": "bench.scenarios.journeys",  # scenario 6 (issue 18)
    "clv_tiers": "bench.scenarios.clv_tiers",  # scenario 7 (issue 21)
    "health": "bench.scenarios.health",  # scenario 8 (issue 21)
}


def _scales(value: str) -> list[int]:
    try:
        scales = sorted({int(part.replace("_", "")) for part in value.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("--contacts takes numbers, e.g. 10000 or 10000,100000") from None
    if not scales or scales[0] < 100:
        raise argparse.ArgumentTypeError("--contacts must be at least 100")
    return scales


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--contacts", type=_scales, default=[10_000], help="scale(s), comma-separated (default 10000)"
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per measurement (default 3)")
    parser.add_argument(
        "--scenario",
        choices=(*SCENARIOS, *MODULE_SCENARIOS, "all"),
        default="all",
        help="'all' is plays and the module scenarios; imports (CSV import, --contacts = rows) "
        "runs only when named",
    )
    parser.add_argument(
        "--window-share",
        type=float,
        default=0.25,
        help="share of accounts whose renewal ends within the play's 60 days (default 0.25)",
    )
    parser.add_argument(
        "--baseline-max-contacts",
        type=int,
        default=20_000,
        help="measure the per-contact baseline up to this scale; above it the baseline is "
        "extrapolated linearly from the largest measured scale (default 20000)",
    )
    parser.add_argument("--profile", action="store_true", help="add one cProfile'd engine run per scale")
    parser.add_argument(
        "--pg-admin-dsn",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="where to create the throwaway PostgreSQL database",
    )
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the SQLite files (PostgreSQL is always dropped)"
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds a scenario 4-5 worker may take (default 900)"
    )
    for module in MODULE_SCENARIOS.values():
        importlib.import_module(module).add_arguments(parser)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def run_one(args, db: str, contacts: int) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"run-plays-{db}-{contacts}.json"
    out.unlink(missing_ok=True)
    print(f"== plays on {db}, {contacts:,} contacts", flush=True)
    started = time.perf_counter()
    with isolated.throwaway_database(args, db, f"plays_{contacts}") as url:
        completed = subprocess.run(_plays_command(args, db, url, contacts, out), cwd=ROOT)  # noqa: S603
    if not out.exists():
        return {
            "db": db,
            "contacts": contacts,
            "problems": [f"worker exited {completed.returncode} without results"],
        }
    result = json.loads(out.read_text())
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    return result


def _plays_command(args, db: str, url: str, contacts: int, out: Path) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "bench.worker",
        "--db",
        db,
        "--database-url",
        url,
        "--contacts",
        str(contacts),
        "--repeat",
        str(args.repeat),
        "--window-share",
        str(args.window_share),
        "--out",
        str(out),
    ]
    if contacts <= args.baseline_max_contacts:
        command.append("--baseline")
    if args.profile:
        command.append("--profile")
    return command


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.scenario == "imports":
        from bench.scenarios import imports

        return imports.main(args)
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    started_at = datetime.now(UTC)
    runs = []
    if args.scenario in ("plays", "all"):
        runs = [run_one(args, db, contacts) for db in databases for contacts in args.contacts]
    runs += isolated.run_scenarios(args, databases, MODULE_SCENARIOS)
    report.extrapolate_baselines(runs)
    results = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.run " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "machine": machine.describe(args.pg_admin_dsn if "postgres" in databases else None),
        "runs": runs,
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2, default=str))
    markdown = report.markdown(results)
    (OUT / "results.md").write_text(markdown)
    print()
    print(markdown)
    problems = [p for run in runs for p in run.get("problems", [])]
    if problems:
        print(f"FAILED: {len(problems)} problem(s); see above and bench/out/results.json", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

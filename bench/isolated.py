"""Run one scenario module in its own process on a database built for it, bounded in time.

Used by ``bench.run`` for the scenarios whose worker is their own module
(``python -m bench.scenarios.<name>``): a new SQLite file under bench/out/ or a throwaway
PostgreSQL database, created before and dropped after; the worker writes its results as JSON."""

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from bench.processes import pg_admin

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


@contextmanager
def throwaway_database(args, db: str, label: str):
    """Yield a DATABASE_URL for a new, empty database; drop it (or delete the file) afterwards."""
    if db == "postgres":
        name = f"lcrm_bench_{label}_{os.getpid()}"
        pg_admin(args.pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        pg_admin(args.pg_admin_dsn, f'CREATE DATABASE "{name}"')
        base, _, _ = args.pg_admin_dsn.rpartition("/")
        try:
            yield f"{base}/{name}"
        finally:
            pg_admin(args.pg_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = OUT / f"bench-{label}.sqlite3"
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        for file in files:
            file.unlink(missing_ok=True)
        try:
            yield f"sqlite:///{path}"
        finally:
            if not args.keep_db:
                for file in files:
                    file.unlink(missing_ok=True)


def run_module(args, *, module: str, db: str, label: str, options: list[str], timeout: float) -> dict:
    """``python -m <module> --db <db> --database-url <url> --out <json> <options>``; the result it
    wrote, or a result naming the problem (non-zero exit without results, or out of time)."""
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"run-{label}-{db}.json"
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    problem = None
    with throwaway_database(args, db, label) as url:
        command = [
            sys.executable,
            "-m",
            module,
            "--db",
            db,
            "--database-url",
            url,
            "--out",
            str(out),
            *options,
        ]
        # Its own process group, so a timeout stops the worker and anything it started.
        process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)  # noqa: S603 - our own interpreter
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            problem = f"out of time: stopped after {timeout:.0f} s (--timeout)"
    if not out.exists():
        return {
            "db": db,
            "label": label,
            "problems": [problem or f"worker exited {process.returncode} without results"],
        }
    result = json.loads(out.read_text())
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    if problem:
        result.setdefault("problems", []).append(problem)
    return result


def run_scenarios(args, databases: list[str], modules: dict[str, str]) -> list[dict]:
    """Each selected module scenario on each database, at each of its scales."""
    import importlib

    runs = []
    for name, module in modules.items():
        if args.scenario not in (name, "all"):
            continue
        scenario = importlib.import_module(module)
        for db in databases:
            if db not in getattr(scenario, "DATABASES", (db,)):
                continue  # e.g. scenarios 2-3 are defined on PostgreSQL
            for label, options in scenario.worker_runs(args):
                print(f"== {name} on {db}, {label}", flush=True)
                runs.append(
                    run_module(args, module=module, db=db, label=label, options=options, timeout=args.timeout)
                )
    return runs

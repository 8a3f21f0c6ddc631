"""Scenario 2: importing contacts (with their accounts) from CSV.

``python -m bench.run --scenario imports --contacts 50000 --db both``: for each database a
worker process (this module run with ``-m``) builds an empty database, writes a CSV of N
contact rows in N/5 accounts, and measures:

- **engine**: ``crm.imports`` as the UI's background task and ``import_csv`` run it (stream,
  prepare, plan per batch of 1,000 with one query per natural key, bulk writes), on an empty
  database: every row is a create, and every account too;
- **re-import**: the same file again, which must create and update nothing;
- **dry run**: the plan of the file on an empty database (writes nothing);
- **baseline**: the simplest correct per-row loop through ``crm.services.contact_create`` /
  ``contact_update`` (find the contact by email, then by phone; find or create the account
  by name), on an empty database, up to ``--baseline-max-contacts`` rows; above that it is
  extrapolated linearly and labelled so.

The file has what real files have: phones in several formats (2% not phone numbers at all,
kept as typed), 1% bad emails (skipped), 1% rows repeated further down (the engine reports
them, the baseline finds nothing to change), names with accents. Engine and baseline must
leave the same database (a digest of every contact and account), or the run fails."""

import argparse
import csv
import hashlib
import json
import random
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

NAME = "imports"
ROOT = Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "bench" / "out"
AREAS = ("212", "312", "415", "617", "713", "206", "303", "404", "305", "602")
FIRST = ("Ana", "Ben", "Chloé", "Dev", "Eli", "Fátima", "Gus", "Hana", "Iván", "Jo", "Kai", "Léna")
LAST = ("Ng", "Okafor", "Patel", "Quinn", "Rossi", "Silva", "Tanaka", "Ueda", "Vance", "Weiß")
HEADER = ("First name", "Last name", "Email", "Phone", "Company", "Website")


# --- The file -----------------------------------------------------------------------------------


def _phone(index: int, rng: random.Random) -> str:
    area = AREAS[index % len(AREAS)]
    rest = index // len(AREAS)
    exchange = 201 + rest // 10_000
    if exchange % 100 == 11:  # N11 codes are not exchanges
        exchange += 1
    line = f"{rest % 10_000:04d}"
    style = rng.randrange(3)
    if style == 0:
        return f"({area}) {exchange:03d}-{line}"
    if style == 1:
        return f"+1 {area} {exchange:03d} {line}"
    return f"{area}.{exchange:03d}.{line}"


def write_csv(path: Path, rows: int, seed: int = 42) -> dict:
    """N data rows; returns what they contain."""
    rng = random.Random(seed)
    kinds = {"rows": rows, "bad_email": 0, "not_a_phone": 0, "repeat": 0}
    written: list[list[str]] = []
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for index in range(rows):
            draw = rng.random()
            if written and draw < 0.01:
                row = written[rng.randrange(len(written))]  # the same person again, further down
                kinds["repeat"] += 1
            else:
                account = index // 5
                email = f"person{index}@example.com"
                if draw < 0.02:
                    email = f"person{index}@example"  # no top-level domain: skipped
                    kinds["bad_email"] += 1
                phone = _phone(index, rng)
                if 0.02 <= draw < 0.04:
                    phone = "ask reception"
                    kinds["not_a_phone"] += 1
                row = [
                    FIRST[index % len(FIRST)],
                    f"{LAST[(index // 7) % len(LAST)]}-{index}",
                    email,
                    phone,
                    f"Company {account}",
                    f"company{account}.example.com",
                ]
                if len(written) < 50_000:
                    written.append(row)
            writer.writerow(row)
    kinds["bytes"] = path.stat().st_size
    return kinds


# --- The runs -------------------------------------------------------------------------------------


def reset() -> None:
    """An empty CRM (nothing else points at these rows in the benchmark database)."""
    from crm.models import Account, Contact, ImportJob

    ImportJob.objects.all().delete()
    for model in (Contact, Account):
        rows = model.objects.all()
        rows._raw_delete(rows.db)


def run_engine(path: Path, *, dry_run: bool = False) -> dict:
    from crm.imports.jobs import import_job_begin, import_job_create_from_path, import_job_execute
    from crm.imports.reading import PathSource

    job = import_job_create_from_path(kind="contacts", source=PathSource(path))
    job = import_job_begin(job=job, dry_run=dry_run)
    import_job_execute(job=job, source=PathSource(path))
    job.refresh_from_db()
    return {"counts": job.counts}


def run_baseline(path: Path) -> dict:
    """The simplest correct per-row loop: one row at a time through the services."""
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from crm import services
    from crm.models import Account, Contact
    from crm.phones import PhoneParseError, parse_phone

    counts = {"create": 0, "update": 0, "unchanged": 0, "skip": 0}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            email = services.normalize_email(row["Email"])
            raw_phone = row["Phone"].strip()
            try:
                e164 = parse_phone(raw_phone).e164
            except PhoneParseError:
                e164 = None
            try:
                with transaction.atomic():
                    contact = Contact.objects.filter(email__iexact=email).first() if email else None
                    if contact is None and e164:
                        contact = Contact.objects.filter(phone=e164).first()
                    account = Account.objects.filter(name__iexact=row["Company"]).first()
                    if account is None:
                        domain = row["Website"].strip().lower()
                        account = services.account_create(name=row["Company"], domain=domain)
                    fields = {
                        "first_name": row["First name"],
                        "last_name": row["Last name"],
                        "account": account,
                    }
                    if contact is None:
                        contact = services.contact_create(
                            email=email, phone=raw_phone if e164 else "", **fields
                        )
                        if not e164 and raw_phone:
                            # A text that is not a number is kept as typed, never refused.
                            Contact.objects.filter(pk=contact.pk).update(phone_raw=raw_phone[:64])
                        counts["create"] += 1
                        continue
                    changed = {k: v for k, v in fields.items() if getattr(contact, k) != v}
                    if email and contact.email != email:
                        changed["email"] = email
                    if e164 and contact.phone != e164:
                        changed["phone"] = raw_phone
                    if changed:
                        services.contact_update(contact=contact, **changed)
                        counts["update"] += 1
                    else:
                        counts["unchanged"] += 1
            except ValidationError:
                counts["skip"] += 1
    return {"counts": counts}


def digest() -> dict:
    """What the import left: counts and a hash of every contact with its account."""
    from crm.models import Account, Contact

    rows = Contact.objects.order_by("email", "phone_raw", "last_name").values_list(
        "email",
        "phone",
        "phone_raw",
        "phone_valid",
        "first_name",
        "last_name",
        "timezone",
        "account__name",
        "account__domain",
    )
    sha = hashlib.sha256()
    count = 0
    for row in rows.iterator(chunk_size=5000):
        sha.update(repr(row).encode())
        count += 1
    return {
        "contacts": count,
        "accounts": Account.objects.count(),
        "valid_phones": Contact.objects.filter(phone_valid=True).count(),
        "kept_as_typed": Contact.objects.filter(phone__isnull=True).exclude(phone_raw="").count(),
        "sha256": sha.hexdigest()[:16],
    }


class _QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def measure(runner, path: Path, *, fresh: bool = True, **kwargs) -> dict:
    from django.db import connection

    if fresh:
        reset()
    counter = _QueryCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        info = runner(path, **kwargs)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "queries": counter.count, **info}


def _stats(values: list[float]) -> dict:
    from bench.worker import _stats as stats

    return stats(values)


def worker(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--contacts", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    from bench.worker import _db_version, configure

    configure(args.database_url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"imports-{args.db}-{args.contacts}.csv"
    data = write_csv(path, args.contacts)
    problems: list[str] = []

    engine, dry = [], []
    for repetition in range(args.repeat):
        engine.append(measure(run_engine, path))
        _log(args, "engine", repetition, engine[-1])
    engine_state = digest()
    reimport = measure(run_engine, path, fresh=False)
    _log(args, "re-import", 0, reimport)
    if reimport["counts"].get("create") or reimport["counts"].get("update"):
        problems.append(f"the re-import changed rows: {reimport['counts']}")
    if digest() != engine_state:
        problems.append("the re-import changed the database")
    for repetition in range(args.repeat):
        dry.append(measure(run_engine, path, dry_run=True))
        _log(args, "dry run", repetition, dry[-1])
    baseline = []
    if args.baseline:
        for repetition in range(args.repeat):
            baseline.append(measure(run_baseline, path))
            _log(args, "baseline", repetition, baseline[-1])
        if digest() != engine_state:
            problems.append(f"baseline and engine disagree: {digest()} != {engine_state}")
    for run in engine[1:]:
        if run["counts"] != engine[0]["counts"]:
            problems.append(f"engine repetitions disagree: {run['counts']} != {engine[0]['counts']}")
    result = {
        "scenario": NAME,
        "db": args.db,
        "db_version": _db_version(connection),
        "contacts": args.contacts,
        "file": data,
        "state": engine_state,
        "engine": {
            **_stats([r["seconds"] for r in engine]),
            "queries": engine[0]["queries"],
            "counts": engine[0]["counts"],
        },
        "reimport": {
            "seconds": reimport["seconds"],
            "queries": reimport["queries"],
            "counts": reimport["counts"],
        },
        "dry_run": {**_stats([r["seconds"] for r in dry]), "queries": dry[0]["queries"]},
        "baseline": (
            {
                **_stats([r["seconds"] for r in baseline]),
                "queries": baseline[0]["queries"],
                "counts": baseline[0]["counts"],
                "measured": True,
            }
            if baseline
            else None
        ),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "problems": problems,
    }
    for problem in problems:
        print(f"WARNING: {problem}", file=sys.stderr, flush=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    path.unlink(missing_ok=True)
    connection.close()
    return 1 if problems else 0


def _log(args, which: str, repetition: int, run: dict) -> None:
    print(
        f"  [{args.db} {args.contacts:>7}] {which:9s} #{repetition + 1}: {run['seconds']:8.2f} s  "
        f"{run['queries']:>7} queries  {run['counts']}",
        flush=True,
    )


# --- Orchestration (called by bench.run) ------------------------------------------------------------


def _run_one(args, db: str, contacts: int) -> dict:
    from bench.isolated import throwaway_database

    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"run-imports-{db}-{contacts}.json"
    out.unlink(missing_ok=True)
    print(f"== imports on {db}, {contacts:,} rows", flush=True)
    with throwaway_database(args, db, f"imports_{contacts}") as url:
        command = [sys.executable, "-m", "bench.scenarios.imports", "--db", db, "--database-url", url]
        command += ["--contacts", str(contacts), "--repeat", str(args.repeat), "--out", str(out)]
        if contacts <= args.baseline_max_contacts:
            command.append("--baseline")
        completed = subprocess.run(command, cwd=ROOT)  # noqa: S603 - our own interpreter and arguments
    if not out.exists():
        return {
            "db": db,
            "contacts": contacts,
            "problems": [f"worker exited {completed.returncode} without results"],
        }
    return json.loads(out.read_text())


def _extrapolate(runs: list[dict]) -> None:
    for run in runs:
        if run.get("baseline") or "engine" not in run:
            continue
        measured = [r for r in runs if r.get("db") == run["db"] and (r.get("baseline") or {}).get("measured")]
        if not measured:
            continue
        source = max(measured, key=lambda r: r["contacts"])
        run["baseline"] = {
            "median": source["baseline"]["median"] / source["contacts"] * run["contacts"],
            "measured": False,
            "extrapolated_from": source["contacts"],
        }


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def markdown(results: dict) -> str:
    lines = [
        "## Scenario 2 — CSV import of contacts with their accounts",
        "",
        f"`{results['command']}` — {results['started_at']} to {results['finished_at']} (UTC)",
        "",
        "| DB | rows | engine (import) | rows/s | queries | re-import | dry run | baseline | ratio "
        "| budget |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in results["runs"]:
        if "engine" not in run:
            continue
        engine, baseline = run["engine"], run.get("baseline")
        if baseline is None:
            base_cell, ratio = "not measured", ""
        elif baseline["measured"]:
            base_cell = f"{_s(baseline['median'])} ({baseline['queries']:,} queries)"
            ratio = f"{baseline['median'] / engine['median']:.1f}x"
        else:
            base_cell = f"≈{_s(baseline['median'])} *extrapolated* from {baseline['extrapolated_from']:,}"
            ratio = f"{baseline['median'] / engine['median']:.1f}x *(extrap.)*"
        met = engine["median"] < 60
        lines.append(
            f"| {run['db']} | {run['contacts']:,} "
            f"| {_s(engine['median'])} ({_s(engine['min'])}-{_s(engine['max'])}) "
            f"| {run['contacts'] / engine['median']:,.0f} | {engine['queries']:,} "
            f"| {_s(run['reimport']['seconds'])} | {_s(run['dry_run']['median'])} | {base_cell} | {ratio} "
            f"| < 60 s {'✅' if met else '❌'} |"
        )
    measured = [run for run in results["runs"] if "engine" in run]
    sample = max(measured, key=lambda run: run["contacts"]) if measured else None
    if sample:
        data, state = sample["file"], sample["state"]
        lines += [
            "",
            f"File ({sample['contacts']:,} rows, {data['bytes'] / 2**20:.1f} MB): "
            f"{data['bad_email']:,} bad emails, "
            f"{data['not_a_phone']:,} phones that are not numbers, {data['repeat']:,} repeated rows. "
            f"Engine outcome: {sample['engine']['counts']}; re-import: {sample['reimport']['counts']}. "
            f"Database after: {state['contacts']:,} contacts, {state['accounts']:,} accounts, "
            f"{state['kept_as_typed']:,} phones kept as typed; worker peak RSS {sample['max_rss_mb']} MB.",
        ]
    problems = [
        (run.get("db"), run.get("contacts"), p) for run in results["runs"] for p in run.get("problems", [])
    ]
    if problems:
        lines += ["", "### ⚠️ Problems", ""] + [f"- {db} {n}: {p}" for db, n, p in problems]
    return "\n".join(lines) + "\n"


def main(args) -> int:
    """Run the scenario for ``bench.run`` (its parsed arguments)."""
    from datetime import UTC, datetime

    from bench import machine

    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    started = datetime.now(UTC)
    runs = [_run_one(args, db, contacts) for db in databases for contacts in args.contacts]
    _extrapolate(runs)
    results = {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.run " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "machine": machine.describe(args.pg_admin_dsn if "postgres" in databases else None),
        "runs": runs,
    }
    (OUT / "results-imports.json").write_text(json.dumps(results, indent=2, default=str))
    report = markdown(results)
    (OUT / "results-imports.md").write_text(report)
    print()
    print(report)
    return 1 if any(run.get("problems") for run in runs) else 0


if __name__ == "__main__":
    sys.exit(worker())

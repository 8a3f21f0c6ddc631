"""Scenario 4: analytics on a million orders (issue 8).

The product's metrics (``analytics.metrics``: the sign-up and first-order cohort tables, NRR
and play lift) against two baselines on the same data in the same process: one hand-written
SQL query per metric (the floor) and pandas (load included). All three must give the same
numbers or the run fails. Budget: the product within 2x of the hand SQL and faster than pandas.

Run by ``bench.run`` as its own process on a throwaway database:
``python -m bench.scenarios.analytics --db postgres --database-url ... --orders 1000000 --out x.json``"""

import argparse
import json
import os
import resource
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

NAME = "analytics"
METRICS = ("cohorts_signup", "cohorts_first_order", "nrr", "lift")
COHORT_MONTHS = 36
RATIO_BUDGET = 2.0  # product time / hand-SQL time
BUDGET_ORDERS = 1_000_000  # the scale: below it the verdict is shown but not binding
OUT = Path(__file__).resolve().parent.parent / "out"


def _stats(values: list[float]) -> dict:
    ordered = sorted(values)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return {"median": median, "min": ordered[0], "max": ordered[-1], "runs": values}


def _orders(value: str) -> list[int]:
    try:
        scales = sorted({int(part.replace("_", "")) for part in value.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("--orders takes numbers, e.g. 100000 or 100000,1000000") from None
    if not scales or scales[0] < 1000:
        raise argparse.ArgumentTypeError("--orders must be at least 1000")
    return scales


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This scenario's options on ``bench.run``."""
    parser.add_argument(
        "--orders",
        type=_orders,
        default=[100_000],
        help="scenario 4 scale(s) in orders, comma-separated (default 100000; the issue's is 1000000)",
    )


def worker_runs(args) -> list[tuple[str, list[str]]]:
    """(label, worker options) for each scale ``bench.run`` asked for."""
    return [
        (
            f"{NAME}-{orders}",
            ["--orders", str(orders), "--repeat", str(args.repeat), *(["--explain"] if args.profile else [])],
        )
        for orders in args.orders
    ]


# --- Same numbers? ----------------------------------------------------------------------------


def differences(expected, actual, *, exact_money: bool, path: str = "", limit: int = 5) -> list[str]:
    """Where ``actual`` differs from ``expected``: integers and labels exactly, rates to their 4
    reported decimals, other floats to 1e-6 relative, money to the cent (exactly when
    ``exact_money``; SQLite sums decimals as floats)."""
    found: list[str] = []

    def walk(a, b, where):
        if len(found) >= limit:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                if key not in a or key not in b:
                    found.append(f"{where}.{key}: only in {'product' if key in a else 'baseline'}")
                else:
                    walk(a[key], b[key], f"{where}.{key}")
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                found.append(f"{where}: {len(a)} items vs {len(b)}")
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                walk(x, y, f"{where}[{i}]")
        elif isinstance(a, float) or isinstance(b, float):
            if a is None or b is None or abs(a - b) > max(1e-4 if abs(a) <= 1 else 0, 1e-6 * abs(a), 1e-9):
                found.append(f"{where}: {a!r} vs {b!r}")
        elif isinstance(a, str) and isinstance(b, str) and a != b:
            try:
                gap = abs(Decimal(a) - Decimal(b))
            except InvalidOperation:
                found.append(f"{where}: {a!r} vs {b!r}")
                return
            if gap > (0 if exact_money else Decimal("0.01")):
                found.append(f"{where}: {a} vs {b}")
        elif not isinstance(a, str | float) and a != b:
            found.append(f"{where}: {a!r} vs {b!r}")

    walk(expected, actual, path or "answer")
    return found


# --- The metrics, three ways ------------------------------------------------------------------


def implementations(play, now: datetime) -> dict:
    """For each metric: the product call, the hand SQL and pandas, each answering comparable data."""
    from analytics.metrics.cohorts import cohorts
    from analytics.metrics.lift import DEFAULT_WINDOWS, play_lift
    from analytics.metrics.retention import revenue_retention
    from analytics.scope import Scope
    from bench.scenarios import analytics_baselines as base

    today = now.date()
    # Cohorts and lift over the whole history; NRR over the last year (the API's default period).
    history = Scope(start=today - timedelta(days=3 * 365 + 31), end=today)
    last_year = Scope(start=today - timedelta(days=364), end=today)
    window = DEFAULT_WINDOWS[play.moment]

    def nrr_product():
        answer = revenue_retention(last_year)
        answer.pop("definition")
        answer.pop("label")
        return answer

    return {
        "cohorts_signup": {
            "product": lambda: cohorts(history, basis="signup", months=COHORT_MONTHS)["cohorts"],
            "sql": lambda: base.sql_cohorts_signup(history, COHORT_MONTHS),
            "pandas": lambda: base.pandas_cohorts_signup(history, COHORT_MONTHS),
        },
        "cohorts_first_order": {
            "product": lambda: cohorts(history, basis="first_order", months=COHORT_MONTHS)["cohorts"],
            "sql": lambda: base.sql_cohorts_first_order(history, COHORT_MONTHS),
            "pandas": lambda: base.pandas_cohorts_first_order(history, COHORT_MONTHS),
        },
        "nrr": {
            "product": nrr_product,
            "sql": lambda: base.sql_revenue_retention(last_year),
            "pandas": lambda: base.pandas_revenue_retention(last_year),
        },
        "lift": {
            "product": lambda: base.product_lift_facts(play_lift(play, history, now=now)),
            "sql": lambda: base.comparable_lift(
                base.sql_play_lift(play, history, window_days=window, now=now)
            ),
            "pandas": lambda: _pandas_lift(base, play, history, window, now),
        },
    }


def _pandas_lift(base, play, scope, window, now):
    facts, load_seconds = base.pandas_play_lift(play, scope, window_days=window, now=now)
    return base.comparable_lift(facts), load_seconds


def _timed(function):
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def _profile(function, path: Path, top: int = 12) -> list[dict]:
    """cProfile of one call (SQLite: its plans say little, its time goes to Python functions the
    backend registers, e.g. Django's date truncation called once per row)."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(function)
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream).sort_stats("tottime")
    stats.print_stats(40)
    path.write_text(stream.getvalue())
    rows = []
    for (filename, line, name), (_, calls, tottime, _, _) in sorted(
        stats.stats.items(), key=lambda item: item[1][2], reverse=True
    )[:top]:
        rows.append({"function": f"{Path(filename).name}:{line}({name})", "calls": calls, "seconds": tottime})
    return rows


def _explain(queries: list[str], path: Path) -> list[dict]:
    """EXPLAIN ANALYZE (PostgreSQL) or EXPLAIN QUERY PLAN (SQLite) of each query, to a file."""
    from django.db import connection

    summary, text = [], []
    with connection.cursor() as cursor:
        for number, sql in enumerate(queries, 1):
            if connection.vendor == "postgresql":
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            else:
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = [" ".join(str(part) for part in row) for row in cursor.fetchall()]
            took = next((line.split(":", 1)[1].strip() for line in plan if "Execution Time" in line), "")
            summary.append({"query": number, "execution_time": took, "sql_head": sql[:160]})
            text += [f"-- query {number}", sql, "", *plan, ""]
    path.write_text("\n".join(text))
    return summary


def measure(name: str, impl: dict, *, repeat: int, exact_money: bool, explain: Path | None) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # One untimed round first: warms the caches, counts the product's queries and checks that
    # the three agree.
    with CaptureQueriesContext(connection) as captured:
        product = impl["product"]()
    queries = [q["sql"] for q in captured.captured_queries]
    sql = impl["sql"]()
    pandas, _ = impl["pandas"]()
    problems = [
        f"{name}: hand SQL differs from the product at {d}"
        for d in differences(product, sql, exact_money=exact_money)
    ]
    problems += [
        f"{name}: pandas differs from the product at {d}"
        for d in differences(product, pandas, exact_money=exact_money)
    ]
    times = {"product": [], "sql": [], "pandas": [], "pandas_load": []}
    for _ in range(repeat):  # alternate, so load on the shared machine hits all three alike
        times["product"].append(_timed(impl["product"])[0])
        times["sql"].append(_timed(impl["sql"])[0])
        seconds, (_, load_seconds) = _timed(impl["pandas"])
        times["pandas"].append(seconds)
        times["pandas_load"].append(load_seconds)
    result = {
        "product": {**_stats(times["product"]), "queries": len(queries)},
        "sql": {**_stats(times["sql"]), "queries": 1},
        "pandas": {**_stats(times["pandas"]), "load": _stats(times["pandas_load"])},
        "answer_size": len(json.dumps(product, default=str)),
        "problems": problems,
    }
    result["product_over_sql"] = result["product"]["median"] / result["sql"]["median"]
    result["pandas_over_product"] = result["pandas"]["median"] / result["product"]["median"]
    result["budget_met"] = result["product_over_sql"] <= RATIO_BUDGET and result["pandas_over_product"] > 1
    if explain is not None and connection.vendor != "postgresql":
        result["profile"] = _profile(impl["product"], explain.with_suffix(".product.profile.txt"))
    elif explain is not None:
        result["explain"] = {"product": _explain(queries, explain.with_suffix(".product.txt"))}
        with CaptureQueriesContext(connection) as captured:
            impl["sql"]()
        result["explain"]["sql"] = _explain(
            [q["sql"] for q in captured.captured_queries], explain.with_suffix(".sql.txt")
        )
    for problem in problems:
        print(f"WARNING: {problem}", file=sys.stderr, flush=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scenarios.analytics")
    parser.add_argument("--db", required=True, help="label: sqlite | postgres")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--orders", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--metrics", default=",".join(METRICS), help="comma-separated subset")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN the product's and the SQL's queries")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    unknown = set(args.metrics.split(",")) - set(METRICS)
    if unknown:
        parser.error(f"unknown metrics: {', '.join(sorted(unknown))}")

    from bench.worker import configure

    configure(args.database_url)
    from django.core.management import call_command
    from django.db import connection

    from bench import data_analytics
    from bench.worker import _db_version
    from plays.models import Play

    load_before = os.getloadavg()
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    migrate_seconds = time.perf_counter() - started
    dataset = data_analytics.generate(args.orders)
    dataset["migrate_seconds"] = round(migrate_seconds, 2)
    print(
        f"  [{args.db} {args.orders:>9,} orders] data built in {dataset['seconds']} s "
        f"({dataset['accounts']:,} accounts, {dataset['contacts']:,} contacts, "
        f"{dataset['renewals']:,} terms, {dataset['enrollments']:,} enrollments)",
        flush=True,
    )
    play = Play.objects.get(pk=dataset["play_id"])
    impls = implementations(play, datetime.fromisoformat(dataset["now"]))
    results, problems = {}, []
    for name in args.metrics.split(","):
        explain = OUT / f"explain-{NAME}-{name}-{args.db}-{args.orders}" if args.explain else None
        results[name] = measure(
            name,
            impls[name],
            repeat=args.repeat,
            exact_money=connection.vendor == "postgresql",
            explain=explain,
        )
        problems += results[name]["problems"]
        r = results[name]
        print(
            f"  [{args.db} {args.orders:>9,} orders] {name:20s} product {r['product']['median']:7.3f} s "
            f"({r['product']['queries']} queries)  SQL {r['sql']['median']:7.3f} s  "
            f"pandas {r['pandas']['median']:7.3f} s (load {r['pandas']['load']['median']:.3f} s)  "
            f"product/SQL {r['product_over_sql']:.2f}x  pandas/product {r['pandas_over_product']:.1f}x",
            flush=True,
        )
    result = {
        "scenario": NAME,
        "db": args.db,
        "db_version": _db_version(connection),
        "orders": args.orders,
        "dataset": dataset,
        "repeat": args.repeat,
        "metrics": results,
        "load_average": {"start": load_before, "end": os.getloadavg()},
        "problems": problems,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    connection.close()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())


# --- Report -----------------------------------------------------------------------------------

LABELS = {
    "cohorts_signup": "cohort table, sign-up basis (36 months)",
    "cohorts_first_order": "cohort table, first-order basis (36 months)",
    "nrr": "net renewal rate (renewal-based; last 365 days)",
    "lift": "play lift (90-day window)",
}


def _s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _spread(stats: dict) -> str:
    return f"{_s(stats['median'])} ({_s(stats['min'])}-{_s(stats['max'])})"


def markdown(runs: list[dict]) -> list[str]:
    """The scenario's section of the report, for the runs that are this scenario's."""
    runs = [run for run in runs if run.get("scenario") == NAME]
    if not runs:
        return []
    lines = [
        "",
        "## Scenario 4 — analytics on orders",
        "",
        "Product: `analytics.metrics` (`cohorts()` on both bases, `revenue_retention()`, `play_lift()` of a "
        "renewal play with a 20% holdout). Baselines on the same data in the same process: one hand-written "
        "SQL query per metric (the floor) and pandas (columns fetched with a cursor, timestamps as integer "
        "microseconds and money as integer cents; **the pandas time includes that load**, shown apart). "
        "The run fails unless all three give the same numbers. Medians (min-max) over the repetitions, "
        "after one untimed round that warms the caches and checks the numbers. "
        f"Budget: product ≤ {RATIO_BUDGET:.0f}x the hand SQL and faster than pandas.",
        "",
        "| DB | orders | metric | product | queries | hand SQL | pandas (of which load) | product / SQL "
        "| pandas / product | budget |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        for name, m in run.get("metrics", {}).items():
            within = m["product_over_sql"] <= RATIO_BUDGET
            faster = m["pandas_over_product"] > 1
            binding = "" if run["orders"] >= BUDGET_ORDERS else " *(budget at 1M)*"
            lines.append(
                f"| {run['db']} | {run['orders']:,} | {LABELS.get(name, name)} | {_spread(m['product'])} "
                f"| {m['product']['queries']} | {_spread(m['sql'])} "
                f"| {_s(m['pandas']['median'])} ({_s(m['pandas']['load']['median'])}) "
                f"| {m['product_over_sql']:.2f}x | {m['pandas_over_product']:.1f}x "
                f"| {'✅' if within else '❌'} ≤ {RATIO_BUDGET:.0f}x SQL, "
                f"{'✅' if faster else '❌'} faster than pandas{binding} |"
            )
    for run in runs:
        data = run.get("dataset")
        if not data:
            continue
        load = run.get("load_average", {})
        lines += [
            "",
            f"{run['db']} ({run.get('db_version', '')}), {data['orders']:,} orders: "
            f"{data['accounts']:,} accounts, {data['contacts']:,} contacts, {data['renewals']:,} contract "
            f"terms ({data['churned_accounts']:,} accounts churned), {data['deals']:,} expansion deals, "
            f"{data['enrollments']:,} enrollments; built in {data['seconds']} s; "
            f"{run.get('repeat', '?')} repetitions; load average "
            + " → ".join(f"{v[0]:.1f}" for v in (load.get("start"), load.get("end")) if v)
            + f"; {run.get('total_seconds', '?')} s in all.",
        ]
    profiled = [run for run in runs if any("profile" in m for m in run.get("metrics", {}).values())]
    for run in profiled:
        lines += [
            "",
            f"Where the product's time goes ({run['db']}, {run['orders']:,} orders, cProfile, "
            f"top functions by own time; `bench/out/explain-{NAME}-*.profile.txt`):",
            "",
        ]
        for name, m in run["metrics"].items():
            if "profile" in m:
                top = "; ".join(
                    f"`{row['function']}` {row['seconds']:.2f} s ({row['calls']:,} calls)"
                    for row in m["profile"][:4]
                )
                lines.append(f"- {LABELS.get(name, name)}: {top}")
    explained = [run for run in runs if any("explain" in m for m in run.get("metrics", {}).values())]
    for run in explained:
        lines += [
            "",
            f"Query plans ({run['db']}, {run['orders']:,} orders; `bench/out/explain-{NAME}-*.txt`):",
            "",
        ]
        for name, m in run["metrics"].items():
            if "explain" in m:
                product = ", ".join(q["execution_time"] or "?" for q in m["explain"]["product"])
                floor = ", ".join(q["execution_time"] or "?" for q in m["explain"]["sql"])
                lines.append(f"- {LABELS.get(name, name)}: product {product}; hand SQL {floor}")
    return lines

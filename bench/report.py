"""The Markdown report, and the baseline extrapolation for scales too slow to measure it."""

# Budgets of issue 8 (scenario 1) and issue 5, at 100,000 contacts.
RATIO_BUDGET = 20
POSTGRES_SECONDS_BUDGET = 10
ANY_DB_SECONDS_BUDGET = 60  # "well under a minute" on SQLite and PostgreSQL
BUDGET_SCALE = 100_000


def extrapolate_baselines(runs: list[dict]) -> None:
    """Where the baseline was not measured, extrapolate it linearly in the number of
    candidates from the largest measured scale on the same database (labelled as such)."""
    for run in runs:
        if run.get("baseline") or "engine" not in run:
            continue
        measured = [
            other
            for other in runs
            if other.get("db") == run["db"] and (other.get("baseline") or {}).get("measured")
        ]
        if not measured:
            continue
        source = max(measured, key=lambda other: other["candidates"])
        per_candidate = source["baseline"]["median"] / source["candidates"]
        run["baseline"] = {
            "median": per_candidate * run["candidates"],
            "measured": False,
            "extrapolated_from": {
                "contacts": source["contacts"],
                "candidates": source["candidates"],
                "median": source["baseline"]["median"],
            },
        }


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def _spread(stats: dict) -> str:
    return f"{_s(stats['median'])} ({_s(stats['min'])}-{_s(stats['max'])})"


def _budget(run: dict, ratio: float | None) -> str:
    notes = []
    if ratio is not None:
        met = ratio >= RATIO_BUDGET
        notes.append(f"ratio {'≥' if met else '<'} {RATIO_BUDGET}x {'✅' if met else '❌'}")
    if run["contacts"] >= BUDGET_SCALE:
        seconds = run["engine"]["median"]
        limit = POSTGRES_SECONDS_BUDGET if run["db"] == "postgres" else ANY_DB_SECONDS_BUDGET
        notes.append(f"{'<' if seconds < limit else '≥'} {limit} s {'✅' if seconds < limit else '❌'}")
    return ", ".join(notes)


def markdown(results: dict) -> str:
    m = results["machine"]
    pg = m.get("postgres") or {}
    lines = [
        "# Benchmark results",
        "",
        f"`{results['command']}` — {results['started_at']} to {results['finished_at']} (UTC)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}; Python {m['python']}, "
        f"Django {m['django']}, SQLite {m['sqlite']}"
        + (
            f", PostgreSQL {pg.get('version')} (shared_buffers {pg.get('shared_buffers')}, "
            f"synchronous_commit {pg.get('synchronous_commit')}, fsync {pg.get('fsync')})"
            if pg.get("version")
            else ""
        )
        + ".",
        "",
        "## Scenario 1 — play evaluation end to end",
        "",
        "A renewal_window play (60 days, holdout 10%) over every contact: candidates → holdout → "
        "governance → enrollments → queued texts, with delivery enqueued on commit (django-q2 ORM "
        "broker). Engine: `plays.engine.play_run(play)`. Baseline: the per-contact ORM loop in "
        "`bench/scenarios/plays.py`, same data, same run. Times are wall-clock medians with "
        "(min-max) over the repetitions; every repetition starts from the same state and must "
        "write the same outcome.",
        "",
        "| DB | contacts | candidates | texts queued | engine | engine queries | baseline | baseline queries "
        "| ratio | budget |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    runs = [run for run in results["runs"] if "engine" in run]
    for run in runs:
        baseline = run.get("baseline")
        ratio = baseline["median"] / run["engine"]["median"] if baseline else None
        if baseline is None:
            base_cell, base_queries = "not measured", ""
        elif baseline["measured"]:
            base_cell, base_queries = _spread(baseline), f"{baseline['queries']:,}"
        else:
            source = baseline["extrapolated_from"]
            base_cell = f"≈{_s(baseline['median'])} *extrapolated* from {source['contacts']:,}"
            base_queries = ""
        ratio_cell = (
            "" if ratio is None else (f"{ratio:.1f}x" + ("" if baseline["measured"] else " *(extrap.)*"))
        )
        lines.append(
            f"| {run['db']} | {run['contacts']:,} | {run['candidates']:,} "
            f"| {run['outcome']['messages_queued']:,} | {_spread(run['engine'])} "
            f"| {run['engine']['queries']:,} | {base_cell} | {base_queries} "
            f"| {ratio_cell} | {_budget(run, ratio)} |"
        )
    lines += [
        "",
        "### Growth with contacts (engine)",
        "",
        "| DB | contacts | candidates | engine median | ms per 1,000 candidates |",
        "|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        per = 1000 * run["engine"]["median"] / max(run["candidates"], 1) * 1000
        lines.append(
            f"| {run['db']} | {run['contacts']:,} | {run['candidates']:,} "
            f"| {_s(run['engine']['median'])} | {per:.0f} |"
        )
    if runs:
        sample = runs[-1]
        lines += [
            "",
            f"### Outcome of one run ({sample['db']}, {sample['contacts']:,} contacts)",
            "",
            "| arm / outcome / reason | enrollments |",
            "|---|---:|",
        ]
        for key, count in sample["outcome"]["by_arm_outcome_reason"].items():
            lines.append(f"| {key} | {count:,} |")
        data = sample["dataset"]
        lines += [
            "",
            f"Data set: {data['contacts']:,} contacts in {data['accounts']:,} accounts "
            f"({data['accounts_in_window']:,} with a renewal ending within 60 days), "
            f"{data['deferrals']:,} deferrals, {data['activities']:,} activities, {data['events']:,} events, "
            f"{data['history_messages']:,} earlier texts, {data['deals']:,} open deals; "
            f"built in {data['seconds']} s.",
        ]
    profiled = [run for run in runs if run.get("profile")]
    if profiled:
        lines += ["", "### Where the engine's time goes (cProfile, one extra run)", ""]
        for run in profiled:
            profile = run["profile"]
            lines += [
                f"{run['db']}, {run['contacts']:,} contacts: {profile['wall_under_profile']} s "
                "under the profiler "
                f"(details: `{profile['file'].split('/bench/', 1)[-1]}`):",
                "",
                "| phase | cumulative | calls |",
                "|---|---:|---:|",
            ]
            for label, entry in profile["phases"].items():
                lines.append(f"| {label.strip()} | {entry['seconds']:.2f} s | {entry['calls']:,} |")
            lines.append("")
    from bench.scenarios import analytics

    lines += analytics.markdown(results["runs"])
    from bench.scenarios import outbox, webhooks

    lines += outbox.markdown(results["runs"])
    lines += webhooks.markdown(results["runs"])
    from bench.scenarios import pages

    lines += pages.markdown(results["runs"])
    from bench.scenarios import journeys

    lines += journeys.markdown(results["runs"])
    from bench.scenarios import clv_tiers

    lines += clv_tiers.markdown(results["runs"])
    from bench.scenarios import health

    lines += health.markdown(results["runs"])
    problems = [
        (run.get("db"), run.get("contacts"), p) for run in results["runs"] for p in run.get("problems", [])
    ]
    if problems:
        lines += ["", "### ⚠️ Problems", ""]
        lines += [f"- {db} {contacts}: {problem}" for db, contacts, problem in problems]
    return "\n".join(lines) + "\n"

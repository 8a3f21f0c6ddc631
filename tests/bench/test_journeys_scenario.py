"""Scenario 6's harness on a small data set: every repetition advances every waiting enrollment
through the wait to the two-variant send, the baselines do the same work, the batched advance
takes a fixed number of queries whatever the size, and the report states the ratios."""

import pytest
from django.utils import timezone

from bench.scenarios import journeys
from tests.plays.conftest import play_settings  # noqa: F401 - autouse: the plays tests' settings

pytestmark = pytest.mark.django_db


def test_advance_and_baselines_do_the_same_work_in_every_repetition():
    journey, one_text = journeys.build(60, 20)
    now = timezone.now()
    runs = [
        journeys.repetition(journey, one_text, count=60, baseline_count=12, entry_count=20, now=now)
        for _ in range(2)
    ]
    summary, problems = journeys.summarize(runs, 60, 12, 20)
    assert problems == []
    advance = runs[0]["advance"]["outcome"]
    assert advance["enrollments"] == {"completed/2/-": 60} and advance["texts_queued"] == 60
    assert runs[0]["advance_one"]["outcome"] == advance  # one advancer alone does the same
    batches = runs[0]["advance_one"]["batch_seconds"]
    assert batches == {} or batches["batches"] >= 4  # 60 rows are one batch: nothing to compare
    variants = advance["decisions"]
    assert set(variants) == {"send/sent/A", "send/sent/B"} and sum(variants.values()) == 60
    # The entry baseline enters its sample (the contacts with the play's event), compared per enrollment.
    assert runs[0]["entry"]["outcome"]["texts_queued"] == 20 and summary["entry_enrollments"] == 20
    assert runs[0]["per_enrollment"]["outcome"]["texts_queued"] == 12
    assert summary["per_enrollment_extrapolated"] is True
    # Set-based: the batched advance costs a handful of queries, the baseline pays them per row.
    assert runs[0]["advance"]["queries"] < runs[0]["per_enrollment"]["queries"] / 6


def test_the_advance_takes_the_same_queries_as_the_enrollments_grow():
    journey, one_text = journeys.build(120, 5)
    now = timezone.now()
    small = journeys.repetition(journey, one_text, count=30, baseline_count=1, entry_count=5, now=now)
    large = journeys.repetition(journey, one_text, count=120, baseline_count=1, entry_count=5, now=now)
    assert small["advance"]["queries"] == large["advance"]["queries"]
    assert small["advance_one"]["queries"] == large["advance_one"]["queries"]


def test_batch_times_compare_the_first_and_the_last_tenth_of_an_advance():
    from plays import journey as journey_module

    journey, _ = journeys.build(40, 5)
    real = journey_module._advance_batch
    with journeys._BatchTimes() as batches:
        journey_module.journeys_advance(journey, now=timezone.now())  # nothing due: no batch
        journeys.reset_waiting(journey, 40, timezone.now())
        journey_module.journeys_advance(journey, now=timezone.now(), batch_size=2, advancers=1)
    assert journey_module._advance_batch is real  # put back
    ends = batches.ends()
    assert ends["batches"] == 20 and ends["first_tenth_mean"] > 0 and ends["last_tenth_mean"] > 0
    batches.seconds = [1.0] * 2 + [2.0] * 16 + [3.0, 5.0]
    assert batches.ends() == {"batches": 20, "first_tenth_mean": 1.0, "last_tenth_mean": 4.0}


def test_a_disagreeing_repetition_is_a_problem():
    journey, one_text = journeys.build(10, 10)
    now = timezone.now()
    first = journeys.repetition(journey, one_text, count=10, baseline_count=2, entry_count=10, now=now)
    second = journeys.repetition(journey, one_text, count=10, baseline_count=2, entry_count=10, now=now)
    second["advance"]["outcome"] = {**second["advance"]["outcome"], "texts_queued": 9}
    _, problems = journeys.summarize([first, second], 10, 2, 10)
    assert "advance: repetitions wrote different outcomes" in problems


def test_report_states_the_ratios_and_the_budget():
    run = {
        "scenario": "journeys",
        "db": "postgres",
        "db_version": "16",
        "enrollments": 100_000,
        "advancers": 2,
        "baseline_enrollments": 1000,
        "repeat": 3,
        "summary": {
            "advance_seconds": 10.0,
            "advance_per_second": 10_000,
            "advance_queries": 2000,
            "advance_one_seconds": 17.5,
            "advance_one_batches": {"batches": 20, "first_tenth_mean": 0.61, "last_tenth_mean": 0.64},
            "entry_seconds": 0.8,
            "entry_enrollments": 10_000,
            "per_enrollment_seconds": 3.0,
            "per_enrollment_full_seconds": 300.0,
            "per_enrollment_extrapolated": True,
            "advance_vs_entry": 1.25,
            "speedup_vs_per_enrollment": 30.0,
        },
        "load_average": {"start": [2.5, 2, 2], "end": [3.0, 2, 2]},
        "cpus": 2,
    }
    row = next(line for line in journeys.markdown([run]) if line.startswith("| postgres"))
    assert "1.25x" in row and "30.0x" in row and "extrapolated from 1,000" in row and "for 10,000" in row
    assert "✅ ≥ 20x" in row and "✅ < 15 s" in row
    assert "| 100,000 | 2 | 10.00 s" in row and "| 17.50 s |" in row  # two advancers; one alone
    lines = "\n".join(journeys.markdown([run]))
    assert "one advancer: 20 batches; the first tenth took 0.610 s each, the last tenth 0.640 s" in lines
    slow = {**run, "summary": {**run["summary"], "advance_seconds": 20.0, "speedup_vs_per_enrollment": 15.0}}
    row = next(line for line in journeys.markdown([slow]) if line.startswith("| postgres"))
    assert "❌ ≥ 20x" in row and "❌ < 15 s" in row


def test_report_states_how_the_time_grew_with_the_enrollments():
    def run(n, seconds):
        summary = {
            "advance_seconds": seconds, "advance_per_second": 1, "advance_queries": 1, "entry_seconds": 1.0,
            "per_enrollment_full_seconds": 1.0, "per_enrollment_extrapolated": False, "advance_vs_entry": 1.0,
            "speedup_vs_per_enrollment": 30.0,
        }  # fmt: skip
        return {"scenario": "journeys", "db": "postgres", "enrollments": n, "baseline_enrollments": 1,
                "repeat": 1, "summary": summary}  # fmt: skip

    lines = "\n".join(journeys.markdown([run(100_000, 10.0), run(500_000, 60.0)]))
    assert "500,000 / 100,000 enrollments (5.0x) took 6.00x the time: 1.20x per enrollment" in lines

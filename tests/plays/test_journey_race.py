"""Racing advancers (the schedule and a run, several workers): every due step is taken once and
every text goes once. Proven on PostgreSQL, where rows are locked with SKIP LOCKED."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection

from plays.journey import journeys_advance
from plays.models import Enrollment, Play, StepDecision
from sms.models import Message
from tests.plays.journeys import T0, entering, journey, run, send

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_racing_advancers_take_each_step_once(settings):
    settings.GOVERNANCE_CONTACT_DAILY_CAP = settings.GOVERNANCE_CONTACT_WEEKLY_CAP = 10
    steps = [send("One"), {"type": "wait", "hours": 1}, {"type": "task", "title": "Call"}, send("Two")]
    play = journey(steps)
    entering(120)
    run(play, T0)
    assert Enrollment.objects.filter(play=play, state="waiting").count() == 120
    workers = 4
    barrier = threading.Barrier(workers)
    moved, errors = [], []
    later = T0 + timedelta(hours=1)

    def worker():
        try:
            with time_machine.travel(later, tick=False):
                barrier.wait(timeout=10)
                moved.append(journeys_advance(Play.objects.get(pk=play.pk), now=later, batch_size=15).moved)
        except Exception as exc:  # pragma: no cover - surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(moved) == 120
    assert Message.objects.filter(body="Two").count() == 120
    assert Message.objects.filter(body="Two").values("contact_id").distinct().count() == 120
    assert StepDecision.objects.filter(step=2).count() == StepDecision.objects.filter(step=3).count() == 120
    assert set(Enrollment.objects.filter(play=play).values_list("state", flat=True)) == {"completed"}


def _accounts_entering(accounts: int, per_account: int, loners: int) -> None:
    from tests.factories import AccountFactory

    for _ in range(accounts):
        account = AccountFactory()
        entering(per_account, account=account)
    entering(loners, account=None)


def test_side_by_side_advancers_split_the_due_enrollments_by_account():
    """Each lane holds whole accounts (contacts without one by their own id); the lanes are
    disjoint and together every due enrollment."""
    from plays.journey import due

    play = journey([{"type": "wait", "hours": 1}, send("Two")])
    _accounts_entering(accounts=7, per_account=3, loners=5)
    run(play, T0)
    later = T0 + timedelta(hours=1)
    everyone = set(due(play, later).values_list("pk", flat=True))
    assert len(everyone) == Enrollment.objects.filter(play=play).count() >= 26
    lanes = [set(due(play, later, (k, 2)).values_list("pk", flat=True)) for k in range(2)]
    assert lanes[0] and lanes[1] and not lanes[0] & lanes[1] and lanes[0] | lanes[1] == everyone
    for lane in lanes:
        accounts = set(
            Enrollment.objects.filter(pk__in=lane).exclude(account=None).values_list("account_id", flat=True)
        )
        others = Enrollment.objects.exclude(pk__in=lane).filter(play=play, account_id__in=accounts)
        assert not others.exists()  # an account's enrollments are all in one lane


def test_side_by_side_advancers_keep_the_account_cap_and_take_every_step_once(settings):
    """Two advancers (the default on PostgreSQL) take an advance together, one enrollment per
    batch so they interleave: every account still gets one text (its weekly cap), the others are
    held, and every enrollment is moved once."""
    from unittest import mock

    from plays import journey as journey_module

    settings.JOURNEY_ADVANCERS = 2
    settings.GOVERNANCE_ACCOUNT_WEEKLY_CAP = 1
    settings.GOVERNANCE_CONTACT_DAILY_CAP = settings.GOVERNANCE_CONTACT_WEEKLY_CAP = 10
    play = journey([{"type": "wait", "hours": 1}, send("Two")])
    _accounts_entering(accounts=8, per_account=3, loners=6)
    run(play, T0)
    later = T0 + timedelta(hours=1)
    lanes = []
    real = journey_module._advance_batches

    def recording(*args, lane=None, **kwargs):
        lanes.append(lane)
        return real(*args, lane=lane, **kwargs)

    with (
        time_machine.travel(later, tick=False),
        mock.patch.object(journey_module, "_advance_batches", side_effect=recording),
    ):
        result = journeys_advance(Play.objects.get(pk=play.pk), now=later, batch_size=1)
    assert sorted(lanes) == [(0, 2), (1, 2)]
    enrolled = Enrollment.objects.filter(play=play).count()
    assert result.moved == enrolled >= 30
    texts = Message.objects.filter(body="Two")
    assert texts.count() == 8 + 6 == result.texts["sent"]
    assert texts.exclude(contact__account=None).values("contact__account").distinct().count() == 8
    assert result.held == enrolled - 14 == StepDecision.objects.filter(step=1, outcome="held").count()
    assert StepDecision.objects.filter(step=1).values("enrollment").distinct().count() == enrolled


def test_a_failing_advancer_raises_and_its_batch_stays_as_it_was(settings):
    from unittest import mock

    from plays import journey as journey_module

    settings.JOURNEY_ADVANCERS = 2
    play = journey([{"type": "wait", "hours": 1}, send("Two")])
    entering(4)
    run(play, T0)
    later = T0 + timedelta(hours=1)
    with (
        time_machine.travel(later, tick=False),
        mock.patch.object(journey_module, "_advance_batch", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError, match="boom"),
    ):
        journeys_advance(Play.objects.get(pk=play.pk), now=later)
    assert set(Enrollment.objects.filter(play=play).values_list("state", flat=True)) == {"waiting"}
    assert (
        not Message.objects.filter(body="Two").exists() and not StepDecision.objects.filter(step=1).exists()
    )


def test_one_advancer_inside_a_transaction():
    from django.db import transaction

    from plays.journey import advancer_lanes

    assert advancer_lanes(2) == 2 and advancer_lanes(1) == 1
    with transaction.atomic():
        assert advancer_lanes(2) == 1


@pytest.mark.django_db(transaction=False)
def test_a_lane_reads_the_partial_index_in_due_order_not_a_sort_of_every_due_enrollment():
    """At 500,000 due, "lane = k" made PostgreSQL guess 0.5% of rows match, seq-scan and sort
    all of them for every batch (170 ms a batch); the lane is read off the partial index of
    in-flight enrollments in due order and stops when the batch is full."""
    from django.utils import timezone

    from bench.scenarios import journeys as bench_journeys
    from plays.journey import BATCH_SIZE, due

    journey_play, _ = bench_journeys.build(20_000, 1)
    now = timezone.now()
    bench_journeys.reset_waiting(journey_play, 20_000, now)
    for lane in [(0, 2), (1, 2), (2, 3)]:
        query = (
            due(journey_play, now, lane).select_for_update(skip_locked=True).values_list("pk")[:BATCH_SIZE]
        )
        sql, params = query.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "plays_enrollment_due_next" in plan and "Sort" not in plan, plan

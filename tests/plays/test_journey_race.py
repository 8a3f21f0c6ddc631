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

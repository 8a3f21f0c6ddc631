"""Two workers run the same play at once: every occurrence is decided and texted once."""

import threading

import pytest
from django.db import connection

from plays.engine import PlayNotRunnable, play_run
from plays.models import Enrollment, Play
from sms.models import Message
from tests.plays.conftest import make_play
from tests.plays.test_engine import renewing_account

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_runs_decide_each_occurrence_once():
    play = make_play(holdout_percent=20)
    renewing_account(contacts=60)
    barrier = threading.Barrier(4)
    outcomes, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=10)
            # Each worker loads its own copy, as a separate django-q process would.
            outcomes.append(play_run(Play.objects.get(pk=play.pk), batch_size=20).decided)
        except PlayNotRunnable as refused:
            outcomes.append(refused.code)
        except Exception as exc:  # pragma: no cover - surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sum(n for n in outcomes if isinstance(n, int)) == 60
    assert Enrollment.objects.filter(play=play).count() == 60
    texted = Enrollment.objects.filter(play=play, message__isnull=False)
    assert Message.objects.filter(source=f"play:{play.pk}").count() == texted.count()
    # Whoever lost the claim, a later run finds nothing new.
    assert play_run(Play.objects.get(pk=play.pk)).decided == 0

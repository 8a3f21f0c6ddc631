"""The demo's journeys have a history past their first text: waits elapsed, later texts, the
branches taken, the owner's and the manager's tasks, exits by reason and the onboarding goal
reached, each enrollment's recorded path one its journey's steps allow."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from random import Random
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from crm.models import Task, TaskSource
from demo import plays as demo
from demo.journeys import Facts, Walker
from plays.models import Arm, Enrollment, EnrollmentState, Play, StepDecision
from plays.selectors import journey_funnel
from tests.plays.conftest import play_settings  # noqa: F401 - autouse: the plays tests' settings

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 6)


@pytest.fixture
def seeded():
    # A third of the default book: enough journeys to take every way at least once.
    call_command("seed_demo", "--accounts", "100", "--today", TODAY.isoformat(), stdout=StringIO())


def _next_decided(steps: list[dict], index: int) -> int:
    """The first step at or after ``index`` that records a decision (waits record none)."""
    while index < len(steps) and steps[index]["type"] == "wait":
        index += 1
    return index


def _paths(play: Play) -> dict[int, list[tuple]]:
    paths: dict[int, list[tuple]] = {}
    for enrollment_id, move, step, kind, outcome in (
        StepDecision.objects.filter(play=play)
        .order_by("enrollment_id", "move")
        .values_list("enrollment_id", "move", "step", "kind", "outcome")
    ):
        paths.setdefault(enrollment_id, []).append((move, step, kind, outcome))
    return paths


def test_the_demo_journeys_history_past_the_first_step(seeded):
    _every_recorded_path_is_one_the_journeys_steps_allow()
    _the_journey_pages_show_a_funnel_past_the_first_step()
    _later_texts_are_in_the_history_with_their_decisions()


def _every_recorded_path_is_one_the_journeys_steps_allow():
    for name in (demo.ONBOARDING, demo.RENEWAL):
        play = Play.objects.get(name=name)
        steps, paths = play.steps, _paths(play)
        treated = Enrollment.objects.filter(play=play, arm=Arm.TREATMENT)
        for enrollment in treated:
            path = paths.get(enrollment.pk, [])
            assert [move for move, *_ in path] == list(range(1, enrollment.moves + 1)), enrollment
            expected = 0
            for _, step, kind, outcome in path:
                assert step == _next_decided(steps, expected), (name, path)
                assert kind == steps[step]["type"]
                if kind == "branch":
                    expected = steps[step]["then"] if outcome == "then" else steps[step].get("else", step + 1)
                elif outcome == "held":  # held back by governance: the same step is tried again
                    expected = step
                else:
                    expected = step + 1
            if enrollment.state == EnrollmentState.ACTIVE:  # a text held back, tried again then
                assert steps[enrollment.step]["type"] == "send" and path[-1][3] == "held"
            elif enrollment.state == EnrollmentState.WAITING:
                assert steps[enrollment.step]["type"] == "wait" and enrollment.next_at is not None
                assert enrollment.next_at > enrollment.waited_since
            elif enrollment.state == EnrollmentState.COMPLETED:
                assert path and _next_decided(steps, expected) == len(steps), (name, path)
            else:
                assert enrollment.state == EnrollmentState.EXITED and enrollment.exit_reason


def _the_journey_pages_show_a_funnel_past_the_first_step():
    onboarding = journey_funnel(Play.objects.get(name=demo.ONBOARDING))
    renewal = journey_funnel(Play.objects.get(name=demo.RENEWAL))
    for funnel in (onboarding, renewal):
        later = funnel["steps"][1:]
        assert sum(sum(row["decisions"].values()) for row in later) > 0
        assert funnel["completed"] + sum(funnel["exited"].values()) + funnel["in_flight"] == funnel["entered"]
    # Onboarding: the wait, the branch (no reply: the reminder), and the goal (the integration
    # connected) ending journeys.
    steps = onboarding["steps"]
    assert steps[2]["decisions"]["else"] > 0
    sent = steps[3]["decisions"].get("sent", 0) + steps[3]["decisions"].get("deferred", 0)
    assert 0 < sent <= steps[2]["decisions"]["else"]
    assert onboarding["exited"]["event:integration_connected"] > 0
    # Renewal: silence escalates to the owner then the manager, the later texts go (or wait while
    # governance holds them), a deal opened ends it.
    steps = renewal["steps"]
    assert steps[3]["decisions"]["created"] == steps[2]["decisions"]["else"] > 0
    assert steps[6]["decisions"]["created"] == steps[5]["decisions"]["else"] > 0
    assert steps[8]["decisions"]["sent"] > 0 and steps[10]["decisions"]["sent"] > 0
    assert renewal["exited"]["deal_opened"] > 0
    # The tasks exist, for the owner and for the manager, counted as decided.
    titles = Counter(Task.objects.filter(source=TaskSource.PLAY).values_list("title", flat=True))
    assert titles["Renewal text unanswered: call them"] == steps[3]["decisions"]["created"]
    assert titles["Renewal still unanswered: step in"] == steps[6]["decisions"]["created"]
    assert titles["Onboarding: help them connect the integration"] == onboarding["steps"][5]["decisions"].get(
        "created", 0
    )


def _later_texts_are_in_the_history_with_their_decisions():
    play = Play.objects.get(name=demo.RENEWAL)
    later = StepDecision.objects.filter(play=play, kind="send", step__gt=0, outcome__in=["sent", "deferred"])
    assert later.exists()
    for decision in later.select_related("message", "enrollment"):
        assert decision.message is not None and decision.message.contact_id == decision.enrollment.contact_id
        assert (
            decision.message.body.startswith("Hi ")
            and decision.message.sent_at >= decision.enrollment.decided_at
        )


# --- The walk itself, on hand-made enrollments ---------------------------------------------


def _walker(reply_events=None, deals=None, managers=None, draws=(0.0,)):
    class Draws(Random):
        def __init__(self):
            super().__init__(7)
            self.values = iter(draws)

        def random(self):
            return next(self.values, 0.0)

    sent = []

    def send(enrollment, row, template, sent_at, deferred):
        sent.append((template, sent_at))
        return None

    facts = Facts(reply_events or {}, deals or {}, managers or {})
    ref = datetime(2026, 3, 30, tzinfo=UTC)
    return Walker(facts, ref, Draws(), demo.GOVERNANCE, send), sent


def _onboarding_enrollment(entered):
    play = Play(
        name=demo.ONBOARDING, steps=demo.STANDARD_PLAYS[0]["steps"], exit_on=demo.STANDARD_PLAYS[0]["exit_on"]
    )
    contact = SimpleNamespace(pk=1, account_id=10, owner_id=5, first_name="Ann", last_name="Lee")
    return SimpleNamespace(play=play, decided_at=entered), SimpleNamespace(contact=contact)


def test_a_reply_takes_the_branch_to_the_task_and_silence_gets_the_reminder_first():
    entered = datetime(2026, 3, 2, 15, tzinfo=UTC)
    walker, sent = _walker()
    enrollment, row = _onboarding_enrollment(entered)
    replied = walker.walk(enrollment, row, entered, entered + timedelta(hours=3))
    assert [(step, kind, outcome) for step, kind, outcome, *_ in replied.decisions] == [
        (2, "branch", "then"),
        (5, "task", "created"),
    ]
    assert (replied.state, replied.step) == (EnrollmentState.COMPLETED, 5) and sent == []
    silent = walker.walk(enrollment, row, entered, None)
    assert [(step, kind, outcome) for step, kind, outcome, *_ in silent.decisions] == [
        (2, "branch", "else"),
        (3, "send", "sent"),
        (5, "task", "created"),
    ]
    assert [template for template, _ in sent] == [demo.ONBOARDING_REMINDER]


def test_the_goal_ends_the_journey_at_the_wait_it_happened_in_and_today_leaves_it_waiting():
    entered = datetime(2026, 3, 2, 15, tzinfo=UTC)
    enrollment, row = _onboarding_enrollment(entered)
    walker, _ = _walker(reply_events={"integration_connected": {10: entered + timedelta(days=3)}})
    walk = walker.walk(enrollment, row, entered, None)
    assert (walk.state, walk.step, walk.exit_reason) == (
        EnrollmentState.EXITED,
        4,
        "event:integration_connected",
    )
    late = datetime(2026, 3, 28, 15, tzinfo=UTC)  # the first wait ends after "today" (Mar 30)
    walker, _ = _walker()
    walk = walker.walk(SimpleNamespace(play=enrollment.play, decided_at=late), row, late, None)
    assert (walk.state, walk.step, walk.next_at) == (EnrollmentState.WAITING, 1, late + timedelta(days=2))


def test_a_held_text_waits_and_is_tried_again():
    entered = datetime(2026, 3, 2, 15, tzinfo=UTC)
    enrollment, row = _onboarding_enrollment(entered)
    # Draws: the reminder is first held (a weekly cap: 0.90 falls in its share), then sent.
    walker, sent = _walker(draws=(0.90, 0.0))
    walk = walker.walk(enrollment, row, entered, None)
    assert [(step, outcome, reason) for step, _, outcome, reason, *_ in walk.decisions][:3] == [
        (2, "else", "replied"),
        (3, "held", "cap:contact_weekly"),
        (3, "sent", ""),
    ]
    assert len(sent) == 1

"""Journeys: entry and holdout, send/wait/task/branch steps, exits, governance per step, the
escalation, and the cost of advancing many enrollments."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm import services as crm_services
from crm.models import Task, TaskSource
from plays.journey_exits import journeys_exit
from plays.models import Arm, Enrollment, Outcome, StepDecision
from plays.steps import next_weekday_morning
from sms.inbound import inbound_receive
from sms.models import ConsentAction, ConsentSource, Message, MessageStatus
from sms.services.consent import consent_record
from tests.factories import EventFactory, UserFactory, stage
from tests.plays.journeys import T0, advance, entering, journey, run, send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def roomy_caps(settings):
    # The journeys here text a contact more than once a day; caps have tests of their own below.
    settings.GOVERNANCE_CONTACT_DAILY_CAP = 10
    settings.GOVERNANCE_CONTACT_WEEKLY_CAP = 10


TWO_TEXTS = [send("First {first_name}"), {"type": "wait", "days": 2}, send("Second {first_name}")]


def during(at):
    return time_machine.travel(at, tick=False)


def _states(play):
    return sorted(Enrollment.objects.filter(play=play).values_list("state", "step", "exit_reason"))


# --- Entry and holdout -----------------------------------------------------------------------


def test_control_arm_never_gets_any_step():
    play = journey(TWO_TEXTS, holdout_percent=50)
    entering(30)
    run(play, T0)
    run(play, T0 + timedelta(days=3))
    control = Enrollment.objects.filter(play=play, arm=Arm.CONTROL)
    treated = Enrollment.objects.filter(play=play, arm=Arm.TREATMENT)
    assert 5 <= control.count() <= 25
    assert set(control.values_list("state", "exit_reason", "outcome", "reason")) == {
        ("exited", "holdout", Outcome.SUPPRESSED, "holdout")
    }
    assert not StepDecision.objects.filter(enrollment__in=control).exists()
    assert not Message.objects.filter(contact_id__in=control.values("contact_id")).exists()
    # Every treated contact got both texts, and the journey completed.
    assert Message.objects.count() == 2 * treated.count()
    assert set(treated.values_list("state", "outcome")) == {("completed", Outcome.ENTERED)}


def test_send_wait_send_moves_only_when_the_wait_has_elapsed():
    play = journey(TWO_TEXTS)
    (contact,) = entering()
    result = run(play, T0)
    assert result.outcomes[Outcome.ENTERED] == 1
    assert result.advanced["texts"]["sent"] == 1 and result.advanced["waiting"] == 1
    enrollment = Enrollment.objects.get(play=play)
    assert (enrollment.state, enrollment.step, enrollment.next_at) == ("waiting", 1, T0 + timedelta(days=2))
    assert list(Message.objects.values_list("body", flat=True)) == [f"First {contact.first_name}"]
    # Before the wait ends nothing moves; at its end the second text goes and the journey ends.
    assert advance(play, T0 + timedelta(days=1, hours=23)).moved == 0
    assert Message.objects.count() == 1
    assert advance(play, T0 + timedelta(days=2)).completed == 1
    assert sorted(Message.objects.values_list("body", flat=True)) == [
        f"First {contact.first_name}",
        f"Second {contact.first_name}",
    ]
    assert _states(play) == [("completed", 2, "")]
    assert list(StepDecision.objects.order_by("move").values_list("move", "step", "kind", "outcome")) == [
        (1, 0, "send", "sent"),
        (2, 2, "send", "sent"),
    ]
    # Advancing again, or running again, decides nothing twice.
    assert advance(play, T0 + timedelta(days=9)).moved == 0
    run(play, T0 + timedelta(days=2, minutes=1))
    assert Message.objects.count() == 2


def test_a_contact_in_the_journey_does_not_enter_it_again():
    play = journey(TWO_TEXTS)
    (contact,) = entering()
    run(play, T0)
    EventFactory(contact=contact, name="signed_up", occurred_at=T0 + timedelta(hours=1))
    result = run(play, T0 + timedelta(hours=2))
    assert result.reasons["journey:in_progress"] == 1
    assert Message.objects.count() == 1


def test_run_endpoint_advances_elapsed_waits(api):
    play = journey(TWO_TEXTS)
    entering()
    run(play, T0 - timedelta(days=3))
    assert Message.objects.count() == 1
    with during(T0):
        body = api.post(f"/api/v1/plays/{play.pk}/run/").json()
    assert body["advanced"]["texts"]["sent"] == 1 and body["advanced"]["completed"] == 1
    assert Message.objects.count() == 2


def test_the_scheduled_job_advances_every_active_journey(settings):
    from plays.tasks import advance_journeys

    assert "plays.tasks.advance_journeys" in {job[0] for job in settings.PERIODIC_JOBS.values()}
    play = journey(TWO_TEXTS)
    entering(2)
    run(play, T0 - timedelta(days=3))
    with during(T0):
        assert advance_journeys() == {play.pk: 2}
    assert Message.objects.count() == 4


def test_a_paused_journey_holds_its_enrollments():
    play = journey(TWO_TEXTS)
    entering()
    run(play, T0)
    play.status = "paused"
    play.save()
    assert advance(play, T0 + timedelta(days=5)).moved == 0
    assert _states(play) == [("waiting", 1, "")]


# --- Waits ------------------------------------------------------------------------------------


def test_next_weekday_morning_is_the_contacts_local_morning():
    new_york = ZoneInfo("America/New_York")
    friday_evening = datetime(2026, 3, 6, 23, 0, tzinfo=UTC)  # 18:00 in New York
    assert next_weekday_morning(friday_evening, new_york) == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    tuesday_dawn = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # 05:00 in New York
    assert next_weekday_morning(tuesday_dawn, new_york, 9) == datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
    tokyo = ZoneInfo("Asia/Tokyo")  # Saturday 08:00 in Tokyo -> Monday 09:00 there
    assert next_weekday_morning(datetime(2026, 3, 6, 23, 0, tzinfo=UTC), tokyo) == datetime(
        2026, 3, 9, 0, 0, tzinfo=UTC
    )


def test_weekday_morning_wait_uses_each_contacts_time_zone():
    play = journey([send("Hi"), {"type": "wait", "until": "weekday_morning", "hour": 9}, send("Again")])
    friday = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
    (east,) = entering(at=friday, timezone="America/New_York")
    (west,) = entering(at=friday, timezone="America/Los_Angeles")
    run(play, friday)
    next_at = dict(Enrollment.objects.filter(play=play).values_list("contact_id", "next_at"))
    assert next_at[east.pk] == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # 09:00 EDT Monday
    assert next_at[west.pk] == datetime(2026, 3, 9, 16, 0, tzinfo=UTC)  # 09:00 PDT Monday


def test_a_text_deferred_by_quiet_hours_waits_and_the_next_wait_counts_from_when_it_goes(settings):
    settings.SMS_QUIET_HOURS_START, settings.SMS_QUIET_HOURS_END = 9, 20
    play = journey([send("Hi"), {"type": "wait", "hours": 3}, send("Again")])
    night = datetime(2026, 3, 5, 4, 0, tzinfo=UTC)  # 23:00 in New York
    entering(at=night)
    result = run(play, night)
    assert result.advanced["texts"]["deferred"] == 1
    opens = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)  # 09:00 in New York
    message = Message.objects.get()
    assert message.next_attempt_at == opens and message.deferred_reason == "quiet_hours"
    decision = StepDecision.objects.get()
    assert (decision.outcome, decision.reason) == ("deferred", "quiet_hours")
    assert Enrollment.objects.get().next_at == opens + timedelta(hours=3)


# --- Governance on every send step ------------------------------------------------------------


def test_each_send_step_goes_through_governance_at_the_moment_it_sends():
    play = journey(TWO_TEXTS)  # no opt-out exit: governance alone must stop the second text
    (contact,) = entering()
    run(play, T0)
    with during(T0 + timedelta(hours=1)):
        consent_record(contact=contact, action=ConsentAction.OPT_OUT, source=ConsentSource.AGENT)
    result = advance(play, T0 + timedelta(days=2))
    assert result.texts["suppressed"] == 1 and result.exited["suppressed:consent:opted_out"] == 1
    assert Message.objects.count() == 1
    decision = StepDecision.objects.get(step=2)
    assert (decision.outcome, decision.reason, decision.message_id) == (
        "suppressed",
        "consent:opted_out",
        None,
    )
    assert _states(play) == [("exited", 2, "suppressed:consent:opted_out")]


def test_the_plays_cooldown_holds_back_reentry_but_not_the_journeys_next_text():
    play = journey(TWO_TEXTS, cooldown_days=30)
    (contact,) = entering()
    run(play, T0)
    advance(play, T0 + timedelta(days=2))
    assert Message.objects.filter(contact=contact).count() == 2  # same journey: no cooldown
    EventFactory(contact=contact, name="signed_up", occurred_at=T0 + timedelta(days=2, hours=1))
    result = run(play, T0 + timedelta(days=2, hours=2))
    assert result.advanced["exited"] == {"suppressed:cap:play_cooldown": 1}
    assert Message.objects.filter(contact=contact).count() == 2


# --- Branches ---------------------------------------------------------------------------------

BRANCHY = [
    send("Did you connect?"),
    {"type": "wait", "days": 1},
    {"type": "branch", "if": "replied", "then": 5, "else": 3},
    send("Still there?"),
    {"type": "branch", "if": "replied", "then": 6, "else": 6},
    send("Thanks for replying"),
]


def _reply(contact, at, body="sure, sounds good", sid=None):
    return inbound_receive(
        provider_sid=sid or f"SM{contact.pk}{at:%H%M%S}",
        from_number=contact.phone,
        to_number="+15005550006",
        body=body,
        received_at=at,
    )


def test_branch_on_replied_takes_then_or_else():
    play = journey(BRANCHY)
    replier, silent = entering(2)
    run(play, T0)
    _reply(replier, T0 + timedelta(hours=3))
    advance(play, T0 + timedelta(days=1))
    bodies = dict(
        Message.objects.filter(direction="outbound").values_list("contact_id", "body").order_by("id")
    )
    assert bodies == {replier.pk: "Thanks for replying", silent.pk: "Still there?"}
    ways = dict(StepDecision.objects.filter(step=2).values_list("enrollment__contact_id", "outcome"))
    assert ways == {replier.pk: "then", silent.pk: "else"}


def test_a_reply_before_the_wait_began_does_not_count_for_the_branch():
    play = journey(BRANCHY)
    (contact,) = entering()
    _reply(contact, T0 - timedelta(hours=1))
    run(play, T0)
    advance(play, T0 + timedelta(days=1))
    assert StepDecision.objects.get(step=2).outcome == "else"


@pytest.mark.parametrize(
    ("condition", "happen"),
    [
        ("intent:pricing", lambda c, at: _reply(c, at, "how much is the upgrade? pricing please")),
        (
            "event:integration_connected",
            lambda c, at: EventFactory(contact=c, name="integration_connected", occurred_at=at),
        ),
        ("clicked", None),
    ],
)
def test_branch_on_intent_event_and_click(condition, happen):
    from sms.models import ShortLink

    steps = [
        send("Try it: {link}"),
        {"type": "wait", "hours": 4},
        {"type": "branch", "if": condition, "then": 4},
    ]
    steps += [send("Nudge"), {"type": "task", "title": "Call them"}]
    play = journey(steps, link_url="https://example.com/start")
    yes, no = entering(2)
    run(play, T0)
    if happen is None:
        ShortLink.objects.filter(contact=yes).update(click_count=1, first_clicked_at=T0 + timedelta(hours=1))
    else:
        happen(yes, T0 + timedelta(hours=1))
    advance(play, T0 + timedelta(hours=4))
    ways = dict(StepDecision.objects.filter(step=2).values_list("enrollment__contact_id", "outcome"))
    assert ways == {yes.pk: "then", no.pk: "else"}
    assert set(Task.objects.values_list("contact_id", flat=True)) == {yes.pk, no.pk}
    assert Message.objects.filter(body="Nudge").get().contact_id == no.pk


# --- Exits ------------------------------------------------------------------------------------


def test_reply_exit_ends_the_enrollment_at_once(django_capture_on_commit_callbacks):
    play = journey(TWO_TEXTS, exit_on=["reply"])
    (contact,) = entering()
    run(play, T0)
    with during(T0 + timedelta(hours=1)), django_capture_on_commit_callbacks(execute=True):
        _reply(contact, T0 + timedelta(hours=1))
    assert _states(play) == [("exited", 1, "reply")]
    advance(play, T0 + timedelta(days=3))
    assert Message.objects.filter(direction="outbound").count() == 1


def test_opt_out_exit(django_capture_on_commit_callbacks):
    play = journey(TWO_TEXTS, exit_on=["opt_out"])
    (contact,) = entering()
    run(play, T0)
    with during(T0 + timedelta(hours=1)), django_capture_on_commit_callbacks(execute=True):
        consent_record(contact=contact, action=ConsentAction.OPT_OUT, source=ConsentSource.AGENT)
    assert _states(play) == [("exited", 1, "opt_out")]


def test_deal_opened_exit_reaches_the_accounts_contacts(django_capture_on_commit_callbacks, user):
    play = journey(TWO_TEXTS, exit_on=["deal_opened"])
    (contact,) = entering()
    run(play, T0)
    with during(T0 + timedelta(hours=1)), django_capture_on_commit_callbacks(execute=True):
        crm_services.deal_create(
            name="Upgrade", account=contact.account, stage=stage("qualification"), owner=user
        )
    assert _states(play) == [("exited", 1, "deal_opened")]


def test_event_exit_through_events_ingest(django_capture_on_commit_callbacks):
    play = journey(TWO_TEXTS, exit_on=["event:integration_connected"])
    stays, leaves = entering(2)
    run(play, T0)
    with during(T0 + timedelta(hours=1)), django_capture_on_commit_callbacks(execute=True):
        crm_services.events_ingest(
            rows=[
                {"contact": leaves, "name": "integration_connected", "occurred_at": T0 + timedelta(hours=1)}
            ]
        )
    states = dict(Enrollment.objects.filter(play=play).values_list("contact_id", "exit_reason"))
    assert states == {stays.pk: "", leaves.pk: "event:integration_connected"}


def test_the_advancer_checks_exits_too_when_no_hook_ran():
    play = journey(TWO_TEXTS, exit_on=["reply", "event:integration_connected"])
    replier, converter, silent = entering(3)
    run(play, T0)
    _reply(replier, T0 + timedelta(hours=1))  # hooks do not run here (no commit)
    EventFactory(contact=converter, name="integration_connected", occurred_at=T0 + timedelta(hours=2))
    result = advance(play, T0 + timedelta(days=2))
    assert result.exited == {"reply": 1, "event:integration_connected": 1}
    assert Message.objects.filter(body="Second " + silent.first_name).count() == 1
    assert Message.objects.filter(direction="outbound").count() == 4


def test_exits_ignore_what_happened_before_entry():
    play = journey(TWO_TEXTS, exit_on=["reply"])
    (contact,) = entering()
    _reply(contact, T0 - timedelta(days=1))
    run(play, T0)
    assert journeys_exit(contact_ids=[contact.pk], now=T0 + timedelta(hours=1)) == 0
    assert _states(play) == [("waiting", 1, "")]


# --- Tasks and escalation ---------------------------------------------------------------------

ESCALATION = [
    send("Hi {first_name}, your renewal is coming up. Questions?"),
    {"type": "wait", "business_hours": 8},
    {"type": "branch", "if": "replied", "then": 7},
    {"type": "task", "title": "No reply: call them", "assignee": "owner"},
    {"type": "wait", "business_hours": 8},
    {"type": "branch", "if": "replied", "then": 7},
    {"type": "task", "title": "Still no reply: step in", "assignee": "manager"},
]


def test_escalation_owner_then_manager_in_business_hours(settings):
    settings.INBOX_TIMEZONE = "America/New_York"
    settings.INBOX_BUSINESS_HOURS_START, settings.INBOX_BUSINESS_HOURS_END = 9, 17
    settings.INBOX_BUSINESS_DAYS = "mon-fri"
    manager = UserFactory(username="maria")
    owner = UserFactory(username="oscar", manager=manager)
    play = journey(ESCALATION, moment="renewal")
    friday = datetime(2026, 3, 6, 19, 0, tzinfo=UTC)  # 14:00 in New York: 3 business hours left
    (silent,) = entering(at=friday, account__owner=owner)
    (replier,) = entering(at=friday, account__owner=owner)
    run(play, friday)
    monday_2pm = datetime(2026, 3, 9, 18, 0, tzinfo=UTC)  # 3 h Friday + 5 h Monday
    assert set(Enrollment.objects.values_list("next_at", flat=True)) == {monday_2pm}
    _reply(replier, datetime(2026, 3, 9, 14, 0, tzinfo=UTC))
    advance(play, monday_2pm)
    task = Task.objects.get()
    assert (task.owner, task.contact, task.source) == (owner, silent, TaskSource.PLAY)
    states = dict(Enrollment.objects.values_list("contact_id", "state"))
    assert states == {silent.pk: "waiting", replier.pk: "completed"}
    tuesday_2pm = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
    assert Enrollment.objects.get(contact=silent).next_at == tuesday_2pm
    advance(play, tuesday_2pm)
    escalated = Task.objects.get(title="Still no reply: step in")
    assert escalated.owner == manager
    assert StepDecision.objects.get(step=6).reason == "manager"
    assert Enrollment.objects.get(contact=silent).state == "completed"


def test_manager_task_falls_back_to_the_owner_then_to_nobody_with_a_note():
    owner = UserFactory(username="solo")  # no manager
    play = journey([send("Hi"), {"type": "task", "title": "Escalate", "assignee": "manager"}])
    (managed,) = entering(account__owner=owner)
    (orphan,) = entering(account__owner=None, owner=None)
    run(play, T0)
    tasks = {task.contact_id: task for task in Task.objects.all()}
    assert tasks[managed.pk].owner == owner and "has none" in tasks[managed.pk].notes
    assert tasks[orphan.pk].owner is None and "assign it" in tasks[orphan.pk].notes
    reasons = dict(StepDecision.objects.filter(kind="task").values_list("enrollment__contact_id", "reason"))
    assert reasons == {managed.pk: "owner:no_manager", orphan.pk: "unassigned:no_owner"}


# --- Cost -------------------------------------------------------------------------------------


def _waiting(play, count):
    entering(count, event=play.trigger["event"])
    run(play, T0, batch_size=1000)
    assert Enrollment.objects.filter(play=play, state="waiting").count() == count


COSTLY = [
    send("One"),
    {"type": "wait", "hours": 1},
    {"type": "branch", "if": "replied", "then": 4},
    {"type": "task", "title": "Call"},
    send("Two {first_name}"),
    {"type": "wait", "days": 1},
]
EVERY_EXIT = ["reply", "opt_out", "deal_opened", "event:converted"]
PER_BATCH = 45


def test_advancing_1000_waiting_enrollments_is_set_based(django_assert_max_num_queries):
    play = journey(COSTLY, exit_on=EVERY_EXIT)
    _waiting(play, 1000)
    with django_assert_max_num_queries(4 * PER_BATCH):
        result = advance(play, T0 + timedelta(hours=1), batch_size=250)
    assert result.moved == 1000 and result.texts["sent"] == 1000 and result.tasks == 1000
    assert Message.objects.filter(body__startswith="Two", status=MessageStatus.QUEUED).count() == 1000
    assert Enrollment.objects.filter(play=play, state="waiting", step=5).count() == 1000


def test_each_batch_costs_the_same_fixed_number_of_queries():
    plays = {}
    for size in (100, 200, 300):
        plays[size] = journey(COSTLY, exit_on=EVERY_EXIT, name=f"Journey {size}", event=f"signed_up_{size}")
        _waiting(plays[size], size)
    queries = {}
    for size, play in plays.items():
        with CaptureQueriesContext(connection) as captured:
            assert advance(play, T0 + timedelta(hours=1), batch_size=100).moved == size
        queries[size] = len(captured)
    per_batch = queries[200] - queries[100]
    assert queries[300] - queries[200] == per_batch <= PER_BATCH


@pytest.mark.django_db
def test_inside_a_transaction_or_on_sqlite_one_advancer_does_it_all(settings):
    """Other connections could not see the caller's uncommitted rows (nor SQLite take a second
    writer): the advance stays on the caller's connection."""
    from plays.journey import advancer_lanes

    settings.JOURNEY_ADVANCERS = 4
    assert advancer_lanes(settings.JOURNEY_ADVANCERS) == 1


def test_no_batch_starts_after_the_deadline_and_the_rest_waits_for_the_next_advance():
    from types import SimpleNamespace
    from unittest import mock

    from plays import journey as journey_module

    play = journey(TWO_TEXTS)
    entering(3)
    run(play, T0 - timedelta(days=3))
    clock = iter([0.0, 0.5, 5.0])  # two batches start before the deadline (1.0), the third after
    with (
        during(T0),
        mock.patch.object(journey_module, "time", SimpleNamespace(monotonic=lambda: next(clock))),
    ):
        result = journey_module.journeys_advance(play, now=T0, batch_size=1, advancers=1, deadline=1.0)
    assert (result.moved, result.unfinished) == (2, True)
    assert Message.objects.count() == 3 + 2
    with during(T0):
        rest = journey_module.journeys_advance(play, now=T0)
    assert (rest.moved, rest.unfinished) == (1, False)
    assert Message.objects.count() == 3 + 3


def test_the_scheduled_job_hands_a_backlog_past_its_time_budget_to_a_new_task(monkeypatch):
    from unittest import mock

    from plays import tasks

    play = journey(TWO_TEXTS)
    entering(2)
    run(play, T0 - timedelta(days=3))
    monkeypatch.setattr(tasks, "ADVANCE_TIME_BUDGET", 0.0)  # spent before the first batch
    with during(T0), mock.patch("django_q.tasks.async_task") as enqueue:
        assert tasks.advance_journeys() == {play.pk: 0}
    assert [call.args[0] for call in enqueue.call_args_list] == ["plays.tasks.advance_journeys"]
    assert Message.objects.count() == 2
    monkeypatch.setattr(tasks, "ADVANCE_TIME_BUDGET", 40.0)
    with during(T0), mock.patch("django_q.tasks.async_task") as enqueue:
        assert tasks.advance_journeys() == {play.pk: 2}
    assert not enqueue.called and Message.objects.count() == 4

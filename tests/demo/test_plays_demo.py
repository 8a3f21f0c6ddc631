import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection
from django.db.models import Count, Max, Min

from analytics.metrics.variants import variant_results
from analytics.scope import Scope
from crm.models import Contact, Order
from demo import plays as demo
from demo.seed import delete_demo
from plays.engine import arm_for, play_run
from plays.models import Arm, Enrollment, Outcome, Play, PlayStatus, StepDecision
from plays.selectors import journey_funnel
from sms.governance import play_source
from sms.models import Direction, Message, MessageKind, MessageStatus
from tests.plays.conftest import play_settings  # noqa: F401 - autouse: the plays tests' settings

pytestmark = pytest.mark.django_db

TODAY = date(2025, 6, 15)
MIDNIGHT = datetime(2025, 6, 15, tzinfo=UTC)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", "--accounts", "60", "--today", TODAY.isoformat(), *args, stdout=out)
    return out.getvalue()


def enrollment_rows() -> list[tuple]:
    """Everything reproducible about the history, without primary keys."""
    rows = Enrollment.objects.values_list(
        "play__name", "contact__email", "contact__phone", "occurrence", "arm", "outcome", "reason",
        "decided_at", "message__body", "message__status", "message__created_at", "message__sent_at",
        "variant", "state", "exit_reason", "moves",
    )  # fmt: skip
    return sorted(rows, key=repr)


def reset_sequences(*models) -> None:
    """The next id of these tables becomes max(id) + 1, so a rebuild reuses the same keys."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            tables = [model._meta.db_table for model in models]
            placeholders = ", ".join(["%s"] * len(tables))
            cursor.execute(f"DELETE FROM sqlite_sequence WHERE name IN ({placeholders})", tables)  # noqa: S608
        else:
            for sql in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(sql)


def test_standard_plays_exist_are_valid_and_owned_by_a_demo_manager():
    output = seed()
    assert "6 plays" in output
    plays = list(Play.objects.all())
    assert sorted(p.name for p in plays) == sorted(demo.STANDARD_NAMES)
    for play in plays:
        play.full_clean()
        assert play.status == PlayStatus.ACTIVE
        assert play.owner.username == "olivia.manager"
        assert play.activated_at < MIDNIGHT and play.last_run_at < MIDNIGHT
    moments = Counter(p.moment for p in plays)
    assert moments == {
        "onboarding": 1,
        "adoption": 1,
        "renewal": 1,
        "risk": 1,
        "expansion": 1,
        "reactivation": 1,
    }
    renewal_days = sorted(p.trigger["days"] for p in plays if p.trigger_type == "renewal_window")
    assert renewal_days == [60]
    # The renewal sequence is one journey: a reply ends it, silence escalates owner -> manager.
    renewal = Play.objects.get(name=demo.RENEWAL)
    assert "reply" in renewal.exit_on
    kinds = [(step["type"], step.get("assignee"), step.get("if")) for step in renewal.steps]
    assert kinds[:7] == [
        ("send", None, None),
        ("wait", None, None),
        ("branch", None, "replied"),
        ("task", "owner", None),
        ("wait", None, None),
        ("branch", None, "replied"),
        ("task", "manager", None),
    ]
    assert sum(step["type"] == "send" for step in renewal.steps) == 3
    assert Play.objects.get(name=demo.EXPANSION).next_step["create_task"] is True


def test_history_spans_months_with_both_arms_and_control_never_texted():
    seed()
    for play in Play.objects.all():
        enrollments = Enrollment.objects.filter(play=play)
        assert set(enrollments.values_list("arm", flat=True)) == {Arm.TREATMENT, Arm.CONTROL}, play
        control = enrollments.filter(arm=Arm.CONTROL)
        assert set(control.values_list("outcome", "reason")) == {(Outcome.SUPPRESSED, "holdout")}
        assert not control.filter(message__isnull=False).exists()
        for enrollment in enrollments.select_related("contact"):
            assert enrollment.arm == arm_for(play.name, enrollment.contact.phone, play.holdout_percent)
            assert enrollment.account_id == enrollment.contact.account_id
    span = Enrollment.objects.aggregate(first=Min("decided_at"), last=Max("decided_at"))
    assert span["last"] < MIDNIGHT
    assert span["last"] - span["first"] >= timedelta(days=120)
    months = {(d.year, d.month) for d in Enrollment.objects.values_list("decided_at", flat=True)}
    assert len(months) >= 5
    assert all(o.startswith("demo:") for o in Enrollment.objects.values_list("occurrence", flat=True))
    assert Contact.objects.filter(enrollments__isnull=False, attributes__demo=True).exists()
    assert not Enrollment.objects.exclude(contact__attributes__demo=True).exists()


def test_outcomes_and_messages_are_plausible():
    seed()
    treatment = Enrollment.objects.filter(arm=Arm.TREATMENT)
    outcomes = Counter(treatment.values_list("outcome", flat=True))
    texted = outcomes[Outcome.SENT] + outcomes[Outcome.DEFERRED]
    assert texted / sum(outcomes.values()) > 0.5
    assert outcomes[Outcome.SENT] > outcomes[Outcome.DEFERRED] > 0
    reasons = set(treatment.filter(outcome=Outcome.SUPPRESSED).values_list("reason", flat=True))
    assert "consent:not_opted_in" in reasons and len(reasons) >= 4
    assert not treatment.filter(outcome=Outcome.SUPPRESSED, message__isnull=False).exists()
    assert not treatment.filter(outcome__in=[Outcome.SENT, Outcome.DEFERRED], message__isnull=True).exists()
    assert set(treatment.filter(outcome=Outcome.DEFERRED).values_list("reason", flat=True)) == {"quiet_hours"}

    for enrollment in treatment.filter(message__isnull=False).select_related("message", "play", "contact"):
        message = enrollment.message
        assert message.contact_id == enrollment.contact_id
        assert (message.direction, message.kind) == (Direction.OUTBOUND, MessageKind.AUTOMATED)
        assert message.source == play_source(enrollment.play_id)
        assert message.created_at == enrollment.decided_at
        assert enrollment.decided_at <= message.sent_at < MIDNIGHT
        assert "{" not in message.body and enrollment.contact.first_name in message.body
    statuses = Counter(Message.objects.filter(enrollments__isnull=False).values_list("status", flat=True))
    assert statuses[MessageStatus.DELIVERED] / sum(statuses.values()) > 0.8
    assert set(statuses) <= {MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED}
    renewal_texts = Message.objects.filter(enrollments__play__trigger__type="renewal_window")
    # The renewal date is filled in ("... renews on July 3, 2025").
    assert renewal_texts.exists() and all(
        re.search(r"[A-Z][a-z]+ \d{1,2}, 20\d\d", body)
        for body in renewal_texts.values_list("body", flat=True)
    )


def test_onboarding_is_a_journey_testing_two_first_texts():
    seed()
    onboarding = Play.objects.get(name=demo.ONBOARDING)
    steps = onboarding.steps
    # send A/B -> wait -> replied? the owner's task : a reminder, a wait, then the task.
    assert [step["type"] for step in steps] == ["send", "wait", "branch", "send", "wait", "task"]
    assert [(v["name"], v["template"]) for v in steps[0]["variants"]] == list(demo.ONBOARDING_TEXTS.items())
    assert (steps[2]["if"], steps[2]["then"], steps[2].get("else", 3)) == ("replied", 5, 3)
    assert steps[5]["assignee"] == "owner"
    assert set(onboarding.exit_on) == {"opt_out", "event:integration_connected"}

    enrollments = Enrollment.objects.filter(play=onboarding)
    treated = enrollments.filter(arm=Arm.TREATMENT).select_related("message", "contact")
    # Every treated enrollment has its variant (a hash of the play's name and the phone: the same
    # after --force); the full-size split is in test_demo_story.
    assert treated.exists() and set(treated.values_list("variant", flat=True)) <= {"A", "B"}
    assert "" not in set(treated.values_list("variant", flat=True))
    assert set(enrollments.filter(arm=Arm.CONTROL).values_list("variant", flat=True)) == {""}
    openings = {"A": "from Lifecycle CRM", "B": "is one step from syncing"}
    for enrollment in treated.filter(message__isnull=False):
        assert openings[enrollment.variant] in enrollment.message.body, enrollment.message.body
    # The first step is decided for every treated enrollment, with its variant and text, as the
    # engine records it: the journey page counts it, the variants panel compares the two.
    decisions = StepDecision.objects.filter(play=onboarding, move=1)
    assert decisions.count() == treated.count()
    assert set(decisions.values_list("step", "kind", "move")) == {(0, "send", 1)}
    assert sorted(decisions.values_list("enrollment_id", "variant", "outcome", "message_id")) == sorted(
        treated.values_list("pk", "variant", "outcome", "message_id")
    )
    # Those texted walked on (tests/demo/test_demo_journeys.py): each enrollment's moves count its
    # decisions; one not texted stopped at its first.
    decided = Counter(StepDecision.objects.filter(play=onboarding).values_list("enrollment_id", flat=True))
    assert {e.pk: e.moves for e in treated} == {e.pk: decided[e.pk] for e in treated}
    assert all(e.moves == 1 for e in treated if e.outcome == Outcome.SUPPRESSED)
    funnel = journey_funnel(onboarding)
    texted = Counter(
        treated.filter(outcome__in=[Outcome.SENT, Outcome.DEFERRED]).values_list("variant", flat=True)
    )
    assert texted and funnel["steps"][0]["variants"] == dict(sorted(texted.items()))
    results = variant_results(onboarding, Scope(start=TODAY - timedelta(days=365), end=TODAY), now=MIDNIGHT)
    assert [row["variant"] for row in results["variants"]] == ["A", "B"]


def test_a_contacts_first_text_variant_is_drawn_by_weight_and_stable():
    play = Play(name=demo.ONBOARDING, steps=[dict(s) for s in demo.STANDARD_PLAYS[0]["steps"]])
    people = [
        demo._Contact(n, None, "Ann", "Lee", f"+1415555{n:04d}", "opted_in", MIDNIGHT, "", None)
        for n in range(2000)
    ]
    drawn = Counter(demo._variant(play, person)[0] for person in people)
    assert set(drawn) == {"A", "B"} and 900 < drawn["A"] < 1100  # weights 1:1
    assert [demo._variant(play, person) for person in people[:50]] == [
        demo._variant(play, person) for person in people[:50]
    ]
    assert demo._variant(play, people[0])[1] == demo.ONBOARDING_TEXTS[demo._variant(play, people[0])[0]]
    play.steps[0]["variants"][1]["weight"] = 3
    drawn = Counter(demo._variant(play, person)[0] for person in people)
    assert 400 < drawn["A"] < 600  # weights 1:3


def test_outcomes_differ_between_arms():
    seed()
    # Replies only come from texted contacts; reorders after the reminder only from the treated.
    replies = Message.objects.filter(direction=Direction.INBOUND, provider_sid__startswith=demo.SID_PREFIX)
    treated = set(
        Enrollment.objects.filter(arm=Arm.TREATMENT, message__isnull=False).values_list(
            "contact_id", flat=True
        )
    )
    assert replies.exists() and set(replies.values_list("contact_id", flat=True)) <= treated
    orders = Order.objects.filter(external_id__startswith=demo.PLAY_ORDER_PREFIX)
    reorder = Play.objects.get(name=demo.REORDER)
    texted = set(
        Enrollment.objects.filter(play=reorder, message__status=MessageStatus.DELIVERED).values_list(
            "contact_id", flat=True
        )
    )
    assert orders.exists() and set(orders.values_list("contact_id", flat=True)) <= texted
    # Named after the play, not its id, so the same seed gives the same orders after --force.
    assert set(orders.values_list("attribution", flat=True)) == {"sms:play:reactivation-reorder-reminder"}
    assert orders.aggregate(last=Max("ordered_at"))["last"] < MIDNIGHT


def test_same_seed_and_day_give_the_same_history():
    reset_sequences(Contact, Play)
    seed()
    first = enrollment_rows()
    counts = (Message.objects.count(), Order.objects.count())
    # --force, taken apart so the rebuilt contacts and plays get the same keys (arms hash them).
    delete_demo()
    reset_sequences(Contact, Play)
    seed()
    assert enrollment_rows() == first
    assert (Message.objects.count(), Order.objects.count()) == counts


def test_force_rebuild_leaves_no_orphans_or_duplicates():
    seed()
    seed("--force")
    assert Play.objects.values("name").annotate(n=Count("pk")).filter(n__gt=1).count() == 0
    assert Play.objects.count() == len(demo.STANDARD_NAMES)
    assert not Enrollment.objects.exclude(play__in=Play.objects.all()).exists()
    assert not Message.objects.filter(contact=None).exists()
    assert (
        not Message.objects.filter(source__startswith="play:")
        .exclude(source__in=[play_source(pk) for pk in Play.objects.values_list("pk", flat=True)])
        .exists()
    )
    linked = Enrollment.objects.filter(message__isnull=False)
    # A journey's later texts belong to its step decisions (the first one is the enrollment's).
    later = StepDecision.objects.filter(move__gt=1, message__isnull=False)
    assert linked.count() + later.count() == Message.objects.filter(source__startswith="play:").count()
    sids = Message.objects.filter(provider_sid__startswith=demo.SID_PREFIX).values_list(
        "provider_sid", flat=True
    )
    assert len(sids) == len(set(sids))


def test_delete_removes_only_demo_plays():
    seed()
    mine = Play.objects.create(
        name=demo.RISK, moment="risk", trigger={"type": "inactivity", "events": ["login"], "days": 14},
        template="Hi {first_name}", status=PlayStatus.DRAFT,
    )  # fmt: skip
    demo.delete()
    assert list(Play.objects.all()) == [mine]
    assert not Message.objects.filter(provider_sid__startswith=demo.SID_PREFIX).exists()
    assert not Order.objects.filter(external_id__startswith=demo.PLAY_ORDER_PREFIX).exists()


def test_a_real_run_after_the_history_decides_real_occurrences():
    seed()
    history = Enrollment.objects.count()
    decided = 0
    for play in Play.objects.all():
        result = play_run(play, now=MIDNIGHT + timedelta(hours=15))
        decided += result.decided
    assert decided > 0
    new = Enrollment.objects.filter(decided_at__gte=MIDNIGHT)
    assert new.count() == decided and Enrollment.objects.count() == history + decided
    assert not new.filter(occurrence__startswith="demo:").exists()

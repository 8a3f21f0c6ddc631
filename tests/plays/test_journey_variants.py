"""Variants (weights, stable per contact, rotation), governance holds, and the migration of
plays decided before journeys."""

from collections import Counter
from datetime import timedelta

import pytest

from plays.models import Arm, Enrollment, Outcome, StepDecision
from plays.steps import rotated, variant_for
from sms.models import Message
from tests.plays.journeys import T0, advance, entering, journey, run, send

pytestmark = pytest.mark.django_db

VARIANTS = [{"name": "A", "weight": 3}, {"name": "B", "weight": 1}, {"name": "C", "weight": 0}]


def test_variants_follow_the_weights_and_are_stable_per_contact():
    picks = [variant_for(5, 0, contact_id, VARIANTS) for contact_id in range(8000)]
    assert picks == [variant_for(5, 0, contact_id, VARIANTS) for contact_id in range(8000)]
    share = Counter(picks)
    assert share["C"] == 0
    assert 0.72 <= share["A"] / 8000 <= 0.78
    # Independent of the holdout split and of other steps.
    assert picks != [variant_for(5, 2, contact_id, VARIANTS) for contact_id in range(8000)]


def test_rotation_never_repeats_a_variant_while_another_is_unused():
    variants = [{"name": "A"}, {"name": "B"}, {"name": "C"}]
    assert rotated("B", variants, set()) == "B"
    assert rotated("B", variants, {"B"}) == "C"
    assert rotated("C", variants, {"C", "A"}) == "B"
    assert rotated("A", variants, {"A", "B", "C"}) is None


def test_each_contact_gets_its_variant_and_the_enrollment_records_it(settings):
    play = journey([send("Variant A {first_name}", "Variant B {first_name}")], holdout_percent=20)
    people = entering(40)
    run(play, T0)
    for enrollment in Enrollment.objects.filter(play=play).select_related("contact"):
        if enrollment.arm == Arm.CONTROL:
            assert enrollment.variant == ""
            continue
        expected = variant_for(play.pk, 0, enrollment.contact_id, play.steps[0]["variants"])
        assert enrollment.variant == expected
        body = Message.objects.get(contact_id=enrollment.contact_id).body
        assert body == f"Variant {expected} {enrollment.contact.first_name}"
    assert {d.variant for d in StepDecision.objects.all()} == {"A", "B"}
    assert len(people) == 40


def test_a_loop_rotates_the_variant_within_the_cooldown(settings):
    settings.GOVERNANCE_CONTACT_DAILY_CAP = settings.GOVERNANCE_CONTACT_WEEKLY_CAP = 10
    steps = [
        send("Text A", "Text B"),
        {"type": "wait", "days": 1},
        {"type": "branch", "if": "replied", "then": 3, "else": 0},
    ]
    play = journey(steps, cooldown_days=30)
    (contact,) = entering()
    run(play, T0)
    advance(play, T0 + timedelta(days=1))
    advance(play, T0 + timedelta(days=2))
    sent = list(Message.objects.filter(contact=contact).order_by("id").values_list("body", flat=True))
    assert sorted(sent) == ["Text A", "Text B"]  # both variants once, never one twice
    third = StepDecision.objects.filter(step=0).order_by("move").last()
    assert (third.outcome, third.reason) == ("suppressed", "rotation:all_variants_sent")


def test_a_cap_holds_the_send_step_and_it_goes_when_the_cap_allows(settings):
    settings.GOVERNANCE_CONTACT_DAILY_CAP = 1
    settings.GOVERNANCE_CONTACT_WEEKLY_CAP = 10
    play = journey([send("One"), {"type": "wait", "hours": 2}, send("Two")])
    (contact,) = entering()
    run(play, T0)
    result = advance(play, T0 + timedelta(hours=2))
    assert result.held == 1 and result.texts["held"] == 1
    enrollment = Enrollment.objects.get(play=play)
    assert (enrollment.state, enrollment.step) == ("active", 2)
    assert enrollment.next_at == T0 + timedelta(hours=6)
    held = StepDecision.objects.get(step=2)
    assert (held.outcome, held.reason) == ("held", "cap:contact_daily")
    advance(play, T0 + timedelta(hours=22))  # still within 24 hours of the first text: held again
    advance(play, T0 + timedelta(days=1, hours=2))
    assert list(Message.objects.filter(contact=contact).order_by("id").values_list("body", flat=True)) == [
        "One",
        "Two",
    ]
    assert Enrollment.objects.get(play=play).state == "completed"


def test_a_hold_that_lasts_too_long_ends_the_enrollment(settings):
    from plays.journey import HOLD_LIMIT

    settings.GOVERNANCE_CONTACT_DAILY_CAP = 10
    settings.GOVERNANCE_CONTACT_WEEKLY_CAP = 1
    play = journey([send("One"), {"type": "wait", "hours": 2}, send("Two")])
    entering()
    run(play, T0)
    advance(play, T0 + timedelta(hours=2))
    assert Enrollment.objects.get(play=play).state == "active"
    settings.GOVERNANCE_CONTACT_WEEKLY_CAP = 0  # the cap still holds two weeks on
    advance(play, T0 + timedelta(hours=2) + HOLD_LIMIT - timedelta(minutes=1))
    assert Enrollment.objects.get(play=play).state == "active"
    advance(play, T0 + timedelta(hours=6) + HOLD_LIMIT)  # its next try, past the limit
    assert Enrollment.objects.get(play=play).exit_reason == "suppressed:cap:contact_weekly"


def test_the_migration_makes_past_enrollments_ended_one_step_journeys():
    import importlib

    from django.apps import apps

    from tests.factories import ContactFactory
    from tests.plays.conftest import make_play

    migration = importlib.import_module("plays.migrations.0006_enrollments_as_one_step_journeys")
    play = make_play()
    people = [ContactFactory() for _ in range(4)]
    rows = [
        (Arm.CONTROL, Outcome.SUPPRESSED, "holdout"),
        (Arm.TREATMENT, Outcome.SENT, ""),
        (Arm.TREATMENT, Outcome.DEFERRED, "quiet_hours"),
        (Arm.TREATMENT, Outcome.SUPPRESSED, "consent:opted_out"),
    ]
    for contact, (arm, outcome, reason) in zip(people, rows, strict=True):
        # As a row from before the migration: the new columns at their defaults.
        Enrollment.objects.create(
            play=play, contact=contact, occurrence="old", arm=arm, outcome=outcome, reason=reason
        )
    migration.forwards(apps, None)
    got = list(
        Enrollment.objects.order_by("contact_id").values_list(
            "arm", "outcome", "state", "exit_reason", "step"
        )
    )
    assert got == [
        (Arm.CONTROL, Outcome.SUPPRESSED, "exited", "holdout", 0),
        (Arm.TREATMENT, Outcome.SENT, "completed", "", 0),
        (Arm.TREATMENT, Outcome.DEFERRED, "completed", "", 0),
        (Arm.TREATMENT, Outcome.SUPPRESSED, "exited", "suppressed:consent:opted_out", 0),
    ]

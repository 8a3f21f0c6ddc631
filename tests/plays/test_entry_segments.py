"""Every path that writes an enrollment records the contact's segments as they were at entry
(CLV tier, the account's health band and lifecycle stage), in both arms, read by the candidate
query itself: no query more than before (issue 21: lift by segment splits by these)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import ClvTier, Contact, HealthBand, LifecycleStage
from plays.engine import play_enroll_contacts, play_run
from plays.models import Arm, Enrollment
from plays.triggers import Row, segments_of
from tests.factories import AccountFactory
from tests.plays.conftest import make_play, opted_in_contact
from tests.plays.journeys import T0, entering, journey, run, send
from tests.plays.test_engine import renewing_account

pytestmark = pytest.mark.django_db

TIERS = (ClvTier.HIGH, ClvTier.MID, ClvTier.LOW, "")
# The queries of these runs before the segments were recorded (measured on both databases; a
# PostgreSQL run reads back what it inserted in the INSERT itself): recording them adds none
# (at most that many: cached look-ups may save some).
QUERIES = {"postgresql": 22, "sqlite": 23}


def _entry(play):
    return {
        e.contact_id: (e.arm, e.clv_tier_at_entry, e.health_band_at_entry, e.lifecycle_stage_at_entry)
        for e in Enrollment.objects.filter(play=play)
    }


def test_a_run_records_each_contacts_segments_at_entry_in_both_arms_with_no_extra_query():
    play = make_play(holdout_percent=50)
    _, people = renewing_account(
        contacts=24, health_band=HealthBand.AT_RISK, lifecycle_stage=LifecycleStage.RENEWAL_WINDOW
    )
    for i, contact in enumerate(people):
        contact.clv_tier = TIERS[i % 4]
        contact.save(update_fields=["clv_tier"])
    with CaptureQueriesContext(connection) as captured:
        play_run(play)
    # The same count as before the segments were recorded: they come with the candidate query.
    assert len(captured) <= QUERIES[connection.vendor]
    entry = _entry(play)
    assert {arm for arm, *_ in entry.values()} == {Arm.TREATMENT, Arm.CONTROL}
    for i, contact in enumerate(people):
        assert entry[contact.pk][1:] == (TIERS[i % 4], HealthBand.AT_RISK, LifecycleStage.RENEWAL_WINDOW)
    # What happens to the contact afterwards does not move its enrollment's segments.
    Contact.objects.filter(pk__in=[c.pk for c in people]).update(clv_tier=ClvTier.HIGH)
    assert _entry(play) == entry


def test_a_journeys_entry_records_them_too():
    play = journey([send("Hi {first_name}")], holdout_percent=50)
    people = entering(12)
    Contact.objects.filter(pk__in=[c.pk for c in people[:6]]).update(clv_tier=ClvTier.MID)
    run(play, T0)
    entry = _entry(play)
    assert len(entry) == 12 and {arm for arm, *_ in entry.values()} == {Arm.TREATMENT, Arm.CONTROL}
    for i, contact in enumerate(people):
        account = contact.account
        expected_tier = ClvTier.MID if i < 6 else ""
        assert entry[contact.pk][1:] == (
            expected_tier,
            account.health_band if account else "",
            account.lifecycle_stage if account else "",
        )


def test_the_contact_lists_bulk_enroll_records_them_with_no_extra_query():
    play = make_play(holdout_percent=50)
    account = AccountFactory(health_band=HealthBand.GOOD, lifecycle_stage=LifecycleStage.ADOPTING)
    people = [opted_in_contact(account=account, clv_tier=ClvTier.LOW) for _ in range(8)]
    consumers = [opted_in_contact(account=None, clv_tier=ClvTier.HIGH) for _ in range(8)]
    with CaptureQueriesContext(connection) as captured:
        play_enroll_contacts(play, contact_ids=[c.pk for c in [*people, *consumers]])
    assert len(captured) <= QUERIES[connection.vendor]
    entry = _entry(play)
    assert {arm for arm, *_ in entry.values()} == {Arm.TREATMENT, Arm.CONTROL}
    for contact in people:
        assert entry[contact.pk][1:] == (ClvTier.LOW, HealthBand.GOOD, LifecycleStage.ADOPTING)
    for contact in consumers:  # no account: recorded as none ("not scored", "no account")
        assert entry[contact.pk][1:] == (ClvTier.HIGH, "", "")


def test_a_candidate_is_its_plain_tuple_with_segments_beside_it():
    row = Row(1, None, "order:3", ("high", None, None))
    assert row == (1, None, "order:3") and sorted([row]) == [(1, None, "order:3")]
    assert list(row) == [1, None, "order:3"] and len(row) == 3
    assert segments_of(row) == ("high", "", "")
    # A plugin's plain tuple carries none: its enrollments say "not recorded".
    assert segments_of((1, None, "order:3")) == (None, None, None)

"""The contact is the unit of analysis (the unit the holdout randomises): each contact counts once
per play and period, by its first enrollment in the period (its arm, its segments at entry, its
variant, its outcomes from that enrollment's decision). Hand-computed fixture: a frequent buyer
enrolled three times in the treatment arm, a control contact enrolled twice (its reorder falls in
the second window only), a control contact enrolled twice at the same instant (the lower id is its
first), and a contact whose earlier enrollment falls before the period.

Per contact (what the answers must say)      Per enrollment (the old counting)
  treatment 4 contacts, 2 reordered            6 enrollments, 4 reordered
  control   5 contacts, 1 reordered            7 enrollments, 2 reordered
  revenue   mean 80/4 = 20 vs 40/5 = 8         160/6 vs 80/7
  high tier 2/4 vs 1/4; mid 0/0 vs 0/1         high 2/4 vs 2/6; low 2/2 vs none; mid 0 vs 0/1
  variant A 2/3, B 0/1 vs control 1/5          A 2/3, B 2/3 vs 2/7
  opt-outs  0 of 4 treated (F's opt-out is     1 of 6 (within 7 days of F's third enrollment)
            months after its first enrollment)
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from analytics import stats
from analytics.metrics.lift import UNIT_DEFINITION, play_lift
from analytics.metrics.segments import segment_lift
from analytics.metrics.variants import variant_results
from analytics.metrics.velocity import play_velocity
from analytics.scope import Scope
from crm.models import ClvTier
from plays.models import Arm, Enrollment, Outcome, Play
from sms.models import ConsentAction, ConsentEvent, ConsentSource
from tests.factories import ContactFactory, OrderFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = Scope(start=date(2025, 1, 1), end=date(2025, 12, 31))
MAR_1 = datetime(2025, 3, 1, 15, tzinfo=UTC)
APR_15 = datetime(2025, 4, 15, 15, tzinfo=UTC)
JUN_1 = datetime(2025, 6, 1, 15, tzinfo=UTC)
DEC_2024 = datetime(2024, 12, 1, 15, tzinfo=UTC)


def _enroll(play, contact, arm, decided, *, tier=ClvTier.HIGH, variant="A", tag=""):
    Enrollment.objects.create(
        play=play,
        contact=contact,
        account=None,
        occurrence=f"t:{contact.pk}:{decided.isoformat()}{tag}",
        arm=arm,
        outcome=Outcome.SENT if arm == Arm.TREATMENT else Outcome.SUPPRESSED,
        reason="" if arm == Arm.TREATMENT else "holdout",
        variant=variant if arm == Arm.TREATMENT else "",
        clv_tier_at_entry=tier,
        health_band_at_entry="",
        lifecycle_stage_at_entry="",
        decided_at=decided,
    )


def _order(contact, at):
    OrderFactory(contact=contact, account=None, amount=Decimal(40), ordered_at=at)


@pytest.fixture
def play():
    play = Play.objects.create(
        name="Reorder",
        moment="reactivation",  # 30-day window, primary outcome: reordered
        trigger={"type": "days_since_order", "days": 45},
        template="Hi {first_name}",
        holdout_percent=50,
    )
    consumer = lambda: ContactFactory(account=None)  # noqa: E731
    # F, a frequent buyer: three enrollments in the treatment arm, a reorder in each window; its
    # later entries recorded another tier and variant, which must not count.
    f = consumer()
    _enroll(play, f, Arm.TREATMENT, MAR_1)
    _enroll(play, f, Arm.TREATMENT, APR_15, tier=ClvTier.LOW, variant="B")
    _enroll(play, f, Arm.TREATMENT, JUN_1, tier=ClvTier.LOW, variant="B")
    for at in (MAR_1 + timedelta(days=4), datetime(2025, 5, 1, tzinfo=UTC), JUN_1 + timedelta(days=9)):
        _order(f, at)
    ConsentEvent.objects.create(
        contact=f,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.KEYWORD,
        occurred_at=JUN_1 + timedelta(days=2),
    )
    t1, t2 = consumer(), consumer()
    _enroll(play, t1, Arm.TREATMENT, MAR_1)
    _order(t1, MAR_1 + timedelta(days=3))
    _enroll(play, t2, Arm.TREATMENT, MAR_1, variant="B")
    # P: an enrollment before the period (not its first in the period) and one in it.
    p = consumer()
    _enroll(play, p, Arm.TREATMENT, DEC_2024, tier=ClvTier.LOW, variant="B")
    _enroll(play, p, Arm.TREATMENT, MAR_1)
    c1, c2, c3 = consumer(), consumer(), consumer()
    for contact in (c1, c2, c3):
        _enroll(play, contact, Arm.CONTROL, MAR_1)
    _order(c1, MAR_1 + timedelta(days=3))
    # G: enrolled twice in control; its reorder is in the second window, not the first.
    g = consumer()
    _enroll(play, g, Arm.CONTROL, MAR_1)
    _enroll(play, g, Arm.CONTROL, APR_15)
    _order(g, APR_15 + timedelta(days=5))
    # H: two enrollments at the same instant; the lower id (tier mid) is its first.
    h = consumer()
    _enroll(play, h, Arm.CONTROL, MAR_1, tier=ClvTier.MID, tag=":a")
    _enroll(play, h, Arm.CONTROL, MAR_1, tier=ClvTier.HIGH, tag=":b")
    return play


def test_the_lift_counts_each_contact_once_by_its_first_enrollment(play, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):
        result = play_lift(play, YEAR, now=NOW)
    assert result["inputs"]["unit"] == UNIT_DEFINITION
    assert result["inputs"]["method_definitions"]["unit"].startswith("one row per contact")
    assert (result["inputs"]["treatment"], result["inputs"]["control"]) == (4, 5)  # per enrollment: 6, 7
    reordered = result["outcomes"]["reordered"]
    expected = stats.rate_lift(2, 4, 1, 5).to_dict()  # per enrollment: 4/6 vs 2/7
    for key in ("treatment_successes", "treatment_n", "control_successes", "control_n"):
        assert reordered[key] == expected[key], key
    assert reordered["ci_low"] == pytest.approx(expected["ci_low"], abs=1e-6)
    assert reordered["p_value"] == pytest.approx(expected["p_value"], abs=1e-6)
    revenue = result["outcomes"]["revenue"]
    assert (revenue["treatment_n"], revenue["control_n"]) == (4, 5)
    assert revenue["treatment_mean"] == pytest.approx(20.0)  # per enrollment: 160/6
    assert revenue["control_mean"] == pytest.approx(8.0)  # per enrollment: 80/7
    leakage = result["opt_out_leakage"]
    assert (leakage["treated"], leakage["treatment_opt_outs"]) == (4, 0)  # per enrollment: 6, 1
    assert (leakage["control"], leakage["control_opt_outs"]) == (5, 0)


def test_a_contact_still_in_its_first_window_is_pending_not_counted_by_a_later_one(play):
    # Seen on 2025-03-20, every first enrollment (1 March) is still inside its 30-day window.
    result = play_lift(play, YEAR, now=datetime(2025, 3, 20, tzinfo=UTC))
    assert (result["inputs"]["treatment"], result["inputs"]["control"]) == (0, 0)
    assert result["inputs"]["not_yet_matured"] == 9  # contacts, not the 13 enrollments in the period


def test_segments_use_the_first_enrollments_values_at_entry(play, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        answer = segment_lift(play, YEAR, now=NOW)
    assert answer["unit"] == UNIT_DEFINITION
    tiers = {row["segment"]: row for row in answer["dimensions"][0]["segments"]}
    assert set(tiers) == {"high", "mid"}  # per enrollment a "low" row (F's later entries) appears
    high = tiers["high"]
    assert (high["treatment_successes"], high["treatment_n"]) == (2, 4)
    assert (high["control_successes"], high["control_n"]) == (1, 4)  # per enrollment: 2/6 (G, H twice)
    mid = tiers["mid"]
    assert (mid["treatment_n"], mid["control_successes"], mid["control_n"]) == (0, 0, 1)


def test_segments_revenue_counts_each_contact_once(play):
    play.primary_outcome = "revenue"
    play.save(update_fields=["primary_outcome"])
    answer = segment_lift(play, YEAR, now=NOW)
    high = {row["segment"]: row for row in answer["dimensions"][0]["segments"]}["high"]
    assert (high["treatment_n"], high["control_n"]) == (4, 4)


def test_variants_use_the_first_enrollments_variant(play, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):  # the play's journey steps, then one grouped query
        answer = variant_results(play, YEAR, now=NOW)
    assert answer["unit"] == UNIT_DEFINITION
    assert answer["control"] == {"n": 5, "successes": 1, "rate": 0.2}  # per enrollment: 2/7
    variants = {row["variant"]: row for row in answer["variants"]}
    assert (variants["A"]["treatment_successes"], variants["A"]["treatment_n"]) == (2, 3)
    assert (variants["B"]["treatment_successes"], variants["B"]["treatment_n"]) == (0, 1)  # was 2/3


def test_velocity_counts_each_contact_once(play):
    result = play_velocity(play, YEAR, now=NOW)
    assert result["definitions"]["unit"] == UNIT_DEFINITION
    assert (result["treatment"]["enrollments"], result["treatment"]["outcomes"]) == (4, 2)
    assert (result["control"]["enrollments"], result["control"]["outcomes"]) == (5, 2)

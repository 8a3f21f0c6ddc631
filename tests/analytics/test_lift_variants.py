"""Per-variant results of a journey on its primary outcome, pinned by hand-computed counts."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from analytics import stats
from plays.models import Arm, Enrollment, Outcome
from tests.factories import ContactFactory, OrderFactory
from tests.plays.conftest import make_play

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DECIDED = NOW - timedelta(days=60)


def _enroll(play, arm, variant, reordered, total, version=1):
    for index in range(total):
        contact = ContactFactory()
        Enrollment.objects.create(
            play=play,
            contact=contact,
            account=contact.account,
            occurrence=f"t:{arm}:{variant}:{version}:{index}",
            arm=arm,
            outcome=Outcome.SUPPRESSED if arm == Arm.CONTROL else Outcome.ENTERED,
            variant=variant,
            version=version,
            decided_at=DECIDED,
        )
        if index < reordered:  # within the 30-day window; one late order that must not count
            OrderFactory(contact=contact, ordered_at=DECIDED + timedelta(days=3))
        elif index == reordered:
            OrderFactory(contact=contact, ordered_at=DECIDED + timedelta(days=45))


def test_each_variant_against_control_with_newcombe_intervals_and_holm(api):
    play = make_play(
        moment="reactivation",
        primary_outcome="reordered",
        trigger={"type": "days_since_order", "days": 45},
        steps=[
            {
                "type": "send",
                "variants": [
                    {"name": "A", "template": "a", "weight": 1},
                    {"name": "B", "template": "b", "weight": 1},
                ],
            }
        ],
    )
    _enroll(play, Arm.CONTROL, "", reordered=2, total=10)  # 20%
    _enroll(play, Arm.TREATMENT, "A", reordered=6, total=10)  # 60%
    _enroll(play, Arm.TREATMENT, "B", reordered=3, total=10, version=2)  # 30%
    with time_machine.travel(NOW, tick=False):
        response = api.get(f"/api/v1/analytics/plays/{play.pk}/variants/?start=2026-01-01&end=2026-05-31")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["primary_outcome"], body["window_days"]) == ("reordered", 30)
    assert body["control"] == {"n": 10, "successes": 2, "rate": 0.2}
    a, b = body["variants"]
    assert (a["variant"], a["treatment_successes"], a["treatment_n"]) == ("A", 6, 10)
    assert (b["variant"], b["treatment_successes"], b["treatment_n"]) == ("B", 3, 10)
    assert a["absolute_lift"] == pytest.approx(0.4) and b["absolute_lift"] == pytest.approx(0.1)
    # Newcombe method 10 by hand: Wilson 95% bounds of 6/10 (0.312673, 0.831821) and 2/10
    # (0.056682, 0.509843): 0.4 - sqrt((0.6-0.312673)^2 + (0.509843-0.2)^2) = -0.022...
    low = 0.4 - ((0.6 - 0.312673) ** 2 + (0.509843 - 0.2) ** 2) ** 0.5
    high = 0.4 + ((0.831821 - 0.6) ** 2 + (0.2 - 0.056682) ** 2) ** 0.5
    assert a["ci_low"] == pytest.approx(low, abs=1e-5) and a["ci_high"] == pytest.approx(high, abs=1e-5)
    assert a["ci_method"] == stats.NEWCOMBE
    # Holm over the two variants: the smaller p doubled, the larger kept (not below the first).
    p_a, p_b = a["p_value"], b["p_value"]
    assert p_a < p_b
    assert a["holm_p_value"] == pytest.approx(min(1, 2 * p_a), abs=1e-6)
    assert b["holm_p_value"] == pytest.approx(max(min(1, 2 * p_a), p_b), abs=1e-6)
    # Split by the version each contact entered.
    versions = {row["version"]: row for row in body["by_version"]}
    assert versions[1]["control_n"] == 10 and versions[2]["control_n"] == 0
    assert [(v["variant"], v["treatment_n"]) for v in versions[2]["variants"]] == [("A", 0), ("B", 10)]


def test_the_lift_of_a_journey_is_measured_from_entry_like_a_play(api):
    """The control arm exits at entry and the treatment arm is everyone who entered, so the play
    lift compares them as before."""
    from analytics.metrics.lift import play_lift
    from analytics.scope import Scope

    play = make_play(
        moment="reactivation", primary_outcome="reordered", trigger={"type": "days_since_order", "days": 45}
    )
    _enroll(play, Arm.CONTROL, "", reordered=2, total=10)
    _enroll(play, Arm.TREATMENT, "A", reordered=6, total=10)
    result = play_lift(play, Scope(start=DECIDED.date(), end=NOW.date()), now=NOW)
    assert result["inputs"]["treatment"] == 10 and result["inputs"]["control"] == 10
    assert result["outcomes"]["reordered"]["absolute_lift"] == pytest.approx(0.4)

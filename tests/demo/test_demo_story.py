"""The demo's story under the product's statistics: on a fresh default seed for 2026-12-06, two
plays show a measured effect with its interval (seat-limit offers lead to expansions, sooner;
reorder reminders to reorders, sooner) and the four others (the renewal journey among them) honestly
read "no measurable effect". The reorder reminder's lift splits by CLV tier: better for high-tier
customers after Holm, no effect for low-tier ones; it is recommended for promotion.
The README's demo paragraph tells this story; if a change to the statistics or the generator
moves a verdict, this test says which."""

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F

from analytics.clv.tiers import clv_tiers_score
from analytics.metrics.lift import plays_lift
from analytics.metrics.segments import with_segments
from analytics.metrics.variants import variant_results
from analytics.metrics.velocity import plays_velocity
from analytics.scope import Scope
from crm.models import Contact
from demo import plays as demo
from plays.models import Arm, Enrollment, Play
from tests.plays.conftest import play_settings  # noqa: F401 - autouse: the plays tests' settings

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 6)
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
YEAR = Scope(start=date(2025, 12, 7), end=TODAY)
MEASURED = {demo.EXPANSION: "expanded better with the play", demo.REORDER: "reordered better with the play"}


def test_two_plays_show_a_measured_effect_and_the_others_honestly_do_not():
    call_command("seed_demo", "--today", TODAY.isoformat(), stdout=StringIO())
    plays = list(Play.objects.filter(name__in=demo.STANDARD_NAMES).order_by("name"))
    assert len(plays) == len(demo.STANDARD_NAMES) == 6  # the three renewal texts are one journey
    verdicts = {r["play"]["name"]: r for r in plays_lift(plays, YEAR, now=NOW)}
    for name, result in verdicts.items():
        label = result["verdict"]["label"]
        if name in MEASURED:
            assert label.startswith(MEASURED[name]), (name, label)
            primary = result["outcomes"][result["primary_outcome"]]
            assert 0 < primary["ci_low"] < primary["absolute_lift"] < primary["ci_high"], (name, primary)
        else:
            assert label.startswith("no measurable effect"), (name, label)
    # The onboarding journey tests two first texts: about half its treated contacts got each.
    onboarding = next(play for play in plays if play.name == demo.ONBOARDING)
    split = Counter(
        Enrollment.objects.filter(play=onboarding, arm=Arm.TREATMENT).values_list("variant", flat=True)
    )
    assert set(split) == {"A", "B"} and min(split.values()) / sum(split.values()) > 0.4, split
    results = variant_results(onboarding, YEAR, now=NOW)
    assert [row["variant"] for row in results["variants"]] == ["A", "B"]
    assert not any(row.get("significant_after_holm") for row in results["variants"])
    # The reorder reminder helps high-tier customers and not low-tier ones (issue 21): the split
    # by CLV tier shows it after Holm, and the recommendation is to promote it.
    reorder = next(play for play in plays if play.name == demo.REORDER)
    # The tiers at entry are real scores: the CLV job as of the plays' start, on the orders before
    # it; the job's run at the end has since moved some of these customers to another tier.
    entered = Enrollment.objects.filter(play=reorder)
    assert entered.exclude(clv_tier_at_entry=F("contact__clv_tier")).exists()
    start = datetime.combine(TODAY - timedelta(days=demo.HISTORY_DAYS), time.min, tzinfo=UTC)
    assert clv_tiers_score(now=start).scored > 0
    at_start = dict(Contact.objects.values_list("pk", "clv_tier"))
    assert all(at_start[c] == tier for c, tier in entered.values_list("contact_id", "clv_tier_at_entry"))
    answer = with_segments(verdicts[demo.REORDER], reorder, YEAR, now=NOW)
    tiers = {row["segment"]: row for row in answer["segments"]["dimensions"][0]["segments"]}
    assert tiers["high"]["significant_after_holm"] and tiers["high"]["better"], tiers["high"]
    assert tiers["high"]["ci_low"] > 0
    low = tiers["low"]
    assert low["enough_data"] and not low["significant_after_holm"], low
    assert low["ci_low"] < 0 < low["ci_high"]
    assert answer["recommendation"]["action"] == "promote", answer["recommendation"]
    assert answer["recommendation"]["evidence"][1].startswith("By CLV tier: high better")
    velocity = {r["play"]["name"]: r for r in plays_velocity(plays, YEAR, now=NOW)}
    for name in MEASURED:
        assert velocity[name]["significant"] and velocity[name]["ci_high"] < 0, velocity[name]
        assert "sooner with the play" in velocity[name]["verdict"]

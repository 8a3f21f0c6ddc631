"""Audiences by score (issue 21): CLV tier, account health band and P(alive) filters, their
validation (API 400 and editor), the run, the dry-run preview and the audience summary."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm.models import ClvTier, HealthBand
from plays.audience import reachable_contacts, validate_audience
from plays.engine import play_run
from plays.models import Enrollment, Play
from plays.selectors import describe_audience
from tests.factories import ContactFactory
from tests.plays.conftest import make_play
from tests.plays.test_api import VALID as API_VALID
from tests.plays.test_engine import renewing_account
from tests.plays.test_views import VALID as FORM

pytestmark = pytest.mark.django_db


def _scored_book():
    """Renewing accounts in each health band (and one not scored) with contacts in each tier."""
    people = {}
    for band in (HealthBand.GOOD, HealthBand.AT_RISK, ""):
        _, contacts = renewing_account(contacts=4, health_band=band)
        for contact, (tier, p_alive) in zip(
            contacts, ((ClvTier.HIGH, 0.9), (ClvTier.MID, 0.5), (ClvTier.LOW, 0.2), ("", None)), strict=True
        ):
            contact.clv_tier, contact.clv_p_alive = tier, p_alive
            contact.save(update_fields=["clv_tier", "clv_p_alive"])
            people[(band, tier)] = contact
    return people


def _reached(audience) -> set[int]:
    return set(reachable_contacts(audience).values_list("pk", flat=True))


def test_score_filters_select_scored_contacts_only():
    people = _scored_book()
    high = {c.pk for (band, tier), c in people.items() if tier == ClvTier.HIGH}
    assert _reached({"clv_tiers": ["high"]}) == high
    good = {c.pk for (band, tier), c in people.items() if band == HealthBand.GOOD}
    assert _reached({"health_bands": ["good"]}) == good
    # Contacts without an account have no band: a band filter never reaches them.
    ContactFactory(clv_tier=ClvTier.HIGH, clv_p_alive=0.95)
    assert _reached({"health_bands": ["good", "watch", "at_risk"]}) == {
        c.pk for (band, _), c in people.items() if band
    }
    # P(alive) bounds are inclusive; a contact without one never matches.
    assert _reached({"p_alive_min": 0.5, "p_alive_max": 0.9}) == {
        c.pk for (_, tier), c in people.items() if tier in (ClvTier.HIGH, ClvTier.MID)
    }
    assert _reached({"p_alive_max": 0.3}) == {c.pk for (_, tier), c in people.items() if tier == ClvTier.LOW}
    both = _reached({"clv_tiers": ["high", "mid"], "health_bands": ["at_risk"]})
    assert both == {
        people[(HealthBand.AT_RISK, ClvTier.HIGH)].pk,
        people[(HealthBand.AT_RISK, ClvTier.MID)].pk,
    }


@pytest.mark.parametrize(
    ("audience", "named"),
    [
        ({"clv_tiers": ["platinum"]}, "clv_tiers"),
        ({"clv_tiers": "high"}, "clv_tiers"),
        ({"health_bands": ["sick"]}, "health_bands"),
        ({"p_alive_min": 1.5}, "p_alive_min"),
        ({"p_alive_max": -0.1}, "p_alive_max"),
        ({"p_alive_min": "0.5"}, "p_alive_min"),
        ({"p_alive_max": True}, "p_alive_max"),
        ({"p_alive_min": 0.8, "p_alive_max": 0.2}, "p_alive_min"),
    ],
)
def test_bad_score_filters_are_refused_naming_the_key(audience, named, api):
    with pytest.raises(ValidationError) as caught:
        validate_audience(audience)
    assert f"`{named}`" in caught.value.messages[0]
    response = api.post("/api/v1/plays/", {**API_VALID, "audience": audience}, format="json")
    assert response.status_code == 400 and f"`{named}`" in response.json()["audience"][0]
    assert not Play.objects.exists()


def test_the_run_applies_the_tier_filter():
    people = _scored_book()
    play = make_play(audience={"clv_tiers": ["high"], "health_bands": ["good", "at_risk"]})
    play_run(play)
    enrolled = set(Enrollment.objects.filter(play=play).values_list("contact_id", flat=True))
    assert enrolled == {
        people[(HealthBand.GOOD, ClvTier.HIGH)].pk,
        people[(HealthBand.AT_RISK, ClvTier.HIGH)].pk,
    }


def test_the_editor_saves_score_filters_and_the_preview_counts_follow(web):
    _scored_book()
    everyone = web.post(reverse("play_preview_form"), {**FORM, "holdout_percent": "0"}).context["preview"]
    assert everyone["candidates"] == 12
    by_tier = {**FORM, "holdout_percent": "0", "clv_tiers": ["high", "mid"], "p_alive_min": "0.6"}
    preview = web.post(reverse("play_preview_form"), by_tier).context["preview"]
    assert preview["candidates"] == 3  # high tier (P(alive) 0.9) at each of the three accounts
    response = web.post(reverse("play_create"), {**by_tier, "health_bands": ["good"]})
    assert response.status_code == 302
    play = Play.objects.get()
    assert play.audience == {"clv_tiers": ["high", "mid"], "health_bands": ["good"], "p_alive_min": 0.6}
    form = web.get(reverse("play_edit", args=[play.pk])).context["form"]
    assert form["clv_tiers"].value() == ["high", "mid"] and form["p_alive_min"].value() == 0.6
    body = web.get(reverse("play_detail", args=[play.pk])).content.decode()
    assert "High, Mid (scored contacts only)" in body and "at least 0.6" in body


def test_the_editor_refuses_a_min_above_the_max_and_explains_unscored_contacts(web):
    body = web.get(reverse("play_create")).content.decode()
    assert "contacts not scored yet never match" in body
    response = web.post(reverse("play_create"), {**FORM, "p_alive_min": "0.9", "p_alive_max": "0.1"})
    assert response.status_code == 200
    assert "`p_alive_min` must not be above `p_alive_max`" in response.content.decode()
    response = web.post(reverse("play_create"), {**FORM, "p_alive_max": "2"})
    assert response.context["form"].errors["p_alive_max"]
    assert not Play.objects.exists()


def test_the_audience_summary_names_the_score_filters():
    rows = describe_audience({"clv_tiers": ["high"], "health_bands": ["at_risk"], "p_alive_max": 0.4})
    assert rows == [
        ("CLV tiers", "High (scored contacts only)"),
        ("Health bands", "At risk (scored contacts only)"),
        ("P(alive)", "at most 0.4"),
    ]

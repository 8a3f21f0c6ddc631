"""Scores in plays, in a real browser: build a play's audience by CLV tier in the editor and see
the dry-run count follow, save it; a play's lift page shows the split by segment and the
recommendation. Every step fails on a console error (tests/e2e/conftest.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture then skips these tests, or fails them in CI, saying why
    expect = None

from crm.models import ClvTier, SmsConsent
from plays.models import Play, PlayStatus
from tests.analytics.test_segments import reorder_play_helping_high_tiers
from tests.factories import AccountFactory, ContactFactory, RenewalFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_an_audience_by_tier_and_the_lift_by_segment(browsing, user):
    account = AccountFactory(name="Northwind Traders", owner=user)
    today = timezone.now().date()
    RenewalFactory(
        account=account, start_date=today - timedelta(days=330), end_date=today + timedelta(days=35)
    )
    for first, tier in (("Priya", ClvTier.HIGH), ("Sam", ClvTier.MID), ("Lee", ClvTier.LOW), ("Ana", "")):
        ContactFactory(account=account, first_name=first, clv_tier=tier, sms_consent=SmsConsent.OPTED_IN)
    page = browsing.page

    browsing.log_in("alice")
    browsing.goto("/plays/new/")
    page.get_by_label("Name", exact=True).fill("High-tier renewal heads-up")
    page.get_by_label("Moment", exact=True).select_option("renewal")
    page.get_by_label("Trigger", exact=True).select_option("renewal_window")
    page.get_by_label("Days", exact=True).fill("60")
    page.get_by_label("Holdout %", exact=True).fill("0")
    page.get_by_label("Message", exact=True).fill("Hi {first_name}, {account} renews on {renewal_date}.")
    audience = page.locator("#play-preview .preview-counts").locator("div", has_text="Audience").locator("dd")
    expect(audience).to_have_text("4")
    browsing.step("audience-everyone")

    tiers = page.get_by_role("group", name="CLV tiers")
    tiers.get_by_label("High").check()
    expect(audience).to_have_text("1")
    expect(page.locator("#play-preview .preview-samples")).to_contain_text("Hi Priya")
    browsing.step("audience-high-tier")

    page.get_by_role("button", name="Create draft").click()
    expect(page.locator(".flashes")).to_contain_text("created as a draft")
    play = Play.objects.get(name="High-tier renewal heads-up")
    assert (play.status, play.audience) == (PlayStatus.DRAFT, {"clv_tiers": ["high"]})
    expect(page.locator(".facts")).to_contain_text("High (scored contacts only)")
    browsing.step("play-saved")

    # A play with a measured history: helps high-tier customers, not low ones.
    decided = timezone.now() - timedelta(days=60)
    measured = reorder_play_helping_high_tiers(decided=decided, name="Reorder reminder")
    start, end = (today - timedelta(days=120)).isoformat(), today.isoformat()
    browsing.goto(f"/plays/{measured.pk}/")
    page.get_by_role("link", name="Lift and recommendation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lift of Reorder reminder")
    browsing.goto(f"/analytics/plays/{measured.pk}/lift/?start={start}&end={end}")
    table = page.get_by_test_id("segments-clv_tier")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tr", has_text="high")).to_contain_text("better")
    expect(table.locator("tr", has_text="mid")).to_contain_text("too small to tell (about")
    expect(page.get_by_test_id("recommendation")).to_contain_text("Recommendation: Promote")
    browsing.step("lift-by-segment")

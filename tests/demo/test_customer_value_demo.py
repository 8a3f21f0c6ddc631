"""The demo's customer value (issue 21): after seeding, order customers carry CLV tiers and the
analytics page has a non-empty SMS-converted group; only opted-in contacts ever clicked a texted
link."""

from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from analytics.answers import answer, parse
from crm.models import Contact, SmsConsent
from demo.clv import SOURCE
from sms.models import LinkClick, ShortLink

pytestmark = pytest.mark.django_db
TODAY = "2026-12-06"


def test_demo_has_tiers_and_sms_converted_customers():
    with time_machine.travel(datetime(2026, 12, 6, 15, tzinfo=UTC), tick=False):
        call_command("seed_demo", "--accounts", "100", "--today", TODAY, stdout=StringIO())
        tiers = set(Contact.objects.exclude(clv_tier="").values_list("clv_tier", flat=True))
        assert tiers == {"high", "mid", "low"}
        buyers = Contact.objects.filter(orders__amount__gte=0).distinct()
        assert not buyers.filter(clv_tier="").exists()  # every order customer is scored
        assert not Contact.objects.filter(orders=None).exclude(clv_tier="").exists()
        result = answer("sms-converted", parse("sms-converted", {"end": TODAY}))
    assert result["sms_converted"]["customers"] > 0 and result["other"]["customers"] > 0
    clicked = Contact.objects.filter(short_links__source=SOURCE)
    assert clicked.exists() and not clicked.exclude(sms_consent=SmsConsent.OPTED_IN).exists()
    assert (
        LinkClick.objects.filter(link__source=SOURCE).count()
        == ShortLink.objects.filter(source=SOURCE).count()
    )
    # --force replaces them (no duplicates).
    before = ShortLink.objects.filter(source=SOURCE).count()
    with time_machine.travel(datetime(2026, 12, 6, 15, tzinfo=UTC), tick=False):
        call_command("seed_demo", "--accounts", "100", "--today", TODAY, "--force", stdout=StringIO())
    assert ShortLink.objects.filter(source=SOURCE).count() == before

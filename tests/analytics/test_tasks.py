"""The scheduled snapshot refresh, its schedule, and the all-opted-out edge case."""

from datetime import date

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from analytics.answers import answer, parse
from analytics.models import Snapshot
from analytics.tasks import refresh_snapshots
from crm.models import SmsConsent
from tests.analytics.test_api import book
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_refresh_recomputes_every_dashboard_answer():
    book(3)
    timings = refresh_snapshots()
    assert {"ltv", "retention", "cohorts", "lift", "roi", "sms-health", "maturity"} <= set(timings)
    first = dict(Snapshot.objects.values_list("metric", "computed_at"))
    refresh_snapshots()
    again = dict(Snapshot.objects.values_list("metric", "computed_at"))
    assert all(again[m] > first[m] for m in timings)
    assert Snapshot.objects.filter(metric="retention").count() == 1  # replaced, not duplicated
    # The dashboard's default answers are then served from the snapshots.
    assert answer("retention", parse("retention", {}))["snapshot"]["from_snapshot"] is True


def test_setup_schedules_creates_the_refresh_job():
    call_command("setup_schedules")
    job = Schedule.objects.get(name="analytics: refresh dashboard snapshots")
    assert job.func == "analytics.tasks.refresh_snapshots" and job.minutes == 30


def test_opt_outs_without_plays_are_no_leakage_and_no_texts():
    """Leakage is incremental over a holdout (issue 17): opt-outs of contacts no play enrolled
    are no play's leakage (the old whole-book count called them 3 contacts' LTV lost)."""
    contacts = ContactFactory.create_batch(3, sms_consent=SmsConsent.OPTED_OUT)
    assert len(contacts) == 3
    scope = parse("roi", {"start": "2025-01-01", "end": "2025-12-31"}, today=date(2026, 1, 1))
    roi = answer("roi", scope)
    assert roi["opt_out_leakage"]["value"] == "0.00" and roi["all_opt_outs_after_texts"]["opt_outs"] == 0
    health = answer("sms-health", parse("sms-health", {}))
    assert health["overall"]["texts"] == 0 and health["overall"]["opt_out_rate"] is None

"""The demo's account health (issue 21, "the demo data yields a health model with an honest
AUC"): with its former customers (accounts churned at a past renewal, most after a fade, some
without warning) the default book's history holds enough churned renewals, so the daily job
trains the model, not the rules; its time-based backtest has an AUC that is real but not
perfect, and a calibration table. The former customers come from their own random stream, after
the plays' history: no play ever enrolled or texted them."""

from datetime import UTC, date, datetime
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from analytics.answers import health_model_latest
from crm.models import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    HealthSource,
    Renewal,
    RenewalStatus,
    SmsConsent,
)
from demo.crm import FORMER_PER_ACCOUNT
from plays.models import Enrollment
from sms.models import Message

pytestmark = pytest.mark.django_db

TODAY = date(2026, 12, 6)


def test_the_seeded_book_trains_the_health_model_with_an_honest_auc():
    call_command("seed_demo", "--today", TODAY.isoformat(), stdout=StringIO())
    former = Account.objects.filter(attributes__former=True)
    assert former.count() == round(300 * FORMER_PER_ACCOUNT) == 81
    assert Account.objects.exclude(attributes__has_key="former").count() == 300
    # Every former customer churned at a decided renewal before today, with its timeline entry.
    assert not former.filter(churned_at=None).exists()
    assert not former.filter(churned_at__gte=datetime(2026, 12, 6, tzinfo=UTC)).exists()
    terms = Renewal.objects.filter(account__in=former)
    assert not terms.filter(status=RenewalStatus.UPCOMING).exists()
    assert terms.filter(status=RenewalStatus.CHURNED).count() == 81
    assert terms.exclude(status=RenewalStatus.CHURNED).exists()  # some renewed before leaving
    decisions = Activity.objects.filter(account__in=former, kind=ActivityKind.RENEWAL_DECISION)
    assert decisions.count() == terms.count()
    # Never in a play's arms, never texted: the plays' story is drawn without them.
    assert not Enrollment.objects.filter(contact__account__in=former).exists()
    assert not Message.objects.filter(contact__account__in=former).exists()
    people = Contact.objects.filter(account__in=former)
    assert people.exists() and set(people.values_list("sms_consent", flat=True)) == {SmsConsent.UNKNOWN}

    report = health_model_latest()
    assert report["source"] == HealthSource.MODEL, report.get("note")
    assert report["churned_renewals"] >= settings.HEALTH_MIN_CHURNS
    assert report["labelled_renewals"] >= settings.HEALTH_MIN_RENEWALS
    backtest = report["backtest"]
    assert 0.6 <= backtest["auc"] <= 0.9, backtest  # a signal, with noise: not a perfect one
    calibration = backtest["calibration"]
    assert calibration and sum(row["n"] for row in calibration) == backtest["test_rows"]
    assert sum(row["churned"] for row in calibration) > 0
    # Today's accounts are scored by the model; the former customers are churned: no health.
    assert not former.exclude(health_source="").exists()
    live = Account.objects.exclude(attributes__has_key="former").filter(churned_at=None)
    assert set(live.values_list("health_source", flat=True)) == {HealthSource.MODEL}

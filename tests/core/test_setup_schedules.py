from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django_q.models import Schedule

pytestmark = pytest.mark.django_db


def test_setup_schedules_is_idempotent():
    call_command("setup_schedules", stdout=StringIO())
    Schedule.objects.filter(name="sms: sweep outbox").update(minutes=30)
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    schedule = Schedule.objects.get(name="sms: sweep outbox")
    assert Schedule.objects.count() == len(settings.PERIODIC_JOBS) >= 4
    assert (schedule.func, schedule.minutes) == ("sms.tasks.sweep_outbox", 1)
    assert "updated" in out.getvalue()

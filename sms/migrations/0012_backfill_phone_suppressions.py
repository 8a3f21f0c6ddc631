"""Backfill: a number whose latest consent event is an opt-out is suppressed, and the contacts
that hold such a number now are opted out (consent belongs to the number). The STOP is one only
the person can undo when a keyword or carrier opt-out came after the number's last opt-in."""

from datetime import UTC, datetime

from django.db import migrations
from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

PERSON_ONLY = ("keyword", "provider_error")
BATCH = 2000


def backfill(apps, schema_editor):
    ConsentEvent = apps.get_model("sms", "ConsentEvent")
    PhoneSuppression = apps.get_model("sms", "PhoneSuppression")
    Contact = apps.get_model("crm", "Contact")
    same_phone = ConsentEvent.objects.filter(phone=OuterRef("phone"))
    latest = same_phone.order_by("-occurred_at", "-id").values("pk")[:1]
    last_in = same_phone.filter(action="opt_in").order_by("-occurred_at").values("occurred_at")[:1]
    person_source = (
        same_phone.filter(action="opt_out", source__in=PERSON_ONLY, occurred_at__gt=OuterRef("last_in"))
        .order_by("-occurred_at", "-id")
        .values("source")[:1]
    )
    rows = (
        ConsentEvent.objects.exclude(phone="")
        .filter(action="opt_out")
        .annotate(latest_pk=Subquery(latest))
        .filter(pk=F("latest_pk"))
        .annotate(last_in=Coalesce(Subquery(last_in), Value(datetime(1970, 1, 1, tzinfo=UTC))))
        .annotate(person_source=Subquery(person_source))
        .order_by()
        .values_list("pk", "phone", "occurred_at", "source", "person_source")
    )
    batch = []
    for pk, phone, occurred_at, source, person in rows.iterator(chunk_size=BATCH):
        batch.append(PhoneSuppression(phone=phone, since=occurred_at, source=person or source, event_id=pk))
        if len(batch) >= BATCH:
            PhoneSuppression.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    PhoneSuppression.objects.bulk_create(batch, ignore_conflicts=True)
    Contact.objects.filter(phone__in=PhoneSuppression.objects.values("phone")).exclude(
        sms_consent="opted_out"
    ).update(sms_consent="opted_out")


class Migration(migrations.Migration):
    dependencies = [("sms", "0011_phone_suppression"), ("crm", "0009_created_at_settable")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]

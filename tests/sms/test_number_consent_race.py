"""Consent that belongs to the number, under concurrent writers (PostgreSQL: SQLite ignores
SELECT FOR UPDATE). Run with DATABASE_URL=postgres://..."""

import contextlib
import uuid

import pytest

from crm.models import Contact, SmsConsent
from sms.inbound import inbound_receive
from sms.models import ConsentEvent, Message, MessageKind, MessageStatus, PhoneSuppression
from sms.services.consent import consent_record
from sms.services.delivery import messages_deliver
from sms.services.sending import SendRefused, message_send
from tests.factories import ContactFactory
from tests.sms.test_delivery_race import run_workers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NUMBER = "+12125550177"


def stop_from(number: str) -> None:
    sid = "SM" + uuid.uuid4().hex
    inbound_receive(provider_sid=sid, from_number=number, to_number="+15550000000", body="STOP")


def test_stops_racing_from_a_new_number_leave_one_contact_and_one_suppression():
    run_workers(4, lambda index: stop_from(NUMBER))
    contact = Contact.objects.get(phone=NUMBER)
    assert contact.sms_consent == SmsConsent.OPTED_OUT
    assert ConsentEvent.objects.filter(phone=NUMBER, action="opt_out").count() == 4
    assert PhoneSuppression.objects.get(phone=NUMBER).source == "keyword"


@pytest.mark.parametrize("round_", range(3))
def test_a_send_racing_a_stop_never_reaches_the_provider(round_):
    contact = ContactFactory(phone=NUMBER, sms_consent=SmsConsent.OPTED_IN)
    consent_record(contact=contact, action="opt_in", source="web_form", proof={"disclosure": "ok"})

    def work(index):
        if index == 0:
            stop_from(NUMBER)
            return
        with contextlib.suppress(SendRefused):  # refused once the STOP is in: also fine
            message_send(contact=Contact.objects.get(pk=contact.pk), body=f"Offer {index}")

    run_workers(3, work)
    queued = Message.objects.filter(status=MessageStatus.QUEUED).exclude(kind=MessageKind.COMPLIANCE)
    outcomes = messages_deliver(message_ids=list(queued.values_list("pk", flat=True)))
    assert {outcome.result for outcome in outcomes} <= {"blocked"}
    assert (
        not Message.objects.exclude(kind=MessageKind.COMPLIANCE)
        .filter(status__in=[MessageStatus.SENT, MessageStatus.DELIVERED])
        .exists()
    )

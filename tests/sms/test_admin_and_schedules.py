import pytest
from django.urls import reverse

from crm.models import SmsConsent
from sms.models import Message
from sms.services.consent import consent_record
from sms.services.review import review_open
from sms.services.sending import message_send
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["consentevent", "message", "conversation", "revocationreview"])
def test_sms_admin_lists_render_and_records_are_read_only(client, model, django_assert_max_num_queries):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    for _ in range(5):
        contact = ContactFactory(sms_consent=SmsConsent.OPTED_IN)
        consent_record(contact=contact, action="opt_out", source="agent")
        consent_record(contact=contact, action="opt_in", source="agent", proof={"note": "asked on a call"})
        message_send(contact=contact, body="hello")
        message = Message.objects.create(
            contact=contact, direction="inbound", body="how do I opt out?", to_number=""
        )
        review_open(contact=contact, message=message, why="reads as an opt-out")
    with django_assert_max_num_queries(12):
        assert client.get(reverse(f"admin:sms_{model}_changelist")).status_code == 200
    if model != "conversation":
        assert client.get(reverse(f"admin:sms_{model}_add")).status_code == 403

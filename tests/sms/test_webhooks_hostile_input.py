"""The Twilio webhooks refuse what Twilio never sends: message SIDs not of its formats (400,
nothing stored); inbound bodies past its 1,600-character cap are stored up to it and flagged."""

import pytest

from sms.models import Message
from tests.sms.test_webhooks import INBOUND, STATUS, inbound_params, signed_post

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "sid",
    ["SM" + "a" * 65, "SM1", "XX" + "a" * 32, "SM" + "g" * 32, "SM" + "a" * 31, "SM" + "a" * 33 + "\n"],
)
def test_webhook_sids_that_are_not_twilio_sids_are_400(client, sid):
    response = signed_post(client, INBOUND, inbound_params("+14155552671", "hi", sid=sid))
    assert response.status_code == 400 and b"MessageSid" in response.content
    response = signed_post(client, STATUS, {"MessageSid": sid, "MessageStatus": "delivered"})
    assert response.status_code == 400
    assert not Message.objects.exists()


@pytest.mark.parametrize("sid", ["SM" + "0123456789abcdef" * 2, "MM" + "ABCDEF0123456789" * 2])
def test_sms_and_mms_sids_are_accepted(client, sid):
    assert signed_post(client, INBOUND, inbound_params("+14155552671", "hi", sid=sid)).status_code == 200
    assert Message.objects.filter(provider_sid=sid).exists()


def test_an_inbound_body_past_twilios_cap_is_stored_up_to_the_cap_and_flagged(client):
    huge = "pricing " * 250_000  # 2 MB
    assert signed_post(client, INBOUND, inbound_params("+14155552671", huge)).status_code == 200
    message = Message.objects.get()
    assert len(message.body) == 1600 and message.body == huge[:1600] and message.body_truncated
    signed_post(client, INBOUND, inbound_params("+14155552671", "x" * 1600, sid="SM" + "c" * 32))
    assert not Message.objects.get(provider_sid="SM" + "c" * 32).body_truncated

"""The provider registry: SMS_PROVIDER names a provider in sms.providers.PROVIDERS, a dotted path
imported only when chosen; a new provider is one module and one registry line."""

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django_q.conf import Conf

from crm.models import ActivityKind
from sms.models import Message, MessageStatus
from sms.providers import PROVIDERS, Provider, SendResult, _provider, get_provider
from sms.services.sending import message_send

pytestmark = pytest.mark.django_db


class RecordingProvider(Provider):
    """A provider defined outside the product: records what it was asked to send."""

    name = "recording"
    sent: list[dict] = []

    @property
    def sender(self) -> str:
        return "+15005550001"

    def send(self, *, to: str, body: str, status_callback: str | None) -> SendResult:
        self.sent.append({"to": to, "body": body, "status_callback": status_callback})
        return SendResult(sid=f"RC{len(self.sent):032d}", from_number=self.sender)

    def find_sent(self, *, to, body, since):
        return None


@pytest.fixture
def recording(monkeypatch, sms_settings):
    monkeypatch.setitem(PROVIDERS, "recording", "tests.sms.test_providers.RecordingProvider")
    sms_settings.SMS_PROVIDER = "recording"
    RecordingProvider.sent = []
    _provider.cache_clear()
    yield RecordingProvider
    _provider.cache_clear()


def test_settings_pick_the_provider_from_the_registry(recording):
    assert isinstance(get_provider(), RecordingProvider)


def test_a_text_goes_out_through_a_registered_provider_end_to_end(
    recording, opted_in, monkeypatch, django_capture_on_commit_callbacks
):
    # The delivery task runs in this process as soon as it is enqueued.
    monkeypatch.setattr(Conf, "SYNC", True)
    with django_capture_on_commit_callbacks(execute=True):
        message = message_send(contact=opted_in, body="Your seats are almost full")
    assert recording.sent == [
        {
            "to": opted_in.phone,
            "body": "Your seats are almost full",
            "status_callback": f"{settings.PUBLIC_BASE_URL}/sms/twilio/status/",
        }
    ]
    message.refresh_from_db()
    assert (message.status, message.provider, message.provider_sid) == (
        MessageStatus.SENT,
        "recording",
        "RC" + "1".zfill(32),
    )
    assert opted_in.activities.filter(kind=ActivityKind.SMS_SENT).count() == 1
    assert Message.objects.count() == 1


def test_an_unknown_provider_name_is_a_configuration_error(sms_settings):
    sms_settings.SMS_PROVIDER = "carrier-pigeon"
    _provider.cache_clear()
    with pytest.raises(ImproperlyConfigured, match="carrier-pigeon"):
        get_provider()

import pytest
import responses

from crm.models import SmsConsent
from sms.providers import _provider
from tests.factories import ContactFactory

ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


@pytest.fixture(autouse=True)
def sms_settings(settings):
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "b" * 32
    settings.TWILIO_FROM_NUMBER = ""
    settings.SMS_SEGMENTS_PER_SECOND = 0
    settings.SMS_CONSOLE_DELIVERY_DELAY = (0, 0)
    settings.SMS_QUIET_HOURS_START = 0  # always open unless a test narrows the window
    settings.SMS_QUIET_HOURS_END = 24
    _provider.cache_clear()
    yield settings
    _provider.cache_clear()


@pytest.fixture
def twilio(sms_settings):
    """Select the Twilio provider and intercept its HTTP calls (the SDK itself is real)."""
    sms_settings.SMS_PROVIDER = "twilio"
    _provider.cache_clear()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def twilio_ok(mock, sid="SM" + "1" * 32):
    mock.add(
        responses.POST,
        MESSAGES_URL,
        status=201,
        json={"sid": sid, "status": "accepted", "from": None, "messaging_service_sid": "MG" + "b" * 32},
    )


def twilio_error(mock, status, code, message="error"):
    mock.add(
        responses.POST,
        MESSAGES_URL,
        status=status,
        json={"code": code, "message": message, "more_info": "", "status": status},
    )


@pytest.fixture
def opted_in(db):
    return ContactFactory(sms_consent=SmsConsent.OPTED_IN)

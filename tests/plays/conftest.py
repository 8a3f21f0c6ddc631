import pytest

from crm.models import SmsConsent
from plays.models import Play, PlayStatus
from sms.providers import _provider
from tests.factories import ContactFactory


@pytest.fixture(autouse=True)
def play_settings(settings):
    settings.SMS_SEGMENTS_PER_SECOND = 0
    settings.SMS_QUIET_HOURS_START = 0  # always open unless a test narrows the window
    settings.SMS_QUIET_HOURS_END = 24
    settings.SMS_PROVIDER = "console"
    settings.GOVERNANCE_ACCOUNT_WEEKLY_CAP = 1000
    _provider.cache_clear()
    yield settings
    _provider.cache_clear()


def make_play(**fields) -> Play:
    defaults = {
        "name": "Renewal nudge",
        "moment": "renewal",
        "trigger": {"type": "renewal_window", "days": 60},
        "template": "Hi {first_name}, {account} renews soon.",
        "holdout_percent": 0,
        "cooldown_days": 0,
        "status": PlayStatus.ACTIVE,
    }
    defaults.update(fields)
    return Play.objects.create(**defaults)


def opted_in_contact(**fields):
    return ContactFactory(sms_consent=SmsConsent.OPTED_IN, **fields)

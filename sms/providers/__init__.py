"""SMS providers: one small interface, chosen by the SMS_PROVIDER setting."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.conf import settings


class ProviderError(Exception):
    """A send that did not go through. ``permanent`` decides between retry and give up;
    ``ambiguous`` means the provider may have accepted it anyway (a read timeout, a 500), so
    it must be looked up with the provider before it is sent again."""

    def __init__(self, message: str, *, code: str = "", permanent: bool, ambiguous: bool = False):
        super().__init__(message)
        self.message = message
        self.code = code
        self.permanent = permanent
        self.ambiguous = ambiguous


@dataclass(frozen=True)
class SendResult:
    sid: str
    from_number: str = ""


class Provider:
    name = ""

    @property
    def sender(self) -> str:
        """Identifies the sending number or service, for pacing."""
        raise NotImplementedError

    def send(self, *, to: str, body: str, status_callback: str | None) -> SendResult:
        raise NotImplementedError

    def find_sent(self, *, to: str, body: str, since: datetime) -> SendResult | None:
        """A message with this body sent to ``to`` since ``since``, if the provider has one."""
        raise NotImplementedError


@cache
def _provider(name: str) -> Provider:
    if name == "twilio":
        from sms.providers.twilio import TwilioProvider

        return TwilioProvider(
            account_sid=settings.TWILIO_ACCOUNT_SID,
            auth_token=settings.TWILIO_AUTH_TOKEN,
            messaging_service_sid=settings.TWILIO_MESSAGING_SERVICE_SID,
            from_number=settings.TWILIO_FROM_NUMBER,
        )
    from sms.providers.console import ConsoleProvider

    return ConsoleProvider()


def get_provider() -> Provider:
    return _provider(settings.SMS_PROVIDER)

"""SMS providers: one small interface, and a registry of them (``PROVIDERS``) from which the
SMS_PROVIDER setting picks one."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


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

    def send(
        self, *, to: str, body: str, status_callback: str | None, media_urls: Sequence[str] = ()
    ) -> SendResult:
        """``media_urls``: public URLs the provider fetches and sends as MMS."""
        raise NotImplementedError

    def find_sent(self, *, to: str, body: str, since: datetime) -> SendResult | None:
        """A message with this body sent to ``to`` since ``since``, if the provider has one."""
        raise NotImplementedError


# The providers SMS_PROVIDER may name: {name: dotted path of the Provider class}, imported only
# when chosen (a provider's SDK loads with it) and made without arguments (a provider reads its
# own settings). A new provider is one module and a line here.
PROVIDERS = {
    "console": "sms.providers.console.ConsoleProvider",
    "twilio": "sms.providers.twilio.client.TwilioProvider",
}


@cache
def _provider(name: str) -> Provider:
    try:
        path = PROVIDERS[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"SMS_PROVIDER={name!r} is not one of the providers: {', '.join(PROVIDERS)}"
        ) from None
    return import_string(path)()


def get_provider() -> Provider:
    """The provider settings.SMS_PROVIDER names, made once per process."""
    return _provider(settings.SMS_PROVIDER)

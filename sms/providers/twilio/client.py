"""Twilio through the official SDK."""

from collections.abc import Sequence
from datetime import datetime

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from sms.providers import Provider, ProviderError, SendResult
from sms.providers.twilio.vocabulary import PERMANENT_CODES, RETRYABLE_CODES, RETRYABLE_STATUS


def classify(status: int, code: str, message: str) -> ProviderError:
    """An error answer from Twilio. 5xx other than 503 may come after Twilio accepted the
    message, so those are ambiguous: look it up before sending again."""
    if code in PERMANENT_CODES:
        return ProviderError(message, code=code, permanent=True)
    if code in RETRYABLE_CODES or status in RETRYABLE_STATUS:
        return ProviderError(message, code=code or str(status), permanent=False)
    if status >= 500:
        return ProviderError(message, code=code or str(status), permanent=False, ambiguous=True)
    return ProviderError(message, code=code or str(status), permanent=True)


def _never_connected(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


class TwilioProvider(Provider):
    name = "twilio"

    def __init__(self):
        """Configured from the settings: TWILIO_ACCOUNT_SID and _AUTH_TOKEN, and the sender,
        TWILIO_MESSAGING_SERVICE_SID or else TWILIO_FROM_NUMBER."""
        self.messaging_service_sid = settings.TWILIO_MESSAGING_SERVICE_SID
        self.from_number = settings.TWILIO_FROM_NUMBER
        # max_retries=0: retries are ours (with backoff), never hidden inside one attempt.
        # (connect, read) timeouts stay well inside the task timeout.
        http = TwilioHttpClient(timeout=10, max_retries=0)
        self.client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, http_client=http)
        if settings.TWILIO_API_BASE_URL:  # a simulated Twilio on this machine (the settings refuse others)
            self.client.api.base_url = settings.TWILIO_API_BASE_URL

    @property
    def sender(self) -> str:
        return self.messaging_service_sid or self.from_number

    def send(
        self, *, to: str, body: str, status_callback: str | None, media_urls: Sequence[str] = ()
    ) -> SendResult:
        # A media-only MMS sends no Body at all (Twilio needs Body or MediaUrl, not both).
        kwargs = {"to": to, "body": body} if body else {"to": to}
        if media_urls:
            kwargs["media_url"] = list(media_urls)
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self.from_number
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise classify(exc.status, str(exc.code or ""), exc.msg or f"Twilio error {exc.code}") from exc
        except TwilioServiceException as exc:  # RFC-9457 problem details from newer endpoints
            raise classify(exc.status, str(exc.code or ""), exc.detail or exc.title) from exc
        except requests.RequestException as exc:
            if _never_connected(exc):
                raise ProviderError(
                    f"Could not reach Twilio: {exc}", code="network", permanent=False
                ) from exc
            raise ProviderError(
                f"No clear answer from Twilio: {exc}", code="network", permanent=False, ambiguous=True
            ) from exc
        except Exception as exc:  # e.g. an unreadable 2xx body: Twilio may well have sent it
            raise ProviderError(
                f"Unreadable answer from Twilio: {exc}", code="unreadable", permanent=False, ambiguous=True
            ) from exc
        return SendResult(sid=message.sid, from_number=message.from_ or "")

    def find_sent(self, *, to: str, body: str, since: datetime) -> SendResult | None:
        try:
            candidates = self.client.messages.list(to=to, date_sent_after=since, limit=50)
        except (TwilioException, requests.RequestException) as exc:
            raise ProviderError(
                f"Could not look the message up: {exc}", code="lookup", permanent=False
            ) from exc
        for candidate in candidates:
            created = candidate.date_created
            if (candidate.body or "") == body and (created is None or created >= since):
                return SendResult(sid=candidate.sid, from_number=candidate.from_ or "")
        return None

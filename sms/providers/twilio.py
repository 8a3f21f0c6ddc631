"""Twilio through the official SDK."""

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from sms.providers import Provider, ProviderError, SendResult

# Errors that will not go away by trying again.
PERMANENT_CODES = {
    "21211",  # invalid 'To' number
    "21408",  # region not enabled
    "21602",  # body required
    "21606",  # 'From' number not capable
    "21610",  # recipient unsubscribed (STOP)
    "21612",  # cannot route to this number
    "21614",  # 'To' is not a mobile number
    "21617",  # body too long
    "21635",  # 'To' is a landline
    "30004",  # message blocked
    "30005",  # unknown destination
    "30006",  # landline or unreachable carrier
    "30007",  # carrier filtering
}
TRANSIENT_CODES = {"20429", "20500", "20503", "30001", "30008"}


def classify(exc: TwilioRestException) -> ProviderError:
    code = str(exc.code or "")
    transient = (
        code in TRANSIENT_CODES
        or exc.status == 429
        or exc.status >= 500
        # Credentials can be fixed by an operator; keep the message and retry with backoff.
        or exc.status in (401, 403)
    )
    permanent = code in PERMANENT_CODES or not transient
    return ProviderError(exc.msg or f"Twilio error {code or exc.status}", code=code, permanent=permanent)


class TwilioProvider(Provider):
    name = "twilio"

    def __init__(self, *, account_sid: str, auth_token: str, messaging_service_sid: str, from_number: str):
        self.messaging_service_sid = messaging_service_sid
        self.from_number = from_number
        # max_retries=0: retries are ours (with backoff), never hidden inside one attempt.
        http = TwilioHttpClient(timeout=15, max_retries=0)
        self.client = Client(account_sid, auth_token, http_client=http)

    @property
    def sender(self) -> str:
        return self.messaging_service_sid or self.from_number

    def send(self, *, to: str, body: str, status_callback: str | None) -> SendResult:
        kwargs = {"to": to, "body": body}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self.from_number
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise classify(exc) from exc
        except requests.RequestException as exc:  # timeouts, refused connections, resets
            raise ProviderError(
                f"Network error talking to Twilio: {exc}", code="network", permanent=False
            ) from exc
        except TwilioException as exc:
            raise ProviderError(str(exc), code="twilio", permanent=False) from exc
        return SendResult(sid=message.sid, from_number=message.from_ or "")

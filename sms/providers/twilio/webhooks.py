"""Twilio webhooks. Authenticated by X-Twilio-Signature, not by login."""

import logging
import re
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from crm.phones import PhoneParseError, parse_phone
from sms.inbound import inbound_receive
from sms.media import MediaRefused, inbound_media
from sms.services.status import message_status_apply

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Twilio's message SIDs: SM (SMS) or MM (MMS) and 32 hex digits. Anything else did not come
# from Twilio, however it is signed (a leaked token), and would not fit our columns anyway.
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")


def _sid_error(sid: str) -> HttpResponse | None:
    if not MESSAGE_SID.fullmatch(sid):
        return HttpResponseBadRequest("MessageSid is not a Twilio message SID (SM or MM and 32 hex digits).")
    return None


def public_url(request) -> str:
    """The URL Twilio called, as it saw it: PUBLIC_BASE_URL (behind any proxy) + the path."""
    return settings.PUBLIC_BASE_URL + request.get_full_path()


def twilio_signed(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        token = settings.TWILIO_AUTH_TOKEN
        signature = request.headers.get("X-Twilio-Signature", "")
        if not token:
            logger.warning("Twilio webhook refused: TWILIO_AUTH_TOKEN is not set")
            return HttpResponseForbidden("Webhook signature cannot be checked: TWILIO_AUTH_TOKEN is not set.")
        if not signature or not RequestValidator(token).validate(
            public_url(request), request.POST, signature
        ):
            logger.warning(
                "Twilio webhook refused: bad or missing signature for %s from %s",
                request.path,
                request.META.get("REMOTE_ADDR"),
            )
            return HttpResponseForbidden("Invalid X-Twilio-Signature.")
        return view(request, *args, **kwargs)

    return login_not_required(csrf_exempt(require_POST(wrapper)))


def _twiml() -> HttpResponse:
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@twilio_signed
def inbound(request):
    sid = request.POST.get("MessageSid") or request.POST.get("SmsSid")
    sender = request.POST.get("From", "")
    if not sid or not sender:
        return HttpResponseBadRequest("MessageSid and From are required.")
    if bad := _sid_error(sid):
        return bad
    try:
        from_number = parse_phone(sender).e164
    except PhoneParseError:
        # Short codes and alphanumeric senders cannot be texted back; acknowledge and log.
        logger.info("Inbound SMS %s from unparseable sender %r ignored", sid, sender)
        return _twiml()
    try:
        media = inbound_media(request.POST)
    except MediaRefused as refused:
        return HttpResponseBadRequest(refused.message)
    inbound_receive(
        provider_sid=sid,
        from_number=from_number,
        to_number=request.POST.get("To", ""),
        body=request.POST.get("Body", ""),
        media=media,
    )
    return _twiml()


@twilio_signed
def status(request):
    sid = request.POST.get("MessageSid") or request.POST.get("SmsSid")
    message_status = request.POST.get("MessageStatus") or request.POST.get("SmsStatus")
    if not sid or not message_status:
        return HttpResponseBadRequest("MessageSid and MessageStatus are required.")
    if bad := _sid_error(sid):
        return bad
    # Unknown SIDs and repeats are acknowledged: Twilio should stop retrying either way.
    message_status_apply(
        provider_sid=sid, provider_status=message_status, error_code=request.POST.get("ErrorCode", "")
    )
    return _twiml()

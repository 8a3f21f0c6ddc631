"""A received text: stored once, a revocation (``sms.revocation``: STOP in any form, or plain
words) recorded at once, START and HELP handled, other text handed to the inbox
(``sms.inbox.services.inbound_route``) and, when the classifier reads an opt-out that no
revocation rule confirms, held for review (``sms.services.review``: texts to the number are
blocked from then); all of it put on the timeline."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.events import events_publish
from crm import services as crm_services
from crm.models import ActivityKind, Contact, SmsConsent
from sms import keywords
from sms.inbox.intents import classify
from sms.inbox.services import conversation_revocation_record, inbound_route, route_owner
from sms.media import media_store_inbound
from sms.models import (
    ConsentAction,
    ConsentSource,
    Conversation,
    ConversationStatus,
    Direction,
    Intent,
    Message,
    MessageKind,
    MessageStatus,
)
from sms.revocation import KEYWORD, Revocation, revocation_of
from sms.segments import MAX_BODY_CHARS, count_segments
from sms.services.consent import consent_record
from sms.services.review import review_open
from sms.services.sending import OPT_OUT_CONFIRMATION, OPT_OUT_CONFIRMATION_WINDOW, message_send

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundResult:
    message: Message | None
    duplicate: bool = False
    keyword: str | None = None


def _contact_for_number(number: str) -> Contact:
    # get(), not first(): the phone is unique, and an ORDER BY costs Django more to compile than
    # the query costs the database. The account (and owners) are read only when routing needs them.
    try:
        return Contact.objects.get(phone=number)
    except Contact.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return crm_services.contact_create(phone=number)
    except (IntegrityError, ValidationError):
        # A concurrent webhook for the same new number created it first.
        return Contact.objects.get(phone=number)


def inbound_receive(
    *,
    provider_sid: str,
    from_number: str,
    to_number: str,
    body: str,
    received_at: datetime | None = None,
    media: Sequence[tuple[str, str]] = (),
) -> InboundResult:
    """Store an inbound text once (by provider SID), handle carrier keywords, reopen the
    conversation, route it in the inbox and put it on the timeline. Unknown numbers become
    contacts. ``received_at`` (default: now) is when the text arrived; a replayed or imported
    history passes it, and every date the reply sets (SLA, deferral, timeline) follows it."""
    if Message.objects.filter(provider_sid=provider_sid).exists():
        return InboundResult(None, duplicate=True)
    body = (body or "").replace("\x00", "")
    # Twilio caps a text at 1,600 characters; a longer body is not from a phone. Keep that
    # much (classifying and storing a 2 MB body costs everything downstream) and say so.
    truncated = len(body) > MAX_BODY_CHARS
    body = body[:MAX_BODY_CHARS]
    contact = _contact_for_number(from_number)
    now = received_at or timezone.now()
    info = count_segments(body)
    revocation = revocation_of(body)
    keyword = "opt_out" if revocation else _keyword_for(contact, body)
    # Free text is classified before it is stored, so the text is written once with its intent.
    result = None if keyword else classify(body)
    try:
        with transaction.atomic():
            # Serialise replies from one contact so routing decisions never overwrite each other.
            conversation, _ = Conversation.objects.select_for_update().get_or_create(contact=contact)
            message = Message.objects.create(
                contact=contact,
                conversation=conversation,
                direction=Direction.INBOUND,
                kind=MessageKind.INBOUND,
                body=body,
                body_truncated=truncated,
                to_number=(to_number or "")[:64],
                from_number=from_number,
                status=MessageStatus.RECEIVED,
                provider=settings.SMS_PROVIDER,
                provider_sid=provider_sid,
                segments=info.segments,
                encoding=info.encoding,
                status_updated_at=now,
                created_at=now,
                # A revocation is an opt-out the agent sees as one (and may reverse if misread).
                intent=result.intent if result else (Intent.OPT_OUT if revocation else ""),
                intent_confidence=result.confidence if result else (1.0 if revocation else None),
                intent_rule=result.rule if result else None,
            )
            crm_services.contacts_signalled(contact_ids=[contact.pk])  # a reply: journeys may exit
            media_store_inbound(message=message, media=media)  # MMS: (url, content type) each
            conversation.status = ConversationStatus.OPEN
            conversation.last_inbound_at = now
            conversation.last_message = message
            if keyword:
                if revocation is not None:
                    conversation.intent, conversation.intent_confidence = Intent.OPT_OUT, 1.0
                conversation.save()
                _handle_keyword(contact, keyword, message, received_at=received_at, revocation=revocation)
                if revocation is not None:
                    conversation_revocation_record(
                        conversation=conversation, message=message, revocation=revocation
                    )
            else:
                inbound_route(message=message, conversation=conversation, contact=contact, result=result)
                if (
                    result.intent == Intent.OPT_OUT
                    and result.is_confident
                    and contact.sms_consent != SmsConsent.OPTED_OUT
                ):
                    _hold_for_review(contact, conversation, message, result)
            events_publish("message.received", [message], intent=message.intent or keyword or "")
            crm_services.activity_record(
                kind=ActivityKind.SMS_REPLY,
                contact=contact,
                occurred_at=now,
                summary=body[:300],
                data={
                    "message": message.pk,
                    "intent": message.intent or keyword or "",
                    **({"revocation": revocation.as_proof()} if revocation else {}),
                },
            )
    except IntegrityError:
        if Message.objects.filter(provider_sid=provider_sid).exists():
            # The same MessageSid arrived twice at once; the other request stored it.
            return InboundResult(None, duplicate=True)
        raise  # any other conflict is not a duplicate: passing it off as one would lose the text
    return InboundResult(message, keyword=keyword)


def _hold_for_review(contact: Contact, conversation: Conversation, message: Message, result) -> None:
    """The classifier reads an opt-out that no revocation rule reads decisively: hold the reply
    for an agent (texts to the number are blocked from now) and make sure someone owns it."""
    rule = f", rule “{result.rule.description or result.rule.pattern[:60]}”" if result.rule else ""
    review_open(contact=contact, message=message, why=f"reads as an opt-out at {result.confidence:.2f}{rule}")
    if conversation.assignee_id is None:
        conversation.assignee = route_owner(contact)
        conversation.save(update_fields=["assignee", "updated_at"])


def _keyword_for(contact: Contact, body: str) -> str | None:
    keyword = keywords.keyword_of(body)
    if (
        keyword == "opt_in"
        and keywords.single_word(body) in keywords.SOFT_OPT_IN
        and contact.sms_consent != SmsConsent.OPTED_OUT
    ):
        return None  # a plain "yes" answers a question; it re-subscribes only after a STOP
    return keyword


def _handle_keyword(
    contact: Contact,
    keyword: str,
    message: Message,
    *,
    received_at: datetime | None = None,
    revocation: Revocation | None = None,
) -> None:
    """Record consent first; the confirmation is best-effort and can never undo it. A live
    keyword is recorded at the clock's now; a replayed one (``received_at``) when it arrived.
    A revocation is confirmed once, plainly, and only while that can happen within five
    minutes of it (a replay older than that gets no text)."""
    proof = {"message": message.body, "message_sid": message.provider_sid}
    was = Contact.objects.values_list("sms_consent", flat=True).get(pk=contact.pk)
    source = ""
    if keyword == "opt_out":
        in_time = received_at is None or timezone.now() - received_at <= OPT_OUT_CONFIRMATION_WINDOW
        consent_record(
            contact=contact,
            action=ConsentAction.OPT_OUT,
            source=(
                ConsentSource.KEYWORD
                if revocation is None or revocation.kind == KEYWORD
                else ConsentSource.REPLY_WORDS
            ),
            proof={**proof, **(revocation.as_proof() if revocation else {})},
            occurred_at=received_at,
        )
        reply, kind = (
            (settings.SMS_OPT_OUT_REPLY if was != SmsConsent.OPTED_OUT and in_time else ""),
            MessageKind.COMPLIANCE,
        )
        source = OPT_OUT_CONFIRMATION
    elif keyword == "opt_in":
        consent_record(
            contact=contact,
            action=ConsentAction.OPT_IN,
            source=ConsentSource.KEYWORD,
            proof=proof,
            occurred_at=received_at,
        )
        # An ordinary reply: if they text STOP before it goes out, it does not go out.
        reply, kind = (settings.SMS_OPT_IN_REPLY if was != SmsConsent.OPTED_IN else ""), MessageKind.REPLY
    else:
        reply, kind = settings.SMS_HELP_REPLY, MessageKind.COMPLIANCE
    if not reply:
        return
    try:
        with transaction.atomic():
            message_send(
                contact=contact,
                body=reply,
                kind=kind,
                idempotency_key=f"keyword-reply:{message.provider_sid}",
                source=source,
            )
    except Exception:
        logger.exception("Keyword confirmation to %s not sent; the consent change stands", contact.pk)

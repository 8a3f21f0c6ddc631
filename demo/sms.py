"""The SMS part of the demo, on top of the CRM book (``demo.crm``): the consent ledger behind
the demo contacts' states, a few saved replies, and a live inbox of replies of every intent,
some of them past their SLA.

Replies go through the real inbound path (classification, routing, deals and tasks), then are
backdated so the inbox looks like a working day."""

import random
import struct
import zlib
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db.models import Q

from crm.models import Contact, SmsConsent
from sms.inbound import inbound_receive
from sms.inbox.sla import sla_sweep
from sms.media import media_keep
from sms.models import (
    ConsentEvent,
    Conversation,
    Deferral,
    Direction,
    IntentLabel,
    Message,
    MessageKind,
    MessageStatus,
    SavedReply,
)

SID_PREFIX = "SMdemo"
DISCLOSURE = (
    "By entering my number I agree to receive account and product texts. Msg&data rates may apply. "
    "Reply STOP to opt out, HELP for help."
)

# (what we sent, what they answered). Every intent appears; several phrasings each.
EXCHANGES = [
    (
        "Hi {first}, your {account} workspace is ready. Connect your CRM to start syncing contacts.",
        "I can't find where to connect the integration, can you help?",
    ),
    (
        "Hi {first}, quick check-in: how is {account} getting on with campaigns?",
        "the export to csv keeps failing, getting an error",
    ),
    ("Hi {first}, your team used 90% of its seats this month.", "how much would 10 more seats cost?"),
    ("{first}, the Pro plan adds automations and priority support.", "what's the price difference for pro?"),
    (
        "Hi {first}, your renewal is coming up on the 30th.",
        "Can we set up a call next week to go over the renewal?",
    ),
    (
        "Hi {first}, want a 15 min walkthrough of the new reports?",
        "yes, could we do a zoom tomorrow afternoon?",
    ),
    ("Hi {first}, your renewal window opens soon.", "not now, we're slammed. maybe next month"),
    (
        "{first}, we noticed fewer logins lately. Anything we can help with?",
        "reach out after the holidays please",
    ),
    ("Hi {first}, a tip: schedule reports to land Monday morning.", "Thanks, that's great!"),
    ("Hi {first}, your first campaign went out to 1,200 customers.", "awesome, love it 🙌"),
    ("Hi {first}, reminder: your onboarding call is tomorrow.", "please stop texting me"),
    ("Hi {first}, time to reorder? Your last order was 45 days ago.", "who is this?"),
    ("Hi {first}, we added SMS templates to your account.", "ok"),
    ("Hi {first}, your invoice for November is ready.", "the invoice has the wrong billing address, help"),
    ("Hi {first}, seats are almost full at {account}.", "we need to upgrade, can someone send a quote?"),
]

SAVED_REPLIES = [
    (
        "Thanks — on it",
        "Thanks {first_name}! I'm looking into it now and will get back to you shortly. — {agent}",
    ),
    (
        "Book a call",
        "Happy to, {first_name}. Here's my calendar: pick any slot that works for {account}. — {agent}",
    ),
    (
        "Pricing follow-up",
        "Great question, {first_name}. I'll send {account}'s options by email today. — {agent}",
    ),
    ("Deferral ack", "No problem at all, {first_name}. I'll check back then. — {agent}"),
]


def _at(today: date, hours_ago: float) -> datetime:
    # Like the rest of the demo history: before midnight UTC of the reference day.
    return datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(hours=hours_ago)


def seed(*, seed: int, today: date) -> dict[str, int]:
    rng = random.Random(seed * 7919 + 17)
    contacts = list(
        Contact.objects.filter(attributes__demo=True)
        .exclude(phone=None)
        .select_related("account")
        .order_by("id")
    )
    ledger = _consent_ledger(contacts, rng)
    for position, (name, body) in enumerate(SAVED_REPLIES):
        SavedReply.objects.get_or_create(name=name, defaults={"body": body, "position": position})
    opted_in = [c for c in contacts if c.sms_consent == SmsConsent.OPTED_IN and c.account_id]
    chosen = rng.sample(opted_in, min(len(opted_in), len(EXCHANGES) * 3))
    conversations = 0
    for index, contact in enumerate(chosen):
        sent, answer = EXCHANGES[index % len(EXCHANGES)]
        # Spread over the working day: a third very recent, the rest hours or days old.
        hours_ago = rng.choice([0.2, 0.5, 0.8, 1, 2, 3, 4, 5, 6, 8])
        if index % 5 == 0:
            hours_ago = 100 + index  # four days back always spans business hours: overdue
        _exchange(contact, sent, answer, index, _at(today, hours_ago))
        conversations += 1
    taken = {c.pk for c in chosen}
    answered = _answered_history([c for c in opted_in if c.pk not in taken], rng, today)
    # The minute job's work on the overdue replies: breaches on the conversations and the
    # timeline, escalations to the assignees' manager, the notifications. At the reference
    # instant, not the real clock: the same seed and day give the same data.
    breached = sla_sweep(now=_at(today, 0)).breached
    return {"consent_events": ledger, "conversations": conversations + answered, "sla_breaches": breached}


# Replies agents already answered over the past weeks, with how long each answer took: the
# inbox's response times and reply-deadline attainment in analytics come from these.
ANSWERED = [
    ("help", "The export keeps timing out, can someone help?", "On it now: I've re-run it for you."),
    ("meeting", "Could we set up a call next week?", "Sure! Tuesday 10am works, invite sent."),
    ("pricing", "What would 20 more seats cost?", "Here's a quote for 20 seats at your current rate."),
    ("positive", "Thanks, that did the trick!", "Great to hear, thanks for letting me know."),
]
ANSWERED_COUNT = 60


def _answered_history(contacts: list[Contact], rng: random.Random, today: date) -> int:
    conversations = 0
    for index, contact in enumerate(contacts[:ANSWERED_COUNT]):
        intent, question, answer = ANSWERED[index % len(ANSWERED)]
        asked_at = _at(today, rng.uniform(24 * 8, 24 * 60))
        # Most answers come within the hour; some wait for the next morning.
        seconds = int(rng.lognormvariate(7.4, 1.0))
        answered_at = asked_at + timedelta(seconds=seconds)
        deadline_hours = settings.INBOX_SLA_HOURS.get(intent)
        sla_met = None if deadline_hours is None else seconds <= deadline_hours * 3600
        conversation = Conversation.objects.create(
            contact=contact, status="closed", intent=intent, first_response_at=answered_at,
            first_response_seconds=seconds, last_response_seconds=seconds, last_inbound_at=asked_at,
            last_outbound_at=answered_at, resolved_at=answered_at,
        )  # fmt: skip
        inbound = Message(
            contact=contact, conversation=conversation, direction=Direction.INBOUND, kind=MessageKind.INBOUND,
            body=question, to_number="+15005550006", from_number=contact.phone, status=MessageStatus.RECEIVED,
            provider="console", provider_sid=f"{SID_PREFIX}ain{index:05d}", intent=intent,
            intent_confidence=0.9, status_updated_at=asked_at,
        )  # fmt: skip
        reply = Message(
            contact=contact, conversation=conversation, direction=Direction.OUTBOUND, kind=MessageKind.REPLY,
            body=answer, to_number=contact.phone, from_number="+15005550006", status=MessageStatus.DELIVERED,
            provider="console", provider_sid=f"{SID_PREFIX}aout{index:05d}", response_seconds=seconds,
            sla_met=sla_met, sent_at=answered_at, delivered_at=answered_at, status_updated_at=answered_at,
        )  # fmt: skip
        Message.objects.bulk_create([inbound, reply])
        Message.objects.filter(pk=inbound.pk).update(created_at=asked_at)
        Message.objects.filter(pk=reply.pk).update(created_at=answered_at)
        conversations += 1
    return conversations


def _consent_ledger(contacts: list[Contact], rng: random.Random) -> int:
    events = []
    for contact in contacts:
        if contact.sms_consent == SmsConsent.UNKNOWN:
            continue
        signed_up = contact.created_at
        events.append(
            ConsentEvent(
                contact=contact, phone=contact.phone, action="opt_in", source="web_form",
                proof={"disclosure": DISCLOSURE, "url": f"https://{contact.email.split('@')[-1]}/signup"
                       if contact.email else "", "ip": f"198.51.100.{rng.randint(1, 254)}"},
                occurred_at=signed_up,
            )
        )  # fmt: skip
        if contact.sms_consent == SmsConsent.OPTED_OUT:
            events.append(
                ConsentEvent(
                    contact=contact, phone=contact.phone, action="opt_out", source="keyword",
                    proof={"message": "STOP"}, occurred_at=signed_up + timedelta(days=rng.randint(10, 200)),
                )
            )  # fmt: skip
    ConsentEvent.objects.bulk_create(events, batch_size=1000)
    return len(events)


def _exchange(contact: Contact, sent: str, answer: str, index: int, replied_at: datetime) -> None:
    account = contact.account.name if contact.account_id else ""
    asked_at = replied_at - timedelta(hours=2)
    Message.objects.create(
        contact=contact, direction=Direction.OUTBOUND, kind=MessageKind.AUTOMATED,
        body=sent.format(first=contact.first_name or "there", account=account), to_number=contact.phone,
        from_number="+15005550006", status=MessageStatus.DELIVERED, provider="console",
        provider_sid=f"{SID_PREFIX}out{index:05d}", sent_at=asked_at, delivered_at=asked_at,
        status_updated_at=asked_at, next_attempt_at=asked_at, created_at=asked_at,
    )  # fmt: skip
    # Every fourth reply carries a screenshot (MMS), kept in our storage as if fetched from Twilio.
    with_media = index % 4 == 1
    media_url = f"https://api.twilio.com/2010-04-01/Accounts/ACdemo/Messages/MMdemo{index:05d}/Media/ME0"
    result = inbound_receive(
        provider_sid=f"{SID_PREFIX}in{index:05d}",
        from_number=contact.phone,
        to_number="+15005550006",
        body=answer,
        received_at=replied_at,
        media=[(media_url, "image/png")] if with_media else [],
    )
    if with_media:
        media_keep(media=result.message.media.get(), content=_screenshot_png(index))
    # The inbound path dates everything it writes (the reply, the timeline, a deal, a task, a
    # deferral, an SLA) from ``received_at``: nothing to move afterwards.
    # The question we sent belongs to the thread the reply opened.
    Message.objects.filter(provider_sid=f"{SID_PREFIX}out{index:05d}").update(
        conversation=result.message.conversation
    )


def _screenshot_png(index: int, width: int = 160, height: int = 100) -> bytes:
    """A small generated image (a coloured 'screenshot' with a bar), so the demo works offline."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    hue = [(79, 70, 229), (16, 185, 129), (234, 88, 12), (219, 39, 119)][index % 4]
    rows = []
    for y in range(height):
        colour = (255, 255, 255) if 20 <= y < 32 else hue
        rows.append(b"\x00" + bytes(colour) * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def delete() -> int:
    demo = Q(contact__attributes__demo=True)
    deleted = 0
    for queryset in (
        IntentLabel.objects.filter(message__contact__attributes__demo=True),
        Deferral.objects.filter(demo),
        Conversation.objects.filter(demo),
        Message.objects.filter(demo | Q(provider_sid__startswith=SID_PREFIX)),
        ConsentEvent.objects.filter(demo),
    ):
        deleted += queryset.delete()[0]
    return deleted

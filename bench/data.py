"""Synthetic data at a given scale, written with bulk_create. Deterministic for a seed.

Shape (per N contacts): N/5 accounts of 1-9 contacts, one upcoming renewal per account (a
``window_share`` of them ending within the next 60 days, the rest 61-365 days out) plus a
decided past term for half of them; ~70% of contacts opted in (10% opted out, 20% unknown);
and the things governance must look at: deferrals in force, recent email/call/meeting
touches, open late-stage deals, automated texts already sent today, agent replies in open
conversations, plus older history (activities, messages, events) so indexes have volume."""

import random
import time
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import F
from django.utils import timezone

# Real US area codes with their zone, so numbers are valid E.164 and timezones are plausible.
# None is in a state with texting-hour laws (sms/state_rules.py): a run's throughput must not
# depend on the hour it is measured at.
AREAS = [
    ("212", "America/New_York"),
    ("312", "America/Chicago"),
    ("415", "America/Los_Angeles"),
    ("617", "America/New_York"),
    ("713", "America/Chicago"),
    ("206", "America/Los_Angeles"),
    ("303", "America/Denver"),
    ("404", "America/New_York"),
    ("470", "America/New_York"),
    ("602", "America/Phoenix"),
]
PLANS = ["starter", "growth", "business", "enterprise"]
STAGES = ["onboarding", "adopting", "active", "renewal_window", "expansion", "at_risk"]
FIRST = ["Ana", "Ben", "Chloe", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lena"]
LAST = ["Ng", "Okafor", "Patel", "Quinn", "Rossi", "Silva", "Tanaka", "Ueda", "Vance", "Weiss"]
CHUNK = 20_000


def phone_for(index: int) -> tuple[str, str]:
    """A distinct valid US number (E.164) for every index, and the zone of its area code."""
    area, tz = AREAS[index % len(AREAS)]
    rest = index // len(AREAS)
    exchange = 201 + rest // 10_000
    if exchange % 100 == 11:  # N11 codes are not exchanges
        exchange += 1
    return f"+1{area}{exchange:03d}{rest % 10_000:04d}", tz


def _bulk(model, objects, batch_size=2000) -> None:
    for start in range(0, len(objects), CHUNK):
        model.objects.bulk_create(objects[start : start + CHUNK], batch_size=batch_size)


def _ids(model, **filters) -> list[int]:
    return list(model.objects.filter(**filters).order_by("pk").values_list("pk", flat=True))


def generate(contacts: int, *, window_share: float, seed: int = 42) -> dict:
    """Build the data set; returns counts and timings."""
    from crm.models import (
        Account,
        Activity,
        ActivityKind,
        Contact,
        Deal,
        Event,
        PipelineStage,
        Renewal,
        RenewalStatus,
        SmsConsent,
        User,
    )
    from sms.models import Conversation, Deferral, Direction, Message, MessageKind, MessageStatus

    rng = random.Random(seed)
    started = time.perf_counter()
    now = timezone.now()
    today = now.date()

    owners = User.objects.bulk_create(
        [User(username=f"csm{i}", first_name=f"Csm{i}", last_name="Bench", role="agent") for i in range(20)]
    )
    owner_ids = _ids(User)

    # Accounts: contacts per account 1-9 (mean 5) until N contacts are placed.
    sizes = []
    placed = 0
    while placed < contacts:
        size = min(rng.randint(1, 9), contacts - placed)
        sizes.append(size)
        placed += size
    accounts = []
    for i in range(len(sizes)):
        _, tz = AREAS[i % len(AREAS)]
        accounts.append(
            Account(
                name=f"Bench Account {i}",
                domain=f"acct{i}.example.com",
                owner_id=owner_ids[i % len(owner_ids)],
                plan=rng.choice(PLANS),
                seats=rng.randint(5, 200),
                lifecycle_stage=rng.choice(STAGES),
                signed_up_at=now - timedelta(days=rng.randint(30, 900)),
                timezone=tz,
            )
        )
    _bulk(Account, accounts)
    account_ids = _ids(Account)
    del accounts

    # Contacts.
    index = 0
    batch = []
    for account_pos, size in enumerate(sizes):
        for _ in range(size):
            phone, tz = phone_for(index)
            roll = rng.random()
            consent = (
                SmsConsent.OPTED_IN
                if roll < 0.70
                else SmsConsent.OPTED_OUT
                if roll < 0.80
                else SmsConsent.UNKNOWN
            )
            batch.append(
                Contact(
                    account_id=account_ids[account_pos],
                    first_name=FIRST[index % len(FIRST)],
                    last_name=LAST[(index // len(FIRST)) % len(LAST)],
                    email=f"c{index}@acct{account_pos}.example.com",
                    phone_raw=phone,
                    phone=phone,
                    phone_valid=True,
                    timezone=tz if rng.random() < 0.8 else "",  # the rest fall back to the account's
                    owner_id=owner_ids[index % len(owner_ids)],
                    sms_consent=consent,
                )
            )
            index += 1
            if len(batch) >= CHUNK:
                Contact.objects.bulk_create(batch, batch_size=2000)
                batch = []
    if batch:
        Contact.objects.bulk_create(batch, batch_size=2000)
    del batch
    contact_rows = list(Contact.objects.order_by("pk").values_list("pk", "account_id"))

    # Renewals: one upcoming term per account; window_share end within the 60-day window.
    renewals = []
    in_window = 0
    for account_id in account_ids:
        if rng.random() < window_share:
            end = today + timedelta(days=rng.randint(1, 59))
            in_window += 1
        else:
            end = today + timedelta(days=rng.randint(61, 365))
        acv = Decimal(rng.randint(20, 500) * 100)
        renewals.append(
            Renewal(account_id=account_id, start_date=end - timedelta(days=365), end_date=end, acv=acv)
        )
        if rng.random() < 0.5:
            renewals.append(
                Renewal(
                    account_id=account_id,
                    start_date=end - timedelta(days=730),
                    end_date=end - timedelta(days=365),
                    acv=acv,
                    status=RenewalStatus.RENEWED,
                    renewed_acv=acv,
                    decided_at=now - timedelta(days=365),
                )
            )
    _bulk(Renewal, renewals)
    del renewals

    # Governance work.
    late = list(PipelineStage.objects.filter(is_late=True, is_closed=False).values_list("pk", flat=True))
    early = list(PipelineStage.objects.filter(is_late=False, is_closed=False).values_list("pk", flat=True))
    deals = []
    for account_id in account_ids:
        roll = rng.random()
        if roll < 0.03:
            deals.append(
                Deal(name="Expansion", account_id=account_id, stage_id=rng.choice(late), amount=5000)
            )
        elif roll < 0.15:
            deals.append(Deal(name="Upsell", account_id=account_id, stage_id=rng.choice(early), amount=2000))
    _bulk(Deal, deals)

    deferrals, activities, events, messages, conversations = [], [], [], [], []
    touch_kinds = [ActivityKind.EMAIL, ActivityKind.CALL, ActivityKind.MEETING]
    for contact_id, account_id in contact_rows:
        roll = rng.random()
        if roll < 0.02:  # asked us to wait
            deferrals.append(Deferral(contact_id=contact_id, until=now + timedelta(days=rng.randint(1, 30))))
        elif roll < 0.03:  # a deferral that has ended
            deferrals.append(Deferral(contact_id=contact_id, until=now - timedelta(days=rng.randint(1, 30))))
        if rng.random() < 0.015:  # another channel touched them recently
            activities.append(
                Activity(
                    account_id=account_id,
                    contact_id=contact_id,
                    kind=rng.choice(touch_kinds),
                    occurred_at=now - timedelta(hours=rng.randint(1, 70)),
                    summary="Recent touch",
                )
            )
        activities.append(  # older timeline history
            Activity(
                account_id=account_id,
                contact_id=contact_id,
                kind=rng.choice([*touch_kinds, ActivityKind.NOTE]),
                occurred_at=now - timedelta(days=rng.randint(5, 400)),
                summary="History",
            )
        )
        if rng.random() < 0.5:
            events.append(
                Event(
                    account_id=account_id,
                    contact_id=contact_id,
                    name=rng.choice(["login", "report_viewed", "seat_added", "export"]),
                    occurred_at=now - timedelta(days=rng.randint(0, 120)),
                )
            )
        roll = rng.random()
        if roll < 0.05:  # an automated text already went out today (daily cap)
            messages.append(_history(contact_id, now - timedelta(hours=rng.randint(1, 20)), "play:0"))
        elif roll < 0.5:  # older history, outside the caps' week
            messages.append(_history(contact_id, now - timedelta(days=rng.randint(8, 300)), "play:0"))
        if rng.random() < 0.01:  # an agent is talking to them in an open conversation
            conversations.append((contact_id, now - timedelta(hours=rng.randint(1, 40))))
    _bulk(Deferral, deferrals)
    _bulk(Activity, activities)
    _bulk(Event, events)
    _bulk(Message, messages)
    Conversation.objects.bulk_create(
        [Conversation(contact_id=contact_id, status="open") for contact_id, _ in conversations],
        batch_size=2000,
    )
    conversation_of = dict(
        Conversation.objects.filter(contact_id__in=[c for c, _ in conversations]).values_list(
            "contact_id", "pk"
        )
    )
    replies = [
        Message(
            contact_id=contact_id,
            conversation_id=conversation_of[contact_id],
            direction=Direction.OUTBOUND,
            kind=MessageKind.REPLY,
            body="Happy to help - what time works?",
            to_number="+10000000000",
            status=MessageStatus.DELIVERED,
            sent_by_id=rng.choice(owner_ids),
            status_updated_at=at,
        )
        for contact_id, at in conversations
    ]
    _bulk(Message, replies)
    # created_at is auto_now_add: move history to the time it stands for.
    Message.objects.update(created_at=F("status_updated_at"))

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    del owners
    return {
        "contacts": len(contact_rows),
        "accounts": len(account_ids),
        "accounts_in_window": in_window,
        "deferrals": len(deferrals),
        "activities": len(activities),
        "events": len(events),
        "history_messages": len(messages) + len(replies),
        "open_conversations_with_agent_reply": len(conversations),
        "deals": len(deals),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _history(contact_id: int, at, source: str):
    from sms.models import Direction, Message, MessageKind, MessageStatus

    return Message(
        contact_id=contact_id,
        direction=Direction.OUTBOUND,
        kind=MessageKind.AUTOMATED,
        source=source,
        body="Earlier automated text",
        to_number="+10000000000",
        status=MessageStatus.DELIVERED,
        status_updated_at=at,
    )

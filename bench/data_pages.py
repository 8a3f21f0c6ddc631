"""Scenario 5 data: contacts in accounts with the records their pages show, and open SMS
conversations with messages. Built in steps (``grow(to=...)``), so the small baseline data set
and the full one are measured in the same process: the full set is the small one grown.

Shape (N contacts): N/10 accounts (10 contacts each) with an upcoming renewal, a decided past
term, an open deal, an open task and 4 timeline entries each (5 per contact spread over the
account); N/10 open conversations, each with an inbound text, an agent's reply and a newer
inbound text (so 3 messages, the last one linked), an intent, a reply deadline (a fifth already
missed) and an assignee (a third the benchmark user's, a third another agent's, a third
unassigned). Custom fields and tags (issue 20): a contact choice field ``plan_tier`` shown as
a list column, every 50th contact "platinum" and the rest "gold"; every 100th contact tagged
"vip". Written with COPY / executemany (bench.bulkload)."""

import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection

from bench import bulkload
from bench.data import AREAS, FIRST, LAST, PLANS, STAGES, phone_for

INTENTS = ["help", "deferral", "pricing", "meeting", "positive", "other", ""]
CONTACTS_PER_ACCOUNT = 10
CONVERSATION_SHARE = 10  # one open conversation per this many contacts
PLATINUM_EVERY = 50  # every this many contacts is "platinum" (the filtered pages' rare value)
TAGGED_EVERY = 100  # every this many contacts is tagged "vip"


class PagesData:
    """The data set, grown in steps; remembers what it made for the requests to use."""

    def __init__(self, seed: int = 42):
        from crm.models import User

        self.rng = random.Random(seed)
        self.now = datetime.now(UTC)
        self.contacts = 0
        self.account_ids: list[int] = []
        self.conversation_ids: list[int] = []
        self.user = User.objects.create_user(
            username="bench-pages", password=None, first_name="Bench", last_name="Manager", role="manager"
        )
        agents = User.objects.bulk_create(
            [
                User(username=f"pg{i}", first_name=f"Agent{i}", last_name="Bench", role="agent")
                for i in range(10)
            ]
        )
        self.agent_ids = [a.pk for a in agents]
        self.seconds = 0.0
        from crm import services
        from crm.models import Tag

        services.custom_field_save(
            object_type="contact",
            key="plan_tier",
            label="Plan tier",
            field_type="choice",
            choices=[["gold", "Gold"], ["platinum", "Platinum"]],
            show_in_list=True,
        )
        self.tag = Tag.objects.create(name="vip")

    def grow(self, *, to: int) -> dict:
        """Add contacts (with their accounts, records and conversations) until there are ``to``."""
        from crm.models import Account, Activity, Contact, Deal, PipelineStage, Renewal, Task
        from sms.models import Conversation, Message

        started = time.perf_counter()
        rng, now = self.rng, self.now
        first, count = self.contacts, to - self.contacts
        if count <= 0:
            return self.describe()
        n_accounts = max(count // CONTACTS_PER_ACCOUNT, 1)
        top_account = Account.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        bulkload.load(
            Account,
            ["name", "domain", "owner_id", "plan", "seats", "lifecycle_stage", "signed_up_at", "timezone"],
            (
                (
                    f"Pages Account {first // CONTACTS_PER_ACCOUNT + i}",
                    f"pg{first // CONTACTS_PER_ACCOUNT + i}.example.com",
                    rng.choice(self.agent_ids),
                    rng.choice(PLANS),
                    rng.randint(5, 200),
                    rng.choice(STAGES),
                    now - timedelta(days=rng.randint(30, 900)),
                    AREAS[i % len(AREAS)][1],
                )
                for i in range(n_accounts)
            ),
        )
        accounts = list(
            Account.objects.filter(pk__gt=top_account).order_by("pk").values_list("pk", flat=True)
        )
        self.account_ids += accounts

        top_contact = Contact.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

        def contact_rows():
            for offset in range(count):
                index = first + offset
                phone, tz = phone_for(index)
                roll = rng.random()
                yield (
                    accounts[min(offset // CONTACTS_PER_ACCOUNT, len(accounts) - 1)],
                    FIRST[rng.randrange(len(FIRST))],
                    f"{LAST[rng.randrange(len(LAST))]}{index % 997}",
                    f"p{index}@pages.example.com",
                    phone,
                    phone,
                    True,
                    tz,
                    rng.choice(self.agent_ids),
                    "opted_in" if roll < 0.7 else ("opted_out" if roll < 0.8 else "unknown"),
                )

        bulkload.load(
            Contact,
            [
                "account_id",
                "first_name",
                "last_name",
                "email",
                "phone_raw",
                "phone",
                "phone_valid",
                "timezone",
                "owner_id",
                "sms_consent",
            ],
            contact_rows(),
        )
        contacts = list(
            Contact.objects.filter(pk__gt=top_contact).order_by("pk").values_list("pk", "account_id")
        )
        self.contacts = to
        self._custom_fields_and_tags(top_contact, [pk for pk, _ in contacts])

        # What an account page shows.
        today = now.date()
        open_stage = PipelineStage.objects.filter(is_closed=False).values_list("pk", flat=True).first()
        renewals, deals, tasks = [], [], []
        for account_id in accounts:
            end = today + timedelta(days=rng.randint(1, 365))
            acv = Decimal(rng.randint(20, 500) * 100)
            renewals.append((account_id, end - timedelta(days=365), end, acv, "upcoming", None, None))
            renewals.append(
                (account_id, end - timedelta(days=730), end - timedelta(days=365), acv, "renewed", acv, now)
            )
            deals.append(("Expansion", account_id, "expansion", open_stage, Decimal(5000)))
            tasks.append(
                (rng.choice(self.agent_ids), account_id, "Check in", now + timedelta(days=3), "open")
            )
        bulkload.load(
            Renewal,
            ["account_id", "start_date", "end_date", "acv", "status", "renewed_acv", "decided_at"],
            renewals,
        )
        bulkload.load(Deal, ["name", "account_id", "kind", "stage_id", "amount"], deals)
        bulkload.load(Task, ["owner_id", "account_id", "title", "due_at", "status"], tasks)
        bulkload.load(
            Activity,
            ["account_id", "contact_id", "kind", "occurred_at", "summary"],
            (
                (account_id, contact_id, rng.choice(["email", "call", "meeting", "note"]), at, "History")
                for contact_id, account_id in contacts
                if rng.random() < 0.4
                for at in [now - timedelta(days=rng.randint(1, 400))]
            ),
        )

        # Open conversations, with their messages.
        chosen = rng.sample(contacts, max(count // CONVERSATION_SHARE, 1))
        top_conversation = Conversation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        owners = [self.user.pk, *self.agent_ids]
        conversation_rows = []
        for contact_id, _ in chosen:
            inbound = now - timedelta(minutes=rng.randint(5, 60 * 48))
            roll = rng.random()
            assignee = self.user.pk if roll < 1 / 3 else (rng.choice(owners[1:]) if roll < 2 / 3 else None)
            due = (
                inbound + timedelta(hours=4)
                if rng.random() < 0.8
                else now - timedelta(minutes=rng.randint(1, 600))
            )
            conversation_rows.append(
                (contact_id, "open", assignee, rng.choice(INTENTS), due, inbound, inbound, inbound, now, now)
            )
        bulkload.load(
            Conversation,
            [
                "contact_id",
                "status",
                "assignee_id",
                "intent",
                "sla_due_at",
                "awaiting_since",
                "last_inbound_at",
                "last_outbound_at",
                "created_at",
                "updated_at",
            ],
            conversation_rows,
        )
        conversations = list(
            Conversation.objects.filter(pk__gt=top_conversation)
            .order_by("pk")
            .values_list("pk", "contact_id")
        )
        self.conversation_ids += [pk for pk, _ in conversations]
        top_message = Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

        def message_rows():
            for conversation_id, contact_id in conversations:
                base = now - timedelta(hours=rng.randint(1, 72))
                for step, (direction, kind, status, body) in enumerate(
                    [
                        ("inbound", "manual", "received", "Hi, can someone call me about our plan?"),
                        ("outbound", "reply", "delivered", "Sure, what time works for you?"),
                        ("inbound", "manual", "received", "Tomorrow morning please."),
                    ]
                ):
                    at = base + timedelta(minutes=10 * step)
                    yield (contact_id, conversation_id, direction, kind, body, "+10000000000", status, at, at)

        bulkload.load(
            Message,
            [
                "contact_id",
                "conversation_id",
                "direction",
                "kind",
                "body",
                "to_number",
                "status",
                "created_at",
                "status_updated_at",
            ],
            message_rows(),
        )
        # Each conversation's newest message is the one its inbox row shows.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE sms_conversation SET last_message_id = (SELECT MAX(m.id) FROM sms_message m "
                "WHERE m.conversation_id = sms_conversation.id) WHERE id > %s AND EXISTS "
                "(SELECT 1 FROM sms_message m WHERE m.conversation_id = sms_conversation.id AND m.id > %s)",
                [top_conversation, top_message],
            )
        bulkload.analyze()
        self.seconds += time.perf_counter() - started
        return self.describe()

    def _custom_fields_and_tags(self, top_contact: int, ids: list[int]) -> None:
        from core.bulk import in_ids
        from crm.models import Contact, ContactTag

        platinum = ids[::PLATINUM_EVERY]
        Contact.objects.filter(pk__gt=top_contact).update(attributes={"plan_tier": "gold"})
        Contact.objects.filter(in_ids("pk", platinum)).update(attributes={"plan_tier": "platinum"})
        bulkload.load(ContactTag, ["contact_id", "tag_id"], ((pk, self.tag.pk) for pk in ids[::TAGGED_EVERY]))

    def describe(self) -> dict:
        from crm.models import Account, Activity, Contact
        from sms.models import Conversation, Message

        return {
            "contacts": Contact.objects.count(),
            "accounts": Account.objects.count(),
            "open_conversations": Conversation.objects.filter(status="open").count(),
            "messages": Message.objects.count(),
            "activities": Activity.objects.count(),
            "seconds": round(self.seconds, 2),
        }

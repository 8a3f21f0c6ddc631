"""Read queries behind the reply inbox (page and API). Each answers in a constant number of
queries, however many conversations there are."""

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from crm import selectors as crm_selectors
from crm.models import Activity, Contact, Deal, Renewal, RenewalStatus, SmsConsent
from crm.phones import PhoneParseError, parse_phone
from sms.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Conversation,
    ConversationNote,
    ConversationRead,
    ConversationStatus,
    Direction,
    Message,
)

THREAD_LENGTH = 50
CONTEXT_TIMELINE_LENGTH = 10
CONTEXT_DEALS_LENGTH = 10
UNCLASSIFIED = "none"  # the intent filter value for conversations with no intent yet


class QueueView:
    MINE = "mine"
    UNASSIGNED = "unassigned"
    ALL = "all"
    choices = [(MINE, "Mine"), (UNASSIGNED, "Unassigned"), (ALL, "All")]


# The work order: overdue first (the earliest due dates are the breached ones), then by how
# soon the SLA runs out, then the freshest replies. Conversations without an SLA come last
# whatever the database's default NULL ordering.
QUEUE_ORDER = (
    F("sla_due_at").asc(nulls_last=True),
    F("last_inbound_at").desc(nulls_last=True),
    "-id",
)


def with_sla_breached(conversations: QuerySet[Conversation], now: datetime | None = None):
    now = now or timezone.now()
    return conversations.annotate(
        sla_breached=Case(
            When(sla_due_at__lt=now, then=Value(True)), default=Value(False), output_field=BooleanField()
        )
    )


def unread_condition(user) -> Q:
    """Unread for ``user``: a reply came in and they have not read the conversation since (or
    never did). A correlated EXISTS on the (user, conversation) key: no query per row."""
    read_since = ConversationRead.objects.filter(
        user=user, conversation=OuterRef("pk"), read_at__gte=OuterRef("last_inbound_at")
    )
    return Q(last_inbound_at__isnull=False) & ~Exists(read_since)


def with_unread(conversations: QuerySet[Conversation], user) -> QuerySet[Conversation]:
    """Each conversation with ``unread`` for ``user``."""
    return conversations.annotate(
        unread=Case(
            When(unread_condition(user), then=Value(True)), default=Value(False), output_field=BooleanField()
        )
    )


def conversation_search(conversations: QuerySet[Conversation], q: str) -> QuerySet[Conversation]:
    """Contact name, phone (however typed), email, account name, or text of any message."""
    q = q.strip()
    if not q:
        return conversations
    by_contact = Q()
    for term in q.split():
        by_contact &= (
            Q(contact__first_name__icontains=term)
            | Q(contact__last_name__icontains=term)
            | Q(contact__email__icontains=term)
            | Q(contact__phone__icontains=term)
            | Q(contact__phone_raw__icontains=term)
            | Q(contact__account__name__icontains=term)
        )
    # "(212) 200-0001" finds +12122000001 however the number was typed when it was saved.
    with contextlib.suppress(PhoneParseError):
        by_contact |= Q(contact__phone=parse_phone(q, settings.DEFAULT_PHONE_REGION).e164)
    in_messages = Exists(Message.objects.filter(contact_id=OuterRef("contact_id"), body__icontains=q))
    return conversations.filter(by_contact | Q(in_messages))


def _filtered(
    conversations: QuerySet[Conversation],
    *,
    user,
    view: str,
    intent: str,
    status: str,
    q: str,
    unread: bool = False,
    keep_id: int | None = None,
) -> QuerySet[Conversation]:
    if unread:  # the open one stays listed, read now
        conversations = conversations.filter(unread_condition(user) | Q(pk=keep_id))
    if status:
        conversations = conversations.filter(status=status)
    if intent == UNCLASSIFIED:
        conversations = conversations.filter(intent="")
    elif intent:
        conversations = conversations.filter(intent=intent)
    if view == QueueView.MINE:
        conversations = conversations.filter(assignee=user)
    elif view == QueueView.UNASSIGNED:
        conversations = conversations.filter(assignee__isnull=True)
    return conversation_search(conversations, q)


def conversation_queue(
    *,
    user,
    view: str = QueueView.ALL,
    intent: str = "",
    status: str = "",
    q: str = "",
    unread: bool = False,
    selected_id: int | None = None,
) -> QuerySet[Conversation]:
    """The inbox list: filtered, with everything a row shows (``unread`` for ``user``
    included), in work order. Under the Unread filter the open conversation (``selected_id``)
    stays in the list though opening it read it."""
    conversations = with_unread(
        with_sla_breached(
            Conversation.objects.select_related("contact__account", "assignee", "last_message")
        ),
        user,
    )
    conversations = _filtered(
        conversations,
        user=user,
        view=view,
        intent=intent,
        status=status,
        q=q,
        unread=unread,
        keep_id=selected_id,
    )
    return conversations.order_by(*QUEUE_ORDER)


def default_view(user) -> str:
    """Mine when the user has open conversations, else the whole team's."""
    mine = Conversation.objects.filter(assignee=user, status=ConversationStatus.OPEN).exists()
    return QueueView.MINE if mine else QueueView.ALL


def queue_counts(
    *, user, intent: str = "", status: str = "", q: str = "", unread: bool = False
) -> dict[str, int]:
    """How many conversations each of mine / unassigned / all holds under the other filters,
    how many of those are past their SLA and how many ``user`` has not read (one query)."""
    conversations = _filtered(
        Conversation.objects.all(),
        user=user,
        view=QueueView.ALL,
        intent=intent,
        status=status,
        q=q,
        unread=unread,
    )
    return conversations.aggregate(
        mine=Count("id", filter=Q(assignee=user)),
        unassigned=Count("id", filter=Q(assignee__isnull=True)),
        all=Count("id"),
        breached=Count("id", filter=Q(sla_due_at__lt=timezone.now())),
        unread=Count("id", filter=unread_condition(user)),
    )


def conversation_for_inbox(pk: int) -> Conversation | None:
    return (
        with_sla_breached(Conversation.objects.all())
        .select_related("contact__account__owner", "contact__owner", "assignee", "last_message")
        .filter(pk=pk)
        .first()
    )


def conversation_thread(conversation: Conversation, *, limit: int = THREAD_LENGTH) -> list:
    """The latest ``limit`` texts with the contact and the team's private notes, oldest first
    (including texts sent before the conversation existed)."""
    latest = list(
        Message.objects.filter(contact_id=conversation.contact_id)
        .select_related("sent_by")
        .prefetch_related("media")
        .order_by("-created_at", "-id")[:limit]
    )
    notes = list(
        ConversationNote.objects.filter(conversation=conversation)
        .select_related("author")
        .order_by("-created_at", "-id")[:limit]
    )
    merged = sorted([*latest, *notes], key=lambda entry: entry.created_at, reverse=True)[:limit]
    return merged[::-1]


def agents() -> list:
    """Who a conversation can be assigned to."""
    return list(
        get_user_model().objects.filter(is_active=True).order_by("first_name", "last_name", "username")
    )


@dataclass
class ConversationContext:
    """What an agent wants to know about the customer while answering."""

    contact: Contact
    account: object | None
    next_renewal: Renewal | None
    open_deals: list[Deal]
    timeline: list[Activity]
    last_consent: ConsentEvent | None
    last_outbound: Message | None
    # The play whose enrollment sent ``last_outbound``. The plays module does not exist yet:
    # until it does this stays None and the page shows the last outbound's kind and sender.
    sending_play: object | None = None
    deals_more: bool = False

    @property
    def renewal_days(self) -> int | None:
        """Days until the next renewal's term ends (negative: past, still undecided)."""
        if self.next_renewal is None:
            return None
        return (self.next_renewal.end_date - timezone.localdate()).days


def conversation_context(conversation: Conversation) -> ConversationContext:
    contact = conversation.contact
    account = contact.account if contact.account_id else None
    next_renewal, open_deals = None, []
    if account is not None:
        next_renewal = (
            Renewal.objects.filter(account=account, status=RenewalStatus.UPCOMING)
            .order_by("end_date", "id")
            .first()
        )
        open_deals = list(
            Deal.objects.filter(account=account, stage__is_closed=False)
            .select_related("stage")
            .order_by("-amount", "id")[: CONTEXT_DEALS_LENGTH + 1]
        )
    last_outbound = (
        Message.objects.filter(contact=contact, direction=Direction.OUTBOUND)
        .select_related("sent_by")
        .order_by("-created_at", "-id")
        .first()
    )
    return ConversationContext(
        contact=contact,
        account=account,
        next_renewal=next_renewal,
        open_deals=open_deals[:CONTEXT_DEALS_LENGTH],
        deals_more=len(open_deals) > CONTEXT_DEALS_LENGTH,
        timeline=crm_selectors.timeline_for_contact(contact, limit=CONTEXT_TIMELINE_LENGTH),
        last_consent=ConsentEvent.objects.filter(contact=contact).select_related("actor").first(),
        last_outbound=last_outbound,
    )


@dataclass(frozen=True)
class RevocationNotice:
    """Why the contact is opted out, when a reply of theirs was read as a revocation."""

    event: ConsentEvent
    detection: str
    rule: str
    matched: str
    reversible: bool


def conversation_revocation(conversation: Conversation) -> RevocationNotice | None:
    """The revocation in force for the conversation's contact (their latest consent event is
    an opt-out detected in a reply), or None. One query, only for a contact who is opted out."""
    if conversation.contact.sms_consent != SmsConsent.OPTED_OUT:
        return None
    latest = (
        ConsentEvent.objects.filter(contact_id=conversation.contact_id)
        .order_by("-occurred_at", "-id")
        .first()
    )
    if latest is None or latest.action != ConsentAction.OPT_OUT or "detection" not in latest.proof:
        return None
    return RevocationNotice(
        event=latest,
        detection=latest.proof["detection"],
        rule=latest.proof.get("rule", ""),
        matched=latest.proof.get("matched", ""),
        reversible=latest.source == ConsentSource.REPLY_WORDS,
    )


# An SLA is "at risk" when its reply deadline is this close (or already past).
SLA_RISK_WINDOW = timedelta(minutes=30)
HOME_WAITING_LENGTH = 5


@dataclass
class RepliesWaiting:
    """The home page's inbox panel: replies nobody has answered, mine and the team's."""

    mine: int
    team: int
    at_risk_mine: int
    at_risk_team: int
    breached_team: int
    oldest: list[Conversation]  # the team's, in work order


def replies_waiting(*, user, now: datetime | None = None, limit: int = HOME_WAITING_LENGTH) -> RepliesWaiting:
    """Open conversations with an unanswered inbound text. Two queries."""
    now = now or timezone.now()
    waiting = Conversation.objects.filter(status=ConversationStatus.OPEN, awaiting_since__isnull=False)
    at_risk = Q(sla_due_at__lte=now + SLA_RISK_WINDOW)
    counts = waiting.aggregate(
        mine=Count("id", filter=Q(assignee=user)),
        team=Count("id"),
        at_risk_mine=Count("id", filter=at_risk & Q(assignee=user)),
        at_risk_team=Count("id", filter=at_risk),
        breached_team=Count("id", filter=Q(sla_due_at__lt=now)),
    )
    oldest = with_sla_breached(waiting.select_related("contact", "assignee"), now).order_by(*QUEUE_ORDER)
    return RepliesWaiting(**counts, oldest=list(oldest[:limit]))

"""The SMS side of a contact merge (settings.MERGE_HOOKS): one conversation per contact, the
messages, deferrals and links, and the consent ledger. The merged contact is opted out while
the number it keeps is suppressed, whichever side opted in later, else its latest event
decides: a merge never turns an opted-out number into an opted-in one (the suppression of the
number it drops stays with that number)."""

from collections import Counter

from django.utils import timezone

from crm.models import Contact
from sms.models import (
    ConsentEvent,
    Conversation,
    ConversationStatus,
    Deferral,
    Message,
    ShortLink,
)
from sms.services.consent import consent_state_derive


def contacts_merged(*, survivor: Contact, loser: Contact, actor=None) -> dict[str, int]:
    """Called inside the merge's transaction, before ``loser`` is deleted."""
    moved = Counter()
    moved["conversation messages"] = _merge_conversations(survivor, loser)
    moved["messages"] = Message.objects.filter(contact=loser).update(contact=survivor)
    moved["consent events"] = ConsentEvent.objects.filter(contact=loser).update(contact=survivor)
    moved["deferrals"] = Deferral.objects.filter(contact=loser).update(contact=survivor)
    moved["short links"] = ShortLink.objects.filter(contact=loser).update(contact=survivor)
    _rederive_consent(survivor)
    return {label: count for label, count in moved.items() if count}


def _merge_conversations(survivor: Contact, loser: Contact) -> int:
    """The loser's thread becomes the survivor's; if both have one, its messages join the
    survivor's thread, which takes the earliest open work (awaiting, SLA) and latest activity."""
    conversations = {
        c.contact_id: c
        for c in Conversation.objects.select_for_update().filter(contact__in=[survivor.pk, loser.pk])
    }
    theirs, mine = conversations.get(loser.pk), conversations.get(survivor.pk)
    if theirs is None:
        return 0
    if mine is None:
        Conversation.objects.filter(pk=theirs.pk).update(contact=survivor, updated_at=timezone.now())
        return Message.objects.filter(conversation=theirs).count()
    count = Message.objects.filter(conversation=theirs).update(conversation=mine)
    both = [mine, theirs]
    # The intent of the thread the customer wrote in last describes the merged thread.
    if (
        theirs.intent
        and theirs.last_inbound_at is not None
        and (mine.last_inbound_at is None or theirs.last_inbound_at > mine.last_inbound_at)
    ):
        mine.intent, mine.intent_confidence = theirs.intent, theirs.intent_confidence

    def earliest(name):
        values = [getattr(c, name) for c in both if getattr(c, name) is not None]
        return min(values) if values else None

    def latest(name):
        values = [getattr(c, name) for c in both if getattr(c, name) is not None]
        return max(values) if values else None

    mine.awaiting_since = earliest("awaiting_since")
    mine.sla_due_at = earliest("sla_due_at")
    mine.first_response_at = earliest("first_response_at")
    mine.last_inbound_at = latest("last_inbound_at")
    mine.last_outbound_at = latest("last_outbound_at")
    mine.assignee_id = mine.assignee_id or theirs.assignee_id
    if ConversationStatus.OPEN in (mine.status, theirs.status):
        mine.status, mine.snoozed_until, mine.resolved_at = ConversationStatus.OPEN, None, None
    mine.last_message = Message.objects.filter(conversation=mine).order_by("-created_at", "-id").first()
    mine.save()
    theirs.delete()
    return count


def _rederive_consent(contact: Contact) -> None:
    state = consent_state_derive(contact)
    Contact.objects.filter(pk=contact.pk).update(sms_consent=state, updated_at=timezone.now())
    contact.sms_consent = state

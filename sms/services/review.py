"""Replies held for review as a possible revocation (``RevocationReview``): the visible
10-business-day clock of 47 CFR 64.1200(a)(10).

A reply the classifier reads as an opt-out but no revocation rule reads decisively is held: from
the moment it arrives nothing is sent to the number but keyword confirmations and one agent
clarification within five minutes (``sms.services.consent.consent_refusal``). An agent decides:
``confirm_opt_out`` records the opt-out; ``not_revocation`` (with a written reason) lifts the
hold. Two business days before the deadline the owner gets a task; at the deadline an undecided
review is treated as a revocation (when in doubt, do not text) and the owner's manager gets a
task (``reviews_escalate``, a periodic job)."""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import DomainError
from crm import services as crm_services
from crm.models import ActivityKind, Contact, Task, TaskSource
from sms.business_days import add_business_days, subtract_business_days
from sms.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Conversation,
    Message,
    ReviewStatus,
    RevocationReview,
)
from sms.services.consent import consent_record
from sms.services.suppression import suppress

# 47 CFR 64.1200(a)(10): a revocation takes effect within 10 business days.
REVIEW_BUSINESS_DAYS = 10
# The owner is asked to decide when this many business days are left.
REMIND_BUSINESS_DAYS_LEFT = 2
# A reason is a sentence a reviewer can follow, not "ok".
REASON_MIN_WORDS = 4

CONFIRM_OPT_OUT = "confirm_opt_out"
NOT_REVOCATION = "not_revocation"
DECISIONS = (CONFIRM_OPT_OUT, NOT_REVOCATION)


class ReviewError(DomainError):
    """A decision on a review that cannot be taken (already decided, no reason)."""

    code = "review_closed"
    status = 409


def review_deadline(received_at: datetime) -> tuple[datetime, datetime]:
    """(due, remind): 10 US business days after the reply, and 2 business days before that."""
    due = add_business_days(received_at, REVIEW_BUSINESS_DAYS)
    return due, subtract_business_days(due, REMIND_BUSINESS_DAYS_LEFT)


def _timeline(contact: Contact | None, actor, summary: str, *, occurred_at=None, **data) -> None:
    if contact is None:
        return
    crm_services.activity_record(
        kind=ActivityKind.INBOX_ACTION,
        contact=contact,
        actor=actor,
        occurred_at=occurred_at,
        summary=summary,
        data=data,
    )


def review_open(*, contact: Contact, message: Message, why: str) -> RevocationReview | None:
    """Hold ``message`` (a reply from ``contact``) for review; texts to the number are blocked
    from its arrival. A number already under review keeps its first review (and deadline)."""
    if not contact.phone:
        return None
    received_at = message.created_at
    due, remind = review_deadline(received_at)
    try:
        with transaction.atomic():
            review = RevocationReview.objects.create(
                phone=contact.phone,
                contact=contact,
                message=message,
                why=why[:300],
                received_at=received_at,
                due_at=due,
                remind_at=remind,
            )
    except IntegrityError:  # one is pending for the number already (also under a race): keep it
        return RevocationReview.objects.get(phone=contact.phone, status=ReviewStatus.PENDING)
    _timeline(
        contact,
        None,
        f"Held for review as a possible opt-out ({why}): no texts until an agent decides, "
        f"decide by the end of {review.decide_by:%a %b %d, %Y} (US Eastern)",
        occurred_at=received_at,
        action="revocation_review",
        review=review.pk,
        message=message.pk,
    )
    return review


def review_pending_for(phone: str | None) -> RevocationReview | None:
    if not phone:
        return None
    return RevocationReview.objects.filter(phone=phone, status=ReviewStatus.PENDING).first()


def _contact_of(review: RevocationReview) -> Contact | None:
    if review.contact_id is not None:
        return Contact.objects.filter(pk=review.contact_id).first()
    return Contact.objects.filter(phone=review.phone).first()


def _record_opt_out(review: RevocationReview, *, source: str, note: str, actor=None) -> ConsentEvent:
    """The opt-out a review ends in, with the held reply as proof; written for the number even
    when its contact was deleted meanwhile."""
    message = review.message
    proof = {
        "message": message.body if message else "",
        "message_sid": (message.provider_sid if message else "") or "",
        "review": review.pk,
        "note": note,
    }
    contact = _contact_of(review)
    if contact is not None:
        return consent_record(
            contact=contact, action=ConsentAction.OPT_OUT, source=source, proof=proof, actor=actor
        )
    event = ConsentEvent.objects.create(
        contact=None,
        phone=review.phone,
        action=ConsentAction.OPT_OUT,
        source=source,
        proof=proof,
        actor=actor,
    )
    suppress(event)
    return event


@transaction.atomic
def review_decide(*, review: RevocationReview, decision: str, reason: str = "", actor) -> RevocationReview:
    """An agent's decision on a pending review: ``confirm_opt_out`` records the opt-out (source
    agent, the reply as proof); ``not_revocation`` needs a written reason and lifts the hold
    (audited on the review and the timeline). Raises ReviewError."""
    if decision not in DECISIONS:
        raise ReviewError(
            f"Unknown decision {decision!r}: use {' or '.join(DECISIONS)}.", code="bad_decision", status=400
        )
    reason = " ".join((reason or "").split())
    if decision == NOT_REVOCATION and len(reason.split()) < REASON_MIN_WORDS:
        raise ReviewError(
            f"Write why the reply was not a request to stop (a sentence, at least {REASON_MIN_WORDS} words).",
            code="reason_required",
            status=400,
        )
    locked = RevocationReview.objects.select_for_update().get(pk=review.pk)
    if not locked.is_pending:
        raise ReviewError(f"This review was already decided: {locked.get_status_display().lower()}.")
    now = timezone.now()
    locked.resolved_at, locked.resolved_by, locked.resolution_reason = now, actor, reason
    contact = _contact_of(locked)
    if decision == CONFIRM_OPT_OUT:
        locked.status = ReviewStatus.CONFIRMED
        locked.save()
        locked.consent_event = _record_opt_out(
            locked,
            source=ConsentSource.AGENT,
            note=f"An agent confirmed the reply as an opt-out{': ' + reason if reason else ''}",
            actor=actor,
        )
        locked.save(update_fields=["consent_event"])
        summary = "Review: confirmed as an opt-out" + (f": {reason}" if reason else "")
    else:
        locked.status = ReviewStatus.NOT_REVOCATION
        locked.save()
        summary = f"Review: not a revocation: {reason}"
    _timeline(
        contact, actor, summary, action="revocation_review_decided", review=locked.pk, decision=decision
    )
    review.status = locked.status
    return locked


def _owner(review: RevocationReview, conversations: dict[int, Conversation], contacts: dict[int, Contact]):
    """Who decides: the conversation's assignee, else the contact's owner, else the account's."""
    contact = contacts.get(review.contact_id)
    if contact is None:
        return None
    conversation = conversations.get(contact.pk)
    if conversation is not None and conversation.assignee_id:
        return conversation.assignee
    if contact.owner_id:
        return contact.owner
    if contact.account_id and contact.account.owner_id:
        return contact.account.owner
    return None


@dataclass(frozen=True)
class EscalationResult:
    reminded: int
    expired: int


def reviews_escalate(*, now: datetime | None = None) -> EscalationResult:
    """The periodic job: ask the owner to decide reviews with two business days left (a task due
    at the deadline), and treat reviews past their deadline as revocations (an opt-out recorded
    for the number; the owner's manager, else the owner, gets a task). Idempotent."""
    now = now or timezone.now()
    # No reminder after the deadline: those expire below.
    due_reminders = list(
        RevocationReview.objects.filter(
            status=ReviewStatus.PENDING, remind_at__lte=now, reminded_at__isnull=True, due_at__gt=now
        )
    )
    expired = list(RevocationReview.objects.filter(status=ReviewStatus.PENDING, due_at__lte=now))
    reviews = due_reminders + expired
    contact_ids = {r.contact_id for r in reviews if r.contact_id}
    contacts = Contact.objects.select_related("owner__manager", "account__owner__manager").in_bulk(
        contact_ids
    )
    conversations = {
        c.contact_id: c
        for c in Conversation.objects.filter(contact_id__in=contact_ids).select_related("assignee__manager")
    }
    tasks = []
    for review in due_reminders:
        owner = _owner(review, conversations, contacts)
        tasks.append(
            Task(
                owner=owner,
                contact=contacts.get(review.contact_id),
                account_id=getattr(contacts.get(review.contact_id), "account_id", None),
                title=(
                    f"Decide by {review.decide_by:%a %b %d} (US Eastern): "
                    f"is {review.phone}'s reply an opt-out?"
                ),
                notes=(
                    f"Held for review: {review.why}. Undecided at the deadline it is treated as an opt-out."
                ),
                due_at=review.due_at,
                source=TaskSource.REPLY,
            )
        )
    if due_reminders:
        RevocationReview.objects.filter(pk__in=[r.pk for r in due_reminders]).update(reminded_at=now)
    for review in expired:
        with transaction.atomic():
            claimed = RevocationReview.objects.filter(pk=review.pk, status=ReviewStatus.PENDING).update(
                status=ReviewStatus.EXPIRED, resolved_at=now, escalated_at=now
            )
            if not claimed:
                continue  # decided meanwhile
            event = _record_opt_out(
                review,
                # Reversible by an agent with a written reason, like any plain-words revocation.
                source=ConsentSource.REPLY_WORDS,
                note="Not decided within 10 business days: treated as a revocation",
            )
            RevocationReview.objects.filter(pk=review.pk).update(consent_event=event)
        owner = _owner(review, conversations, contacts)
        manager = getattr(owner, "manager", None) if owner is not None else None
        contact = contacts.get(review.contact_id)
        tasks.append(
            Task(
                owner=manager or owner,
                contact=contact,
                account_id=getattr(contact, "account_id", None),
                title=f"Expired undecided: {review.phone}'s reply was treated as an opt-out",
                notes=(
                    f"Held for review ({review.why}) and not decided by "
                    f"{timezone.localtime(review.due_at):%Y-%m-%d %H:%M}"
                    + (f"; it was {owner}'s to decide." if owner else ".")
                    + " If it was not a request to stop, an agent can reverse the opt-out with a reason."
                ),
                due_at=now,
                source=TaskSource.REPLY,
            )
        )
    if tasks:
        crm_services.tasks_create_bulk(tasks=tasks)
    return EscalationResult(reminded=len(due_reminders), expired=len(expired))

"""Consent: the ledger write (``consent_record``) and the one rule of who may be texted
(``consent_refusal``), which the send service, governance and the contact page all use.

Consent belongs to the phone number: an opt-out suppresses the number (``PhoneSuppression``),
which outlives the contact, and any contact that gets the number starts opted out
(``sms.services.suppression``). After a STOP or a carrier unsubscribe only the person can
re-subscribe: a START-family text from the number, or a form they submitted after the STOP.

A reply held for review as a possible revocation blocks the number too (``consent_refusal``
with ``review_since``); ``contact_texting`` is the effective state the contact page and the API
show, read the way the send paths read it."""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from core.errors import DomainError
from core.events import events_publish
from crm import services as crm_services
from crm.models import Activity, ActivityKind, Contact, SmsConsent
from sms.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Direction,
    Message,
    MessageKind,
    ReviewStatus,
    RevocationReview,
)
from sms.providers.twilio.vocabulary import UNSUBSCRIBED_CODE
from sms.services.suppression import (
    CONSENT_CLOCK_SKEW,
    person_only_suppressed,
    phones_suppressed,
    resubscribe_refusal,
    suppress,
    suppression_for_update,
    suppressions_extend,
    with_number_blocks,
)

# While a reply is held for review, the one text allowed besides keyword confirmations: an
# agent's clarification of what the person meant, sent within five minutes of the reply
# (47 CFR 64.1200(a)(12) allows one confirmation or clarification, in that time, no marketing).
REVIEW_CLARIFICATION = "revocation-clarification"
CLARIFICATION_WINDOW = timedelta(minutes=5)

PROOF_KEYS = ("disclosure", "url", "ip", "message", "note", "form", "file")
# A reply is part of the customer's conversation while their last text is this recent.
REPLY_WINDOW = timedelta(hours=24)


class ConsentError(DomainError, ValueError):
    """A consent event the ledger does not take (no proof for an opt-in, a future time, an
    unknown action or source). The API answers it as a bad ``proof`` field."""

    code = "consent_invalid"
    status = 400
    field = "proof"


class ResubscribeRefused(ConsentError):
    """An opt-in for a number whose STOP (or carrier unsubscribe) only the person can undo."""

    code = "consent_person_only"


def _phone_latest_action(phone: str) -> str | None:
    return (
        ConsentEvent.objects.filter(phone=phone)
        .order_by("-occurred_at", "-id")
        .values_list("action", flat=True)
        .first()
    )


def consent_state_derive(contact: Contact) -> str:
    """A contact's consent: opted out while its number is suppressed, else its latest event
    (unchanged when it has none)."""
    if phones_suppressed([contact.phone]):
        return SmsConsent.OPTED_OUT
    latest = (
        ConsentEvent.objects.filter(contact=contact)
        .order_by("-occurred_at", "-id")
        .values_list("action", flat=True)
        .first()
    )
    if latest is None:
        return contact.sms_consent
    return SmsConsent.OPTED_IN if latest == ConsentAction.OPT_IN else SmsConsent.OPTED_OUT


@transaction.atomic
def consent_record(
    *,
    contact: Contact,
    action: str,
    source: str,
    proof: dict | None = None,
    actor=None,
    occurred_at=None,
    reversal: bool = False,
) -> ConsentEvent:
    """Append a consent event and re-derive the contact's state from the ledger.

    An opt-in needs proof (what the person agreed to and how); an opt-out is always honoured
    and suppresses the number. An opt-in for a number whose STOP only the person can undo
    needs a START text (``keyword``) or a form submitted after the STOP (ResubscribeRefused);
    ``reversal``: the opt-in is an agent's audited reversal of a plain-words misread, which may
    lift that revocation (never a keyword's). The contact row is locked so concurrent events
    serialise."""
    if action not in ConsentAction.values:
        raise ConsentError(f"Unknown consent action {action!r}.")
    if source not in ConsentSource.values:
        raise ConsentError(f"Unknown consent source {source!r}.")
    proof = dict(proof or {})
    now = timezone.now()
    if occurred_at is not None and occurred_at > now + CONSENT_CLOCK_SKEW:
        # A future-dated event would outrank every later one, including a STOP.
        raise ConsentError("Consent cannot be recorded for a time in the future.")
    if action == ConsentAction.OPT_IN and not any(proof.get(key) for key in PROOF_KEYS):
        raise ConsentError(
            "An opt-in needs proof: at least one of " + ", ".join(PROOF_KEYS) + " (e.g. the disclosure text)."
        )
    locked = Contact.objects.select_for_update().get(pk=contact.pk)
    phone = locked.phone or ""
    suppression = suppression_for_update(phone) if phone and action == ConsentAction.OPT_IN else None
    # Only an opt-in that would outrank the STOP needs the person's authority; an older one
    # (history from an import) is kept in the ledger and changes nothing.
    outranks = suppression is not None and (occurred_at or now) > suppression.since
    if outranks and (
        reason := resubscribe_refusal(suppression, source=source, proof=proof, now=now, reversal=reversal)
    ):
        raise ResubscribeRefused(reason)
    event = ConsentEvent.objects.create(
        contact=locked,
        phone=phone,
        action=action,
        source=source,
        proof=proof,
        actor=actor,
        occurred_at=occurred_at or now,
    )
    if phone and action == ConsentAction.OPT_OUT and _phone_latest_action(phone) == ConsentAction.OPT_OUT:
        suppress(event)
        # The number is opted out: a reply of theirs held for review needs no decision now.
        RevocationReview.objects.filter(phone=phone, status=ReviewStatus.PENDING).update(
            status=ReviewStatus.SUPERSEDED, resolved_at=now, consent_event=event
        )
    elif suppression is not None and event.occurred_at > suppression.since:
        suppression.delete()
    state = consent_state_derive(locked)
    if locked.sms_consent != state:
        Contact.objects.filter(pk=locked.pk).update(sms_consent=state, updated_at=timezone.now())
    contact.sms_consent = state
    events_publish("consent.changed", [event])
    if action == ConsentAction.OPT_OUT:
        crm_services.contacts_signalled(contact_ids=[locked.pk])
    crm_services.activity_record(
        kind=ActivityKind.SMS_OPT_IN if action == ConsentAction.OPT_IN else ActivityKind.SMS_OPT_OUT,
        contact=locked,
        actor=actor,
        occurred_at=event.occurred_at,
        summary=f"{event.get_action_display()} via {event.get_source_display().lower()}",
        data={"consent_event": event.pk, "source": source},
    )
    return event


def in_reply_window(contact: Contact, now: datetime | None = None) -> bool:
    """True while the customer's last inbound text is recent enough to answer without an
    opt-in (they started the conversation)."""
    now = now or timezone.now()
    return Message.objects.filter(
        contact=contact, direction=Direction.INBOUND, created_at__gte=now - REPLY_WINDOW
    ).exists()


def consent_refusal(
    *,
    consent: str,
    kind: str,
    replying: Callable[[], bool] | None = None,
    suppressed: bool = False,
    review_since: datetime | None = None,
    clarification: bool = False,
    now: datetime | None = None,
) -> str | None:
    """Why consent forbids a text of ``kind`` to a contact whose consent state is ``consent``
    ("consent:opted_out", "consent:under_review", "consent:not_opted_in"), or None when it
    allows it. Keyword confirmations (opt-out, HELP) always go; nothing else goes to a
    ``suppressed`` number (read from ``PhoneSuppression``, so a stale denormalised state cannot
    let a text through); while a reply from the number is held for review (``review_since``:
    when it arrived) nothing else goes either, except an agent's ``clarification`` (a manual
    text or reply) within CLARIFICATION_WINDOW of that reply; any other text needs an opt-in,
    except a reply to a customer who has not opted out and texted recently: ``replying()`` says
    whether they did (asked only then, as it may cost a query)."""
    if kind == MessageKind.COMPLIANCE:
        return None
    if suppressed or consent == SmsConsent.OPTED_OUT:
        return "consent:opted_out"
    if review_since is not None and not (
        clarification
        and kind in (MessageKind.MANUAL, MessageKind.REPLY)
        and (now or timezone.now()) - review_since <= CLARIFICATION_WINDOW
    ):
        return "consent:under_review"
    if consent == SmsConsent.OPTED_IN:
        return None
    if kind == MessageKind.REPLY and replying is not None and replying():
        return None
    return "consent:not_opted_in"


@dataclass(frozen=True)
class TextingState:
    """A contact's effective texting state: the stored consent, the number's suppression and a
    pending review, read together (``with_number_blocks``) and judged by ``consent_refusal``."""

    consent: str
    suppressed: bool
    review_since: datetime | None

    @property
    def effective(self) -> str:
        """``opted_out`` (stored or the number's), ``under_review``, else the stored state."""
        if self.suppressed or self.consent == SmsConsent.OPTED_OUT:
            return SmsConsent.OPTED_OUT
        if self.review_since is not None:
            return "under_review"
        return self.consent

    def refusal(self, kind: str = MessageKind.AUTOMATED, **rule) -> str | None:
        return consent_refusal(
            consent=self.consent,
            kind=kind,
            suppressed=self.suppressed,
            review_since=self.review_since,
            **rule,
        )


def contact_texting(contact: Contact) -> TextingState:
    """The effective texting state of one contact, fresh from the database (one query)."""
    row = (
        with_number_blocks(Contact.objects.filter(pk=contact.pk))
        .values("sms_consent", "suppressed", "review_since")
        .first()
    )
    if row is None:
        return TextingState(contact.sms_consent, False, None)
    return TextingState(row["sms_consent"], row["suppressed"], row["review_since"])


def consent_opt_out_unsubscribed(*, contact: Contact, message: Message) -> None:
    """The provider refused ``message`` because the recipient unsubscribed (Twilio 21610):
    record their opt-out, unless they are opted out already and their number's suppression is
    already one only they can lift (an agent's opt-out is hardened to the carrier's)."""
    opted_out = not Contact.objects.filter(pk=contact.pk).exclude(sms_consent=SmsConsent.OPTED_OUT).exists()
    if not (opted_out and person_only_suppressed(contact.phone)):
        consent_record(
            contact=contact,
            action=ConsentAction.OPT_OUT,
            source=ConsentSource.PROVIDER_ERROR,
            proof={"error_code": UNSUBSCRIBED_CODE, "message": f"message {message.pk}"},
        )


@dataclass(frozen=True)
class BulkOptOutResult:
    recorded: int  # contacts that were not opted out and now are
    already: int  # already opted out: nothing new to record


@transaction.atomic
def consents_opt_out_bulk(*, contact_ids: Collection[int], proof: dict, actor) -> BulkOptOutResult:
    """An agent records that these contacts asked not to be texted (the contact list's bulk
    action): one ledger event each (source ``agent``, with ``proof`` naming who and how), their
    numbers suppressed, the contacts opted out, journeys ended and the timeline written, in a
    constant number of queries. Opt-outs only: an opt-in needs each person's own proof."""
    now = timezone.now()
    # Locked, like consent_record's contact, so concurrent consent events serialise.
    selected = list(
        Contact.objects.select_for_update().filter(pk__in=sorted(set(contact_ids))).order_by("pk")
    )
    contacts = [contact for contact in selected if contact.sms_consent != SmsConsent.OPTED_OUT]
    already = len(selected) - len(contacts)
    if not contacts:
        return BulkOptOutResult(recorded=0, already=already)
    events = ConsentEvent.objects.bulk_create(
        [
            ConsentEvent(
                contact=contact,
                phone=contact.phone or "",
                action=ConsentAction.OPT_OUT,
                source=ConsentSource.AGENT,
                proof=dict(proof),
                actor=actor,
                occurred_at=now,
            )
            for contact in contacts
        ]
    )
    suppressions_extend({event.phone: event for event in events if event.phone}, since=now)
    phones = {event.phone for event in events if event.phone}
    if phones:
        RevocationReview.objects.filter(phone__in=phones, status=ReviewStatus.PENDING).update(
            status=ReviewStatus.SUPERSEDED,
            resolved_at=now,
            consent_event=Subquery(
                ConsentEvent.objects.filter(
                    phone=OuterRef("phone"), occurred_at=now, action=ConsentAction.OPT_OUT
                )
                .order_by("-id")
                .values("pk")[:1]
            ),
        )
    ids = [contact.pk for contact in contacts]
    Contact.objects.filter(pk__in=ids).update(sms_consent=SmsConsent.OPTED_OUT, updated_at=now)
    events_publish("consent.changed", events)
    crm_services.contacts_signalled(contact_ids=ids)
    crm_services.activities_record_bulk(
        [
            Activity(
                kind=ActivityKind.SMS_OPT_OUT,
                contact=contact,
                actor=actor,
                occurred_at=now,
                summary="Opt-out via agent (bulk)",
                data={"consent_event": event.pk, "source": ConsentSource.AGENT},
            )
            for contact, event in zip(contacts, events, strict=True)
        ]
    )
    return BulkOptOutResult(recorded=len(contacts), already=already)

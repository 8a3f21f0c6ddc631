"""Consent: the ledger write (``consent_record``) and the one rule of who may be texted
(``consent_refusal``), which the send service, governance and the contact page all use.

Consent belongs to the phone number: an opt-out suppresses the number (``PhoneSuppression``),
which outlives the contact, and any contact that gets the number starts opted out
(``contacts_numbered``). After a STOP or a carrier unsubscribe only the person can
re-subscribe: a START-family text from the number, or a form they submitted after the STOP."""

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import DomainError
from crm import services as crm_services
from crm.models import ActivityKind, Contact, SmsConsent
from sms.models import (
    PERSON_ONLY_SOURCES,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Direction,
    Message,
    MessageKind,
    PhoneSuppression,
)
from sms.providers.twilio.vocabulary import UNSUBSCRIBED_CODE

PROOF_KEYS = ("disclosure", "url", "ip", "message", "note", "form", "file")
CONSENT_CLOCK_SKEW = timedelta(minutes=5)
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


# What a form submission must carry to re-subscribe a number after its STOP.
FORM_PROOF_KEYS = ("disclosure", "url", "ip", "submitted_at")


def phones_suppressed(phones: Iterable[str | None]) -> set[str]:
    """The numbers among ``phones`` that are suppressed (one query; none for no numbers)."""
    wanted = {phone for phone in phones if phone}
    if not wanted:
        return set()
    return set(PhoneSuppression.objects.filter(phone__in=wanted).values_list("phone", flat=True))


def _submitted_at(proof: dict) -> datetime | None:
    value = proof.get("submitted_at")
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is not None and timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def resubscribe_refusal(
    suppression: PhoneSuppression, *, source: str, proof: dict, now: datetime | None = None
) -> str | None:
    """Why this opt-in may not lift the number's suppression, or None when it may: after a
    STOP or a carrier unsubscribe only a START text (``keyword``) or a form the person
    submitted after it (FORM_PROOF_KEYS) will do; any other opt-out yields to proof."""
    if not suppression.person_only or source == ConsentSource.KEYWORD:
        return None
    now = now or timezone.now()
    how = suppression.get_source_display().lower()
    stopped = f"{suppression.phone} opted out by {how} on {suppression.since:%Y-%m-%d %H:%M} UTC"
    missing = [key for key in FORM_PROOF_KEYS if not proof.get(key)]
    if missing:
        return (
            f"{stopped}: only the person can re-subscribe, by texting START or by a form they submit "
            "after the STOP (proof with disclosure, url, ip and submitted_at; "
            f"missing: {', '.join(missing)}). An agent's note is not enough."
        )
    submitted_at = _submitted_at(proof)
    if submitted_at is None:
        return "proof.submitted_at must be an ISO 8601 date and time (e.g. 2025-05-01T14:03:00Z)."
    if submitted_at <= suppression.since:
        return (
            f"{stopped}: the form was submitted at {submitted_at:%Y-%m-%d %H:%M} UTC, before the STOP; "
            "only a form submitted after it re-subscribes the number."
        )
    if submitted_at > now + CONSENT_CLOCK_SKEW:
        return "proof.submitted_at is in the future."
    return None


def _suppression_for_update(phone: str) -> PhoneSuppression | None:
    return PhoneSuppression.objects.select_for_update().filter(phone=phone).first()


def _suppress(event: ConsentEvent) -> None:
    """The number's latest event is this opt-out (or a later one): keep it suppressed. A
    STOP's person-only source is never weakened by a later opt-out from another source."""
    current = _suppression_for_update(event.phone)
    if current is None:
        try:
            with transaction.atomic():
                PhoneSuppression.objects.create(
                    phone=event.phone, since=event.occurred_at, source=event.source, event=event
                )
            return
        except IntegrityError:  # a concurrent opt-out of the same number inserted it first
            current = _suppression_for_update(event.phone)
    source = current.source
    if event.source in PERSON_ONLY_SOURCES or source not in PERSON_ONLY_SOURCES:
        source = event.source
    if event.occurred_at >= current.since:
        PhoneSuppression.objects.filter(pk=current.pk).update(
            since=event.occurred_at, source=source, event=event
        )
    elif source != current.source:
        PhoneSuppression.objects.filter(pk=current.pk).update(source=source)


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
    if contact.phone and PhoneSuppression.objects.filter(phone=contact.phone).exists():
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


def contacts_numbered(*, contacts: Sequence[Contact]) -> None:
    """settings.CONTACT_NUMBER_HOOKS: these contacts were created with, or moved to, their
    current number. Those whose number is suppressed start opted out (two queries for any
    number of contacts). Leaving a suppressed number never opts anyone in."""
    suppressed = phones_suppressed(contact.phone for contact in contacts)
    stale = [c for c in contacts if c.phone in suppressed and c.sms_consent != SmsConsent.OPTED_OUT]
    if not stale:
        return
    Contact.objects.filter(pk__in=[c.pk for c in stale]).update(
        sms_consent=SmsConsent.OPTED_OUT, updated_at=timezone.now()
    )
    for contact in stale:
        contact.sms_consent = SmsConsent.OPTED_OUT


@transaction.atomic
def consent_record(
    *,
    contact: Contact,
    action: str,
    source: str,
    proof: dict | None = None,
    actor=None,
    occurred_at=None,
) -> ConsentEvent:
    """Append a consent event and re-derive the contact's state from the ledger.

    An opt-in needs proof (what the person agreed to and how); an opt-out is always honoured
    and suppresses the number. An opt-in for a number whose STOP only the person can undo
    needs a START text (``keyword``) or a form submitted after the STOP (ResubscribeRefused).
    The contact row is locked so concurrent events serialise."""
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
    suppression = _suppression_for_update(phone) if phone and action == ConsentAction.OPT_IN else None
    # Only an opt-in that would outrank the STOP needs the person's authority; an older one
    # (history from an import) is kept in the ledger and changes nothing.
    outranks = suppression is not None and (occurred_at or now) > suppression.since
    if outranks and (reason := resubscribe_refusal(suppression, source=source, proof=proof, now=now)):
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
        _suppress(event)
    elif suppression is not None and event.occurred_at > suppression.since:
        suppression.delete()
    state = consent_state_derive(locked)
    if locked.sms_consent != state:
        Contact.objects.filter(pk=locked.pk).update(sms_consent=state, updated_at=timezone.now())
    contact.sms_consent = state
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
    *, consent: str, kind: str, replying: Callable[[], bool] | None = None, suppressed: bool = False
) -> str | None:
    """Why consent forbids a text of ``kind`` to a contact whose consent state is ``consent``
    ("consent:opted_out", "consent:not_opted_in"), or None when it allows it. Keyword
    confirmations (opt-out, HELP) always go; nothing else goes to a ``suppressed`` number
    (read from ``PhoneSuppression``, so a stale denormalised state cannot let a text through);
    any other text needs an opt-in, except a reply to a customer who has not opted out and
    texted recently: ``replying()`` says whether they did (asked only then, as it may cost a
    query)."""
    if kind == MessageKind.COMPLIANCE:
        return None
    if suppressed or consent == SmsConsent.OPTED_OUT:
        return "consent:opted_out"
    if consent == SmsConsent.OPTED_IN:
        return None
    if kind == MessageKind.REPLY and replying is not None and replying():
        return None
    return "consent:not_opted_in"


def consent_opt_out_unsubscribed(*, contact: Contact, message: Message) -> None:
    """The provider refused ``message`` because the recipient unsubscribed (Twilio 21610):
    record their opt-out, unless they are opted out already and their number's suppression is
    already one only they can lift (an agent's opt-out is hardened to the carrier's)."""
    opted_out = not Contact.objects.filter(pk=contact.pk).exclude(sms_consent=SmsConsent.OPTED_OUT).exists()
    hardened = PhoneSuppression.objects.filter(
        phone=contact.phone or "", source__in=PERSON_ONLY_SOURCES
    ).exists()
    if not (opted_out and hardened):
        consent_record(
            contact=contact,
            action=ConsentAction.OPT_OUT,
            source=ConsentSource.PROVIDER_ERROR,
            proof={"error_code": UNSUBSCRIBED_CODE, "message": f"message {message.pk}"},
        )

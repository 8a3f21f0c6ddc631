"""The number's opt-out (``PhoneSuppression``): consent belongs to the phone number, so an
opt-out suppresses the number itself, which outlives the contact (deletion, merge,
renumbering). This module reads and writes suppressions and says who may lift one; the
ledger write that calls it is ``sms.services.consent.consent_record``."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, Exists, OuterRef, QuerySet, Subquery, Value
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.models import Contact, SmsConsent
from sms.models import (
    PERSON_ONLY_SOURCES,
    ConsentEvent,
    ConsentSource,
    PhoneSuppression,
    ReviewStatus,
    RevocationReview,
)

# How far ahead of our clock a consent time may be (the sender's clock may run fast).
CONSENT_CLOCK_SKEW = timedelta(minutes=5)
# What a form submission must carry to re-subscribe a number after its STOP.
FORM_PROOF_KEYS = ("disclosure", "url", "ip", "submitted_at")


def phones_suppressed(phones: Iterable[str | None]) -> set[str]:
    """The numbers among ``phones`` that are suppressed (one query; none for no numbers)."""
    wanted = {phone for phone in phones if phone}
    if not wanted:
        return set()
    return set(PhoneSuppression.objects.filter(phone__in=wanted).values_list("phone", flat=True))


@dataclass(frozen=True)
class NumberBlocks:
    """What blocks texts to some numbers: ``suppressed`` (opted out) and ``under_review`` (the
    arrival time of a reply held for review, by number)."""

    suppressed: frozenset[str]
    under_review: dict[str, datetime]


def numbers_blocked(phones: Iterable[str | None]) -> NumberBlocks:
    """The suppressions and pending reviews of ``phones`` (one query; none for no numbers)."""
    wanted = {phone for phone in phones if phone}
    if not wanted:
        return NumberBlocks(frozenset(), {})
    suppressions = (
        PhoneSuppression.objects.filter(phone__in=wanted)
        .order_by()
        .annotate(review_since=Value(None, output_field=DateTimeField()))
        .values_list("phone", "review_since")
    )
    reviews = (
        RevocationReview.objects.filter(phone__in=wanted, status=ReviewStatus.PENDING)
        .order_by()
        .values_list("phone", "received_at")
    )
    suppressed, under_review = set(), {}
    for phone, since in suppressions.union(reviews, all=True):
        if since is None:
            suppressed.add(phone)
        else:
            under_review[phone] = since
    return NumberBlocks(frozenset(suppressed), under_review)


def with_number_blocks(contacts: QuerySet, field: str = "phone") -> QuerySet:
    """``contacts`` (or any rows with a phone ``field``) annotated with ``suppressed`` (bool) and
    ``review_since`` (the pending review's arrival, or None), in the same query."""
    return contacts.annotate(
        suppressed=Exists(PhoneSuppression.objects.filter(phone=OuterRef(field))),
        review_since=Subquery(
            RevocationReview.objects.filter(phone=OuterRef(field), status=ReviewStatus.PENDING)
            .order_by()
            .values("received_at")[:1]
        ),
    )


def _submitted_at(proof: dict) -> datetime | None:
    value = proof.get("submitted_at")
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is not None and timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def resubscribe_refusal(
    suppression: PhoneSuppression,
    *,
    source: str,
    proof: dict,
    now: datetime | None = None,
    reversal: bool = False,
) -> str | None:
    """Why this opt-in may not lift the number's suppression, or None when it may: after a
    STOP, a revocation in plain words or a carrier unsubscribe only a START text (``keyword``)
    or a form the person submitted after it (FORM_PROOF_KEYS) will do, or (``reversal``) an
    agent's audited reversal of a plain-words misread; any other opt-out yields to proof."""
    if not suppression.person_only or source == ConsentSource.KEYWORD:
        return None
    if reversal and suppression.source == ConsentSource.REPLY_WORDS:
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


def suppression_for_update(phone: str) -> PhoneSuppression | None:
    return PhoneSuppression.objects.select_for_update().filter(phone=phone).first()


def suppress(event: ConsentEvent) -> None:
    """The number's latest event is this opt-out (or a later one): keep it suppressed. A
    STOP's person-only source is never weakened by a later opt-out from another source."""
    current = suppression_for_update(event.phone)
    if current is None:
        try:
            with transaction.atomic():
                PhoneSuppression.objects.create(
                    phone=event.phone, since=event.occurred_at, source=event.source, event=event
                )
            return
        except IntegrityError:  # a concurrent opt-out of the same number inserted it first
            current = suppression_for_update(event.phone)
    source = current.source
    if event.source in PERSON_ONLY_SOURCES or source not in PERSON_ONLY_SOURCES:
        source = event.source
    if event.occurred_at >= current.since:
        PhoneSuppression.objects.filter(pk=current.pk).update(
            since=event.occurred_at, source=source, event=event
        )
    elif source != current.source:
        PhoneSuppression.objects.filter(pk=current.pk).update(source=source)


def person_only_suppressed(phone: str | None) -> bool:
    """Whether ``phone`` is suppressed by a STOP or a carrier unsubscribe."""
    return (
        bool(phone) and PhoneSuppression.objects.filter(phone=phone, source__in=PERSON_ONLY_SOURCES).exists()
    )


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


def suppressions_extend(events_by_phone: dict, *, since) -> None:
    """``suppress`` for many numbers at once (a bulk opt-out at ``since``): each number's
    suppression starts now or is renewed from its event; a STOP's person-only source is kept."""
    if not events_by_phone:
        return
    phones = sorted(events_by_phone)
    PhoneSuppression.objects.bulk_create(
        [
            PhoneSuppression(phone=phone, since=since, source=event.source, event=event)
            for phone, event in events_by_phone.items()
        ],
        ignore_conflicts=True,
    )
    event_of = Subquery(
        ConsentEvent.objects.filter(phone=OuterRef("phone"), occurred_at=since)
        .order_by("-id")
        .values("pk")[:1]
    )
    earlier = PhoneSuppression.objects.filter(phone__in=phones, since__lt=since)
    source = next(iter(events_by_phone.values())).source
    earlier.filter(source__in=PERSON_ONLY_SOURCES).update(since=since, event=event_of)
    earlier.exclude(source__in=PERSON_ONLY_SOURCES).update(since=since, event=event_of, source=source)

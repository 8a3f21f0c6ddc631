"""Tracked links: short URLs on our domain that log a click on the contact's timeline."""

import secrets
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.utils import timezone

from crm import services as crm_services
from crm.models import ActivityKind, Contact
from sms.models import LinkClick, ShortLink

# A repeat click this soon (previews, double taps) is counted but not put on the timeline again.
QUIET_REPEAT = timedelta(minutes=10)


def short_url(code: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/l/{code}"


def validate_target(url: str) -> None:
    parsed = urlparse(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValidationError("A tracked link must point to an http(s) URL.")


def links_create_bulk(*, target_url: str, contacts: Sequence[Contact], source: str) -> dict[int, str]:
    """One tracked link per contact, in one insert. Returns contact id -> short URL."""
    validate_target(target_url)
    links = [
        ShortLink(code=secrets.token_urlsafe(6), target_url=target_url, contact=contact, source=source)
        for contact in contacts
    ]
    ShortLink.objects.bulk_create(links, batch_size=500)
    return {link.contact_id: short_url(link.code) for link in links}


def link_click(*, code: str, user_agent: str = "") -> ShortLink | None:
    """Record a click and return the link to follow (None for an unknown code)."""
    link = ShortLink.objects.select_related("contact").filter(code=code).first()
    if link is None:
        return None
    now = timezone.now()
    LinkClick.objects.create(link=link, user_agent=user_agent[:300])
    ShortLink.objects.filter(pk=link.pk).update(click_count=F("click_count") + 1)
    if link.first_clicked_at is None:
        ShortLink.objects.filter(pk=link.pk, first_clicked_at=None).update(first_clicked_at=now)
    # Of clicks within QUIET_REPEAT of the last one on the timeline, concurrent ones included,
    # the conditional update lets exactly one through.
    on_timeline = (
        ShortLink.objects.filter(pk=link.pk)
        .filter(Q(timeline_clicked_at__isnull=True) | Q(timeline_clicked_at__lte=now - QUIET_REPEAT))
        .update(timeline_clicked_at=now)
    )
    if link.contact is not None and on_timeline:
        crm_services.activity_record(
            kind=ActivityKind.SMS_CLICK,
            contact=link.contact,
            summary=f"Clicked {link.target_url}"[:300],
            data={"link": link.pk, "source": link.source, "url": link.target_url},
        )
    return link

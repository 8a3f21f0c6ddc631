"""The demo's customer value layer (issue 21): some buyers came through a texted offer (a click
on one of our tracked links, up to six days before their first order; only opted-in contacts),
and the nightly CLV job scores every order customer, so the contact pages show tiers and the
analytics page an SMS-converted group from the first visit. Its own random stream: the plays'
story does not move. The CLV job scores every order customer of the book, as it does nightly."""

import random
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Min
from django.utils import timezone

from analytics.clv.tiers import clv_tiers_score
from core import bulk
from crm.models import Contact, Order, SmsConsent
from sms.models import LinkClick, ShortLink

SOURCE = "demo:sms-offer"
OFFER_URL = "https://shop.example.com/offers/welcome"
CONVERTED_SHARE = 0.3  # of the opted-in contacts with a first order in the last year


def _sms_offer_clicks(seed: int, today: date) -> int:
    rng = random.Random(f"{seed}:clv")
    since = datetime.combine(today - timedelta(days=365), time.min, tzinfo=UTC)
    firsts = (
        Order.objects.filter(
            contact__attributes__demo=True,
            contact__sms_consent=SmsConsent.OPTED_IN,
            amount__gte=0,
        )
        .values("contact_id")
        .annotate(first=Min("ordered_at"))
        .filter(first__gte=since)
        .order_by("contact_id")
    )
    links, clicks = [], []
    for row in firsts:
        if rng.random() >= CONVERTED_SHARE:
            continue
        clicked = row["first"] - timedelta(hours=rng.randint(1, 6 * 24))
        code = f"dm{row['contact_id']:x}{rng.randrange(16**4):04x}"[:16]
        sent = clicked - timedelta(hours=rng.randint(1, 20))
        links.append((code, OFFER_URL, row["contact_id"], SOURCE, sent, 1, clicked))
        clicks.append((code, clicked))
    bulk.rows_insert(
        ShortLink,
        ["code", "target_url", "contact_id", "source", "created_at", "click_count", "first_clicked_at"],
        links,
    )
    ids = dict(ShortLink.objects.filter(source=SOURCE).values_list("code", "pk"))
    bulk.rows_insert(LinkClick, ["link_id", "clicked_at"], [(ids[code], at) for code, at in clicks])
    return len(clicks)


def seed(*, seed: int, today: date) -> dict[str, int]:
    clicks = _sms_offer_clicks(seed, today)
    end_of_today = datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC)
    run = clv_tiers_score(now=min(timezone.now(), end_of_today))
    return {"sms_offer_clicks": clicks, "clv_scored": run.scored}


def delete() -> int:
    """The offer links of demo contacts (their clicks go with them)."""
    return ShortLink.objects.filter(
        source=SOURCE, contact__in=Contact.objects.filter(attributes__demo=True)
    ).delete()[0]

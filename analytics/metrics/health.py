"""SMS health, by play and overall: delivery, reply, click and opt-out rates of outbound texts,
the median first response to high-intent replies, and reply-deadline (SLA) attainment."""

from datetime import timedelta

from django.db.models import Count, Exists, OuterRef, Q, Sum

from analytics.metrics.common import rate, ratio
from analytics.scope import Scope
from plays.models import Play
from sms.inbox.services import HIGH_INTENTS
from sms.models import (
    ConsentAction,
    ConsentEvent,
    Conversation,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    ShortLink,
)

REPLY_WINDOW_DAYS = 7
FAILED = (MessageStatus.UNDELIVERED, MessageStatus.FAILED)


def _group_of(source: str) -> str:
    return source if source.startswith("play:") else "manual"


def _texts(scope: Scope):
    texts = Message.objects.filter(
        direction=Direction.OUTBOUND, created_at__gte=scope.start_at, created_at__lt=scope.end_at
    ).exclude(kind=MessageKind.COMPLIANCE)
    return scope.segment(texts, prefix="contact__account__")


def _rates(row: dict) -> dict:
    finished = row["delivered"] + row["failed"]
    return {
        "texts": row["texts"],
        "segments": row["segments"] or 0,
        "delivered": row["delivered"],
        "failed": row["failed"],
        "delivery_rate": rate(ratio(row["delivered"], finished)),
        "replies": row["replied"],
        "reply_rate": rate(ratio(row["replied"], row["texts"])),
        "opt_outs": row["opted_out"],
        "opt_out_rate": rate(ratio(row["opted_out"], row["texts"])),
        "links": row.get("links", 0),
        "links_clicked": row.get("clicked", 0),
        "click_rate": rate(ratio(row.get("clicked", 0), row.get("links", 0))),
    }


def _median_seconds(queryset, field: str) -> tuple[int, int | None]:
    """(count, median) of a column, computed in the database: a count, then the middle row(s)."""
    values = queryset.exclude(**{f"{field}__isnull": True}).order_by(field).values_list(field, flat=True)
    count = values.count()
    if not count:
        return 0, None
    middle = list(values[(count - 1) // 2 : count // 2 + 1])
    return count, round(sum(middle) / len(middle))


def sms_health(scope: Scope, *, opt_out_days: int = REPLY_WINDOW_DAYS) -> dict:
    texts = _texts(scope)
    replied = Message.objects.filter(
        contact=OuterRef("contact"),
        direction=Direction.INBOUND,
        created_at__gt=OuterRef("created_at"),
        created_at__lt=OuterRef("created_at") + timedelta(days=REPLY_WINDOW_DAYS),
    )
    opted_out = ConsentEvent.objects.filter(
        contact=OuterRef("contact"),
        action=ConsentAction.OPT_OUT,
        occurred_at__gte=OuterRef("created_at"),
        occurred_at__lt=OuterRef("created_at") + timedelta(days=opt_out_days),
    )
    rows = (
        texts.values("source")
        .annotate(
            texts=Count("id"),
            segments=Sum("segments"),
            delivered=Count("id", filter=Q(status=MessageStatus.DELIVERED)),
            failed=Count("id", filter=Q(status__in=FAILED)),
            replied=Count("id", filter=Exists(replied)),
            opted_out=Count("id", filter=Exists(opted_out)),
        )
        .order_by()
    )
    links = scope.segment(
        ShortLink.objects.filter(created_at__gte=scope.start_at, created_at__lt=scope.end_at),
        prefix="contact__account__",
    )
    clicks = {
        row["source"]: row
        for row in links.values("source")
        .annotate(links=Count("id"), clicked=Count("id", filter=Q(click_count__gt=0)))
        .order_by()
    }
    counters = ("texts", "segments", "delivered", "failed", "replied", "opted_out")
    groups: dict[str, dict] = {}
    for row in rows:
        group = groups.setdefault(_group_of(row["source"]), dict.fromkeys(counters, 0))
        for name in counters:
            group[name] += row[name] or 0
    for source, row in clicks.items():
        group = groups.setdefault(_group_of(source), dict.fromkeys(counters, 0))
        group["links"] = group.get("links", 0) + row["links"]
        group["clicked"] = group.get("clicked", 0) + row["clicked"]
    overall = {name: sum(g.get(name, 0) for g in groups.values()) for name in (*counters, "links", "clicked")}

    play_ids = [int(key.split(":", 1)[1]) for key in groups if key.startswith("play:") and key[5:].isdigit()]
    names = dict(Play.objects.filter(pk__in=play_ids).values_list("pk", "name"))
    by_play = [
        {"play": pid, "name": names.get(pid, f"Play {pid} (deleted)"), **_rates(groups[f"play:{pid}"])}
        for pid in sorted(play_ids)
    ]

    conversations = scope.segment(Conversation.objects.all(), prefix="contact__account__")
    high = conversations.filter(
        intent__in=HIGH_INTENTS, first_response_at__gte=scope.start_at, first_response_at__lt=scope.end_at
    )
    answered, median = _median_seconds(high, "first_response_seconds")
    replies = scope.segment(
        Message.objects.filter(
            kind=MessageKind.REPLY,
            sla_met__isnull=False,
            created_at__gte=scope.start_at,
            created_at__lt=scope.end_at,
        ),
        prefix="contact__account__",
    ).aggregate(due=Count("id"), met=Count("id", filter=Q(sla_met=True)))
    return {
        "scope": scope.as_dict(),
        "definitions": {
            "texts": "outbound texts created in the period (keyword confirmations excluded)",
            "delivery_rate": "delivered / (delivered + undelivered + failed)",
            "reply_rate": f"texts the contact answered within {REPLY_WINDOW_DAYS} days",
            "opt_out_rate": f"texts followed by an opt-out of the contact within {opt_out_days} days",
            "click_rate": "tracked links created in the period that were clicked at least once",
            "median_first_response_seconds": "first agent response to conversations with a high-intent reply "
            f"({', '.join(HIGH_INTENTS)})",
            "sla_attainment": "replies to conversations with a reply deadline that were sent in time",
        },
        "overall": _rates(overall),
        "manual": _rates(groups["manual"]) if "manual" in groups else None,
        "plays": by_play,
        "inbox": {
            "high_intent_conversations_answered": answered,
            "median_first_response_seconds": median,
            "replies_with_deadline": replies["due"],
            "replies_in_time": replies["met"],
            "sla_attainment": rate(ratio(replies["met"], replies["due"])),
        },
    }

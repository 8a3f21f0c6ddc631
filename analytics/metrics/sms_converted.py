"""SMS-converted customers: contacts whose first purchase came within ``window_days`` after a
click on one of our tracked SMS links, against the other customers acquired in the period, on
revenue (LTV to date), AOV, repeat buying and churn. Two queries: orders grouped by contact and
UTC day, and the clicks of those contacts."""

from bisect import bisect_left
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Max, Min, Sum

from analytics.metrics.common import PURCHASE, REFUND, TruncDateUTC, dec, money, rate, ratio
from analytics.scope import Scope
from crm.models import Order
from sms.models import LinkClick

DEFAULT_WINDOW_DAYS = 7
DEFAULT_CHURN_DAYS = 180
GROUPS = ("sms_converted", "other")

DEFINITIONS = {
    "customer": (
        "a contact whose first purchase (an order of 0 or more; refunds never start a customer) is in the "
        "period; orders without a contact are left out (a click belongs to a contact)"
    ),
    "sms_converted": (
        "a customer with a click on one of our tracked SMS links (sms ShortLink of that contact) at or "
        "before the first purchase and at most window_days before it"
    ),
    "other": "every other customer whose first purchase is in the period",
    "ltv_to_date": (
        "purchase revenue per customer from the first purchase to the period's end; refunds (negative "
        "orders) are left out of revenue, AOV and repeat buying and shown apart, as in analytics/ltv/"
    ),
    "net_ltv_to_date": "(purchase revenue + refunds) per customer",
    "aov": "purchase revenue / purchase orders",
    "repeat_purchase_rate": "share of customers with a purchase on a later UTC day than their first",
    "churn_rate": (
        "among customers whose first purchase is at least churn_days before the period's end: the share "
        "with no purchase in the last churn_days of the period"
    ),
    "statistic": "none: the groups are described, not tested (they are self-selected, not randomised)",
}


def _summary(customers: list[dict], churn_from) -> dict:
    n = len(customers)
    revenue = sum((c["revenue"] for c in customers), Decimal(0))
    refunded = sum((c["refunded"] for c in customers), Decimal(0))
    orders = sum(c["orders"] for c in customers)
    eligible = [c for c in customers if c["first_at"] < churn_from]
    churned = sum(1 for c in eligible if c["last_at"] < churn_from)
    return {
        "customers": n,
        "orders": orders,
        "revenue": money(revenue),
        "refunds": sum(c["refunds"] for c in customers),
        "refunded_amount": money(-refunded),
        "ltv_to_date": money(ratio(revenue, n)),
        "net_ltv_to_date": money(ratio(revenue + refunded, n)),
        "aov": money(ratio(revenue, orders)),
        "repeat_customers": sum(1 for c in customers if c["days"] > 1),
        "repeat_purchase_rate": rate(ratio(sum(1 for c in customers if c["days"] > 1), n)),
        "churn_eligible": len(eligible),
        "churned": churned,
        "churn_rate": rate(ratio(churned, len(eligible))),
    }


def sms_converted(
    scope: Scope, *, window_days: int = DEFAULT_WINDOW_DAYS, churn_days: int = DEFAULT_CHURN_DAYS
) -> dict:
    end = scope.end_at
    customers = _orders_by_contact(scope)
    acquired = {cid: c for cid, c in customers.items() if c["first_at"] >= scope.start_at}
    clicks = defaultdict(list)
    for contact_id, clicked_at in (
        LinkClick.objects.filter(link__contact_id__in=list(acquired), clicked_at__lt=end)
        .values_list("link__contact_id", "clicked_at")
        .order_by("clicked_at")
    ):
        clicks[contact_id].append(clicked_at)
    window = timedelta(days=window_days)
    groups = {name: [] for name in GROUPS}
    for contact_id, customer in acquired.items():
        times = clicks.get(contact_id, [])
        first = customer["first_at"]
        i = bisect_left(times, first - window)
        converted = i < len(times) and times[i] <= first
        groups["sms_converted" if converted else "other"].append(customer)
    churn_from = end - timedelta(days=churn_days)
    summaries = {name: _summary(members, churn_from) for name, members in groups.items()}
    a, b = summaries["sms_converted"], summaries["other"]
    return {
        "scope": scope.as_dict(),
        "definitions": DEFINITIONS,
        "inputs": {
            "window_days": window_days,
            "churn_days": churn_days,
            "first_purchases_from": scope.start.isoformat(),
            "first_purchases_through": scope.end.isoformat(),
            "churn_window_starts": churn_from.isoformat(),
            "customers": len(acquired),
        },
        **summaries,
        "differences": {
            key: money(dec(a[key]) - dec(b[key])) if a[key] is not None and b[key] is not None else None
            for key in ("ltv_to_date", "net_ltv_to_date", "aov")
        }
        | {
            key: rate(a[key] - b[key]) if a[key] is not None and b[key] is not None else None
            for key in ("repeat_purchase_rate", "churn_rate")
        },
    }


def _orders_by_contact(scope: Scope) -> dict[int, dict]:
    """Per contact: first and last purchase, purchase days, orders, revenue and refunds before
    the period's end. One query, grouped in SQL by contact and UTC day."""
    rows = (
        scope.segment(Order.objects.filter(contact__isnull=False, ordered_at__lt=scope.end_at))
        .annotate(day=TruncDateUTC("ordered_at"))
        .values("contact_id", "day")
        .annotate(
            first_at=Min("ordered_at", filter=PURCHASE),
            last_at=Max("ordered_at", filter=PURCHASE),
            orders=Count("id", filter=PURCHASE),
            revenue=Sum("amount", filter=PURCHASE),
            refunds=Count("id", filter=REFUND),
            refunded=Sum("amount", filter=REFUND),
        )
        .order_by()
    )
    customers: dict[int, dict] = {}
    for row in rows:
        c = customers.setdefault(
            row["contact_id"],
            {
                "first_at": None,
                "last_at": None,
                "days": 0,
                "orders": 0,
                "revenue": Decimal(0),
                "refunds": 0,
                "refunded": Decimal(0),
            },
        )
        c["refunds"] += row["refunds"]
        c["refunded"] += dec(row["refunded"])
        if not row["orders"]:
            continue
        c["days"] += 1
        c["orders"] += row["orders"]
        c["revenue"] += dec(row["revenue"])
        c["first_at"] = row["first_at"] if c["first_at"] is None else min(c["first_at"], row["first_at"])
        c["last_at"] = row["last_at"] if c["last_at"] is None else max(c["last_at"], row["last_at"])
    return {cid: c for cid, c in customers.items() if c["first_at"] is not None}

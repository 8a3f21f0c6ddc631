"""Customer lifetime value two ways, each with its inputs, and LTV:CAC by acquisition channel.

Purchase-based: average order value x purchases per customer per year x expected lifespan x
gross margin, from orders in the period. Subscription-based: ARPA x gross margin / annual
churn rate, from contract terms and churn."""

from decimal import Decimal

from django.db.models import Avg, Count, F, Q

from analytics.metrics.common import PURCHASE, REFUND, dec, money, rate, ratio, sum_money
from analytics.scope import Scope
from crm.models import Account, AcquisitionChannel, Order, Renewal

DAYS_PER_YEAR = Decimal("365.25")
# The playbook's bands for LTV:CAC.
HEALTHY, STRONG = Decimal("3"), Decimal("5")


def _years(scope: Scope) -> Decimal:
    return Decimal((scope.end - scope.start).days + 1) / DAYS_PER_YEAR


def cac_band(value: Decimal | None) -> str:
    if value is None:
        return "unknown"
    if value >= STRONG:
        return "strong"
    if value >= HEALTHY:
        return "healthy"
    return "below 3:1" if value >= 1 else "losing money"


def purchase_ltv(scope: Scope, assumptions: dict[str, Decimal]) -> dict:
    orders = scope.segment(Order.objects.filter(ordered_at__gte=scope.start_at, ordered_at__lt=scope.end_at))
    has_margin = PURCHASE & Q(gross_margin__isnull=False)
    totals = orders.aggregate(
        revenue=sum_money("amount", filter=PURCHASE),
        orders=Count("id", filter=PURCHASE),
        contacts=Count("contact", distinct=True, filter=PURCHASE),
        # Orders without a contact belong to their account as the customer.
        accounts=Count("account", distinct=True, filter=PURCHASE & Q(contact__isnull=True)),
        margin_amount=sum_money(F("amount") * F("gross_margin"), filter=has_margin),
        margin_base=sum_money("amount", filter=has_margin),
        refunds=Count("id", filter=REFUND),
        refunded=sum_money("amount", filter=REFUND),
    )
    customers = totals["contacts"] + totals["accounts"]
    years = _years(scope)
    aov = ratio(totals["revenue"], totals["orders"])
    frequency = ratio(ratio(totals["orders"], customers), years) if customers else None
    measured_margin = ratio(totals["margin_amount"], totals["margin_base"])
    margin = measured_margin if measured_margin is not None else assumptions["gross_margin"]
    lifespan = assumptions["expected_lifespan_years"]
    value = aov * frequency * lifespan * margin if aov is not None and frequency is not None else None
    return {
        "formula": "average order value x purchases per customer per year x expected lifespan x gross margin",
        "definition": (
            "Purchases are orders with an amount of 0 or more; refunds (negative amounts) are not "
            "purchases and are left out of revenue, AOV, frequency and customers, and shown apart."
        ),
        "inputs": {
            "revenue": money(totals["revenue"]),
            "orders": totals["orders"],
            "refunds": totals["refunds"],
            "refunded_amount": money(-dec(totals["refunded"])),
            "net_revenue": money(dec(totals["revenue"]) + dec(totals["refunded"])),
            "customers": customers,
            "period_years": rate(years),
            "average_order_value": money(aov),
            "purchases_per_customer_per_year": rate(frequency),
            "expected_lifespan_years": rate(lifespan),
            "gross_margin": rate(margin),
            "gross_margin_source": "orders (amount-weighted)"
            if measured_margin is not None
            else "assumption",
        },
        "ltv": money(value),
    }


def _active_terms(scope: Scope):
    """Terms in force at the end of the period, of accounts not churned by then."""
    terms = Renewal.objects.filter(start_date__lte=scope.end, end_date__gt=scope.end).filter(
        Q(account__churned_at__isnull=True) | Q(account__churned_at__gte=scope.end_at)
    )
    return scope.segment(terms)


def _accounts_at_start(scope: Scope):
    accounts = scope.segment(Account.objects.all(), prefix="")
    return accounts.filter(signed_up_at__lt=scope.start_at).filter(
        Q(churned_at__isnull=True) | Q(churned_at__gte=scope.start_at)
    )


CHURNED_IN_PERIOD = "churned_in_period"


def _churn_filter(scope: Scope) -> Q:
    return Q(churned_at__gte=scope.start_at, churned_at__lt=scope.end_at)


def subscription_ltv(scope: Scope, assumptions: dict[str, Decimal]) -> dict:
    terms = _active_terms(scope).aggregate(arr=sum_money("acv"), accounts=Count("account", distinct=True))
    logos = _accounts_at_start(scope).aggregate(
        active=Count("id"), churned=Count("id", filter=_churn_filter(scope))
    )
    years = _years(scope)
    arpa = ratio(terms["arr"], terms["accounts"])
    period_churn = ratio(logos["churned"], logos["active"])
    annual_churn = period_churn / years if period_churn is not None else None
    margin = assumptions["gross_margin"]
    value, note = None, ""
    if arpa is None:
        note = "No contract terms in force at the end of the period."
    elif not annual_churn:
        note = "No churn in the period: lifetime value is unbounded on this data; widen the period."
    else:
        value = arpa * margin / annual_churn
    return {
        "formula": "ARPA (annual) x gross margin / annual logo churn rate",
        "inputs": {
            "arr_at_period_end": money(terms["arr"]),
            "paying_accounts": terms["accounts"],
            "arpa": money(arpa),
            "accounts_active_at_start": logos["active"],
            "accounts_churned": logos["churned"],
            "annual_churn_rate": rate(annual_churn),
            "gross_margin": rate(margin),
            "gross_margin_source": "assumption",
        },
        "ltv": money(value),
        "note": note,
    }


def ltv_cac_by_channel(
    scope: Scope, assumptions: dict[str, Decimal], overall_churn: Decimal | None
) -> list[dict]:
    """Subscription LTV per acquisition channel over its average CAC. A channel with no churn in
    the period borrows the overall churn rate (and says so)."""
    arr = {
        row["account__acquisition_channel"]: row
        for row in _active_terms(scope)
        .values("account__acquisition_channel")
        .annotate(arr=sum_money("acv"), accounts=Count("account", distinct=True))
        .order_by()
    }
    accounts = scope.segment(Account.objects.all(), prefix="")
    starting = Q(signed_up_at__lt=scope.start_at) & (
        Q(churned_at__isnull=True) | Q(churned_at__gte=scope.start_at)
    )
    logos = {
        row["acquisition_channel"]: row
        for row in accounts.values("acquisition_channel")
        .annotate(
            active=Count("id", filter=starting),
            churned=Count("id", filter=starting & _churn_filter(scope)),
            acquired=Count("id", filter=Q(acquisition_cost__isnull=False)),
            cac=Avg("acquisition_cost", filter=Q(acquisition_cost__isnull=False)),
        )
        .order_by()
    }
    years, margin = _years(scope), assumptions["gross_margin"]
    rows = []
    for channel, label in AcquisitionChannel.choices:
        a, lg = arr.get(channel, {}), logos.get(channel, {})
        arpa = ratio(a.get("arr"), a.get("accounts"))
        churn = ratio(lg.get("churned"), lg.get("active"))
        churn = churn / years if churn else None
        churn_source = "channel"
        if not churn:
            churn, churn_source = overall_churn, "overall (no churn in this channel)"
        ltv = arpa * margin / churn if arpa is not None and churn else None
        cac = None if lg.get("cac") is None else Decimal(lg["cac"])
        ltv_cac = ratio(ltv, cac) if ltv is not None and cac else None
        if not (a or lg):
            continue
        rows.append(
            {
                "channel": channel,
                "label": label,
                "paying_accounts": a.get("accounts", 0),
                "arpa": money(arpa),
                "annual_churn_rate": rate(churn),
                "churn_source": churn_source,
                "ltv": money(ltv),
                "accounts_with_cac": lg.get("acquired", 0),
                "cac": money(cac),
                "ltv_cac": rate(ltv_cac, 2),
                "band": cac_band(ltv_cac),
            }
        )
    return rows


def ltv(scope: Scope, assumptions: dict[str, Decimal]) -> dict:
    subscription = subscription_ltv(scope, assumptions)
    churn = subscription["inputs"]["annual_churn_rate"]
    return {
        "scope": scope.as_dict(),
        "purchase": purchase_ltv(scope, assumptions),
        "subscription": subscription,
        "ltv_cac": ltv_cac_by_channel(scope, assumptions, None if churn is None else dec(str(churn))),
        "bands": {"healthy": "3:1", "strong": "5:1"},
    }

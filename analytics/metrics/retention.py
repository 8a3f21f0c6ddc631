"""Retention over a period: NRR and GRR on the ARR of the customers active at its start
(analytics.metrics.arr), the net renewal rate from renewal decisions and expansion deals, logo
churn, renewal rate by count and by ACV, expansion conversion and the repeat purchase rate."""

from datetime import UTC, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate

from analytics.metrics.arr import arr_retention
from analytics.metrics.common import PURCHASE, dec, money, rate, ratio, sum_money
from analytics.scope import Scope
from crm.models import Account, Contact, Deal, DealKind, Order, Renewal, RenewalStatus

RENEWED = (RenewalStatus.RENEWED, RenewalStatus.EXPANDED, RenewalStatus.DOWNGRADED)
DEFAULT_REPEAT_WINDOW_DAYS = 90


def _terms_up_for_renewal(scope: Scope):
    """Contract terms that ended in the period, of accounts that were customers before it began
    (new customers are excluded from NRR and GRR by definition)."""
    terms = Renewal.objects.filter(
        end_date__gte=scope.start, end_date__lte=scope.end, account__signed_up_at__lt=scope.start_at
    )
    return scope.segment(terms)


def _won_expansion_deals(scope: Scope):
    deals = Deal.objects.filter(
        kind=DealKind.EXPANSION,
        stage__is_won=True,
        closed_at__gte=scope.start_at,
        closed_at__lt=scope.end_at,
        account__signed_up_at__lt=scope.start_at,
    )
    return scope.segment(deals)


def revenue_retention(scope: Scope) -> dict:
    terms = _terms_up_for_renewal(scope)
    totals = terms.aggregate(
        terms=Count("id"),
        decided=Count("id", filter=~Q(status=RenewalStatus.UPCOMING)),
        renewed=Count("id", filter=Q(status__in=RENEWED)),
        churned_terms=Count("id", filter=Q(status=RenewalStatus.CHURNED)),
        starting=sum_money("acv", filter=~Q(status=RenewalStatus.UPCOMING)),
        churn=sum_money("acv", filter=Q(status=RenewalStatus.CHURNED)),
        acv_renewed=sum_money("acv", filter=Q(status__in=RENEWED)),
        contraction=sum_money(F("acv") - F("renewed_acv"), filter=Q(status=RenewalStatus.DOWNGRADED)),
        renewal_expansion=sum_money(F("renewed_acv") - F("acv"), filter=Q(status=RenewalStatus.EXPANDED)),
        undecided_acv=sum_money("acv", filter=Q(status=RenewalStatus.UPCOMING)),
    )
    # Expansion won mid-term. A deal on an account whose renewal in this period already expanded
    # is the same money as that renewal's uplift, so it is not counted twice.
    expanded_at_renewal = terms.filter(status=RenewalStatus.EXPANDED, account=OuterRef("account"))
    deals = _won_expansion_deals(scope).exclude(Exists(expanded_at_renewal))
    deal_totals = deals.aggregate(n=Count("id"), amount=sum_money("amount"))

    starting, churn = dec(totals["starting"]), dec(totals["churn"])
    contraction = dec(totals["contraction"])
    expansion = dec(totals["renewal_expansion"]) + dec(deal_totals["amount"])
    ending = starting + expansion - contraction - churn
    net_renewal = rate(ratio(ending, starting))
    gross_renewal = rate(ratio(starting - contraction - churn, starting))
    return {
        "label": "Net renewal rate (terms up for renewal; not NRR)",
        "definition": (
            "Net renewal rate, not net revenue retention: terms ending in the period of accounts "
            "signed up before it (new customers excluded); undecided terms are left out. Net renewal "
            "rate = (starting ACV + expansion - contraction - churn) / starting ACV; gross renewal rate "
            "leaves out expansion. Expansion = renewal uplift plus expansion deals won mid-term (a deal "
            "on an account whose renewal already expanded is not counted twice). The fields nrr and "
            "grr of this block repeat these two rates for older integrations."
        ),
        "inputs": {
            "terms_ending": totals["terms"],
            "terms_decided": totals["decided"],
            "terms_undecided": totals["terms"] - totals["decided"],
            "undecided_acv": money(totals["undecided_acv"]),
            "starting_acv": money(starting),
            "expansion_at_renewal": money(totals["renewal_expansion"]),
            "expansion_deals": deal_totals["n"],
            "expansion_deals_amount": money(deal_totals["amount"]),
            "expansion": money(expansion),
            "contraction": money(contraction),
            "churn": money(churn),
            "ending_acv": money(ending),
        },
        "net_renewal_rate": net_renewal,
        "gross_renewal_rate": gross_renewal,
        # Kept for integrations that read them (the API contract); they are the renewal rates
        # above. NRR and GRR proper are in the answer's "net_revenue_retention".
        "nrr": net_renewal,
        "grr": gross_renewal,
        "renewal_rate_count": rate(ratio(totals["renewed"], totals["decided"])),
        "renewal_rate_acv": rate(ratio(totals["acv_renewed"], starting)),
        "renewed_terms": totals["renewed"],
        "churned_terms": totals["churned_terms"],
    }


def logo_churn(scope: Scope) -> dict:
    """Accounts that churned in the period over the accounts that were customers when it began;
    and the share of those accounts that expanded (an expanded renewal or a won expansion deal)."""
    accounts = scope.segment(Account.objects.all(), prefix="")
    at_start = accounts.filter(signed_up_at__lt=scope.start_at).filter(
        Q(churned_at__isnull=True) | Q(churned_at__gte=scope.start_at)
    )
    expanded_renewal = Renewal.objects.filter(
        account=OuterRef("pk"),
        status=RenewalStatus.EXPANDED,
        decided_at__gte=scope.start_at,
        decided_at__lt=scope.end_at,
    )
    won_deal = Deal.objects.filter(
        account=OuterRef("pk"),
        kind=DealKind.EXPANSION,
        stage__is_won=True,
        closed_at__gte=scope.start_at,
        closed_at__lt=scope.end_at,
    )
    counts = at_start.aggregate(
        active_at_start=Count("id"),
        churned=Count("id", filter=Q(churned_at__gte=scope.start_at, churned_at__lt=scope.end_at)),
        expanded=Count("id", filter=Q(Exists(expanded_renewal)) | Q(Exists(won_deal))),
    )
    deals = scope.segment(
        Deal.objects.filter(
            kind=DealKind.EXPANSION, closed_at__gte=scope.start_at, closed_at__lt=scope.end_at
        )
    ).aggregate(closed=Count("id"), won=Count("id", filter=Q(stage__is_won=True)))
    return {
        "inputs": {
            "accounts_active_at_start": counts["active_at_start"],
            "accounts_churned": counts["churned"],
            "accounts_expanded": counts["expanded"],
            "expansion_deals_closed": deals["closed"],
            "expansion_deals_won": deals["won"],
        },
        "logo_churn_rate": rate(ratio(counts["churned"], counts["active_at_start"])),
        "expansion_conversion": rate(ratio(counts["expanded"], counts["active_at_start"])),
        "expansion_win_rate": rate(ratio(deals["won"], deals["closed"])),
    }


def repeat_purchase(scope: Scope, *, window_days: int = DEFAULT_REPEAT_WINDOW_DAYS) -> dict:
    """Of the customers whose first purchase fell in the period (early enough for the whole window
    to be inside it), the share who bought again on a later day within ``window_days``. Refunds
    (negative amounts) are neither a first purchase nor a repeat."""
    latest_first = scope.end_at - timedelta(days=window_days)
    purchases = Order.objects.filter(PURCHASE)

    def first_order_of(contact_ref):
        return purchases.filter(contact=contact_ref).order_by("ordered_at").values("ordered_at")[:1]

    customers = scope.segment(Contact.objects.all()).annotate(
        first_at=Subquery(first_order_of(OuterRef("pk")))
    )
    customers = customers.filter(first_at__gte=scope.start_at, first_at__lt=latest_first)
    # The EXISTS computes the customer's first order itself (a nested subquery) instead of
    # referring to the outer annotation, which Django cannot alias inside an aggregate.
    again = (
        purchases.filter(contact=OuterRef("pk"))
        .annotate(
            day=TruncDate("ordered_at", tzinfo=UTC),
            first_at=Subquery(first_order_of(OuterRef(OuterRef("pk")))),
        )
        .annotate(first_day=TruncDate("first_at", tzinfo=UTC))
        .filter(day__gt=F("first_day"), ordered_at__lt=F("first_at") + timedelta(days=window_days))
    )
    counts = customers.aggregate(first_time=Count("id"), repeated=Count("id", filter=Exists(again)))
    return {
        "definition": (
            "Customers (contacts) whose first purchase is in the period and at least window_days before "
            "its end; repeat = a purchase on a later UTC day within window_days of the first. Purchases "
            "are orders of 0 or more; refunds (negative amounts) are left out."
        ),
        "inputs": {
            "window_days": window_days,
            "first_orders_from": scope.start.isoformat(),
            "first_orders_before": latest_first.date().isoformat(),
            "first_time_customers": counts["first_time"],
            "repeat_customers": counts["repeated"],
        },
        "repeat_purchase_rate": rate(ratio(counts["repeated"], counts["first_time"])),
    }


def retention(scope: Scope, *, repeat_window_days: int = DEFAULT_REPEAT_WINDOW_DAYS) -> dict:
    return {
        "scope": scope.as_dict(),
        "net_revenue_retention": arr_retention(scope),
        "revenue_retention": revenue_retention(scope),
        "logos": logo_churn(scope),
        "repeat_purchase": repeat_purchase(scope, window_days=repeat_window_days),
    }

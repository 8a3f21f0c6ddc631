"""ARR from contract terms, its movements by month (new, expansion, contraction, churn,
reactivation) and net/gross revenue retention of the customers active at the period's start.

Definitions follow ChartMogul ("MRR movements") and Baremetrics (NRR, GRR); the exact rules for
turning terms into ARR are in analytics/DEFINITIONS.md. Everything is one query over the terms
and one pass in Python over their values."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import Decimal

from analytics.metrics.common import ZERO, money, rate, ratio
from analytics.scope import Scope
from crm.models import Renewal, RenewalStatus

MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")
SIGN = {"new": 1, "expansion": 1, "contraction": -1, "churn": -1, "reactivation": 1}
RENEWED = (RenewalStatus.RENEWED, RenewalStatus.EXPANDED, RenewalStatus.DOWNGRADED)
MONTHS_PER_YEAR = Decimal(12)
ONE_DAY = timedelta(days=1)
SOURCES = {
    "movements": "ChartMogul, MRR movements: https://help.chartmogul.com/hc/en-us/articles/203299912 and "
    "https://help.chartmogul.com/hc/en-us/articles/4416682609426-Understanding-MRR-movements",
    "nrr_grr": "Baremetrics, NRR vs GRR: https://help.baremetrics.com/en/articles/"
    "9893951-net-revenue-retention-nrr-vs-gross-revenue-retention-grr",
}


@dataclass(frozen=True)
class Segment:
    """ACV in force on the days [start, end) (end None: open-ended)."""

    start: date
    end: date
    acv: Decimal


def _successor_end(term: dict, later_starts: list[date]) -> date:
    """An outcome without a recorded next term runs for one term of the same length, or until the
    account's next recorded term starts, whichever is first."""
    end = term["end_date"] + (term["end_date"] - term["start_date"])
    for start in later_starts:
        if start >= term["end_date"]:
            return min(end, start)
    return end


def account_segments(terms: list[dict], churned_on: date | None) -> tuple[list[Segment], list[date]]:
    """The ARR segments of one account from its terms (sorted by start), and the end dates of its
    undecided terms without a recorded next term (assumed renewed at the same ACV until decided)."""
    starts = sorted(t["start_date"] for t in terms)
    segments, pending = [], []
    for term in terms:
        segments.append(Segment(term["start_date"], term["end_date"], term["acv"]))
        if any(s == term["end_date"] for s in starts):
            continue  # the next term is recorded
        if term["status"] in RENEWED and term["renewed_acv"]:
            acv = term["renewed_acv"]
        elif term["status"] == RenewalStatus.UPCOMING:
            acv = term["acv"]
            pending.append(term["end_date"])
        else:
            continue  # churned (or renewed at 0): ARR stops at the term's end
        segments.append(Segment(term["end_date"], _successor_end(term, starts), acv))
    if churned_on is not None:
        # Churn takes effect on churned_at: what was in force then stops; a later term is a return.
        cut = []
        for seg in segments:
            if seg.start <= churned_on < seg.end:
                seg = Segment(seg.start, churned_on, seg.acv)
            if seg.start < seg.end:
                cut.append(seg)
        segments = cut
    return segments, pending


def _movement(before: Decimal, after: Decimal, was_customer: bool) -> tuple[str, Decimal] | None:
    if after == before:
        return None
    if before == 0:
        return ("reactivation" if was_customer else "new"), after
    if after == 0:
        return "churn", before
    return ("expansion", after - before) if after > before else ("contraction", before - after)


@dataclass
class AccountARR:
    start: Decimal = ZERO  # in force on the day before the period
    end: Decimal = ZERO  # in force on the period's last day


def _terms(scope: Scope):
    terms = Renewal.objects.filter(start_date__lte=scope.end)
    return (
        scope.segment(terms)
        .values("account_id", "start_date", "end_date", "acv", "status", "renewed_acv", "account__churned_at")
        .order_by("account_id", "start_date", "id")
    )


def _month(day: date) -> date:
    return day.replace(day=1)


def _months(scope: Scope) -> list[date]:
    months, month = [], _month(scope.start)
    while month <= scope.end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def arr_ledger(scope: Scope) -> dict:
    """Each account's ARR at the period's start and end, and every movement in the period summed
    by (month, kind). One query; one pass over the terms."""
    by_account: dict[int, list[dict]] = defaultdict(list)
    churned: dict[int, date | None] = {}
    for row in _terms(scope):
        by_account[row["account_id"]].append(row)
        at = row["account__churned_at"]
        churned[row["account_id"]] = None if at is None else at.astimezone(UTC).date()

    before_period = scope.start - ONE_DAY
    moves: dict[date, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(MOVEMENTS, ZERO))
    counts: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(MOVEMENTS, 0))
    accounts: dict[int, AccountARR] = {}
    pending_in_period = 0
    for account_id, terms in by_account.items():
        segments, pending = account_segments(terms, churned[account_id])
        pending_in_period += sum(1 for end in pending if scope.start <= end <= scope.end)
        change: dict[date, Decimal] = defaultdict(Decimal)
        for seg in segments:
            change[seg.start] += seg.acv
            change[seg.end] -= seg.acv
        arr, was_customer, state = ZERO, False, AccountARR()
        for day in sorted(change):
            if day > scope.end:
                break
            before, arr = arr, arr + change[day]
            if day <= before_period:
                state.start = arr
            elif (move := _movement(before, arr, was_customer)) is not None:
                kind, amount = move
                moves[_month(day)][kind] += amount
                counts[_month(day)][kind] += 1
            was_customer = was_customer or arr > 0
        state.end = arr
        accounts[account_id] = state
    return {"accounts": accounts, "moves": moves, "counts": counts, "pending_in_period": pending_in_period}


def retention_of(cohort: list[AccountARR]) -> dict:
    """The inputs, NRR and GRR of a cohort of accounts with ARR at the period's start."""
    start = sum((a.start for a in cohort), ZERO)
    end = sum((a.end for a in cohort), ZERO)
    expansion = sum((a.end - a.start for a in cohort if a.end > a.start), ZERO)
    contraction = sum((a.start - a.end for a in cohort if 0 < a.end < a.start), ZERO)
    churn = sum((a.start for a in cohort if a.end == 0), ZERO)
    return {
        "inputs": {
            "accounts_at_start": len(cohort),
            "accounts_churned": sum(1 for a in cohort if a.end == 0),
            "starting_arr": money(start),
            "expansion": money(expansion),
            "contraction": money(contraction),
            "churn": money(churn),
            "ending_arr": money(end),
        },
        "nrr": rate(ratio(end, start)),
        "grr": rate(ratio(start - contraction - churn, start)),
    }


RETENTION_DEFINITION = (
    "Cohort: accounts with ARR in force on the day before the period starts. NRR = (their "
    "starting ARR + expansion - contraction - churn) / starting ARR = their ARR on the period's "
    "last day / starting ARR. GRR = (starting ARR - contraction - churn) / starting ARR (no "
    "expansion, so at most 100%). Each account's change is netted over the period; mid-term "
    "churn counts; customers new in the period are excluded."
)


def arr_retention(scope: Scope, ledger: dict | None = None) -> dict:
    """NRR and GRR of the customers with ARR at the period's start (new customers excluded)."""
    ledger = ledger or arr_ledger(scope)
    retention = retention_of([a for a in ledger["accounts"].values() if a.start > 0])
    return {
        "label": "Net revenue retention (ARR of customers active at the period start)",
        "definition": RETENTION_DEFINITION,
        "source": SOURCES["nrr_grr"],
        **retention,
        "inputs": {**retention["inputs"], "terms_pending_decision": ledger["pending_in_period"]},
    }


def mrr_movements(scope: Scope) -> dict:
    """ARR movements by calendar month of the period, with MRR = ARR / 12 beside them."""
    ledger = arr_ledger(scope)
    arr = sum((a.start for a in ledger["accounts"].values()), ZERO)
    rows, totals = [], dict.fromkeys(MOVEMENTS, ZERO)
    for month in _months(scope):
        moves, counts = ledger["moves"].get(month), ledger["counts"].get(month)
        moves = moves or dict.fromkeys(MOVEMENTS, ZERO)
        net = sum((moves[kind] * SIGN[kind] for kind in MOVEMENTS), ZERO)
        opening, arr = arr, arr + net
        for kind in MOVEMENTS:
            totals[kind] += moves[kind]
        rows.append(
            {
                "month": month.strftime("%Y-%m"),
                "opening_arr": money(opening),
                **{kind: money(moves[kind]) for kind in MOVEMENTS},
                "accounts": counts or dict.fromkeys(MOVEMENTS, 0),
                "net": money(net),
                "closing_arr": money(arr),
                "closing_mrr": money(arr / MONTHS_PER_YEAR),
            }
        )
    starting = sum((a.start for a in ledger["accounts"].values()), ZERO)
    return {
        "scope": scope.as_dict(),
        "definitions": {
            "arr": "sum of the ACV of the contract terms in force on a day; MRR = ARR / 12",
            "new": "ARR of an account going from 0 to above 0 for the first time",
            "expansion": "increase of an account's ARR that was already above 0",
            "contraction": "decrease of an account's ARR that stays above 0",
            "churn": "ARR of an account going to 0 (at its term's end, or on churned_at mid-term)",
            "reactivation": "ARR of an account that had ARR before going from 0 to above 0 again",
        },
        "source": SOURCES["movements"],
        "inputs": {
            "starting_arr": money(starting),
            "ending_arr": money(arr),
            **{kind: money(totals[kind]) for kind in MOVEMENTS},
            "terms_pending_decision": ledger["pending_in_period"],
        },
        "months": rows,
        "retention": arr_retention(scope, ledger),
    }

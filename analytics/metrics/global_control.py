"""The whole programme against the global control group (``crm.global_control``): contacts that
no automated text reaches, drawn by a stable hash, compared with every other reachable contact.

Population: contacts with a phone number (the ones the programme could text), in the segment.
- Revenue per contact (the LTV the programme can move): each contact's order revenue in the
  period (refunds, negative orders, included: net revenue), programme - global control, with the
  studentised permutation test and the interval that inverts it (``stats.permutation_lift``, the
  revenue lift's method, calibrated by tests/analytics/test_revenue_lift_calibration.py), and
  "not enough data yet" by the same rule.
- Opt-outs: the share of contacts with an opt-out in the period, programme - global control, with
  the Newcombe (1998) interval (``stats.rate_lift``).
- NRR and GRR (``GLOBAL_CONTROL_UNIT=account`` only: accounts are then the randomised unit): the
  standard definitions of ``analytics.metrics.arr`` (ARR of the accounts active at the period's
  start, mid-term churn included) for the accounts drawn into the group and for the rest, and the
  difference, programme - control, with the studentised permutation test over accounts and its
  inverted 95% interval (``analytics.ratio_permutation``, calibrated by
  tests/analytics/test_nrr_calibration.py); below its minimum size "not enough data yet: about N
  more accounts". Drawn per contact, an account's contacts fall on both sides, so NRR is not
  compared and the answer says why.

One query: the contacts with their account, revenue and opt-out flag (the group is the hash of
each id); with the unit ``account`` one more, the ARR terms (``arr_ledger``)."""

from decimal import Decimal

import numpy as np
from django.db.models import DecimalField, Exists, F, Func, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from analytics import ratio_permutation, stats
from analytics.metrics.arr import RETENTION_DEFINITION, SOURCES, arr_ledger, retention_of
from analytics.scope import Scope
from crm import global_control as group
from crm.models import Contact, Order
from sms.models import ConsentAction, ConsentEvent

MONEY = DecimalField(max_digits=20, decimal_places=4)
DEFINITIONS = {
    "global_control": (
        "contacts whose SHA-256(GLOBAL_CONTROL_SALT:contact:<id>) falls in the first "
        "GLOBAL_CONTROL_PERCENT% of basis points: no play texts them, governance refuses automated "
        "texts to them (reason global_control); manual texts are not affected"
    ),
    "programme": "every other contact with a phone number",
    "revenue_per_contact": "order revenue of the contact in the period, refunds netted",
    "opt_out_rate": "share of contacts with an opt-out recorded in the period",
    "method": (
        "revenue: studentised permutation test and its inverted 95% interval (Good 2005; Janssen "
        "1997), as the plays' revenue lift; opt-outs: Newcombe (1998) method 10 interval"
    ),
}
NRR_NOT_COMPARED = (
    "NRR and GRR are not compared: the group is drawn per contact (GLOBAL_CONTROL_UNIT=contact), so "
    "an account's contacts fall on both sides and accounts, whose ARR NRR measures, are not "
    "randomised between the arms. Set GLOBAL_CONTROL_UNIT=account to draw whole accounts."
)
ACCOUNT_DEFINITIONS = {
    "global_control": (
        "accounts whose SHA-256(GLOBAL_CONTROL_SALT:account:<id>) falls in the first "
        "GLOBAL_CONTROL_PERCENT% of basis points, with every contact of theirs (a contact without an "
        "account is drawn by its own id): no play texts them, governance refuses automated texts to "
        "them (reason global_control); manual texts are not affected"
    ),
    "programme": "every other account (and its contacts with a phone number)",
}
RETENTION_DEFINITIONS = {
    "cohort": "accounts with ARR in force on the day before the period starts, split by the account draw",
    "nrr_grr": RETENTION_DEFINITION,
    "difference": "programme - global control, of NRR and of GRR (ratios of sums over each side's accounts)",
    "method": (
        "studentised permutation test over accounts (statistic: the difference over the delta-method "
        "standard error of the two ratio estimators, Cochran 1977 6.4; exact under no effect, Ernst "
        "2004) and the 95% interval that inverts it for a proportional shift (treated ending ARR - d x "
        "starting ARR); calibrated at 40/360, 100/900, 300/2700 accounts in a seeded simulation "
        "(tests/analytics/test_nrr_calibration.py)"
    ),
    "minimum": (
        f"no interval below {ratio_permutation.MIN_EFFECTIVE_ACCOUNTS} effective accounts expected "
        "in the smaller side: Kish's (sum ARR)^2 / sum ARR^2 of all accounts, as a share, times "
        "that side's accounts"
    ),
    "source": SOURCES["nrr_grr"],
}


def global_control(scope: Scope) -> dict:
    share = group.percent()
    by_account = group.unit() == group.ACCOUNT
    result = {
        "scope": scope.as_dict(),
        "enabled": bool(share),
        "percent": share,
        "unit": group.unit(),
        "definitions": {**DEFINITIONS, **(ACCOUNT_DEFINITIONS if by_account else {})},
        "programme_contacts": 0,
        "control_contacts": 0,
        "revenue_per_contact": None,
        "opt_outs": None,
        "retention": {"compared": False, "note": NRR_NOT_COMPARED} if not by_account else None,
    }
    if not share:
        return {
            **result,
            "note": "The global control group is off (GLOBAL_CONTROL_PERCENT is 0): nothing to compare.",
        }
    revenue = (
        Order.objects.filter(
            contact=OuterRef("pk"), ordered_at__gte=scope.start_at, ordered_at__lt=scope.end_at
        )
        .order_by()
        .annotate(total=Func(F("amount"), function="SUM", output_field=MONEY))
        .values("total")[:1]
    )
    opted_out = ConsentEvent.objects.filter(
        contact=OuterRef("pk"),
        action=ConsentAction.OPT_OUT,
        occurred_at__gte=scope.start_at,
        occurred_at__lt=scope.end_at,
    )
    rows = list(
        scope.segment(Contact.objects.exclude(phone=""))
        .annotate(
            revenue=Coalesce(Subquery(revenue, output_field=MONEY), Value(Decimal(0)), output_field=MONEY),
            opted_out=Exists(opted_out),
        )
        .values_list("pk", "account_id", "revenue", "opted_out")
        .order_by("pk")
    )
    members = group.global_control_members((pk, account_id) for pk, account_id, _, _ in rows)
    if by_account:
        result["retention"] = retention_against_control(scope)
    arms = {True: ([], 0), False: ([], 0)}
    for pk, _, amount, out in rows:
        values, outs = arms[pk in members]
        values.append(float(amount))
        arms[pk in members] = (values, outs + bool(out))
    (programme, programme_outs), (control, control_outs) = arms[False], arms[True]
    result.update({"programme_contacts": len(programme), "control_contacts": len(control)})
    if len(control) < 2 or len(programme) < 2:
        return {**result, "note": "Not enough data yet: each group needs at least 2 contacts with a phone."}
    lift = stats.permutation_lift(np.array(programme), np.array(control))
    result["revenue_per_contact"] = _rounded(lift.to_dict())
    rates = stats.rate_lift(programme_outs, len(programme), control_outs, len(control))
    result["opt_outs"] = _rounded(rates.to_dict())
    return result


def retention_against_control(scope: Scope) -> dict:
    """NRR and GRR of the accounts drawn into the global control and of the rest, with the
    difference and its interval once there are enough accounts."""
    cohort = {pk: a for pk, a in arr_ledger(scope)["accounts"].items() if a.start > 0}
    inside = group.global_control_accounts(cohort)
    sides = {
        "programme": [a for pk, a in cohort.items() if pk not in inside],
        "control": [a for pk, a in cohort.items() if pk in inside],
    }
    result = {
        "compared": True,
        "definitions": RETENTION_DEFINITIONS,
        "programme": retention_of(sides["programme"]),
        "control": retention_of(sides["control"]),
        "nrr_difference": None,
        "grr_difference": None,
        "minimum_effective_accounts": ratio_permutation.MIN_EFFECTIVE_ACCOUNTS,
    }
    x_t, y_t, g_t = _arrays(sides["programme"])
    x_c, y_c, g_c = _arrays(sides["control"])
    result["effective_accounts_smaller_side"] = round(
        ratio_permutation.expected_effective_smaller_arm(x_t, x_c), 2
    )
    more = ratio_permutation.more_accounts_needed(x_t, x_c)
    result["enough_data"] = more == 0
    result["more_accounts_needed"] = more
    if more != 0:
        about = "" if more is None else f": about {more:,} more accounts active at the period start"
        return {**result, "note": f"Not enough data yet{about} (at this split and spread of ARR)."}
    nrr, grr = ratio_permutation.ratio_differences(x_t, [y_t, g_t], x_c, [y_c, g_c])
    for key, block in (("nrr_difference", nrr), ("grr_difference", grr)):
        result[key] = None if block is None else _rounded(block.to_dict())
    return result


def _arrays(accounts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Starting ARR, ending ARR and retained ARR (no expansion) of each account."""
    start = np.array([float(a.start) for a in accounts])
    end = np.array([float(a.end) for a in accounts])
    return start, end, np.minimum(start, end)


def _rounded(block: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in block.items()}

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
- NRR is not compared: the group is drawn per contact and an account's contacts fall on both
  sides, so accounts, whose revenue NRR measures, are not randomised.

One query: the contacts with their revenue and opt-out flag; the group is the hash of each id."""

from decimal import Decimal

import numpy as np
from django.db.models import DecimalField, Exists, F, Func, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from analytics import stats
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
    "nrr": (
        "not compared: the group is drawn per contact, so accounts (whose revenue NRR measures) "
        "are not randomised between the arms"
    ),
}


def global_control(scope: Scope) -> dict:
    share = group.percent()
    result = {
        "scope": scope.as_dict(),
        "enabled": bool(share),
        "percent": share,
        "definitions": DEFINITIONS,
        "programme_contacts": 0,
        "control_contacts": 0,
        "revenue_per_contact": None,
        "opt_outs": None,
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
        .values_list("pk", "revenue", "opted_out")
        .order_by("pk")
    )
    members = group.global_control_ids(pk for pk, _, _ in rows)
    arms = {True: ([], 0), False: ([], 0)}
    for pk, amount, out in rows:
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


def _rounded(block: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in block.items()}

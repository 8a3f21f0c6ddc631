"""The value of the programme: each play's incremental value from its primary outcome, minus its
opt-out leakage (incremental opt-outs vs the holdout, valued at the LTV of who opted out), each
with a 95% interval; their sum with its interval; and ROI only over a complete cost base.

Intervals are combined by MOVER (Zou & Donner 2008, "Construction of confidence limits about
effect measures: a general approach", Stat Med 27:1693-1702), the method Newcombe's method 10
applies to two proportions: for a sum of independent estimates e_i with limits (l_i, u_i),
lower = sum e_i - sqrt(sum (e_i - l_i)^2), upper = sum e_i + sqrt(sum (u_i - e_i)^2)."""

import math
from decimal import Decimal

from django.db.models import Avg, Count

from analytics.metrics.common import dec, money, rate, ratio
from analytics.metrics.lift import LEAKAGE_LABEL, plays_lift
from analytics.scope import Scope
from crm.models import Contact, Renewal
from plays.models import Play, PlayStatus

# What a play's primary outcome is worth, per unit of lift: its label, and whether a fall is
# the gain. A milestone carries no money value in the assumptions, so it is not valued.
VALUE_OF = {
    "renewed": ("extra renewals", 1),
    "churned": ("reduced churn", -1),
    "expanded": ("expansion", 1),
    "reordered": ("extra reorders", 1),
    "revenue": ("revenue", 1),
    "milestone": ("milestones reached", 1),
}
ALL_OPT_OUTS_LABEL = "all opt-outs after texts (not incremental)"
DAYS_PER_MONTH = Decimal("30.4375")  # 365.25 / 12


def _average_acv(scope: Scope, assumptions: dict[str, Decimal]) -> tuple[Decimal, str]:
    if assumptions["acv"] > 0:
        return assumptions["acv"], "assumption"
    measured = scope.segment(
        Renewal.objects.filter(end_date__gte=scope.start, end_date__lte=scope.end)
    ).aggregate(acv=Avg("acv"))["acv"]
    return dec(measured), "average ACV of terms ending in the period"


def contact_ltv(ltv_result: dict) -> tuple[Decimal, Decimal]:
    """Expected LTV of one contact: (B2B: the account's subscription LTV over its contacts,
    B2C: the purchase LTV per customer)."""
    subscription = dec(ltv_result["subscription"]["ltv"])
    paying = ltv_result["subscription"]["inputs"]["paying_accounts"]
    contacts = Contact.objects.filter(account__isnull=False).aggregate(
        n=Count("id"), accounts=Count("account", distinct=True)
    )
    per_account = ratio(contacts["n"], contacts["accounts"]) or Decimal(1)
    b2b = subscription / per_account if paying else Decimal(0)
    return b2b, dec(ltv_result["purchase"]["ltv"])


def mover_sum(terms: list[tuple[Decimal, Decimal, Decimal]]) -> tuple[Decimal, Decimal, Decimal]:
    """(estimate, low, high) of a sum of independent estimates given as (estimate, low, high),
    by MOVER (see the module docstring). A difference is the sum with the second term negated
    and its limits swapped."""
    estimate = sum((e for e, _, _ in terms), Decimal(0))
    below = math.sqrt(sum(float(e - low) ** 2 for e, low, _ in terms))
    above = math.sqrt(sum(float(high - e) ** 2 for e, _, high in terms))
    return estimate, estimate - Decimal(str(below)), estimate + Decimal(str(above))


def leakage_value(block: dict, per_contact: tuple[Decimal, Decimal]) -> dict:
    """A play's opt-out leakage in money: its incremental opt-outs (``block``, from lift) and their
    interval, each x the LTV of who opted out: the mean contact LTV of the treatment arm's
    contacts who opted out (B2B contact: the account's subscription LTV over its contacts;
    consumer: purchase LTV), or of the treated contacts when none opted out."""
    b2b_ltv, consumer_ltv = per_contact
    opted_out, treated = block["treatment_opt_outs"], block["treated"]
    if opted_out:
        b2b, n, basis = block["treatment_opt_outs_b2b"], opted_out, "treatment-arm contacts who opted out"
    else:
        b2b, n, basis = block["treated_b2b"], treated, "treated contacts (none opted out)"
    unit = (b2b * b2b_ltv + (n - b2b) * consumer_ltv) / n if n else Decimal(0)

    def worth(count):
        return None if count is None else Decimal(str(count)) * unit

    return {
        "label": LEAKAGE_LABEL,
        "value": worth(block["incremental_opt_outs"]),
        "low": worth(block["incremental_low"]),
        "high": worth(block["incremental_high"]),
        "ltv_per_opted_out_contact": unit,
        "ltv_basis": basis,
        "all_opt_outs_value": worth(opted_out),
    }


def _play_value(lift: dict, acv: Decimal, aov: Decimal | None, values: dict[str, Decimal]) -> dict:
    """Incremental value of a play from its primary outcome: lift x treated x value of one
    outcome, with the lift's 95% interval carried through. No significance cut."""
    outcome = lift["primary_outcome"]
    label, sign = VALUE_OF.get(outcome, (outcome, 1))
    result = lift.get("outcomes", {}).get(outcome)
    empty = {
        "component": label,
        "outcome": outcome,
        "value": None,
        "low": None,
        "high": None,
        "counted": False,
    }
    if lift.get("observational"):
        return {**empty, "note": "No randomised control arm: no incremental value to estimate."}
    if result and result.get("enough_data") is False:
        return {**empty, "note": result["note"]}
    if not result or result.get("absolute_lift") is None or result.get("ci_low") is None:
        return {**empty, "note": "No matured outcomes in both arms yet: no estimate."}
    margin = values["gross_margin"]
    unit = {
        "revenue": margin,  # the lift is already money per contact (its first enrollment)
        "renewed": acv * margin,
        "churned": acv * margin,
        "expanded": acv * values["attach_rate"] * margin,
        "reordered": aov * margin if aov else None,
    }.get(outcome)
    base = {**empty, "lift": result["absolute_lift"], "significant": bool(result.get("significant"))}
    if unit is None:
        reason = (
            "a milestone has no money value in the assumptions"
            if outcome == "milestone"
            else "no average order value measured in the period"
        )
        return {**base, "note": f"Not valued: {reason}."}
    n = lift["inputs"]["treatment"]

    def worth(lift_value):
        return sign * Decimal(str(lift_value)) * n * unit

    low, high = sorted((worth(result["ci_low"]), worth(result["ci_high"])))
    return {
        **base,
        "value": worth(result["absolute_lift"]),
        "low": low,
        "high": high,
        "counted": True,
        "note": "",
    }


def _cost_base(scope: Scope, assumptions: dict[str, Decimal], sms_cost: Decimal) -> dict:
    """SMS segments + the tool's monthly cost + staff hours at the hourly cost, over the period.
    An input at 0 is taken as not entered, so the base is incomplete without it."""
    months = Decimal((scope.end - scope.start).days + 1) / DAYS_PER_MONTH
    tool = assumptions.get("tool_monthly_cost") or Decimal(0)
    hours = assumptions.get("staff_hours_per_month") or Decimal(0)
    hourly = assumptions["cost_per_hour"]
    missing = [
        label
        for label, value in (
            ("the tool's monthly cost", tool),
            ("staff hours per month", hours),
            ("cost per hour", hourly),
            ("price per SMS segment", assumptions["price_per_segment"]),
        )
        if not value
    ]
    tool_cost, staff_cost = tool * months, hours * months * hourly
    return {
        "months": rate(months),
        "sms_cost": money(sms_cost),
        "tool_cost": money(tool_cost),
        "staff_cost": money(staff_cost),
        "total": money(sms_cost + tool_cost + staff_cost),
        "complete": not missing,
        "missing": missing,
        "_total": sms_cost + tool_cost + staff_cost,
    }


def _money_or_none(value):
    return None if value is None else money(value)


def _interval(name: str, estimate, low, high, *, limits: str = "") -> dict:
    """``name``, ``<limits>_low``, ``<limits>_high`` (limits defaults to name) as money."""
    limits = limits or name
    return {
        name: _money_or_none(estimate),
        f"{limits}_low": _money_or_none(low),
        f"{limits}_high": _money_or_none(high),
    }


def roi(
    scope: Scope,
    assumptions: dict[str, Decimal],
    *,
    health: dict,
    ltv_result: dict,
    window_days=None,
    now=None,
):
    opt_out_days = int(assumptions.get("opt_out_attribution_days") or 7)
    plays = list(Play.objects.exclude(status=PlayStatus.DRAFT).order_by("name"))
    lifts = {
        item["play"]["id"]: item
        for item in plays_lift(plays, scope, window_days=window_days, now=now, opt_out_days=opt_out_days)
    }
    sms = {row["play"]: row for row in health["plays"]}
    acv, acv_source = _average_acv(scope, assumptions)
    aov = dec(ltv_result["purchase"].get("inputs", {}).get("average_order_value")) or None
    per_contact = contact_ltv(ltv_result)
    hourly, minutes = assumptions["cost_per_hour"], assumptions["minutes_saved_per_message"]
    price = assumptions["price_per_segment"]
    rows, value_terms, leakage_terms, net_terms, not_estimated = [], [], [], [], []
    time_saved_total = sms_cost_total = all_opt_outs_total = Decimal(0)
    all_opt_outs = 0
    for play in plays:
        lift, texts = lifts[play.pk], sms.get(play.pk, {})
        value = _play_value(lift, acv, aov, assumptions)
        leak_block = lift["opt_out_leakage"]
        leak = leakage_value(leak_block, per_contact)
        sent, segments = texts.get("texts", 0), texts.get("segments", 0)
        time_saved = Decimal(sent) * minutes / 60 * hourly
        sms_cost = Decimal(segments) * price
        time_saved_total += time_saved
        sms_cost_total += sms_cost
        all_opt_outs += leak_block["treatment_opt_outs"]
        all_opt_outs_total += leak["all_opt_outs_value"] or 0
        terms = []
        if value["counted"]:
            value_terms.append((value["value"], value["low"], value["high"]))
            terms.append(value_terms[-1])
        if leak["value"] is not None:
            leakage_terms.append((leak["value"], leak["low"], leak["high"]))
            terms.append((-leak["value"], -leak["high"], -leak["low"]))
        # A play whose primary outcome has no estimate still carries its leakage into the net.
        net = mover_sum(terms) if terms else None
        if not value["counted"]:
            not_estimated.append(play.name)
        if net is not None:
            net_terms.append(net)
        rows.append(
            {
                "play": {"id": play.pk, "name": play.name, "moment": play.moment},
                "treated": lift["inputs"]["treatment"],
                "texts": sent,
                "segments": segments,
                "opt_outs": texts.get("opt_outs", 0),
                **{k: money(v) if isinstance(v, Decimal) else v for k, v in value.items()},
                "time_saved": money(time_saved),
                "sms_cost": money(sms_cost),
                **_interval("opt_out_leakage", leak["value"], leak["low"], leak["high"]),
                "opt_out_leakage_detail": {
                    **leak_block,
                    "ltv_per_opted_out_contact": money(leak["ltv_per_opted_out_contact"]),
                    "ltv_basis": leak["ltv_basis"],
                },
                **_interval("net", *(net or (None, None, None))),
                "roi": None,
            }
        )
    value_sum = mover_sum(value_terms)
    leakage_sum = mover_sum(leakage_terms)
    net_sum = mover_sum(net_terms)
    cost = _cost_base(scope, assumptions, sms_cost_total)
    cost_total = cost.pop("_total")
    if cost["complete"] and cost_total:
        roi_figures = [rate((amount - cost_total) / cost_total) for amount in net_sum]
        roi_note = "ROI = (net value - cost base) / cost base; its interval from the net value's"
    else:
        roi_figures = [None, None, None]
        roi_note = f"ROI not shown: cost base incomplete (missing: {', '.join(cost['missing']) or 'costs'})"
    return {
        "scope": scope.as_dict(),
        "window_days": window_days,
        "formula": (
            "net value = sum over plays of (incremental value from the play's primary outcome - "
            f"{LEAKAGE_LABEL.lower()}), each with its 95% interval, summed by MOVER; no significance "
            "cut; time saved is an assumed benefit shown apart; ROI = (net value - cost base) / cost "
            "base, shown only when the cost base (SMS segments, the tool's monthly cost, staff hours) "
            "is complete"
        ),
        "assumptions": {k: str(v) for k, v in assumptions.items()},
        "inputs": {
            "acv": money(acv),
            "acv_source": acv_source,
            "average_order_value": _money_or_none(aov),
            "opt_out_attribution_days": opt_out_days,
        },
        "plays": rows,
        "totals": {
            **_interval("value_of_lift", *value_sum, limits="value"),
            **_interval("opt_out_leakage", *leakage_sum),
            **_interval("net", *net_sum),
            "plays_without_estimate": not_estimated,
            "time_saved": money(time_saved_total),
            "sms_cost": money(sms_cost_total),
            "cost_base": cost,
            "roi": roi_figures[0],
            "roi_low": roi_figures[1],
            "roi_high": roi_figures[2],
            "roi_note": roi_note,
        },
        "opt_out_leakage": {
            "label": LEAKAGE_LABEL,
            "definition": (
                "(treatment opt-out rate - control opt-out rate) x treated, within "
                f"{opt_out_days} days of the decision (opt_out_attribution_days), 95% interval by "
                "Newcombe (1998) method 10 scaled by treated; valued at the mean contact LTV of "
                "who opted out in the treatment arm (B2B contact: the account's subscription LTV "
                "shared across its contacts; consumer: purchase LTV per customer)"
            ),
            "inputs": {
                "ltv_per_b2b_contact": money(per_contact[0]),
                "ltv_per_consumer": money(per_contact[1]),
            },
            **dict(zip(("value", "low", "high"), map(money, leakage_sum), strict=True)),
            # Kept for integrations; since issue 17 the same incremental figure as `value`.
            "lost_value": money(leakage_sum[0]),
        },
        "all_opt_outs_after_texts": {
            "label": ALL_OPT_OUTS_LABEL,
            "definition": (
                f"treatment-arm contacts who opted out within {opt_out_days} days of the decision, "
                "x the same LTV; includes the opt-outs that would have happened without the play"
            ),
            "opt_outs": all_opt_outs,
            "value": money(all_opt_outs_total),
        },
    }

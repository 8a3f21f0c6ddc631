"""The ROI model: measured lift turned into money with explicit, stored assumptions; and
opt-out leakage (opted-out customers x their expected lifetime value)."""

from decimal import Decimal

from django.db.models import Avg, Count, Q

from analytics.metrics.common import dec, money, rate, ratio
from analytics.metrics.lift import plays_lift
from analytics.scope import Scope
from crm.models import Contact, Renewal, SmsConsent
from plays.models import Play, PlayStatus

# What each lifecycle moment's lift is worth, and the outcome it is measured on.
VALUE_OF = {
    "renewal": ("extra renewals", "renewed"),
    "risk": ("reduced churn", "churned"),
    "onboarding": ("reduced churn", "churned"),
    "adoption": ("reduced churn", "churned"),
    "expansion": ("expansion", "expanded"),
    "reactivation": ("reorder revenue", "revenue"),
}


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


def opt_out_leakage(scope: Scope, ltv_result: dict) -> dict:
    b2b_value, b2c_value = contact_ltv(ltv_result)
    opted_out = scope.segment(Contact.objects.filter(sms_consent=SmsConsent.OPTED_OUT)).aggregate(
        b2b=Count("id", filter=Q(account__isnull=False)), b2c=Count("id", filter=Q(account__isnull=True))
    )
    lost = opted_out["b2b"] * b2b_value + opted_out["b2c"] * b2c_value
    return {
        "definition": "contacts opted out x their expected LTV (B2B: the account's subscription LTV shared "
        "across its contacts; consumers: purchase LTV per customer)",
        "inputs": {
            "opted_out_b2b_contacts": opted_out["b2b"],
            "opted_out_consumers": opted_out["b2c"],
            "ltv_per_b2b_contact": money(b2b_value),
            "ltv_per_consumer": money(b2c_value),
        },
        "lost_value": money(lost),
        "per_contact": {"b2b": b2b_value, "b2c": b2c_value},
    }


def _play_value(lift: dict, n: int, acv: Decimal, values: dict[str, Decimal]) -> dict:
    label, outcome = VALUE_OF.get(lift["play"]["moment"], ("reduced churn", "churned"))
    result = lift.get("outcomes", {}).get(outcome)
    empty = {
        "component": label,
        "outcome": outcome,
        "value": None,
        "low": None,
        "high": None,
        "counted": False,
    }
    if result and result.get("enough_data") is False:
        return {**empty, "note": f"{result['note']} Not counted."}
    if lift.get("observational") or not result or result.get("absolute_lift") is None:
        return {**empty, "note": "No randomised control arm with matured outcomes: not counted."}
    margin = values["gross_margin"]
    if outcome == "revenue":
        unit = margin  # lift is already money per enrollment
    elif outcome == "expanded":
        unit = acv * values["attach_rate"] * margin
    else:
        unit = acv * margin
    sign = Decimal(-1) if outcome == "churned" else Decimal(1)  # fewer churns is the gain

    def worth(lift_value):
        return None if lift_value is None else sign * Decimal(str(lift_value)) * n * unit

    bounds = sorted(v for v in (worth(result["ci_low"]), worth(result["ci_high"])) if v is not None)
    significant = bool(result.get("significant"))
    return {
        **empty,
        "lift": result["absolute_lift"],
        "significant": significant,
        "value": worth(result["absolute_lift"]),
        "low": bounds[0] if bounds else None,
        "high": bounds[-1] if bounds else None,
        "counted": significant,
        "note": ""
        if significant
        else "The 95% interval includes no effect: shown, not counted in the total.",
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
    plays = list(Play.objects.exclude(status=PlayStatus.DRAFT).order_by("name"))
    lifts = {item["play"]["id"]: item for item in plays_lift(plays, scope, window_days=window_days, now=now)}
    sms = {row["play"]: row for row in health["plays"]}
    acv, acv_source = _average_acv(scope, assumptions)
    leakage = opt_out_leakage(scope, ltv_result)
    per_contact = leakage["per_contact"]
    hourly, minutes = assumptions["cost_per_hour"], assumptions["minutes_saved_per_message"]
    price = assumptions["price_per_segment"]
    rows, totals = (
        [],
        {"value": Decimal(0), "time_saved": Decimal(0), "sms_cost": Decimal(0), "leakage": Decimal(0)},
    )
    for play in plays:
        lift, texts = lifts[play.pk], sms.get(play.pk, {})
        n = lift["inputs"]["treatment"]
        value = _play_value(lift, n, acv, assumptions)
        sent, segments, opt_outs = texts.get("texts", 0), texts.get("segments", 0), texts.get("opt_outs", 0)
        time_saved = Decimal(sent) * minutes / 60 * hourly
        sms_cost = Decimal(segments) * price
        # Opt-outs are valued at a blend: the share of B2B vs consumer enrollments is not split here.
        leak = Decimal(opt_outs) * (
            per_contact["b2b"] if play.moment != "reactivation" else per_contact["b2c"]
        )
        counted = value["value"] if value["counted"] else Decimal(0)
        net = counted + time_saved - sms_cost - leak
        for key, amount in (
            ("value", counted),
            ("time_saved", time_saved),
            ("sms_cost", sms_cost),
            ("leakage", leak),
        ):
            totals[key] += Decimal(amount)
        rows.append(
            {
                "play": {"id": play.pk, "name": play.name, "moment": play.moment},
                "treated": n,
                "texts": sent,
                "segments": segments,
                "opt_outs": opt_outs,
                **{k: money(v) if isinstance(v, Decimal) else v for k, v in value.items()},
                "time_saved": money(time_saved),
                "sms_cost": money(sms_cost),
                "opt_out_leakage": money(leak),
                "net": money(net),
                "roi": rate(ratio(net, sms_cost + leak)) if sms_cost + leak else None,
            }
        )
    net = totals["value"] + totals["time_saved"] - totals["sms_cost"] - totals["leakage"]
    cost = totals["sms_cost"] + totals["leakage"]
    return {
        "scope": scope.as_dict(),
        "window_days": window_days,
        "formula": "net = value of measured lift (plays whose 95% interval excludes no effect) + time saved "
        "- SMS cost - opt-out leakage; ROI = net / (SMS cost + opt-out leakage)",
        "assumptions": {k: str(v) for k, v in assumptions.items()},
        "inputs": {"acv": money(acv), "acv_source": acv_source},
        "plays": rows,
        "totals": {
            "value_of_lift": money(totals["value"]),
            "time_saved": money(totals["time_saved"]),
            "sms_cost": money(totals["sms_cost"]),
            "opt_out_leakage": money(totals["leakage"]),
            "net": money(net),
            "roi": rate(ratio(net, cost)) if cost else None,
        },
        "opt_out_leakage": {k: v for k, v in leakage.items() if k != "per_contact"},
    }

"""Play lift: outcomes of the treatment arm against the control arm within a window after each
enrollment, with confidence intervals, p-values and the sample size the effect would need.

The comparison is intention-to-treat: the treatment arm is everyone the holdout split sent to
treatment, texted or not (governance may have suppressed some), because the control arm was
split off before governance too. A play without a control arm only supports an observational
comparison (texted vs not texted), labelled as such.

The unit of analysis is the contact, the unit the holdout randomises (a stable hash of play and
contact): each contact counts once per play and period, by its first enrollment in the period (its
arm, its outcomes from that enrollment's decision within the window). A contact enrolled again
(a frequent buyer re-triggering a reorder reminder) is always in the same arm and its outcomes
are correlated; counting each enrollment would inflate n and break the stated error rates
(``first_per_contact``).

One grouped query per call (by play, arm and sign-up quarter) computes every outcome with
EXISTS subqueries; the statistics are computed from those counts and sums."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db import connections
from django.db.models import (
    Case,
    DecimalField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncQuarter

from analytics import stats
from analytics.metrics.common import derived_table, fetch, materialized, truncated_date
from analytics.scope import Scope
from crm.models import Account, Deal, DealKind, Event, Order, Renewal, RenewalStatus
from plays import triggers
from plays.models import Arm, Enrollment, Outcome, Play
from sms.models import ConsentAction, ConsentEvent

DEFAULT_WINDOW_DAYS = 90
# Days after the decision an outcome counts, by lifecycle moment, unless the caller chooses one:
# a milestone nudge works within days, a churn save shows only over months.
DEFAULT_WINDOWS = {
    "onboarding": 14,
    "adoption": 14,
    "renewal": 90,
    "risk": 120,
    "expansion": 90,
    "reactivation": 30,
}
OUTCOMES = ("renewed", "expanded", "churned", "milestone", "reordered")
# Days after the decision an opt-out counts against the play: the assumption
# ``opt_out_attribution_days``, passed in by the answers; this is its default.
DEFAULT_OPT_OUT_DAYS = 7
LEAKAGE_LABEL = "Opt-out leakage (incremental, vs holdout)"
# Per (play, arm): enrollments whose opt-out window has closed, their opt-outs, and the same for
# enrollments with an account (B2B contacts), which values the opt-outs.
OPT_OUT_COUNTS = ("opt_n", "opted_out", "opt_n_b2b", "opted_out_b2b")
LOWER_IS_BETTER = {"churned"}
MONEY_FIELD = DecimalField(max_digits=20, decimal_places=4)


def milestone_event(play: Play) -> str:
    """The event whose arrival is the play's milestone outcome, as its trigger type says."""
    return triggers.milestone_event(play.trigger)


UNIT_DEFINITION = (
    "one row per contact: its first enrollment in the period (earliest decided_at, then lowest id), "
    "with its arm, its segments at entry and its variant, its outcomes measured from that "
    "enrollment's decision within the window; the contact is the unit the holdout randomises, so "
    "a contact enrolled several times in the play counts once"
)


def first_per_contact(scope: Scope) -> Q:
    """Keeps each contact's first enrollment in the play within the scope's period: no enrollment
    of the same play and contact in the period was decided earlier (or at the same time with a
    lower id). A correlated NOT EXISTS on the (play, contact, ...) index, so the callers' grouped
    queries stay one query each, on SQLite and PostgreSQL alike."""
    earlier = scope.segment(
        Enrollment.objects.filter(
            play=OuterRef("play"),
            contact=OuterRef("contact"),
            decided_at__gte=scope.start_at,
            decided_at__lt=scope.end_at,
        )
    ).filter(
        Q(decided_at__lt=OuterRef("decided_at")) | Q(decided_at=OuterRef("decided_at"), pk__lt=OuterRef("pk"))
    )
    return ~Q(Exists(earlier))


def _window(days: int):
    """Conditions 'at or after the enrollment and before the window closes' on a field."""
    end = OuterRef("decided_at") + timedelta(days=days)

    def within(field: str) -> Q:
        return Q(**{f"{field}__gte": OuterRef("decided_at"), f"{field}__lt": end})

    return within


def _outcome_conditions(plays: list[Play], days: int) -> dict[str, Q]:
    within = _window(days)
    account = Q(account=OuterRef("account"))
    decided = Renewal.objects.filter(account, within("decided_at"))
    won_expansion = Deal.objects.filter(
        account, within("closed_at"), kind=DealKind.EXPANSION, stage__is_won=True
    )
    churned_account = Account.objects.filter(within("churned_at"), pk=OuterRef("account"))
    conditions = {
        "renewed": Q(Exists(decided.filter(status__in=RENEWED))),
        "expanded": Q(Exists(decided.filter(status=RenewalStatus.EXPANDED))) | Q(Exists(won_expansion)),
        "churned": Q(Exists(decided.filter(status=RenewalStatus.CHURNED))) | Q(Exists(churned_account)),
        "reordered": Q(Exists(Order.objects.filter(within("ordered_at"), contact=OuterRef("contact")))),
    }
    by_event: dict[str, list[int]] = defaultdict(list)
    for play in plays:
        if event := milestone_event(play):
            by_event[event].append(play.pk)
    milestone = Q(pk__in=[])
    for event, play_ids in by_event.items():
        reached = Event.objects.filter(
            Q(account=OuterRef("account")) | Q(contact=OuterRef("contact")), within("occurred_at"), name=event
        )
        milestone |= Q(play_id__in=play_ids) & Q(Exists(reached))
    conditions["milestone"] = milestone
    return conditions


RENEWED = (RenewalStatus.RENEWED, RenewalStatus.EXPANDED, RenewalStatus.DOWNGRADED)


def _opted_out(days: int) -> Q:
    """The enrolled contact opted out within ``days`` of the decision, whoever texted them last:
    the control arm's opt-outs are the baseline the treatment arm's are compared with."""
    within = _window(days)
    events = ConsentEvent.objects.filter(
        within("occurred_at"), contact=OuterRef("contact"), action=ConsentAction.OPT_OUT
    )
    return Q(Exists(events))


def _revenue(days: int):
    """Order revenue of the enrollment's account (or, for a consumer, the contact) in the window:
    the account's orders plus the contact's orders placed outside that account, each order once.
    Two sums, each read from a covering index alone; one sum over 'account or contact' needed a
    bitmap OR and a heap read per order (most of lift's time at a million orders, scenario 4)."""
    within = _window(days)

    def total(orders):
        summed = orders.order_by().annotate(total=Func(F("amount"), function="SUM", output_field=MONEY_FIELD))
        return Coalesce(Subquery(summed.values("total")[:1]), Value(Decimal(0)), output_field=MONEY_FIELD)

    contact_orders = Order.objects.filter(within("ordered_at"), contact=OuterRef("contact"))
    account_orders = Order.objects.filter(within("ordered_at"), account=OuterRef("account"))
    # With the enrollment's account set (the default branch), NOT (account = it) keeps the
    # contact's orders with no account or another one.
    outside_account = contact_orders.filter(Q(account__isnull=True) | ~Q(account=OuterRef("account")))
    return Case(
        When(account__isnull=True, then=total(contact_orders)),
        default=total(account_orders) + total(outside_account),
        output_field=MONEY_FIELD,
    )


def _rounded(result: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in result.items()}


def _empty_counts() -> dict:
    return {
        "n": 0,
        "sent": 0,
        **dict.fromkeys(OUTCOMES, 0),
        **dict.fromkeys(OPT_OUT_COUNTS, 0),
        "pending": 0,
        "revenue": 0.0,
        "revenue_sq": 0.0,
    }


def _revenue_values(counts: dict, nonzero: list[tuple[float, int]]) -> np.ndarray:
    """Window revenue of each matured enrollment of an arm: its non-zero amounts, each repeated
    as often as it occurred, and zeros for the rest."""
    values = np.zeros(counts["n"])
    if nonzero:
        amounts, repeats = zip(*nonzero, strict=True)
        filled = np.repeat(np.array(amounts, dtype=float), repeats)
        values[: filled.size] = filled
    return values


def _compare(t: dict, c: dict, outcomes, revenue_values: dict) -> dict:
    out = {name: _rounded(stats.rate_lift(t[name], t["n"], c[name], c["n"]).to_dict()) for name in outcomes}
    revenue = stats.permutation_lift(
        _revenue_values(t, revenue_values.get(Arm.TREATMENT, [])),
        _revenue_values(c, revenue_values.get(Arm.CONTROL, [])),
    )
    out["revenue"] = _rounded(revenue.to_dict())
    return out


def plays_lift(
    plays: list[Play],
    scope: Scope,
    *,
    window_days: int | None = None,
    now=None,
    opt_out_days: int = DEFAULT_OPT_OUT_DAYS,
) -> list[dict]:
    """Lift for each play, in the order given. Without ``window_days`` each play uses its moment's
    default window; one grouped query runs per distinct window. ``opt_out_days``: the opt-out
    attribution window of the leakage block."""
    by_window: dict[int, list[Play]] = defaultdict(list)
    for play in plays:
        by_window[window_days or DEFAULT_WINDOWS.get(play.moment, DEFAULT_WINDOW_DAYS)].append(play)
    results = {}
    for window, group in by_window.items():
        computed = _plays_lift(group, scope, window_days=window, now=now, opt_out_days=opt_out_days)
        for play, result in zip(group, computed, strict=True):
            results[play.pk] = result
    return [results[play.pk] for play in plays]


def _grouped_counts(
    enrollments, conditions: dict[str, Q], revenue, matured: Q, opt_out: tuple[Q, Q]
) -> tuple[list[dict], dict]:
    """Per (play, arm, sign-up quarter): enrollments matured and pending, texted, each outcome
    (all and texted only), the sum and sum of squares of window revenue, and ``OPT_OUT_COUNTS``
    (``opt_out`` = (opted out, opt-out window closed)); and per (play, arm)
    the matured enrollments' non-zero window revenues as (amount, how many), which the
    permutation test needs (zeros are the rest of the arm).

    One query. Each enrollment's outcomes and revenue are computed once, in a materialized CTE
    built with the ORM, then summed: aggregating them directly evaluated every EXISTS twice
    (all and texted) and the revenue subquery once per SUM, 2x the floor at 50,000 enrollments
    over a million orders (bench scenario 4)."""

    def flag(condition: Q):
        return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())

    per_enrollment = (
        enrollments.annotate(
            cohort=TruncQuarter("account__signed_up_at", tzinfo=UTC),
            matured=flag(matured),
            texted=flag(Q(outcome=Outcome.SENT)),
            **{f"is_{name}": flag(condition) for name, condition in conditions.items()},
            revenue=Case(When(matured, then=revenue), default=None, output_field=MONEY_FIELD),
            opt_matured=flag(opt_out[1]),
            is_opted_out=flag(opt_out[0]),
            has_account=flag(Q(account__isnull=False)),
        )
        .values(
            "play_id",
            "arm",
            "cohort",
            "matured",
            "texted",
            *(f"is_{n}" for n in conditions),
            "revenue",
            "opt_matured",
            "is_opted_out",
            "has_account",
        )
        .order_by()
    )
    inner, params = derived_table(per_enrollment)
    qn = connections[per_enrollment.db].ops.quote_name
    m, t, r = qn("matured"), qn("texted"), qn("revenue")
    sums = [f"SUM({m})", f"SUM(1 - {m})", f"SUM({m} * {t})"]
    for name in conditions:
        sums += [f"SUM({m} * {qn('is_' + name)})", f"SUM({m} * {t} * {qn('is_' + name)})"]
    sums += [f"SUM({r})", f"SUM({r} * {r})"]
    om, oo, b2b = qn("opt_matured"), qn("is_opted_out"), qn("has_account")
    sums += [f"SUM({om})", f"SUM({om} * {oo})", f"SUM({om} * {b2b})", f"SUM({om} * {b2b} * {oo})"]
    group = ", ".join(qn(c) for c in ("play_id", "arm", "cohort"))
    play_arm = ", ".join(qn(c) for c in ("play_id", "arm"))
    # Rows of kind 1 carry one distinct non-zero revenue of a (play, arm) and its count in the
    # two last columns; the same materialized CTE serves both kinds.
    nulls = ", ".join(["NULL"] * len(sums))
    sql = (
        f"WITH per_enrollment AS {materialized(per_enrollment.db)} ({inner}) "  # noqa: S608
        f"SELECT 0, {group}, {', '.join(sums)}, NULL, NULL FROM per_enrollment GROUP BY {group} "
        f"UNION ALL SELECT 1, {play_arm}, NULL, {nulls}, {r}, COUNT(*) FROM per_enrollment "
        f"WHERE {m} = 1 AND {r} <> 0 GROUP BY {play_arm}, {r}"
    )
    names = ["n", "pending", "sent"]
    for name in conditions:
        names += [name, f"sent_{name}"]
    names += ["revenue_total", "revenue_sq", *OPT_OUT_COUNTS]
    groups, revenue_values = [], defaultdict(lambda: defaultdict(list))
    for kind, play_id, arm, cohort, *values, amount, count in fetch(sql, params, per_enrollment.db):
        if kind:
            revenue_values[play_id][arm].append((float(amount), count))
            continue
        groups.append(
            {
                "play_id": play_id,
                "arm": arm,
                "cohort": truncated_date(cohort),
                **{name: value or 0 for name, value in zip(names, values, strict=True)},
            }
        )
    return groups, revenue_values


def _plays_lift(
    plays: list[Play], scope: Scope, *, window_days: int, now=None, opt_out_days: int = DEFAULT_OPT_OUT_DAYS
) -> list[dict]:
    """Lift for each play over its contacts' first enrollments decided in the period whose window
    has closed (a contact whose first enrollment is still in its window is pending)."""
    if not plays:
        return []
    now = now or datetime.now(UTC)
    matured_before = min(scope.end_at, now - timedelta(days=window_days))
    enrollments = scope.segment(
        Enrollment.objects.filter(play__in=plays, decided_at__gte=scope.start_at, decided_at__lt=scope.end_at)
    ).filter(first_per_contact(scope))
    conditions = _outcome_conditions(plays, window_days)
    opt_out_closed_before = min(scope.end_at, now - timedelta(days=opt_out_days))
    rows, revenue_values = _grouped_counts(
        enrollments,
        conditions,
        _revenue(window_days),
        Q(decided_at__lt=matured_before),
        (_opted_out(opt_out_days), Q(decided_at__lt=opt_out_closed_before)),
    )
    per_play: dict[int, dict] = defaultdict(lambda: defaultdict(lambda: defaultdict(_empty_counts)))
    for row in rows:
        cohort = (
            row["cohort"].strftime("%Y") + f"-Q{(row['cohort'].month - 1) // 3 + 1}"
            if row["cohort"]
            else "no account"
        )
        for bucket in (per_play[row["play_id"]]["all"], per_play[row["play_id"]][cohort]):
            counts = bucket[row["arm"]]
            for name in (
                "n",
                "pending",
                "sent",
                *OUTCOMES,
                *(f"sent_{o}" for o in OUTCOMES),
                *OPT_OUT_COUNTS,
            ):
                counts[name] = counts.get(name, 0) + row[name]
            counts["revenue"] += float(row["revenue_total"] or 0)
            counts["revenue_sq"] += float(row["revenue_sq"] or 0)
    results = []
    for play in plays:
        groups, values = per_play.get(play.pk, {}), revenue_values.get(play.pk, {})
        result = _play_result(play, groups, values, scope, window_days, matured_before)
        result["opt_out_leakage"] = _leakage(groups.get("all", {}), opt_out_days)
        results.append(result)
    return results


def _play_result(
    play: Play, groups: dict, revenue_values: dict, scope: Scope, window_days: int, matured_before
) -> dict:
    primary = play.primary
    outcomes = [o for o in OUTCOMES if o != "milestone" or milestone_event(play)]
    overall = groups.get("all", {})
    treatment = overall.get(Arm.TREATMENT) or _empty_counts()
    control = overall.get(Arm.CONTROL) or _empty_counts()
    result = {
        "play": {
            "id": play.pk,
            "name": play.name,
            "moment": play.moment,
            "holdout_percent": play.holdout_percent,
        },
        "scope": scope.as_dict(),
        "window_days": window_days,
        "primary_outcome": primary,
        "lower_is_better": primary in LOWER_IS_BETTER,
        "milestone_event": milestone_event(play) or None,
        "inputs": {
            "enrollments_matured_before": matured_before.isoformat(),
            "treatment": treatment["n"],
            "treatment_texted": treatment["sent"],
            "control": control["n"],
            "not_yet_matured": treatment.get("pending", 0) + control.get("pending", 0),
            "unit": UNIT_DEFINITION,
            "outcome_definitions": OUTCOME_DEFINITIONS,
            "method_definitions": METHOD_DEFINITIONS,
        },
    }
    if control["n"]:
        result["design"] = "randomised holdout"
        result["observational"] = False
        result["outcomes"] = _compare(treatment, control, outcomes, revenue_values)
        result["strata"] = [
            {
                "cohort": cohort,
                "treatment": arms.get(Arm.TREATMENT, _empty_counts())["n"],
                "control": arms.get(Arm.CONTROL, _empty_counts())["n"],
                primary: _rounded(
                    stats.rate_lift(
                        arms.get(Arm.TREATMENT, _empty_counts())[primary],
                        arms.get(Arm.TREATMENT, _empty_counts())["n"],
                        arms.get(Arm.CONTROL, _empty_counts())[primary],
                        arms.get(Arm.CONTROL, _empty_counts())["n"],
                    ).to_dict()
                )
                if primary in outcomes
                else None,
            }
            for cohort, arms in sorted(groups.items())
            if cohort != "all"
        ]
    else:
        # No control arm: texted vs not texted within treatment. Who got texted was decided by
        # governance (consent, caps, suppression), so the groups differ beyond the text.
        exposed = {"n": treatment["sent"], **{o: treatment.get(f"sent_{o}", 0) for o in OUTCOMES}}
        unexposed = {"n": treatment["n"] - treatment["sent"]}
        unexposed.update({o: treatment[o] - exposed[o] for o in OUTCOMES})
        result["design"] = "observational (no control arm): texted vs not texted"
        result["observational"] = True
        result["outcomes"] = {
            name: _rounded(
                stats.rate_lift(exposed[name], exposed["n"], unexposed[name], unexposed["n"]).to_dict()
            )
            for name in outcomes
        }
        result["strata"] = []
    result["verdict"] = _roles_and_verdict(result, primary)
    return result


def _roles_and_verdict(result: dict, primary: str) -> dict:
    """Label each outcome primary or secondary, give the secondary ones Holm-adjusted p-values
    (one family per play), and say what the primary outcome shows: the play's one verdict."""
    outcomes = result["outcomes"]
    secondary = [name for name in outcomes if name != primary]
    adjusted = stats.holm_adjust([outcomes[name].get("p_value") for name in secondary])
    for name, p_value in zip(secondary, adjusted, strict=True):
        outcomes[name]["role"] = "secondary"
        outcomes[name]["holm_p_value"] = None if p_value is None else round(p_value, 6)
    measured = outcomes.get(primary)
    verdict = {"outcome": primary, "significant": False, "better": None}
    if measured is None:
        return {**verdict, "label": f"not measured: this play has no {primary} outcome"}
    measured["role"] = "primary"
    prefix = "observational only: " if result["observational"] else ""
    if measured.get("absolute_lift") is None or measured.get("ci_low") is None:
        return {**verdict, "label": f"{prefix}not enough data yet", "note": measured.get("note", "")}
    if not measured["significant"]:
        label = "no measurable effect: the 95% interval includes none"
        return {**verdict, "label": prefix + label}
    better = (measured["absolute_lift"] < 0) == (primary in LOWER_IS_BETTER)
    label = f"{primary} {'better' if better else 'worse'} with the play (95% interval excludes no effect)"
    return {**verdict, "significant": True, "better": better, "label": prefix + label}


def _leakage(arms: dict, days: int) -> dict:
    """Incremental opt-outs of a play: (treatment opt-out rate - control opt-out rate) x treated,
    with the Newcombe (method 10) interval of the rate difference scaled by treated. Contacts
    count (by their first enrollment in the period) once its ``days``-day opt-out window has
    closed (intention-to-treat, like the lift)."""
    treatment = arms.get(Arm.TREATMENT) or _empty_counts()
    control = arms.get(Arm.CONTROL) or _empty_counts()
    treated = treatment["opt_n"]
    block = {
        "label": LEAKAGE_LABEL,
        "window_days": days,
        "treated": treated,
        "control": control["opt_n"],
        "treatment_opt_outs": treatment["opted_out"],
        "control_opt_outs": control["opted_out"],
        # Who opted out (or, with no opt-out, who was treated): the mix that values the opt-outs.
        "treated_b2b": treatment["opt_n_b2b"],
        "treatment_opt_outs_b2b": treatment["opted_out_b2b"],
        "incremental_opt_outs": None,
        "incremental_low": None,
        "incremental_high": None,
    }
    if not (control["opt_n"] or control["n"] or control["pending"]):
        return {**block, "note": "No control arm: incremental opt-outs cannot be measured."}
    rates = stats.rate_lift(treatment["opted_out"], treated, control["opted_out"], control["opt_n"])
    block.update(
        {
            k: rates.to_dict()[k]
            for k in ("treatment_rate", "control_rate", "ci_low", "ci_high", "p_value", "note")
        }
    )
    block["rate_difference"] = rates.absolute_lift
    if rates.absolute_lift is None:
        return _rounded(block)
    block.update(
        {
            "incremental_opt_outs": rates.absolute_lift * treated,
            "incremental_low": rates.ci_low * treated,
            "incremental_high": rates.ci_high * treated,
        }
    )
    return _rounded(block)


OUTCOME_DEFINITIONS = {
    "renewed": "the account's renewal was decided renewed, expanded or downgraded within the window",
    "expanded": "an expanded renewal or a won expansion deal within the window",
    "churned": "a churned renewal decision or the account churned within the window",
    "milestone": "the play's milestone event happened within the window",
    "reordered": "the contact placed an order within the window",
    "revenue": (
        "order revenue of the account (or consumer) within the window of the contact's first "
        "enrollment in the period, per contact"
    ),
}
# How each comparison is computed, carried in every answer next to the outcome definitions.
METHOD_DEFINITIONS = {
    "unit": UNIT_DEFINITION,
    "rates": (
        "difference of proportions, treatment - control: Newcombe (1998) hybrid score interval "
        "(method 10); pooled z test, or Fisher's exact test when an expected count is below 5"
    ),
    "revenue": (
        "difference of mean window revenue per contact, treatment - control: two-sided "
        f"studentised permutation test over {stats.permutation.PERMUTATIONS:,} seeded random "
        "re-splits of the arms (every split when there are fewer), exact at any arm size, and the "
        "95% interval that inverts it for a shift (the deltas d for which treatment - d vs control "
        "is not rejected). With 1,000+ buyers in each arm, Welch's t (the permutation "
        "distribution's normal limit). When even every buyer landing in the treatment arm could "
        "not be significant, 'not enough data yet' and how many more contacts that needs. "
        "Good (2005), Permutation, Parametric and Bootstrap Tests of Hypotheses, 3rd ed., ch. 3; "
        "Ernst (2004), Permutation Methods: A Basis for Exact Inference, Stat Sci 19:676-685; "
        "Janssen (1997), Stat Probab Lett 36:9-21 (studentised permutation test)"
    ),
    "opt_out_leakage": (
        f"{LEAKAGE_LABEL}: (treatment opt-out rate - control opt-out rate) x treated, an opt-out "
        "being the contact's opt-out within the attribution window "
        "(opt_out_attribution_days) of its first enrollment's decision in the period, whatever text "
        "preceded it, each contact once; 95% interval: "
        "Newcombe (1998) method 10 for the rate difference, scaled by treated"
    ),
    "verdict": (
        "one primary outcome per play (its own choice, else its moment's usual one) decides the "
        "play's verdict, at its unadjusted p-value; every other outcome is secondary and carries "
        "holm_p_value, Holm (1979) step-down adjusted within the play (family-wise error rate), "
        "Scand J Stat 6:65-70"
    ),
}


def play_lift(
    play: Play,
    scope: Scope,
    *,
    window_days: int | None = None,
    now=None,
    opt_out_days: int = DEFAULT_OPT_OUT_DAYS,
) -> dict:
    return plays_lift([play], scope, window_days=window_days, now=now, opt_out_days=opt_out_days)[0]

"""Whom a play helps: its primary outcome's lift split by CLV tier, account health band and
lifecycle stage, and the recommendation it leads to (promote, keep testing, retarget, retire).

Each segment is compared as the play lift compares the whole play (``analytics.metrics.lift``):
everyone the holdout split sent to each arm, within the play's window; rates with the Newcombe
interval and the pooled z or Fisher test, revenue with the studentised permutation test. Within
one dimension the segments' p-values are Holm-adjusted (one family per dimension). A segment
shows no comparison ("too small to tell") when even every outcome landing in one arm could not be
significant, or both arms together hold fewer than ``permutation.MIN_BUYERS`` outcomes: the
revenue lift's own rule (``permutation.enough_data``), applied to a rate's rarer side (outcomes,
or non-outcomes when they are the rarer).

The unit is the contact, as in the play lift: each contact counts once, by its first enrollment
in the period (its arm and the segment values that enrollment recorded).

The segment is the value *at entry*: the contact's CLV tier, the account's health band and its
lifecycle stage as the enrollment recorded them when the contact entered (``plays.engine``), not
as they are now. A play that causes reorders moves treated customers into higher tiers and the
holdout less so; splitting by the current tier would compare the arms on something the play
changed. Enrollments decided before the values were kept form a "not recorded" segment: shown,
never the ground of a recommendation (see DEFINITIONS.md)."""

from datetime import UTC, datetime, timedelta

import numpy as np
from django.db.models import Case, CharField, Count, F, IntegerField, Sum, Value, When

from analytics import permutation, stats
from analytics.metrics import lift
from analytics.scope import Scope
from crm.models import ClvTier, HealthBand, LifecycleStage
from plays.models import Arm, Enrollment, Play

ALPHA = 0.05
# (key, label, field on the enrollment, choices, name of rows without a value)
DIMENSIONS = (
    ("clv_tier", "CLV tier", "clv_tier_at_entry", ClvTier, "not scored"),
    ("health_band", "Health band", "health_band_at_entry", HealthBand, "not scored"),
    ("lifecycle_stage", "Lifecycle stage", "lifecycle_stage_at_entry", LifecycleStage, "no account"),
)
# Enrollments decided before the segments at entry were kept: reported, never recommended on.
NOT_RECORDED = "not recorded"
# A segment is retargeted to only at Holm p below this: Bonferroni over the dimensions, so the
# chance of retargeting a play that helps no one stays at most ALPHA (tests/analytics/test_segments.py).
RETARGET_ALPHA = ALPHA / len(DIMENSIONS)
# The smallest effect worth a text: a rate 2 points better, or revenue per contact 5% of the
# control arm's. A play whose whole 95% interval is below it is retired.
USEFUL_RATE_LIFT = 0.02
USEFUL_REVENUE_SHARE = 0.05
SEGMENT_SOURCE = "at_entry"


def _rounded(result: dict) -> dict:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in result.items()}


def _more_phrase(more: tuple[int, int] | None) -> str:
    if more is None:
        return "too small to tell (no outcome in either arm yet)"
    more_t, more_c = more
    if more_t == more_c:
        return f"too small to tell (about {more_t:,} more per arm)"
    return f"too small to tell (about {more_t:,} more treatment and {more_c:,} more control contacts)"


def _more_needed(counts: tuple[int, int, int, int]) -> tuple[int, int] | None:
    """Enrollments per arm before a change could show and ``MIN_BUYERS`` outcomes exist, as
    ``stats.permutation_lift`` computes them."""
    if counts[0] + counts[2] == 0:
        return None
    more = permutation.more_needed_for_a_change(*counts, ALPHA / 2)
    if more is None:
        return None
    return tuple(map(max, more, permutation.more_needed_for_buyers(*counts)))


def rate_segment(x_t: int, n_t: int, x_c: int, n_c: int) -> dict:
    """One segment's rate lift, or "too small to tell" with how many more enrollments it needs."""
    failures = n_t - x_t + n_c - x_c
    rare_t, rare_c = (x_t, x_c) if x_t + x_c <= failures else (n_t - x_t, n_c - x_c)
    counts = (n_t, rare_t, n_c, rare_c)
    if n_t < 2 or n_c < 2 or not permutation.enough_data(*counts, ALPHA / 2):
        more = _more_needed(counts) if n_t and n_c else None
        note = _more_phrase(more) if n_t and n_c else "too small to tell (an arm is empty)"
        return {
            "treatment_n": n_t,
            "control_n": n_c,
            "treatment_successes": x_t,
            "control_successes": x_c,
            "enough_data": False,
            "absolute_lift": None,
            "ci_low": None,
            "ci_high": None,
            "p_value": None,
            "more_needed_treatment": more[0] if more else None,
            "more_needed_control": more[1] if more else None,
            "note": note,
        }
    return {**_rounded(stats.rate_lift(x_t, n_t, x_c, n_c).to_dict()), "enough_data": True}


def revenue_segment(treatment: np.ndarray, control: np.ndarray) -> dict:
    if treatment.size < 2 or control.size < 2:
        return {
            "treatment_n": int(treatment.size),
            "control_n": int(control.size),
            "enough_data": False,
            "absolute_lift": None,
            "ci_low": None,
            "ci_high": None,
            "p_value": None,
            "note": "too small to tell (an arm has fewer than 2 contacts)",
        }
    result = _rounded(stats.permutation_lift(treatment, control).to_dict())
    if not result.get("enough_data"):
        more = result.get("more_needed_treatment"), result.get("more_needed_control")
        result["note"] = _more_phrase(more if more[0] is not None else None)
    return result


def adjusted(rows: list[dict], lower_is_better: bool) -> list[dict]:
    """Holm over the rows of one dimension; each row says whether it is significant after Holm
    and in which direction the play moved it."""
    holm = stats.holm_adjust([row.get("p_value") for row in rows])
    for row, p_value in zip(rows, holm, strict=True):
        row["holm_p_value"] = None if p_value is None else round(p_value, 6)
        row["significant_after_holm"] = p_value is not None and p_value < ALPHA
        lifted = row.get("absolute_lift")
        row["better"] = None if lifted is None or lifted == 0 else (lifted > 0) != lower_is_better
    return rows


def rate_rows(counts: dict[str, list[int]], order: list[str]) -> list[dict]:
    """Rate rows of one dimension from {segment: (x_t, n_t, x_c, n_c)}, in ``order``."""
    return [{"segment": name, **rate_segment(*counts[name])} for name in order if name in counts]


def _value_expr(field: str, missing: str):
    return Case(
        When(**{f"{field}__isnull": True}, then=Value(NOT_RECORDED)),
        When(**{field: ""}, then=Value(missing)),
        default=F(field),
        output_field=CharField(),
    )


def segment_lift(play: Play, scope: Scope, *, window_days: int | None = None, now=None) -> dict:
    """The play's primary outcome by segment. One grouped query for a rate outcome; revenue reads
    each matured enrollment's window revenue with its segments."""
    now = now or datetime.now(UTC)
    window = window_days or lift.DEFAULT_WINDOWS.get(play.moment, lift.DEFAULT_WINDOW_DAYS)
    matured_before = min(scope.end_at, now - timedelta(days=window))
    primary = play.primary
    lower_is_better = primary in lift.LOWER_IS_BETTER
    enrollments = scope.segment(
        Enrollment.objects.filter(
            play=play,
            arm__in=(Arm.TREATMENT, Arm.CONTROL),
            decided_at__gte=scope.start_at,
            decided_at__lt=matured_before,
        )
    )
    # One row per contact: its first enrollment in the period, with the segments it recorded.
    enrollments = enrollments.filter(lift.first_per_contact(scope)).annotate(
        **{key: _value_expr(field, missing) for key, _, field, _, missing in DIMENSIONS}
    )
    answer = {
        "outcome": primary,
        "window_days": window,
        "segment_values": SEGMENT_SOURCE,
        "unit": lift.UNIT_DEFINITION,
        "comparison": "each segment's treatment arm vs its control arm; Holm within a dimension",
        "dimensions": [],
    }
    keys = [key for key, *_ in DIMENSIONS]
    if primary == "revenue":
        per_arm = {}
        for row in enrollments.annotate(revenue=lift._revenue(window)).values_list("arm", *keys, "revenue"):
            per_arm.setdefault(row[0], []).append((row[1:-1], float(row[-1] or 0)))
        build = _revenue_dimension(per_arm)
    else:
        condition = lift._outcome_conditions([play], window).get(primary)
        if condition is None:
            answer["note"] = f"This play has no {primary} outcome to split."
            return answer
        flag = Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())
        rows = list(enrollments.values("arm", *keys).annotate(n=Count("pk"), x=Sum(flag)).order_by())
        build = _rate_dimension(rows)
    for index, (key, label, _, choices, missing) in enumerate(DIMENSIONS):
        order = [*choices.values, missing, NOT_RECORDED]
        answer["dimensions"].append(
            {"key": key, "label": label, "segments": adjusted(build(index, order), lower_is_better)}
        )
    return answer


def _rate_dimension(rows: list[dict]):
    keys = [key for key, *_ in DIMENSIONS]

    def build(index: int, order: list[str]) -> list[dict]:
        counts: dict[str, list[int]] = {}
        for row in rows:
            cell = counts.setdefault(row[keys[index]], [0, 0, 0, 0])
            offset = 0 if row["arm"] == Arm.TREATMENT else 2
            cell[offset] += row["x"] or 0
            cell[offset + 1] += row["n"]
        return rate_rows(counts, order)

    return build


def _revenue_dimension(per_arm: dict[str, list]):
    def build(index: int, order: list[str]) -> list[dict]:
        values: dict[tuple[str, str], list[float]] = {}
        for arm, rows in per_arm.items():
            for segments, revenue in rows:
                values.setdefault((segments[index], arm), []).append(revenue)
        names = [name for name in order if any((name, arm) in values for arm in per_arm)]
        return [
            {
                "segment": name,
                **revenue_segment(
                    np.array(values.get((name, Arm.TREATMENT), []), dtype=float),
                    np.array(values.get((name, Arm.CONTROL), []), dtype=float),
                ),
            }
            for name in names
        ]

    return build


# --- The recommendation ------------------------------------------------------------------------

SCORED = {key: {*choices.values} for key, _, _, choices, _ in DIMENSIONS}
ACTIONS = ("promote", "keep_testing", "retarget", "retire")


def _interval(block: dict, revenue: bool) -> str:
    if revenue:
        return f"{block['ci_low']:+,.2f} to {block['ci_high']:+,.2f} per contact"
    return f"{block['ci_low'] * 100:+.1f} to {block['ci_high'] * 100:+.1f} points"


def _useful(block: dict, revenue: bool) -> float:
    if revenue:
        return USEFUL_REVENUE_SHARE * abs(block.get("control_mean") or 0)
    return USEFUL_RATE_LIFT


def recommend(result: dict) -> dict:
    """Promote, keep testing, retarget to a segment or retire, with the evidence in words, from a
    play lift answer with its ``segments`` (rules in analytics/DEFINITIONS.md, in this order)."""
    primary = result["primary_outcome"]
    revenue = primary == "revenue"
    lower = result.get("lower_is_better", False)
    block = result.get("outcomes", {}).get(primary)
    leakage = result.get("opt_out_leakage") or {}
    evidence: list[str] = []

    def answer(action: str, label: str, segment: dict | None = None) -> dict:
        return {"action": action, "label": label, "segment": segment, "evidence": evidence}

    if result.get("observational") or block is None:
        evidence.append("No control arm: nothing can be said about what the play caused.")
        return answer("keep_testing", "Keep testing: add a holdout to measure it")
    measured = block.get("ci_low") is not None
    if not measured:
        evidence.append(f"Overall {primary}: {block.get('note') or 'not enough data yet'}")
    elif revenue:
        evidence.append(
            f"Overall revenue: {block['absolute_lift']:+,.2f} per contact with the play, "
            f"95% interval {_interval(block, revenue)}."
        )
    else:
        evidence.append(
            f"Overall {primary}: {block['treatment_rate']:.1%} with the play vs "
            f"{block['control_rate']:.1%} in the holdout ({block['absolute_lift'] * 100:+.1f} points), "
            f"95% interval {_interval(block, revenue)}."
        )
    harmful_leakage = (leakage.get("ci_low") or 0) > 0
    if harmful_leakage:
        evidence.append(
            f"Opt-outs: {leakage['incremental_opt_outs']:.1f} more than the holdout would have had "
            f"(95% interval {leakage['incremental_low']:.1f} to {leakage['incremental_high']:.1f})."
        )
    better = measured and block["significant"] and ((block["absolute_lift"] > 0) != lower)
    worse = measured and block["significant"] and not better
    if worse:
        return answer("retire", f"Retire: {primary} is worse with the play")
    if harmful_leakage and not better:
        return answer("retire", "Retire: it costs opt-outs and shows no gain")
    if better:
        evidence.extend(_significant_segments(result.get("segments") or {}, revenue))
        return answer("promote", f"Promote: {primary} is better with the play")
    target = _retarget(result.get("segments") or {}, evidence)
    if target is not None:
        return answer("retarget", f"Retarget to {target['label']} {target['name']}", target)
    if measured:
        useful = _useful(block, revenue)
        gain_bound = -block["ci_low"] if lower else block["ci_high"]
        if gain_bound < useful:
            amount = f"{useful:,.2f} per contact" if revenue else f"{useful * 100:.0f} points"
            evidence.append(f"The interval rules out a useful effect (at least {amount}).")
            return answer("retire", "Retire: the interval rules out a useful effect")
    evidence.append("The interval still includes both no effect and a useful one.")
    return answer("keep_testing", "Keep testing")


def _significant_segments(segments: dict, revenue: bool) -> list[str]:
    """Where a promoted play's effect shows: each segment significant after Holm, in words."""
    lines = []
    for dimension in segments.get("dimensions", []):
        rows = [row for row in dimension["segments"] if row["segment"] != NOT_RECORDED]
        shown = [row for row in rows if row.get("significant_after_holm")]
        for row in shown:
            lifted = (
                f"{row['absolute_lift']:+,.2f} per contact"
                if revenue
                else f"{row['absolute_lift'] * 100:+.1f} points"
            )
            line = (
                f"By {dimension['label']}: {row['segment']} {'better' if row['better'] else 'worse'} "
                f"({lifted}, Holm p {row['holm_p_value']:.4f})"
            )
            others = [r["segment"] for r in rows if r is not row]
            if len(shown) == 1 and others:
                line += f"; {', '.join(others)} not significant on their own"
            lines.append(line + ".")
    return lines


def _retarget(segments: dict, evidence: list[str]) -> dict | None:
    """The scored segment that benefits, after Holm within its dimension at ``RETARGET_ALPHA``,
    in a dimension where no other segment does and none is harmed; the smallest p first."""
    candidates = []
    for dimension in segments.get("dimensions", []):
        rows = [
            row
            for row in dimension["segments"]
            if row.get("holm_p_value") is not None and row["segment"] != NOT_RECORDED
        ]
        helped = [row for row in rows if row["holm_p_value"] < RETARGET_ALPHA and row["better"]]
        harmed = [row for row in rows if row["significant_after_holm"] and row["better"] is False]
        if len(helped) == 1 and not harmed and helped[0]["segment"] in SCORED[dimension["key"]]:
            candidates.append((helped[0]["holm_p_value"], dimension, helped[0]))
    if not candidates:
        return None
    _, dimension, row = min(candidates, key=lambda item: item[0])
    others = [r["segment"] for r in dimension["segments"] if r is not row and r["segment"] != NOT_RECORDED]
    revenue = "treatment_rate" not in row
    lifted = (
        f"{row['absolute_lift']:+,.2f} per contact"
        if revenue
        else f"{row['absolute_lift'] * 100:+.1f} points"
    )
    evidence.append(
        f"{dimension['label']} {row['segment']}: {lifted}, 95% interval {_interval(row, revenue)}, "
        f"Holm p {row['holm_p_value']:.4f} (below {RETARGET_ALPHA:.4f}); no other "
        f"{dimension['label']} ({', '.join(others) or 'none'}) shows a significant effect."
    )
    return {"dimension": dimension["key"], "label": dimension["label"], "name": row["segment"]}


def with_segments(
    result: dict, play: Play, scope: Scope, *, window_days: int | None = None, now=None
) -> dict:
    """The play lift answer with ``segments`` and ``recommendation`` added (nothing renamed)."""
    result["segments"] = segment_lift(
        play, scope, window_days=window_days or result.get("window_days"), now=now
    )
    result["recommendation"] = recommend(result)
    inputs = result.setdefault("inputs", {})
    inputs["method_definitions"] = {**inputs.get("method_definitions", {}), **DEFINITIONS}
    return result


DEFINITIONS = {
    "segments": (
        "one row per contact: its first enrollment in the period; the primary outcome split by the "
        "contact's CLV tier, the account's health band and the account's lifecycle stage, values at "
        "entry: as that enrollment recorded them when the contact first entered in the period (both "
        "arms alike), so a play that later moves contacts between segments does not move its own "
        "comparison; enrollments decided before these were recorded form a 'not recorded' segment, "
        "shown (and counted in its dimension's Holm family) but never used by the recommendation; "
        "each segment compared like the play (Newcombe interval and pooled z or Fisher test for "
        "rates, the studentised permutation test for revenue), p-values Holm-adjusted over the "
        "segments of one dimension; a segment is 'too small to tell' when even every outcome (or "
        "non-outcome, the rarer) landing in one arm could not be significant or both arms hold "
        f"fewer than {permutation.MIN_BUYERS}, with how many more contacts per arm that needs"
    ),
    "recommendation": (
        "in this order: retire when the primary outcome is significantly worse, or opt-out leakage's "
        "interval is above zero and the outcome is not significantly better; promote when the primary "
        "outcome's 95% interval excludes no effect in the better direction; retarget to a scored "
        f"segment when the overall is not significant and that segment's Holm p is below "
        f"{RETARGET_ALPHA:.4f} (0.05 over {len(DIMENSIONS)} dimensions) in the better direction while "
        "no other segment of its dimension is significant; retire when the interval rules out a useful "
        f"effect ({USEFUL_RATE_LIFT * 100:.0f} points for a rate, {USEFUL_REVENUE_SHARE:.0%} of the "
        "control mean for revenue); keep testing otherwise"
    ),
}

"""Lifecycle velocity: how soon after the trigger (the enrollment's decision) a play's primary
outcome happens, treatment vs control, as Kaplan-Meier curves and the difference in restricted
mean time without the outcome (RMST) up to a horizon, with its 95% interval.

An enrollment whose outcome has not happened by the observation end (the period's end, or now)
is censored there. Intention-to-treat like the lift: every enrollment of each arm, texted or not.
The outcome is the play's primary one (``Play.primary``), at its first occurrence at or after the
decision: renewed / expanded / churned / milestone / reordered as in the lift; revenue: the first
order of the account (or consumer). One query for every play asked about.

The unit is the contact, as in the play lift: each contact counts once, by its first enrollment in
the period (the holdout randomises contacts; a contact's later enrollments are in the same arm and
their times are correlated with the first)."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.db.models import Case, DateTimeField, OuterRef, Q, Subquery, When

from analytics import survival
from analytics.metrics.lift import (
    DEFAULT_WINDOW_DAYS,
    DEFAULT_WINDOWS,
    LOWER_IS_BETTER,
    RENEWED,
    UNIT_DEFINITION,
    first_per_contact,
    milestone_event,
)
from analytics.scope import Scope
from crm.models import Account, Deal, DealKind, Event, Order, Renewal, RenewalStatus
from plays.models import Arm, Enrollment, Play

# Fewer enrollments than this in an arm, or no outcome in either: "not enough data yet". The
# interval of the RMST difference holds its 95% from here on (the seeded simulation in
# tests/analytics/test_velocity.py).
MIN_PER_ARM = 50
CURVE_POINTS_MAX = 200
DAY = timedelta(days=1)

DEFINITIONS = {
    "unit": UNIT_DEFINITION,
    "trigger": "the enrollment's decision (decided_at): when the play's trigger picked the contact",
    "outcome": "the play's primary outcome at its first occurrence at or after the decision",
    "censored": "an enrollment without the outcome by the observation end (the period's end or now)",
    "curve": "Kaplan-Meier share of enrollments that have reached the outcome by day t (1 - S(t))",
    "rmst": "restricted mean days without the outcome up to the horizon: the area under S(t) from 0",
    "rmst_difference": (
        "treatment - control; negative: the treatment arm reaches the outcome sooner (for churn, "
        "positive: it churns later). 95% interval: with the Greenwood-type variance of each "
        "arm's RMST (Klein & Moeschberger 2003, section 4.5; Uno et al. 2014, survRM2), Student's t "
        "on Welch-Satterthwaite degrees of freedom"
    ),
}


def _first(queryset, field: str):
    """The earliest ``field`` at or after the enrollment's decision, as a subquery."""
    rows = queryset.filter(**{f"{field}__gte": OuterRef("decided_at")}).order_by(field).values(field)[:1]
    return Subquery(rows, output_field=DateTimeField())


def _outcome_times(plays: list[Play]) -> dict[str, object]:
    """Annotations: per outcome source, the first time it happened after the decision, computed only
    for enrollments of the plays whose primary outcome uses it (a CASE around each subquery)."""
    by_source: dict[str, list[int]] = defaultdict(list)
    milestones: dict[str, list[int]] = defaultdict(list)
    sources = {
        "renewed": ("renewed",),
        "expanded": ("expanded_renewal", "expansion_deal"),
        "churned": ("churned_renewal", "account_churned"),
        "reordered": ("contact_order",),
        "revenue": ("account_order", "contact_order"),
    }
    for play in plays:
        if play.primary == "milestone":
            if event := milestone_event(play):
                milestones[event].append(play.pk)
            continue
        for source in sources.get(play.primary, ()):
            by_source[source].append(play.pk)
    account = {"account": OuterRef("account")}
    subqueries = {
        "renewed": _first(Renewal.objects.filter(status__in=RENEWED, **account), "decided_at"),
        "expanded_renewal": _first(
            Renewal.objects.filter(status=RenewalStatus.EXPANDED, **account), "decided_at"
        ),
        "expansion_deal": _first(
            Deal.objects.filter(kind=DealKind.EXPANSION, stage__is_won=True, **account), "closed_at"
        ),
        "churned_renewal": _first(
            Renewal.objects.filter(status=RenewalStatus.CHURNED, **account), "decided_at"
        ),
        "account_churned": _first(Account.objects.filter(pk=OuterRef("account")), "churned_at"),
        "contact_order": _first(Order.objects.filter(contact=OuterRef("contact")), "ordered_at"),
        "account_order": _first(Order.objects.filter(**account), "ordered_at"),
    }
    annotations = {}
    for source, play_ids in by_source.items():
        annotations[f"at_{source}"] = Case(
            When(play_id__in=play_ids, then=subqueries[source]), default=None, output_field=DateTimeField()
        )
    for index, (event, play_ids) in enumerate(sorted(milestones.items())):
        reached = Event.objects.filter(
            Q(account=OuterRef("account")) | Q(contact=OuterRef("contact")), name=event
        )
        annotations[f"at_milestone_{index}"] = Case(
            When(play_id__in=play_ids, then=_first(reached, "occurred_at")),
            default=None,
            output_field=DateTimeField(),
        )
    return annotations


def _horizon(play: Play, horizon_days: int | None) -> int:
    return horizon_days or DEFAULT_WINDOWS.get(play.moment, DEFAULT_WINDOW_DAYS)


def plays_velocity(
    plays: list[Play], scope: Scope, *, horizon_days: int | None = None, now=None
) -> list[dict]:
    """Velocity of each play, in the order given; one query. Without ``horizon_days`` each play's
    horizon is its moment's lift window."""
    if not plays:
        return []
    now = now or datetime.now(UTC)
    observation_end = min(scope.end_at, now)
    annotations = _outcome_times(plays)
    rows = (
        scope.segment(
            Enrollment.objects.filter(
                play__in=plays, decided_at__gte=scope.start_at, decided_at__lt=observation_end
            )
        )
        .filter(first_per_contact(scope))
        .annotate(**annotations)
        .values_list("play_id", "arm", "decided_at", *annotations)
        .order_by()
    )
    arms: dict[int, dict[str, tuple[list, list]]] = defaultdict(lambda: {a: ([], []) for a in Arm.values})
    for play_id, arm, decided_at, *times in rows:
        reached = [t for t in times if t is not None and t <= observation_end]
        durations, observed = arms[play_id][arm]
        end = min(reached) if reached else observation_end
        durations.append(max((end - decided_at) / DAY, 0.0))
        observed.append(bool(reached))
    return [
        _play_velocity(play, arms.get(play.pk), _horizon(play, horizon_days), scope, observation_end)
        for play in plays
    ]


def play_velocity(play: Play, scope: Scope, *, horizon_days: int | None = None, now=None) -> dict:
    return plays_velocity([play], scope, horizon_days=horizon_days, now=now)[0]


def _curve(curve: survival.KaplanMeier, horizon: float) -> list[list[float]]:
    """[day, share reached] at 0 and at each event time up to the horizon, and at the horizon:
    the step chart's corners (thinned to CURVE_POINTS_MAX steps for a long curve)."""
    inside = curve.times <= horizon
    times, reached = curve.times[inside], 1 - curve.survival[inside]
    if times.size > CURVE_POINTS_MAX:
        keep = sorted({*range(0, times.size, times.size // CURVE_POINTS_MAX + 1), times.size - 1})
        times, reached = times[keep], reached[keep]
    points = [
        [0.0, 0.0],
        *([round(float(t), 4), round(float(r), 6)] for t, r in zip(times, reached, strict=True)),
    ]
    last = points[-1][1]
    return [*points, [float(horizon), last]]


def _arm_block(curve: survival.KaplanMeier, horizon: float) -> dict:
    block = {
        "enrollments": curve.n,
        "outcomes": curve.total_events,
        "censored": curve.n - curve.total_events,
        "longest_follow_up_days": round(curve.max_time, 4),
        "reached_by_horizon": round(1 - curve.at(horizon), 6) if curve.n else None,
        "curve": _curve(curve, horizon) if curve.n else [],
    }
    return block


def _play_velocity(play: Play, arms, horizon: int, scope: Scope, observation_end) -> dict:
    arms = arms or {a: ([], []) for a in Arm.values}
    curves = {arm: survival.kaplan_meier(*arms[arm]) for arm in Arm.values}
    treatment, control = curves[Arm.TREATMENT], curves[Arm.CONTROL]
    result = {
        "play": {"id": play.pk, "name": play.name, "moment": play.moment},
        "scope": scope.as_dict(),
        "primary_outcome": play.primary,
        "lower_is_better": play.primary in LOWER_IS_BETTER,
        "horizon_days": horizon,
        "observation_end": observation_end.isoformat(),
        "treatment": _arm_block(treatment, horizon),
        "control": _arm_block(control, horizon),
        "rmst_treatment_days": None,
        "rmst_control_days": None,
        "rmst_difference_days": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "significant": False,
        "definitions": DEFINITIONS,
        "method": "Kaplan-Meier (1958); RMST difference with Greenwood-type variances (Uno et al. 2014)",
    }
    note = _not_enough(play, treatment, control, horizon)
    if note:
        return {**result, "verdict": "not enough data yet", "note": note}
    difference = survival.rmst_difference(treatment, control, horizon)
    result.update(
        {
            "rmst_treatment_days": round(difference.treatment.estimate, 4),
            "rmst_control_days": round(difference.control.estimate, 4),
            "rmst_difference_days": round(difference.difference, 4),
            "se_days": round(difference.se, 4),
            "ci_low": round(difference.ci_low, 4),
            "ci_high": round(difference.ci_high, 4),
            "p_value": round(difference.p_value, 6),
            "significant": difference.ci_low > 0 or difference.ci_high < 0,
        }
    )
    result["verdict"] = _verdict(result)
    return result


def _not_enough(play: Play, treatment, control, horizon: int) -> str:
    if not control.n:
        return "No control arm: velocity needs the holdout to compare with."
    if min(treatment.n, control.n) < MIN_PER_ARM:
        return (
            f"Not enough data yet: {treatment.n:,} treatment and {control.n:,} control enrollments; "
            f"each arm needs {MIN_PER_ARM} for the interval to hold its 95%."
        )
    if not (treatment.total_events or control.total_events):
        return f"Not enough data yet: no enrollment has reached {play.primary} so far."
    # S is known up to the horizon when someone was followed that long, or everyone had the outcome.
    short = [c for c in (treatment, control) if c.max_time < horizon and c.at(c.max_time) > 0]
    if short:
        follow = min(c.max_time for c in short)
        return (
            f"Not enough follow-up yet for a {horizon}-day horizon: the longest in an arm is "
            f"{follow:.0f} days; choose a shorter horizon_days."
        )
    return ""


def _verdict(result: dict) -> str:
    if not result["significant"]:
        return "no measurable difference in timing: the 95% interval includes none"
    days = abs(result["rmst_difference_days"])
    # More days without the outcome: it comes later (for churn, the better way).
    when = "later" if result["rmst_difference_days"] > 0 else "sooner"
    return (
        f"{result['primary_outcome']} {when} with the play: {days:.1f} days on average "
        f"within {result['horizon_days']} days"
    )

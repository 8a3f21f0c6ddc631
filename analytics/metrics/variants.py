"""A journey's variants on its primary outcome: each variant's treated contacts against the
control arm, with the play lift's machinery (Newcombe interval, pooled z or Fisher test) and Holm's
adjustment over the variants (one family per journey).

The split is honest because both draws are random and made at entry: the holdout hash decides
the arm, an independent hash of (play, step, contact) decides the variant of the journey's first
send step (``Enrollment.variant``), and each variant arm is everyone assigned to it, texted or
not (intention-to-treat, like the lift). Rotation may text a contact another variant on a later
visit; the assignment, not the text received, is what is compared. Revenue as the primary outcome
is compared with the permutation test of its mean, per variant against control.

The unit is the contact, as in the play lift: each contact counts once, by its first enrollment in
the period (its arm and its variant); a contact enrolled again keeps its first assignment."""

from datetime import UTC, datetime, timedelta

from django.db.models import Case, Count, IntegerField, Q, Sum, Value, When

from analytics import stats
from analytics.metrics import lift
from analytics.scope import Scope
from plays.models import Arm, Enrollment, Play


def _rounded(result: dict) -> dict:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in result.items()}


def _flag(condition: Q):
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


def variant_results(play: Play, scope: Scope, *, window_days: int | None = None, now=None) -> dict:
    """Per-variant results of a journey on its primary outcome, by version too. One query for a
    rate outcome; revenue reads each contact's first matured enrollment's window revenue."""
    now = now or datetime.now(UTC)
    window = window_days or lift.DEFAULT_WINDOWS.get(play.moment, lift.DEFAULT_WINDOW_DAYS)
    matured_before = min(scope.end_at, now - timedelta(days=window))
    primary = play.primary
    enrollments = scope.segment(
        Enrollment.objects.filter(
            play=play, decided_at__gte=scope.start_at, decided_at__lt=scope.end_at
        ).filter(decided_at__lt=matured_before)
    ).filter(lift.first_per_contact(scope))
    answer = {
        "play": play.pk,
        "primary_outcome": primary,
        "window_days": window,
        "enrollments_matured_before": matured_before.isoformat(),
        "comparison": "each variant (everyone assigned to it) vs the control arm; Holm over variants",
        "unit": lift.UNIT_DEFINITION,
        "variants": [],
    }
    if primary == "revenue":
        return _revenue_variants(play, enrollments, window, answer)
    conditions = lift._outcome_conditions([play], window)
    if primary not in conditions:
        answer["note"] = f"This play has no {primary} outcome to compare."
        return answer
    rows = (
        enrollments.values("arm", "variant", "version")
        .annotate(n=Count("pk"), x=Sum(_flag(conditions[primary])))
        .order_by()
    )
    counts: dict[tuple[str, str], list[int]] = {}
    by_version: dict[tuple[int, str, str], list[int]] = {}
    for row in rows:
        key = ("control", "") if row["arm"] == Arm.CONTROL else ("treatment", row["variant"])
        total = counts.setdefault(key, [0, 0])
        total[0] += row["x"] or 0
        total[1] += row["n"]
        versioned = by_version.setdefault((row["version"], *key), [0, 0])
        versioned[0] += row["x"] or 0
        versioned[1] += row["n"]
    x_c, n_c = counts.get(("control", ""), [0, 0])
    answer["control"] = {"n": n_c, "successes": x_c, "rate": x_c / n_c if n_c else None}
    names = _variant_names(play, counts)
    answer["variants"] = _compared(
        [(name, *counts.get(("treatment", name), [0, 0])) for name in names], x_c, n_c
    )
    answer["by_version"] = [
        {
            "version": version,
            "control_n": by_version.get((version, "control", ""), [0, 0])[1],
            "variants": _compared(
                [(name, *by_version.get((version, "treatment", name), [0, 0])) for name in names],
                *by_version.get((version, "control", ""), [0, 0]),
            ),
        }
        for version in sorted({key[0] for key in by_version})
    ]
    return answer


def _variant_names(play: Play, counts: dict) -> list[str]:
    """The first send step's variants in order, then any others found in the log."""
    steps = play.journey_steps
    first = next((step for step in steps if step["type"] == "send"), None)
    names = [variant["name"] for variant in first["variants"]] if first else []
    return names + sorted({name for arm, name in counts if arm == "treatment" and name not in names})


def _compared(variants: list[tuple[str, int, int]], x_c: int, n_c: int) -> list[dict]:
    results = []
    for name, x, n in variants:
        result = stats.rate_lift(x, n, x_c, n_c).to_dict()
        results.append(
            {"variant": name, **{k: round(v, 6) if isinstance(v, float) else v for k, v in result.items()}}
        )
    adjusted = stats.holm_adjust([row["p_value"] for row in results])
    for row, p_value in zip(results, adjusted, strict=True):
        row["holm_p_value"] = None if p_value is None else round(p_value, 6)
        row["significant_after_holm"] = p_value is not None and p_value < 0.05
    return results


def _revenue_variants(play: Play, enrollments, window: int, answer: dict) -> dict:
    import numpy as np

    values: dict[tuple[str, str], list[float]] = {}
    for arm, variant, revenue in enrollments.annotate(revenue=lift._revenue(window)).values_list(
        "arm", "variant", "revenue"
    ):
        key = ("control", "") if arm == Arm.CONTROL else ("treatment", variant)
        values.setdefault(key, []).append(float(revenue or 0))
    control = np.array(values.get(("control", ""), []), dtype=float)
    answer["control"] = {"n": int(control.size)}
    rows = []
    for name in _variant_names(play, values):
        treated = np.array(values.get(("treatment", name), []), dtype=float)
        result = stats.permutation_lift(treated, control).to_dict()
        rows.append(
            {"variant": name, **{k: round(v, 6) if isinstance(v, float) else v for k, v in result.items()}}
        )
    adjusted = stats.holm_adjust([row.get("p_value") for row in rows])
    for row, p_value in zip(rows, adjusted, strict=True):
        row["holm_p_value"] = None if p_value is None else round(p_value, 6)
        row["significant_after_holm"] = p_value is not None and p_value < 0.05
    answer["variants"] = rows
    return answer

"""One entry point per analytics answer: parse its parameters, compute it (or reuse its snapshot).
The API, the dashboard and the scheduled refresh all go through here."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from analytics.assumptions import assumption_values
from analytics.metrics.arr import mrr_movements
from analytics.metrics.cohorts import BASES, DEFAULT_MONTHS, MAX_MONTHS, cohorts
from analytics.metrics.global_control import global_control
from analytics.metrics.health import sms_health
from analytics.metrics.lift import play_lift, plays_lift
from analytics.metrics.ltv import ltv
from analytics.metrics.maturity import maturity
from analytics.metrics.retention import DEFAULT_REPEAT_WINDOW_DAYS, retention
from analytics.metrics.roi import roi
from analytics.metrics.segments import with_segments
from analytics.metrics.sms_converted import DEFAULT_CHURN_DAYS, DEFAULT_WINDOW_DAYS, sms_converted
from analytics.metrics.subscription_clv import COHORT_KINDS, subscription_clv
from analytics.metrics.velocity import plays_velocity
from analytics.models import Snapshot
from analytics.scope import Scope, ScopeError, date_param, int_param, scope_from_params
from analytics.snapshots import snapshot_get_or_compute
from crm.models import Order
from plays.models import Play, PlayStatus

TIME_UNITS = ("day", "week")


@dataclass(frozen=True)
class Metric:
    compute: Callable[[Scope], dict]
    params: Callable[[Mapping, dict], dict] = lambda params, errors: {}


def _window(params, errors) -> dict:
    # 0: each play's moment decides (analytics.metrics.lift.DEFAULT_WINDOWS).
    return {"window_days": int_param(params, "window", 0, errors, lo=7, hi=365)}


def _cohort_params(params, errors) -> dict:
    basis = (params.get("basis") or "signup").strip()
    if basis not in BASES:
        errors["basis"] = f"'{basis}' is not one of: {', '.join(BASES)}."
    return {
        "basis": basis,
        "months": int_param(params, "months", DEFAULT_MONTHS, errors, lo=1, hi=MAX_MONTHS),
    }


# Cohorts need more history than a year to show annual renewals: without an explicit `start`
# they cover the last COHORT_DEFAULT_MONTHS months.
COHORT_DEFAULT_MONTHS = 36


def _retention_params(params, errors) -> dict:
    days = int_param(params, "repeat_window", DEFAULT_REPEAT_WINDOW_DAYS, errors, lo=7, hi=365)
    return {"repeat_window_days": days}


def _clv_params(params, errors) -> dict:
    unit = (params.get("time_unit") or "week").strip()
    if unit not in TIME_UNITS:
        errors["time_unit"] = f"'{unit}' is not one of: {', '.join(TIME_UNITS)}."
    given = date_param(params, "observation_end", errors)
    observation_end = given.isoformat() if given else ""
    months = int_param(params, "horizon_months", 12, errors, lo=1, hi=60)
    limit = int_param(params, "customers", CLV_CUSTOMERS_DEFAULT, errors, lo=0, hi=CLV_CUSTOMERS_MAX)
    return {
        "time_unit": unit,
        "observation_end": observation_end,
        "horizon_months": months,
        "customers": limit,
    }


def _velocity_params(params, errors) -> dict:
    play = int_param(params, "play", 0, errors, lo=1, hi=2**31 - 1)
    if play and not Play.objects.filter(pk=play).exists():
        errors["play"] = f"no play with id {play}."
    # 0: each play's moment decides (its lift window).
    return {"play": play, "horizon_days": int_param(params, "horizon_days", 0, errors, lo=1, hi=730)}


def _velocity(scope):
    extra = scope.extra
    if extra.get("play"):
        plays = list(Play.objects.filter(pk=extra["play"]))
    else:
        plays = list(Play.objects.exclude(status=PlayStatus.DRAFT).order_by("name"))
    horizon = extra.get("horizon_days") or None
    return {
        "scope": scope.as_dict(),
        "horizon_days": horizon,
        "plays": plays_velocity(plays, scope, horizon_days=horizon),
    }


# The CLV answer lists the most valuable customers; every customer counts in the fit and cohorts.
CLV_CUSTOMERS_DEFAULT, CLV_CUSTOMERS_MAX = 100, 5000


def _ltv(scope):
    return ltv(scope, assumption_values())


def _health(scope):
    return sms_health(scope)


def _maturity(scope):
    return maturity(scope, health=sms_health(scope))


def _roi(scope):
    values = assumption_values()
    return roi(
        scope,
        values,
        health=sms_health(scope),
        ltv_result=ltv(scope, values),
        window_days=scope.extra.get("window_days") or None,
    )


def _opt_out_days() -> int:
    return int(assumption_values()["opt_out_attribution_days"])


def _lift_all(scope):
    plays = list(Play.objects.exclude(status=PlayStatus.DRAFT).order_by("name"))
    window = scope.extra.get("window_days") or None
    return {
        "scope": scope.as_dict(),
        "window_days": window,
        "plays": plays_lift(plays, scope, window_days=window, opt_out_days=_opt_out_days()),
    }


def _clv(scope):
    from analytics.clv import clv_report

    extra = scope.extra
    observation_end = (
        date.fromisoformat(extra["observation_end"]) if extra.get("observation_end") else scope.end
    )
    report = clv_report(
        observation_end=observation_end,
        time_unit=extra.get("time_unit", "week"),
        horizon_months=extra.get("horizon_months", 12),
        orders=scope.segment(Order.objects.all()),
        margin=assumption_values()["gross_margin"],
    )
    everyone = report["customers"]
    report["customers"] = everyone[: extra.get("customers", CLV_CUSTOMERS_DEFAULT)]
    report["customers_listed"] = {"listed": len(report["customers"]), "of": len(everyone)}
    return {"scope": scope.as_dict(), **report}


def _health_model(scope):
    """The account health model as trained now (the period and segment filters do not apply:
    the model learns from the whole history)."""
    from analytics.scores.health import train

    return train().report


def _subscription_clv_params(params, errors) -> dict:
    kind = (params.get("cohort") or "year").strip()
    if kind not in COHORT_KINDS:
        errors["cohort"] = f"'{kind}' is not one of: {', '.join(COHORT_KINDS)}."
    return {"cohort": kind}


def _subscription_clv(scope):
    return subscription_clv(scope, assumption_values(), cohort=scope.extra["cohort"])


def _sms_converted_params(params, errors) -> dict:
    return {
        "window_days": int_param(params, "window_days", DEFAULT_WINDOW_DAYS, errors, lo=1, hi=90),
        "churn_days": int_param(params, "churn_days", DEFAULT_CHURN_DAYS, errors, lo=30, hi=730),
    }


def _sms_converted(scope):
    return sms_converted(scope, window_days=scope.extra["window_days"], churn_days=scope.extra["churn_days"])


METRICS: dict[str, Metric] = {
    "ltv": Metric(_ltv),
    "retention": Metric(
        lambda s: retention(s, repeat_window_days=s.extra["repeat_window_days"]), _retention_params
    ),
    "cohorts": Metric(lambda s: cohorts(s, basis=s.extra["basis"], months=s.extra["months"]), _cohort_params),
    "mrr-movements": Metric(mrr_movements),
    "sms-health": Metric(_health),
    "maturity": Metric(_maturity),
    "roi": Metric(_roi, _window),
    "lift": Metric(_lift_all, _window),
    "clv": Metric(_clv, _clv_params),
    "velocity": Metric(_velocity, _velocity_params),
    "global-control": Metric(global_control),
    "health-model": Metric(_health_model),
    "subscription-clv": Metric(_subscription_clv, _subscription_clv_params),
    "sms-converted": Metric(_sms_converted, _sms_converted_params),
}
# Refreshed by their own daily job (analytics.tasks.score_account_health), not every 30 minutes.
DAILY_METRICS = frozenset({"health-model"})


def health_model_latest() -> dict | None:
    """The health model's latest report, however old (the daily job stores one; the API's
    `health-model/` trains on demand); None before the first."""
    latest = Snapshot.objects.filter(metric="health-model").order_by("-computed_at").first()
    if latest is None:
        return None
    return {**latest.payload, "snapshot": {"computed_at": latest.computed_at.isoformat()}}


def parse(metric: str, params: Mapping, *, today: date | None = None) -> Scope:
    """The scope of one answer, with the metric's own parameters. Raises ScopeError."""
    errors: dict[str, str] = {}
    extra = METRICS[metric].params(params, errors)
    scope = scope_from_params(params, today=today, extra_errors=errors)
    if metric == "cohorts" and not (params.get("start") or "").strip():
        scope = replace(scope, start=_months_before(scope.end, COHORT_DEFAULT_MONTHS))
        if not (params.get("months") or "").strip():
            extra["months"] = COHORT_DEFAULT_MONTHS
    return replace(scope, extra=extra)


def _months_before(day: date, months: int) -> date:
    """The first day of the month ``months - 1`` months before ``day``'s month."""
    index = day.year * 12 + day.month - 1 - months + 1
    return date(index // 12, index % 12 + 1, 1)


def answer(metric: str, scope: Scope, *, refresh: bool = False) -> dict:
    return snapshot_get_or_compute(metric, scope, lambda: METRICS[metric].compute(scope), refresh=refresh)


def lift_for_play(play: Play, scope: Scope, *, refresh: bool = False) -> dict:
    keyed = replace(scope, extra={**scope.extra, "play": play.pk})
    window = scope.extra.get("window_days") or None
    return snapshot_get_or_compute(
        "play-lift",
        keyed,
        lambda: with_segments(
            play_lift(play, scope, window_days=window, opt_out_days=_opt_out_days()), play, scope
        ),
        refresh=refresh,
    )


__all__ = ["METRICS", "ScopeError", "answer", "lift_for_play", "parse"]

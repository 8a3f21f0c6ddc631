"""Analytics pages: the dashboard (charts and tables, CSV export of every table) and the ROI
assumptions (managers and admins edit them; every change is kept)."""

import csv
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from analytics import answers, charts, tables
from analytics.assumptions import assumption_list, assumption_update
from analytics.models import AssumptionChange
from analytics.scope import ScopeError
from crm.models import Account, AcquisitionChannel, LifecycleStage, User
from crm.roles import can_manage_program
from crm.templatetags.crm_ui import MINUS, currency_prefix

DASHBOARD_METRICS = (
    "ltv",
    "retention",
    "mrr-movements",
    "cohorts",
    "lift",
    "roi",
    "sms-health",
    "maturity",
    "velocity",
    "global-control",
    "subscription-clv",
    "sms-converted",
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def can_change_assumptions(user) -> bool:
    return can_manage_program(user)


def _answers(request) -> dict:
    refresh = request.GET.get("refresh") == "1"
    results = {}
    for metric in DASHBOARD_METRICS:
        scope = answers.parse(metric, request.GET)
        # Templates cannot look up "sms-health": the page's keys use underscores.
        results[metric.replace("-", "_")] = answers.answer(metric, scope, refresh=refresh)
    return results


def _float(value) -> float | None:
    return None if value in (None, "") else float(value)


def velocity_shown(results: dict, requested: str | None) -> dict | None:
    """The play whose curves the dashboard draws: the one asked for (``velocity_play``), else the
    first with a significant difference, else the first with an estimate, else the first."""
    plays = results["velocity"]["plays"]
    if requested and requested.isdigit():
        for play in plays:
            if play["play"]["id"] == int(requested):
                return play
    for test in (lambda p: p["significant"], lambda p: p["rmst_difference_days"] is not None, bool):
        chosen = next((p for p in plays if test(p)), None)
        if chosen:
            return chosen
    return None


def _velocity_chart(play: dict | None) -> str:
    if play is None:
        return charts.no_data_svg("Lifecycle velocity", kind="step")
    return charts.step_chart(
        [("Treatment", play["treatment"]["curve"]), ("Control (holdout)", play["control"]["curve"])],
        title=f"{play['play']['name']}: share that reached {play['primary_outcome']}, by day",
        y_label=f"Reached {play['primary_outcome']}",
    )


GLOBAL_CONTROL_ROWS = (
    # key, label, field of the answer, format of the groups, format of the difference, words
    (
        "revenue",
        "Revenue per contact in the period",
        "revenue_per_contact",
        "money",
        "money",
        "higher",
        "lower",
    ),
    ("opt-outs", "Opt-out rate in the period", "opt_outs", "percent", "points", "more", "fewer"),
)


def global_control_rows(answer: dict) -> list[dict]:
    """The dashboard's rows for the programme vs the global control, formatted."""
    rows = []
    for key, label, field, kind, difference_kind, more, fewer in GLOBAL_CONTROL_ROWS:
        block = answer.get(field)
        if not block:
            continue
        mean = "mean" if kind == "money" else "rate"

        def shown(value, fmt=kind):
            if fmt == "money" and value is not None:  # in the team's currency, as every amount shown
                text = charts.format_value(abs(value), fmt, decimals=2)
                return f"{MINUS if value < 0 else ''}{currency_prefix()}{text}"
            return charts.format_value(value, fmt, decimals=2)

        row = {
            "key": key,
            "label": label,
            "programme": f"{shown(block[f'treatment_{mean}'])} ({block['treatment_n']:,} contacts)",
            "control": f"{shown(block[f'control_{mean}'])} ({block['control_n']:,} contacts)",
            "difference": None,
            "note": block.get("note") or "Not enough data yet.",
        }
        if block.get("absolute_lift") is not None and block.get("ci_low") is not None:
            word = more if block["absolute_lift"] > 0 else fewer
            low, high = shown(block["ci_low"], difference_kind), shown(block["ci_high"], difference_kind)
            row.update(
                {
                    "difference": shown(block["absolute_lift"], difference_kind),
                    "interval": f"{low} to {high}",
                    "reading": f"{word} with the programme"
                    if block["significant"]
                    else "no measurable effect",
                }
            )
        rows.append(row)
    return rows


def _charts(results: dict, velocity_play: dict | None = None) -> dict:
    cohort_rows = results["cohorts"]["cohorts"]
    months = results["cohorts"]["months"]
    columns = [str(k) for k in range(months)]
    retained = [(c["cohort"], [cell["retained"] for cell in c["cells"]]) for c in cohort_rows]
    nrr = [(c["cohort"], [cell["nrr"] for cell in c["cells"]]) for c in cohort_rows]
    # Six cohorts spread over the period (newest first, every third month), so the lines show
    # value building up over different lengths of life.
    recent = list(reversed(cohort_rows[::-3][:6]))
    trend = [
        (c["cohort"], [_float(cell["cumulative_revenue_per_customer"]) for cell in c["cells"]])
        for c in recent
    ]
    revenue = results["retention"]["net_revenue_retention"]["inputs"]
    lifts = []
    for play in results["lift"]["plays"]:
        if play["primary_outcome"] == "revenue":
            continue  # money, not a rate: its verdict is in the lift table below the chart
        outcome = play.get("outcomes", {}).get(play["primary_outcome"]) or {}
        estimate, low, high = (outcome.get(k) for k in ("absolute_lift", "ci_low", "ci_high"))
        if play["lower_is_better"] and estimate is not None:
            # Churn: plotted as the reduction, so right of zero is better for every play.
            estimate, low, high = -estimate, -high, -low
        label = play["play"]["name"] + (" *" if play["observational"] else "")
        lifts.append((label, estimate, low, high))
    leakage = [(row["play"]["name"], _float(row["opt_out_leakage"])) for row in results["roi"]["plays"]]
    return {
        name: mark_safe(svg)  # noqa: S308 - the chart module escapes every label it draws
        for name, svg in {
            "retention_heatmap": charts.cohort_heatmap(
                retained,
                columns=columns,
                title="Retained share by sign-up cohort",
                x_label="Months since sign-up",
            ),
            "nrr_heatmap": charts.cohort_heatmap(
                nrr,
                columns=columns,
                title="Net revenue retention by cohort",
                x_label="Months since sign-up",
                vmin=0,
                vmax=1.5,
            ),
            "ltv_trend": charts.line_chart(
                trend,
                x_labels=columns,
                title="Cumulative revenue per customer (LTV to date) by sign-up cohort",
                x_label="Months since sign-up",
            ),
            "nrr_waterfall": charts.nrr_waterfall(
                start=_float(revenue["starting_arr"]) or 0,
                expansion=_float(revenue["expansion"]) or 0,
                contraction=_float(revenue["contraction"]) or 0,
                churn=_float(revenue["churn"]) or 0,
                start_label="ARR at start",
                end_label="Same customers' ARR at end",
            ),
            "lift": charts.lift_chart(
                lifts,
                title="Lift of each play on its primary outcome (95% CI)",
                x_label="Improvement, treatment vs control (churn: reduction)",
            ),
            "velocity": _velocity_chart(velocity_play),
            "leakage": charts.bar_chart(
                leakage,
                value_format="money",
                title="Opt-out leakage (incremental, vs holdout) by play: lifetime value lost",
            ),
        }.items()
    }


def _filter_context(request) -> dict:
    return {
        "channels": AcquisitionChannel.choices,
        "stages": LifecycleStage.choices,
        "plans": Account.objects.exclude(plan="").values_list("plan", flat=True).distinct().order_by("plan"),
        "owners": User.objects.filter(is_active=True).order_by("first_name", "username"),
        "values": request.GET,
    }


def dashboard(request):
    try:
        results = _answers(request)
    except ScopeError as exc:
        context = {"errors": exc.errors, **_filter_context(request)}
        return render(request, "analytics/dashboard.html", context, status=400)
    built = [builder(results[source.replace("-", "_")]) for source, builder in tables.TABLES.values()]
    velocity_play = velocity_shown(results, request.GET.get("velocity_play"))
    context = {
        "r": results,
        "velocity_play": velocity_play,
        "global_rows": global_control_rows(results["global_control"])
        + global_retention_rows(results["global_control"]),
        "health_model": answers.health_model_latest(),
        "charts": _charts(results, velocity_play),
        # The page shows the value table compact (it fits its card); its CSV keeps every column.
        "tables": {table.name: table for table in built}
        | {
            "roi": tables.roi_page(results["roi"]),
            "lift_summary": tables.lift_summary_page(results["lift"]),
        },
        "snapshot": datetime.fromisoformat(min(r["snapshot"]["computed_at"] for r in results.values())),
        "query": request.GET.urlencode(),
        **_filter_context(request),
    }
    return render(request, "analytics/dashboard.html", context)


def global_retention_rows(answer: dict) -> list[dict]:
    """NRR and GRR of the programme's accounts and the global control's (unit ``account``), with
    the difference in points and its interval once there are enough accounts."""
    retention = answer.get("retention")
    if not retention or not retention.get("compared"):
        return []
    rows = []
    for key, label in (("nrr", "Net revenue retention (NRR)"), ("grr", "Gross revenue retention (GRR)")):
        sides = {}
        for side in ("programme", "control"):
            block = retention[side]
            accounts = block["inputs"]["accounts_at_start"]
            sides[side] = f"{charts.format_value(block[key], 'percent')} ({accounts:,} accounts)"
        row = {
            "key": key,
            "label": label,
            **sides,
            "difference": None,
            "note": retention.get("note") or "Nothing varies to compare yet.",
        }
        difference = retention.get(f"{key}_difference")
        if difference:
            low = charts.format_value(difference["ci_low"], "points")
            high = charts.format_value(difference["ci_high"], "points")
            reading = "no measurable effect"
            if difference["significant"]:
                reading = f"{'higher' if difference['difference'] > 0 else 'lower'} with the programme"
            row.update(
                {
                    "difference": charts.format_value(difference["difference"], "points"),
                    "interval": f"{low} to {high}",
                    "reading": reading,
                }
            )
        rows.append(row)
    return rows


class _Echo:
    def write(self, value):
        return value


def _safe(cell) -> str:
    """Spreadsheet formula injection guard: text starting like a formula is prefixed with a quote."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_START) and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def export_table(request, name: str):
    if name not in tables.TABLES:
        raise Http404("No such table.")
    source, builder = tables.TABLES[name]
    try:
        scope = answers.parse(source, request.GET)
    except ScopeError as exc:
        return HttpResponse(
            "; ".join(f"{k}: {v}" for k, v in exc.errors.items()), status=400, content_type="text/plain"
        )
    table = builder(answers.answer(source, scope))
    writer = csv.writer(_Echo())
    rows = (writer.writerow([_safe(cell) for cell in row]) for row in [table.headers, *table.rows])
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{scope.start}-{scope.end}.csv"'
    return response


def assumptions(request):
    context = {
        "assumptions": assumption_list(),
        "changes": AssumptionChange.objects.select_related("assumption", "changed_by")[:50],
        "can_change": can_change_assumptions(request.user),
    }
    return render(request, "analytics/assumptions.html", context)


@require_POST
def assumption_change(request, key: str):
    if not can_change_assumptions(request.user):
        raise PermissionDenied("Only managers and admins can change the ROI assumptions.")
    known = {a.key: a for a in assumption_list()}
    if key not in known:
        raise Http404("No such assumption.")
    raw = request.POST.get("value", "").strip()
    try:
        assumption_update(key=key, value=Decimal(raw), actor=request.user)
    except InvalidOperation:
        messages.error(request, f"{known[key].label}: '{raw}' is not a number.")
        return _assumptions_with_status(request, 400)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _assumptions_with_status(request, 400)
    messages.success(request, f"{known[key].label} updated.")
    return redirect("analytics_assumptions")


def _assumptions_with_status(request, status: int):
    response = assumptions(request)
    response.status_code = status
    return response


def play_variants(request, pk: int):
    """A journey's per-variant results on its primary outcome (the play page loads it with htmx),
    with a "promote" button per variant for managers."""
    from django.shortcuts import get_object_or_404

    from analytics.metrics.variants import variant_results
    from plays.models import Play

    play = get_object_or_404(Play, pk=pk)
    try:
        scope = answers.parse("lift", request.GET)
    except ScopeError:
        scope = answers.parse("lift", {})
    results = variant_results(play, scope, window_days=scope.extra.get("window_days") or None)
    steps = play.journey_steps
    first = next((index for index, step in enumerate(steps) if step["type"] == "send"), None)
    return render(
        request,
        "analytics/partials/play_variants.html",
        {
            "play": play,
            "results": results,
            "first_send": first,
            "weights": {
                v["name"]: v.get("weight", 1) for v in (steps[first]["variants"] if first is not None else [])
            },
        },
    )


def play_lift(request, pk: int):
    """One play's lift page: its primary outcome overall, split by CLV tier, health band and
    lifecycle stage, and the recommendation (promote, keep testing, retarget, retire)."""
    from django.shortcuts import get_object_or_404

    from plays.models import Play

    play = get_object_or_404(Play, pk=pk)
    try:
        scope = answers.parse("lift", request.GET)
    except ScopeError:
        scope = answers.parse("lift", {})
    result = answers.lift_for_play(play, scope, refresh=request.GET.get("refresh") == "1")
    return render(
        request,
        "analytics/play_lift.html",
        {"play": play, "r": result},
    )

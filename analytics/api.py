"""REST API of analytics: every answer as JSON with the inputs it used, filtered by period
(`start`, `end`) and segment (`plan`, `acquisition_channel`, `owner`, `lifecycle_stage`);
and the ROI assumptions, which managers and admins may change."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import answers
from analytics.assumptions import assumption_list, assumption_update
from analytics.metrics.variants import variant_results
from analytics.models import Assumption
from analytics.scope import ScopeError
from crm.roles import ManagerOrReadOnly
from plays.models import Play

SCOPE_PARAMETERS = [
    OpenApiParameter(
        "start", OpenApiTypes.DATE, description="First day of the period (default: a year before `end`)."
    ),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day of the period (default: today, UTC)."),
    OpenApiParameter("plan", str, description="Only accounts on this plan."),
    OpenApiParameter("acquisition_channel", str, description="Only accounts from this channel."),
    OpenApiParameter("owner", int, description="Only accounts owned by this user id."),
    OpenApiParameter("lifecycle_stage", str, description="Only accounts in this lifecycle stage."),
    OpenApiParameter("refresh", bool, description="`1`: recompute instead of reusing a recent snapshot."),
]
WINDOW_HELP = (
    "Days after each decision an outcome counts (7-365). Default by moment: onboarding and adoption 14, "
    "renewal 90, risk 120, expansion 90, reactivation 30."
)
EXTRA_PARAMETERS = {
    "cohorts": [
        OpenApiParameter(
            "basis", str, enum=["signup", "first_order"], description="Cohort by sign-up or first order."
        ),
        OpenApiParameter(
            "months", int, description="Months since the cohort start to show (1-36, default 12)."
        ),
    ],
    "retention": [
        OpenApiParameter("repeat_window", int, description="Days for the repeat purchase rate (default 90)."),
    ],
    "roi": [
        OpenApiParameter("window", int, description="Days after enrollment outcomes count (default 90).")
    ],
    "lift": [
        OpenApiParameter("window", int, description="Days after enrollment outcomes count (default 90).")
    ],
    "velocity": [
        OpenApiParameter("play", int, description="Only this play (default: every live play)."),
        OpenApiParameter(
            "horizon_days",
            int,
            description=(
                "Horizon of the restricted mean time (1-730 days). Default: each play's lift window "
                "by moment (onboarding and adoption 14, renewal 90, risk 120, expansion 90, "
                "reactivation 30)."
            ),
        ),
    ],
    "clv": [
        OpenApiParameter(
            "observation_end", OpenApiTypes.DATE, description="Calibration end (default: `end`)."
        ),
        OpenApiParameter(
            "time_unit",
            str,
            enum=["day", "week"],
            description=(
                "Unit of recency, T and the BG/NBD alpha: week (the default, as in the paper) is "
                "whole days / 7; day is whole days."
            ),
        ),
        OpenApiParameter("horizon_months", int, description="Months to predict (default 12)."),
        OpenApiParameter(
            "customers", int, description="How many customers to list, most valuable first (default 100)."
        ),
    ],
    "subscription-clv": [
        OpenApiParameter(
            "cohort",
            str,
            enum=["year", "quarter"],
            description="Sign-up cohorts by year (default) or quarter of the account's signed_up_at.",
        ),
    ],
    "sms-converted": [
        OpenApiParameter(
            "window_days",
            int,
            description="Days before the first purchase a tracked SMS link click converts (1-90, default 7).",
        ),
        OpenApiParameter(
            "churn_days",
            int,
            description=(
                "A customer is churned with no purchase in the period's last churn_days "
                "(30-730, default 180)."
            ),
        ),
    ],
}
DESCRIPTIONS = {
    "global-control": (
        "The whole programme against the global control group (GLOBAL_CONTROL_PERCENT of contacts by "
        "a stable hash of the contact id and GLOBAL_CONTROL_SALT, never texted automatically): revenue "
        "per contact (permutation test and interval) and the opt-out rate (Newcombe interval), "
        "programme - control; 'not enough data yet' when too small; off when the percent is 0."
    ),
    "velocity": (
        "Lifecycle velocity: days from the trigger (enrollment) to the play's primary outcome, "
        "treatment vs control, as Kaplan-Meier curves (share reached by day) and the difference in "
        "restricted mean time without the outcome up to the horizon, with its 95% interval; "
        "enrollments without the outcome by the observation end are censored."
    ),
    "health-model": (
        "The account health model: source (a model trained on this team's renewals, or the rules "
        "while the history is too small), labelled renewals and churns, the time-based backtest "
        "(AUC on the held-out period and a calibration table), coefficients, features and "
        "definitions. Period and segment filters do not apply."
    ),
    "ltv": "Purchase-based and subscription LTV with their inputs; LTV:CAC by acquisition channel.",
    "cohorts": "Cohort triangle: retained share, cumulative revenue per customer and NRR by months since.",
    "retention": (
        "NRR and GRR on the ARR of customers active at the start; net renewal rate, renewal rates by "
        "count and ACV, logo churn, expansion conversion, repeat buying (refunds excluded)."
    ),
    "mrr-movements": (
        "ARR/MRR movements by month (new, expansion, contraction, churn, reactivation) from contract "
        "terms, with NRR and GRR of the customers active at the period start."
    ),
    "roi": (
        "Each play's incremental value from its primary outcome minus its opt-out leakage (incremental, "
        "vs holdout), with 95% intervals, and the programme total (MOVER sum); time saved apart; ROI "
        "only over a complete cost base. Since issue 17 `net`, `opt_out_leakage` and "
        "`opt_out_leakage.lost_value` carry these corrected meanings; per-play `roi` is null "
        "(deprecated: costs are not allocated to plays)."
    ),
    "sms-health": "Delivery, reply, click and opt-out rates by play; median first response; SLA attainment.",
    "maturity": "Program maturity stage 1-3 per dimension, with the evidence and the next step.",
    "clv": "BG/NBD + Gamma-Gamma fit on orders: parameters, per-customer and per-cohort predictions.",
    "subscription-clv": (
        "Subscription LTV by sign-up cohort: the shifted-beta-geometric model (Fader & Hardie 2007) "
        "fitted on contract renewals, alpha and beta, observed and projected retention by period, "
        "discounted expected (residual) lifetime (Fader & Hardie 2010) and LTV; constant churn "
        "where a cohort is too small."
    ),
    "sms-converted": (
        "Customers whose first purchase came within window_days after a tracked SMS link click, against the "
        "other customers acquired in the period: LTV to date, AOV, repeat purchase rate and churn."
    ),
    "lift": (
        "Lift of every live play (treatment vs control), with each play's opt-out leakage "
        "(incremental opt-outs vs the holdout, Newcombe interval)."
    ),
}


def _refresh(request) -> bool:
    return request.query_params.get("refresh", "").lower() in ("1", "true", "yes")


class MetricView(APIView):
    metric = ""

    def get(self, request):
        try:
            scope = answers.parse(self.metric, request.query_params)
            return Response(answers.answer(self.metric, scope, refresh=_refresh(request)))
        except ScopeError as exc:
            raise ValidationError({name: [message] for name, message in exc.errors.items()}) from None
        except ValueError as exc:  # the data cannot answer (e.g. too few repeat buyers to fit)
            raise ValidationError({"detail": [str(exc)]}) from None


def metric_view(metric: str) -> type[MetricView]:
    """A view class for one metric, with its own documented operation."""

    @extend_schema(
        operation_id=f"analytics_{metric.replace('-', '_')}",
        summary=DESCRIPTIONS[metric],
        parameters=SCOPE_PARAMETERS + EXTRA_PARAMETERS.get(metric, []),
        responses={200: OpenApiTypes.OBJECT},
        tags=["analytics"],
    )
    def get(self, request):
        return MetricView.get(self, request)

    return type(f"{metric.title().replace('-', '')}View", (MetricView,), {"metric": metric, "get": get})


class PlayLiftView(APIView):
    @extend_schema(
        operation_id="analytics_play_lift",
        summary="One play's lift: treatment vs control within the window, CIs, p-values, strata.",
        description="Also `segments`: the primary outcome split by CLV tier, health band and lifecycle "
        "stage (values at entry: as each enrollment recorded them; 'not recorded' for older ones, never "
        "recommended on), Holm-adjusted within each dimension, 'too small to tell' where no split "
        "could be significant; and `recommendation`: promote, keep_testing, retarget (with the segment) or "
        "retire, with its evidence in words (rules in analytics/DEFINITIONS.md).",
        parameters=SCOPE_PARAMETERS + EXTRA_PARAMETERS["lift"],
        responses={200: OpenApiTypes.OBJECT},
        tags=["analytics"],
    )
    def get(self, request, id: int):
        play = get_object_or_404(Play, pk=id)
        try:
            scope = answers.parse("lift", request.query_params)
        except ScopeError as exc:
            raise ValidationError({name: [message] for name, message in exc.errors.items()}) from None
        return Response(answers.lift_for_play(play, scope, refresh=_refresh(request)))


class PlayVariantsView(APIView):
    @extend_schema(
        operation_id="analytics_play_variants",
        summary="A journey's variants on its primary outcome: each vs control, Newcombe CIs, Holm-adjusted.",
        description="Each variant arm is everyone assigned to the variant of the journey's first send "
        "step (stable per contact), texted or not, compared with the control arm within the play's "
        "window; `by_version` splits the same by the play version the contacts entered.",
        parameters=SCOPE_PARAMETERS + EXTRA_PARAMETERS["lift"],
        responses={200: OpenApiTypes.OBJECT},
        tags=["analytics"],
    )
    def get(self, request, id: int):
        play = get_object_or_404(Play, pk=id)
        try:
            scope = answers.parse("lift", request.query_params)
        except ScopeError as exc:
            raise ValidationError({name: [message] for name, message in exc.errors.items()}) from None
        return Response(variant_results(play, scope, window_days=scope.extra.get("window_days") or None))


class AssumptionSerializer(serializers.ModelSerializer):
    updated_by = serializers.SerializerMethodField(help_text="Who last changed it (empty for the default).")

    def get_updated_by(self, obj) -> str | None:
        return None if obj.updated_by is None else str(obj.updated_by)

    class Meta:
        model = Assumption
        fields = ["key", "label", "value", "unit", "help_text", "updated_by", "updated_at"]
        read_only_fields = ["key", "label", "unit", "help_text", "updated_by", "updated_at"]


class AssumptionListView(APIView):
    @extend_schema(
        responses=AssumptionSerializer(many=True), tags=["analytics"], operation_id="analytics_assumptions"
    )
    def get(self, request):
        return Response(AssumptionSerializer(assumption_list(), many=True).data)


class AssumptionDetailView(APIView):
    permission_classes = [permissions.IsAuthenticated, ManagerOrReadOnly]

    @extend_schema(
        request=inline_serializer(
            "AssumptionUpdate", {"value": serializers.DecimalField(max_digits=14, decimal_places=4)}
        ),
        responses=AssumptionSerializer,
        tags=["analytics"],
        operation_id="analytics_assumption_update",
    )
    def patch(self, request, key: str):
        assumption_list()  # make sure the defaults exist
        get_object_or_404(Assumption, key=key)
        field = serializers.DecimalField(max_digits=14, decimal_places=4)
        if "value" not in request.data:
            raise ValidationError({"value": ["This field is required."]})
        try:
            value = field.run_validation(request.data["value"])
        except serializers.ValidationError as exc:
            raise ValidationError({"value": exc.detail}) from None
        try:
            assumption = assumption_update(key=key, value=value, actor=request.user)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return Response(AssumptionSerializer(assumption).data, status=status.HTTP_200_OK)

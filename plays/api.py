"""REST API of plays: definitions, their lifecycle, dry runs, runs and the exposure log."""

import django_filters
from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import generics, mixins, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.dates import BoundedDateTimeField
from core.filters import updated_after_filter
from core.pagination import FeedPagination
from crm.roles import ManagerOrReadOnly
from plays import services, triggers
from plays.engine import play_run
from plays.models import Arm, Enrollment, EnrollmentState, Outcome, Play, PlayStatus

# --- Serializers ------------------------------------------------------------------------


STEPS_HELP = (
    "A journey's ordered steps, index 0 first; [] (the default) sends `template` once. Step objects: "
    '`{"type": "send", "variants": [{"name": "A", "template": "...", "weight": 1}, ...]}` (1-5 variants; '
    "each contact gets one, by weight, stable per contact; a contact never gets the same variant twice "
    'within `cooldown_days`); `{"type": "wait", "minutes"|"hours"|"days"|"business_hours": N}` or '
    '`{"type": "wait", "until": "weekday_morning", "hour": 9}` (the contact\'s time zone); '
    '`{"type": "task", "title": "...", "assignee": "owner"|"manager", "due_hours": 24}` (manager: the '
    "owner's manager, else the owner, else unassigned with a note); "
    '`{"type": "branch", "if": "replied"|"clicked"|"intent:<intent>"|"event:<name>", "then": i, "else": j}` '
    "(looks since the last wait began; `else` defaults to the next step; an index equal to the number of "
    "steps ends the journey). Every loop must pass a wait. Each send step goes through governance when "
    "it is reached."
)
EXIT_ON_HELP = (
    'What ends an enrollment at once: "reply", "opt_out", "deal_opened" (a deal on the contact or its '
    'account), "event:<name>".'
)


AUDIENCE_HELP = (
    "Who may get it; {} is everyone. Keys: lifecycle_stages (the account's effective stage, derived "
    "or overridden), plans, owners (user ids), account_attributes ({key: value}), clv_tiers "
    "(high/mid/low), health_bands (good/watch/at_risk), p_alive_min / p_alive_max (0-1). A contact "
    "not scored matches no tier, band or P(alive) filter. Bad keys or values: 400 naming the key."
)


class PlaySerializer(serializers.ModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.all(),
        required=False,
        allow_null=True,
        help_text="The user responsible for the play; defaults to the caller.",
    )
    status = serializers.ChoiceField(
        choices=PlayStatus.choices,
        required=False,
        help_text="New plays start as `draft`. Changes follow draft -> active <-> paused, any -> retired "
        "(final); the activate/pause/retire actions do the same.",
    )

    class Meta:
        model = Play
        fields = [
            "id",
            "name",
            "moment",
            "trigger",
            "audience",
            "template",
            "next_step",
            "steps",
            "exit_on",
            "version",
            "cooldown_days",
            "holdout_percent",
            "primary_outcome",
            "status",
            "owner",
            "link_url",
            "activated_at",
            "last_run_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "version", "activated_at", "last_run_at", "created_at", "updated_at"]
        extra_kwargs = {
            "trigger": {"help_text": triggers.api_help()},
            "audience": {"help_text": AUDIENCE_HELP},
            "steps": {"help_text": STEPS_HELP},
            "exit_on": {"help_text": EXIT_ON_HELP},
        }


class EnrollmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Enrollment
        fields = [
            "id",
            "play",
            "contact",
            "account",
            "occurrence",
            "arm",
            "outcome",
            "reason",
            "message",
            "decided_at",
            "step",
            "state",
            "exit_reason",
            "variant",
            "version",
            "next_at",
        ]
        read_only_fields = fields


def _counts(name: str, keys, optional=()) -> serializers.Serializer:
    return inline_serializer(
        name, fields={key: serializers.IntegerField(required=key not in optional) for key in keys}
    )


class PromoteSerializer(serializers.Serializer):
    step = serializers.IntegerField(min_value=0, help_text="Index of the send step.")
    variant = serializers.CharField(max_length=20, help_text="Name of the variant to give weight 100.")


class RunSampleSerializer(serializers.Serializer):
    contact = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=[Outcome.SENT, Outcome.DEFERRED])
    send_at = BoundedDateTimeField(allow_null=True)
    body = serializers.CharField()


class AdvanceResultSerializer(serializers.Serializer):
    moved = serializers.IntegerField(help_text="Enrollments that were due and took steps.")
    texts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Send steps by outcome: sent, deferred (quiet hours: queued for the window), "
        "suppressed (the enrollment exits), failed, held (a cap or deferral: the step is tried again).",
    )
    tasks_created = serializers.IntegerField()
    waiting = serializers.IntegerField(help_text="Enrollments now waiting at a wait step.")
    held = serializers.IntegerField(help_text="Enrollments whose send step governance held back for now.")
    completed = serializers.IntegerField()
    exited = serializers.DictField(child=serializers.IntegerField(), help_text="Exits by reason.")


class RunResultSerializer(serializers.Serializer):
    play = serializers.IntegerField()
    dry_run = serializers.BooleanField()
    candidates = serializers.IntegerField(help_text="Trigger occurrences found for the audience.")
    already_decided = serializers.IntegerField(help_text="Occurrences decided by an earlier run (skipped).")
    decided = serializers.IntegerField()
    arms = _counts("RunArms", Arm.values)
    outcomes = _counts("RunOutcomes", Outcome.values, optional=(Outcome.ENTERED,))
    reasons = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Decisions per reason, e.g. `holdout`, `consent:opted_out`.",
    )
    samples = RunSampleSerializer(many=True, help_text="A few of the rendered texts.")
    tasks_created = serializers.IntegerField()
    advanced = AdvanceResultSerializer(
        allow_null=True,
        help_text="A journey's run also advances its enrollments whose wait has elapsed; null for a "
        "one-text play and for a dry run.",
    )


# --- Filters ----------------------------------------------------------------------------


class PlayFilter(django_filters.FilterSet):
    updated_after = updated_after_filter()

    class Meta:
        model = Play
        fields = ["status", "moment", "owner"]


class EnrollmentFilter(django_filters.FilterSet):
    arm = django_filters.ChoiceFilter(choices=Arm.choices)
    outcome = django_filters.ChoiceFilter(choices=Outcome.choices)
    state = django_filters.ChoiceFilter(choices=EnrollmentState.choices)
    decided_after = django_filters.IsoDateTimeFilter(field_name="decided_at", lookup_expr="gte")
    decided_before = django_filters.IsoDateTimeFilter(field_name="decided_at", lookup_expr="lt")

    class Meta:
        model = Enrollment
        fields = ["arm", "outcome", "state", "variant", "contact", "account"]


# --- Views ------------------------------------------------------------------------------

CONFLICT = inline_serializer("PlayConflict", fields={"detail": serializers.CharField()})
NOT_FOUND = OpenApiResponse(description="No such play")


@extend_schema_view(
    list=extend_schema(summary="Plays"),
    retrieve=extend_schema(summary="One play"),
    create=extend_schema(
        summary="Create a play (a draft unless `status` says active)",
        responses={201: PlaySerializer, 400: OpenApiResponse(description="Bad input, each field named")},
    ),
    partial_update=extend_schema(
        summary="Edit a play",
        responses={
            200: PlaySerializer,
            400: OpenApiResponse(description="Bad input, each field named"),
            409: OpenApiResponse(CONFLICT, description="Retired plays cannot be changed"),
        },
    ),
)
class PlayViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Lifecycle plays. `trigger` is an object with `type` and that type's parameters; the
    types and their parameters are listed on the field."""

    queryset = Play.objects.all()
    serializer_class = PlaySerializer
    filterset_class = PlayFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "updated_at", "last_run_at", "id"]
    ordering = ["name", "id"]
    http_method_names = ["get", "post", "patch", "head", "options"]
    permission_classes = [permissions.IsAuthenticated, ManagerOrReadOnly]
    safe_actions = ("preview",)  # a dry run writes nothing

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.setdefault("owner", self.request.user)
        try:
            serializer.instance = services.play_create(**data)
        except services.PlayStateError as exc:
            raise serializers.ValidationError({"status": [str(exc)]}) from None

    def update(self, request, *args, **kwargs):
        play = self.get_object()
        serializer = self.get_serializer(play, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        # PlayStateError (a retired play, a move its status forbids) answers 409 (core.errors).
        play = services.play_update(play=play, status=data.pop("status", None), **data)
        return Response(self.get_serializer(play).data)

    def _transition(self, change) -> Response:
        play = change(play=self.get_object())
        return Response(self.get_serializer(play).data)

    @extend_schema(
        summary="Activate: the play starts running (from draft or paused)",
        request=None,
        responses={200: PlaySerializer, 404: NOT_FOUND, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        return self._transition(services.play_activate)

    @extend_schema(
        summary="Pause: the play stops running until activated again",
        request=None,
        responses={200: PlaySerializer, 404: NOT_FOUND, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._transition(services.play_pause)

    @extend_schema(
        summary="Retire: the play stops for good; its enrollment log stays for measurement",
        request=None,
        responses={200: PlaySerializer, 404: NOT_FOUND, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        return self._transition(services.play_retire)

    @extend_schema(
        summary="Promote a variant: weight 100 for it, 0 for the step's others",
        description="Every contact entering from now on gets this variant of the send step. Editing "
        "the steps of a play that has run starts a new version (enrollments keep the one they entered).",
        request=PromoteSerializer,
        responses={200: PlaySerializer, 400: OpenApiResponse(description="No such send step or variant")},
    )
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        given = PromoteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        play = services.play_variant_promote(play=self.get_object(), **given.validated_data)
        return Response(self.get_serializer(play).data)

    @extend_schema(
        summary="Dry run now: what a run would decide, with sample texts; writes nothing",
        request=None,
        responses={200: RunResultSerializer, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        result = play_run(self.get_object(), dry_run=True)
        return Response(RunResultSerializer(result.as_dict()).data)

    @extend_schema(
        summary="Run now (what the schedule does)",
        description="Only an active play runs: a draft, paused or retired play, or one already "
        "running, answers 409 with the reason.",
        request=None,
        responses={200: RunResultSerializer, 404: NOT_FOUND, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        result = play_run(self.get_object())  # PlayNotRunnable answers 409 (core.errors)
        return Response(RunResultSerializer(result.as_dict()).data)


@extend_schema(summary="A play's exposure log: who was decided, in which arm, with what outcome")
class EnrollmentListView(generics.ListAPIView):
    serializer_class = EnrollmentSerializer
    filterset_class = EnrollmentFilter
    pagination_class = FeedPagination
    ordering_fields = ["decided_at", "id"]
    ordering = ["-decided_at", "-id"]
    search_fields = ["occurrence", "reason"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Enrollment.objects.none()
        play = get_object_or_404(Play, pk=self.kwargs["id"])
        return Enrollment.objects.filter(play=play)

"""REST API of the SMS module: the consent ledger and messages."""

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.models import Contact
from sms.media import media_view_url
from sms.models import ConsentAction, ConsentEvent, ConsentSource, Direction, Message, MessageStatus
from sms.segments import MAX_BODY_CHARS
from sms.services.consent import consent_record
from sms.services.scheduling import message_cancel, message_reschedule, message_schedule
from sms.services.sending import message_send
from sms.services.suppression import PERSON_ONLY_SOURCES

# --- Consent ----------------------------------------------------------------------------


class ConsentEventSerializer(serializers.ModelSerializer):
    contact = serializers.PrimaryKeyRelatedField(queryset=Contact.objects.all())
    action = serializers.ChoiceField(choices=ConsentAction.choices)
    source = serializers.ChoiceField(
        choices=ConsentSource.choices,
        help_text="Where the consent was collected. `keyword` and `provider_error` are recorded only by "
        "the SMS webhooks and the provider, never through the API.",
    )
    proof = serializers.DictField(
        required=False,
        default=dict,
        help_text="Evidence: `disclosure` (text shown), `url`, `ip`, `message`, `note`, `form`, `file`. "
        "An opt-in needs at least one of them. After a STOP (or a carrier unsubscribe) only a form the "
        "person submitted after it re-subscribes the number: `disclosure`, `url`, `ip` and "
        "`submitted_at` (ISO 8601, later than the STOP).",
    )

    class Meta:
        model = ConsentEvent
        fields = [
            "id",
            "contact",
            "phone",
            "action",
            "scope",
            "source",
            "proof",
            "actor",
            "occurred_at",
            "recorded_at",
        ]
        read_only_fields = ["id", "phone", "scope", "actor", "recorded_at"]
        extra_kwargs = {"occurred_at": {"required": False}}

    def validate_source(self, value: str) -> str:
        if value in PERSON_ONLY_SOURCES:
            raise serializers.ValidationError(
                f"{value!r} is recorded only from the person's own text or the SMS provider, "
                "not through the API; use web_form, api, import or agent."
            )
        return value

    def create(self, validated_data):
        # A ConsentError answers 400 on ``proof`` (core.errors.exception_handler).
        return consent_record(
            contact=validated_data["contact"],
            action=validated_data["action"],
            source=validated_data["source"],
            proof=validated_data.get("proof") or {},
            occurred_at=validated_data.get("occurred_at"),
            actor=self.context["request"].user,
        )


class ConsentEventFilter(django_filters.FilterSet):
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = ConsentEvent
        fields = ["contact", "action", "source"]


@extend_schema_view(
    list=extend_schema(summary="The consent ledger, newest first"),
    create=extend_schema(summary="Record an opt-in or opt-out; the contact's state follows the latest event"),
)
class ConsentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = ConsentEventSerializer
    queryset = ConsentEvent.objects.all()
    filterset_class = ConsentEventFilter
    search_fields = ["phone"]
    ordering_fields = ["occurred_at", "id"]
    ordering = ["-occurred_at", "-id"]


# --- Messages ---------------------------------------------------------------------------


class MediaSerializer(serializers.Serializer):
    url = serializers.SerializerMethodField(help_text="Our authenticated URL for it.")
    content_type = serializers.CharField()

    def get_url(self, item) -> str:
        request = self.context.get("request")
        path = media_view_url(item)
        return request.build_absolute_uri(path) if request else path


class MessageSerializer(serializers.ModelSerializer):
    media = MediaSerializer(many=True, read_only=True, help_text="MMS attachments, in order.")

    class Meta:
        model = Message
        fields = [
            "id",
            "contact",
            "conversation",
            "direction",
            "kind",
            "status",
            "body",
            "segments",
            "encoding",
            "to_number",
            "from_number",
            "provider",
            "provider_sid",
            "error_code",
            "error_message",
            "attempts",
            "next_attempt_at",
            "deferred_reason",
            "send_at",
            "media",
            "sent_by",
            "created_at",
            "sent_at",
            "delivered_at",
        ]
        read_only_fields = fields


class MessageSendSerializer(serializers.Serializer):
    contact = serializers.PrimaryKeyRelatedField(queryset=Contact.objects.select_related("account"))
    body = serializers.CharField(max_length=MAX_BODY_CHARS, help_text=f"Up to {MAX_BODY_CHARS} characters.")
    idempotency_key = serializers.CharField(
        max_length=200,
        required=False,
        help_text="Optional. Re-sending with the same key returns the first message; it never texts twice.",
    )
    media_urls = serializers.ListField(
        child=serializers.URLField(max_length=2000),
        required=False,
        max_length=10,
        help_text="Optional MMS: up to 10 https URLs Twilio fetches (JPEG, PNG, GIF or PDF; 5 MB in all).",
    )
    send_at = serializers.DateTimeField(
        required=False,
        help_text="Optional, ISO 8601, future (within a year): store the text as `scheduled` and send it "
        "then, through every check as of that moment.",
    )


class MessageRescheduleSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=MAX_BODY_CHARS, required=False)
    send_at = serializers.DateTimeField(required=False, help_text="A new time, in the future.")


class MessageFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=MessageStatus.choices)
    direction = django_filters.ChoiceFilter(choices=Direction.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Message
        fields = ["contact", "status", "direction", "kind", "conversation"]


REFUSAL = inline_serializer(
    "SendRefusal", fields={"detail": serializers.CharField(), "code": serializers.CharField()}
)


@extend_schema_view(
    list=extend_schema(summary="Messages, newest first"),
    create=extend_schema(
        summary="Send a one-off text through every check",
        description=(
            "Queues the text (status `queued`). Outside quiet hours in the contact's timezone it waits "
            "for the next window (`deferred_reason` = `quiet_hours`, or `state:FL_quiet_hours` when only a "
            "state's law holds it, `next_attempt_at`). Refused: 409 "
            "when the contact has not opted in or has opted out; 422 with the reason for any other "
            "governance refusal (e.g. no phone number)."
        ),
        request=MessageSendSerializer,
        responses={
            201: MessageSerializer,
            400: OpenApiResponse(description="Bad input, each field named"),
            409: OpenApiResponse(REFUSAL, description="Not opted in / opted out"),
            422: OpenApiResponse(REFUSAL, description="Refused by another governance rule"),
        },
    ),
)
class MessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = MessageSerializer
    queryset = Message.objects.prefetch_related("media")
    http_method_names = ["get", "post", "patch", "head", "options"]
    filterset_class = MessageFilter
    search_fields = ["body", "to_number", "from_number", "provider_sid"]
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]

    def create(self, request, *args, **kwargs):
        payload = MessageSendSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        if payload.validated_data.get("send_at") is not None:
            # Bad times answer 400 (ScheduleError); the checks run when it goes.
            message = message_schedule(
                contact=payload.validated_data["contact"],
                body=payload.validated_data["body"],
                send_at=payload.validated_data["send_at"],
                idempotency_key=payload.validated_data.get("idempotency_key"),
                sent_by=request.user,
                media_urls=payload.validated_data.get("media_urls", ()),
            )
            return Response(self.get_serializer(message).data, status=status.HTTP_201_CREATED)
        # A refusal (SendRefused) answers 409 or 422 with its reason (core.errors.exception_handler).
        message = message_send(
            contact=payload.validated_data["contact"],
            body=payload.validated_data["body"],
            idempotency_key=payload.validated_data.get("idempotency_key"),
            sent_by=request.user,
            media_urls=payload.validated_data.get("media_urls", ()),
        )
        return Response(self.get_serializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a scheduled text's body or time",
        request=MessageRescheduleSerializer,
        responses={
            200: MessageSerializer,
            409: OpenApiResponse(REFUSAL, description="Already sent or canceled"),
        },
    )
    def partial_update(self, request, *args, **kwargs):
        payload = MessageRescheduleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        message = message_reschedule(message=self.get_object(), **payload.validated_data)
        return Response(self.get_serializer(message).data)

    @extend_schema(
        summary="Cancel a scheduled text",
        request=None,
        responses={
            200: MessageSerializer,
            409: OpenApiResponse(REFUSAL, description="Already sent or canceled"),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return Response(self.get_serializer(message_cancel(message=self.get_object())).data)

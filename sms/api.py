"""REST API of the SMS module: the consent ledger and messages."""

import django_filters
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import DomainError
from core.filters import updated_after_filter
from core.idempotency import caller_scope
from core.pagination import FeedPagination
from crm.models import Contact
from sms.media import media_view_url
from sms.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
)
from sms.segments import MAX_BODY_CHARS
from sms.services.consent import consent_record, contact_texting
from sms.services.review import review_pending_for
from sms.services.scheduling import message_cancel, message_reschedule, message_schedule
from sms.services.sending import clean_body, message_send
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


class TextingStateSerializer(serializers.Serializer):
    contact = serializers.IntegerField()
    phone = serializers.CharField()
    sms_consent = serializers.CharField(help_text="The stored state, as `contacts/` answers it.")
    effective = serializers.CharField(
        help_text="`opted_out` (stored, or the number's suppression), `under_review` (a reply held for "
        "review), else the stored state: what every send path applies."
    )
    phone_suppressed = serializers.BooleanField()
    review = serializers.DictField(
        allow_null=True, help_text="The pending review: `id`, `why`, `received_at`, `due_at`."
    )
    can_text = serializers.BooleanField(
        help_text="Whether a manual or automated text would pass consent now."
    )
    refusal = serializers.CharField(allow_blank=True, help_text="Why not, e.g. `consent:under_review`.")


class ContactQuery(serializers.Serializer):
    contact = serializers.PrimaryKeyRelatedField(queryset=Contact.objects.all())


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
    pagination_class = FeedPagination
    search_fields = ["phone"]
    ordering_fields = ["occurred_at", "id"]
    ordering = ["-occurred_at", "-id"]

    @extend_schema(
        summary="A contact's effective texting state",
        description=(
            "What the send paths apply: the stored consent, the number's suppression (an opt-out "
            "follows the number) and a reply held for review as a possible revocation, with its "
            "deadline. `?contact=` is required."
        ),
        parameters=[OpenApiParameter("contact", int, required=True)],
        responses={200: TextingStateSerializer, 400: OpenApiResponse(description="No or unknown contact")},
    )
    @action(detail=False, methods=["get"], url_path="state")
    def state(self, request):
        query = ContactQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        contact = query.validated_data["contact"]
        texting = contact_texting(contact)
        review = review_pending_for(contact.phone) if texting.review_since else None
        refusal = texting.refusal(MessageKind.MANUAL) or "" if contact.phone else "contact:no_phone"
        return Response(
            {
                "contact": contact.pk,
                "phone": contact.phone or "",
                "sms_consent": texting.consent,
                "effective": texting.effective,
                "phone_suppressed": texting.suppressed,
                "review": (
                    {
                        "id": review.pk,
                        "why": review.why,
                        "received_at": review.received_at,
                        "due_at": review.due_at,
                    }
                    if review
                    else None
                ),
                "can_text": not refusal,
                "refusal": refusal,
            }
        )


# --- Messages ---------------------------------------------------------------------------


class MediaSerializer(serializers.Serializer):
    url = serializers.SerializerMethodField(help_text="Our authenticated URL for it.")
    content_type = serializers.CharField()

    def get_url(self, item) -> str:
        request = self.context.get("request")
        path = media_view_url(item)
        return request.build_absolute_uri(path) if request else path


class MessageSerializer(serializers.ModelSerializer):
    updated_at = serializers.DateTimeField(
        source="status_updated_at", read_only=True, help_text="When the status last moved."
    )
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
            "body_truncated",
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
            "updated_at",
        ]
        read_only_fields = fields


class MessageSendSerializer(serializers.Serializer):
    contact = serializers.PrimaryKeyRelatedField(queryset=Contact.objects.select_related("account"))
    body = serializers.CharField(
        max_length=MAX_BODY_CHARS,
        required=False,
        allow_blank=True,
        default="",
        help_text=f"Up to {MAX_BODY_CHARS} characters. May be left out of an MMS with `media_urls`.",
    )
    idempotency_key = serializers.CharField(
        max_length=200,
        required=False,
        help_text="Optional. Re-sending with the same key returns the first message; it never texts twice. "
        "Keys are yours alone (per API token, or per user in the browser): another caller's key never "
        "matches. Reusing a key for another contact or text answers 422.",
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

    def validate(self, data):
        # DRF trims the body, so one of only spaces is empty here.
        if not data.get("body") and not data.get("media_urls"):
            raise serializers.ValidationError({"body": ["Write a message, or attach media with media_urls."]})
        return data


class MessageRescheduleSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=MAX_BODY_CHARS, required=False)
    send_at = serializers.DateTimeField(required=False, help_text="A new time, in the future.")


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = status.HTTP_422_UNPROCESSABLE_ENTITY


class MessageFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=MessageStatus.choices)
    direction = django_filters.ChoiceFilter(choices=Direction.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = updated_after_filter("status_updated_at")

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
    pagination_class = FeedPagination
    search_fields = ["body", "to_number", "from_number", "provider_sid"]
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]

    def create(self, request, *args, **kwargs):
        payload = MessageSendSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        contact, body = payload.validated_data["contact"], payload.validated_data["body"]
        key = payload.validated_data.get("idempotency_key")
        # Scoped to the caller: two integrations that pick the same key are two messages.
        scoped_key = f"{caller_scope(request)}:{key}" if key else None
        if payload.validated_data.get("send_at") is not None:
            # Bad times answer 400 (ScheduleError); the checks run when it goes.
            message = message_schedule(
                contact=contact,
                body=body,
                send_at=payload.validated_data["send_at"],
                idempotency_key=scoped_key,
                sent_by=request.user,
                media_urls=payload.validated_data.get("media_urls", ()),
            )
        else:
            # A refusal (SendRefused) answers 409 or 422 with its reason (core.errors.exception_handler).
            message = message_send(
                contact=contact,
                body=body,
                idempotency_key=scoped_key,
                sent_by=request.user,
                media_urls=payload.validated_data.get("media_urls", ()),
            )
        if key and (message.contact_id != contact.pk or message.body != clean_body(body)):
            raise IdempotencyKeyReused(
                f"idempotency_key {key!r} was already used for message {message.pk} to another contact "
                "or with another text; use a new key for a new message."
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

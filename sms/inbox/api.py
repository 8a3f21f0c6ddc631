"""REST API of the reply inbox: conversations and the agent's actions on them.

The list is the page's queue (same filters, search and work order); each action goes through
``sms.inbox.services`` with the caller as actor and answers with the updated conversation."""

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import filters, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.dates import BoundedDateTimeField, DateBoundedFilterBackend
from core.filters import updated_after_filter
from sms.api import REFUSAL, ConsentEventSerializer, MessageSerializer
from sms.inbox import selectors, services
from sms.models import Conversation, ConversationStatus, Intent, Message, RevocationReview
from sms.segments import MAX_BODY_CHARS
from sms.services import review as reviews

# --- Serializers ------------------------------------------------------------------------


class LastMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "direction", "body", "created_at"]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    contact_name = serializers.SerializerMethodField()
    account = serializers.SerializerMethodField(help_text="The contact's account id, if any.")
    sla_breached = serializers.BooleanField(
        read_only=True, help_text="True when the reply deadline (`sla_due_at`) has passed."
    )
    last_message = LastMessageSerializer(read_only=True, allow_null=True)
    unread = serializers.BooleanField(
        read_only=True,
        help_text="For the caller: a reply came in after they last read it (or they never did).",
    )

    class Meta:
        model = Conversation
        fields = [
            "id",
            "contact",
            "contact_name",
            "account",
            "status",
            "assignee",
            "intent",
            "intent_confidence",
            "sla_due_at",
            "sla_breached",
            "first_response_at",
            "first_response_seconds",
            "last_response_seconds",
            "last_inbound_at",
            "last_outbound_at",
            "snoozed_until",
            "last_message",
            "updated_at",
            "unread",
        ]
        read_only_fields = fields

    def get_contact_name(self, conversation: Conversation) -> str:
        return str(conversation.contact)

    def get_account(self, conversation: Conversation) -> int | None:
        return conversation.contact.account_id


class ReplySerializer(serializers.Serializer):
    body = serializers.CharField(max_length=MAX_BODY_CHARS, help_text=f"Up to {MAX_BODY_CHARS} characters.")


class AssignSerializer(serializers.Serializer):
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True),
        allow_null=True,
        help_text="An active user's id, or null to unassign.",
    )


class SnoozeSerializer(serializers.Serializer):
    until = BoundedDateTimeField(help_text="ISO 8601 time in the future; it reopens then.")

    def validate_until(self, value):
        if value <= timezone.now():
            raise serializers.ValidationError("Snooze until a time in the future.")
        return value


def _reason_field(help_text: str, *, required: bool = True) -> serializers.CharField:
    return serializers.CharField(
        max_length=1000, required=required, allow_blank=not required, help_text=help_text
    )


def _check_reason(value: str) -> str:
    reason = " ".join((value or "").split())
    if len(reason.split()) < services.REVERSAL_REASON_MIN_WORDS:
        raise serializers.ValidationError(
            "Write why the reply was not a request to stop: a sentence of at least "
            f"{services.REVERSAL_REASON_MIN_WORDS} words, kept on the ledger and the timeline."
        )
    return reason


class ReverseOptOutSerializer(serializers.Serializer):
    reason = _reason_field("Why the reply was not a request to stop (at least 4 words; audited).")

    def validate_reason(self, value):
        return _check_reason(value)


class ReviewDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=[
            (reviews.CONFIRM_OPT_OUT, "Confirm the opt-out"),
            (reviews.NOT_REVOCATION, "Not a revocation"),
        ]
    )
    reason = _reason_field(
        "Required for `not_revocation` (at least 4 words; audited); optional for `confirm_opt_out`.",
        required=False,
    )

    def validate(self, data):
        if data["decision"] == reviews.NOT_REVOCATION:
            data["reason"] = _check_reason(data.get("reason", ""))
        return data


class RevocationReviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = RevocationReview
        fields = [
            "id",
            "phone",
            "contact",
            "message",
            "status",
            "why",
            "received_at",
            "due_at",
            "remind_at",
            "resolved_at",
            "resolved_by",
            "resolution_reason",
            "consent_event",
        ]
        read_only_fields = fields


class RelabelSerializer(serializers.Serializer):
    intent = serializers.ChoiceField(choices=Intent.choices)


# --- Filters ----------------------------------------------------------------------------


class StrictBooleanField(forms.Field):
    """``true``/``false`` (or 1/0); anything else is a 400 rather than silently no filter."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in {"true", "1"}:
            return True
        if text in {"false", "0"}:
            return False
        raise forms.ValidationError("Use true or false.")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class ConversationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ConversationStatus.choices)
    intent = django_filters.ChoiceFilter(choices=Intent.choices)
    assignee = django_filters.CharFilter(
        method="filter_assignee", help_text="A user id, `me` (the caller) or `none` (unassigned)."
    )
    updated_after = updated_after_filter()
    sla_breached = StrictBooleanFilter(
        method="filter_sla_breached", help_text="`true`: past the reply deadline; `false`: not."
    )
    unread = StrictBooleanFilter(
        method="filter_unread", help_text="`true`: unread by the caller; `false`: read."
    )

    class Meta:
        model = Conversation
        fields = ["status", "intent", "assignee", "sla_breached", "unread"]

    def filter_assignee(self, queryset, name, value):
        value = value.strip().lower()
        if value == "me":
            return queryset.filter(assignee=self.request.user)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value.isdigit():
            return queryset.filter(assignee_id=int(value))
        raise serializers.ValidationError({"assignee": ["Use a user id, `me` or `none`."]})

    def filter_sla_breached(self, queryset, name, value):
        return queryset.filter(sla_breached=value)

    def filter_unread(self, queryset, name, value):
        return queryset.filter(unread=value)


class ConversationSearchFilter(filters.SearchFilter):
    """``?search=`` finds what the inbox page's search finds: contact name, phone, email,
    account name, or text of any message."""

    def filter_queryset(self, request, queryset, view):
        return selectors.conversation_search(queryset, " ".join(self.get_search_terms(request)))


# --- Views ------------------------------------------------------------------------------

ACTION_ERRORS = {
    400: OpenApiResponse(description="Bad input, each field named"),
    404: OpenApiResponse(description="No such conversation"),
}


@extend_schema_view(
    list=extend_schema(
        summary="The inbox: conversations in work order",
        description=(
            "Breached first (the earliest `sla_due_at`), then by `sla_due_at`, then the latest "
            "reply (`last_inbound_at`). `?ordering=` overrides it."
        ),
    ),
    retrieve=extend_schema(summary="One conversation"),
)
class ConversationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ConversationSerializer
    filterset_class = ConversationFilter
    filter_backends = [
        DateBoundedFilterBackend,
        ConversationSearchFilter,
        filters.OrderingFilter,
    ]
    search_fields = ["contact__first_name", "contact__last_name", "contact__email", "contact__phone"]
    ordering_fields = ["sla_due_at", "last_inbound_at", "last_outbound_at", "created_at", "updated_at", "id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no caller
            return Conversation.objects.none()
        conversations = selectors.with_sla_breached(
            Conversation.objects.select_related("contact", "last_message")
        )
        return selectors.with_unread(conversations, self.request.user).order_by(*selectors.QUEUE_ORDER)

    def _answer(self, conversation: Conversation) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=conversation.pk)).data)

    def _payload(self, serializer_class):
        payload = serializer_class(data=self.request.data)
        payload.is_valid(raise_exception=True)
        return payload.validated_data

    @extend_schema(
        summary="Reply in the conversation",
        description=(
            "Sends through every governance check (as POST sms/messages/ does) and records the "
            "response time. Refused: 409 when the contact has opted out (or never opted in and "
            "did not start the conversation); 422 with the reason for any other refusal."
        ),
        request=ReplySerializer,
        responses={
            201: MessageSerializer,
            **ACTION_ERRORS,
            409: OpenApiResponse(REFUSAL, description="Not opted in / opted out"),
            422: OpenApiResponse(REFUSAL, description="Refused by another governance rule"),
        },
    )
    @action(detail=True, methods=["post"])
    def reply(self, request, pk=None):
        conversation = self.get_object()
        data = self._payload(ReplySerializer)
        # A refusal (SendRefused) answers 409 or 422 with its reason (core.errors.exception_handler).
        message = services.conversation_reply(
            conversation=conversation, body=data["body"], actor=request.user
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Assign to a user (null: unassign)",
        request=AssignSerializer,
        responses={200: ConversationSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        conversation = self.get_object()
        data = self._payload(AssignSerializer)
        services.conversation_assign(conversation=conversation, assignee=data["assignee"], actor=request.user)
        return self._answer(conversation)

    @extend_schema(
        summary="Mark read for the caller",
        description="What opening it in the inbox does: `unread` is false until the next reply comes in.",
        request=None,
        responses={200: ConversationSerializer, 404: ACTION_ERRORS[404]},
    )
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        conversation = self.get_object()
        services.conversation_mark_read(conversation=conversation, user=request.user)
        return self._answer(conversation)

    @extend_schema(
        summary="Mark unread for the caller",
        description="`unread` is true again (for a conversation with a reply from the customer).",
        request=None,
        responses={200: ConversationSerializer, 404: ACTION_ERRORS[404]},
    )
    @action(detail=True, methods=["post"])
    def unread(self, request, pk=None):
        conversation = self.get_object()
        services.conversation_mark_unread(conversation=conversation, user=request.user)
        return self._answer(conversation)

    @extend_schema(
        summary="Resolve (close) the conversation",
        request=None,
        responses={200: ConversationSerializer, 404: ACTION_ERRORS[404]},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        conversation = self.get_object()
        services.conversation_resolve(conversation=conversation, actor=request.user)
        return self._answer(conversation)

    @extend_schema(
        summary="Snooze until a time; it reopens then, or when the customer texts again",
        request=SnoozeSerializer,
        responses={200: ConversationSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def snooze(self, request, pk=None):
        conversation = self.get_object()
        data = self._payload(SnoozeSerializer)
        services.conversation_snooze(conversation=conversation, until=data["until"], actor=request.user)
        return self._answer(conversation)

    @extend_schema(
        summary="Correct the intent of the latest reply",
        description="The label is kept to measure the classifier; a high intent starts its SLA.",
        request=RelabelSerializer,
        responses={200: ConversationSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def relabel(self, request, pk=None):
        conversation = self.get_object()
        data = self._payload(RelabelSerializer)
        services.conversation_relabel(conversation=conversation, intent=data["intent"], actor=request.user)
        return self._answer(conversation)

    @extend_schema(
        summary="Record the opt-out the customer asked for in plain words, and resolve",
        description="Appends an opt-out (source `agent`, the latest reply as proof) to the consent ledger.",
        request=None,
        responses={200: ConversationSerializer, 404: ACTION_ERRORS[404]},
    )
    @action(detail=True, methods=["post"], url_path="record-opt-out")
    def record_opt_out(self, request, pk=None):
        conversation = self.get_object()
        services.conversation_record_opt_out(conversation=conversation, actor=request.user)
        return self._answer(conversation)

    @extend_schema(
        summary="Reverse a plain-words revocation an agent judges misread",
        description=(
            "Restores the opt-in that the contact's latest consent event (an opt-out read from a reply "
            "in plain words, source `reply_words`) ended: a new ledger event (source `agent`, proof with "
            "`reason`, `reversed_event` and `restored_event`) and a timeline entry with the caller. "
            "`reason` is required (400 without it). Never a keyword opt-out (STOP and its family) or a "
            "carrier unsubscribe: only the person can undo those (409 with the reason), nor an opt-out "
            "that did not end an opt-in (409)."
        ),
        request=ReverseOptOutSerializer,
        responses={
            201: ConsentEventSerializer,
            **ACTION_ERRORS,
            409: OpenApiResponse(REFUSAL, description="Not reversible (keyword opt-out, nothing to restore)"),
        },
    )
    @action(detail=True, methods=["post"], url_path="reverse-opt-out")
    def reverse_opt_out(self, request, pk=None):
        conversation = self.get_object()
        data = self._payload(ReverseOptOutSerializer)
        event = services.conversation_reverse_opt_out(
            conversation=conversation, reason=data["reason"], actor=request.user
        )
        return Response(ConsentEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Decide a reply held for review as a possible revocation",
        description=(
            "While a reply is held for review nothing is sent to the number (but keyword confirmations "
            "and one clarification within five minutes). `confirm_opt_out` records the opt-out (source "
            "`agent`, the reply as proof); `not_revocation` lifts the hold and needs a `reason` (400 "
            "without it), kept on the review and the timeline. 409 when nothing is held for review for "
            "the contact's number or it was decided already."
        ),
        request=ReviewDecisionSerializer,
        responses={
            200: RevocationReviewSerializer,
            **ACTION_ERRORS,
            409: OpenApiResponse(REFUSAL, description="Nothing pending for review"),
        },
    )
    @action(detail=True, methods=["post"], url_path="review")
    def review(self, request, pk=None):
        conversation = self.get_object()
        data = self._payload(ReviewDecisionSerializer)
        review = reviews.review_pending_for(conversation.contact.phone)
        if review is None:
            raise reviews.ReviewError("No reply from this contact's number is held for review.")
        decided = reviews.review_decide(
            review=review, decision=data["decision"], reason=data.get("reason", ""), actor=request.user
        )
        return Response(RevocationReviewSerializer(decided).data)

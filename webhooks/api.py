"""REST API of the outbound webhooks under /api/v1/webhooks/: admins only."""

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from core.events import EVENT_TYPES
from core.filters import updated_after_filter
from core.pagination import FeedPagination
from crm.roles import can_manage_users
from webhooks import services
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint


class AdminOnly(permissions.BasePermission):
    message = "Only admins can manage webhooks."

    def has_permission(self, request, view):
        return can_manage_users(request.user)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(EVENT_TYPES)), allow_empty=False
    )
    secret = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="whsec_ + base64 of 24-64 bytes. Generated when not given; only the create "
        "response shows it.",
    )
    secret_hint = serializers.CharField(read_only=True)
    previous_secret_expires_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="After a rotation: until when the replaced secret also signs deliveries.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "secret",
            "secret_hint",
            "previous_secret_expires_at",
            "is_active",
            "failing_since",
            "last_success_at",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "failing_since",
            "last_success_at",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("show_secret"):
            data["secret"] = None
        return data

    def validate_secret(self, value):
        if self.instance is not None and value:
            raise serializers.ValidationError("The secret cannot be changed; create a new endpoint.")
        return value

    def create(self, validated_data):
        return services.endpoint_create(actor=self.context["request"].user, **validated_data)

    def update(self, instance, validated_data):
        validated_data.pop("secret", None)
        return services.endpoint_update(endpoint=instance, **validated_data)


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "id",
            "attempted_at",
            "succeeded",
            "response_status",
            "duration_ms",
            "error",
            "response_body",
        ]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    attempts_log = WebhookAttemptSerializer(source="attempt_log", many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "message_id",
            "event_type",
            "body",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "response_status",
            "last_error",
            "replay_of",
            "created_at",
            "attempts_log",
        ]


class WebhookEndpointFilter(django_filters.FilterSet):
    updated_after = updated_after_filter()

    class Meta:
        model = WebhookEndpoint
        fields = ["is_active"]


class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Subscriptions to the product's events, signed per the Standard Webhooks specification."""

    queryset = WebhookEndpoint.objects.all()
    serializer_class = WebhookEndpointSerializer
    permission_classes = [permissions.IsAuthenticated, AdminOnly]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    filterset_class = WebhookEndpointFilter
    search_fields = ["url", "description"]
    ordering_fields = ["id", "updated_at"]
    ordering = ["id"]

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["show_secret"] = self.action in ("create", "rotate_secret")
        return context

    @extend_schema(request=None, responses=WebhookEndpointSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new secret, shown in this answer only. For 24 hours deliveries carry two signatures
        in `webhook-signature` (new secret, then the old one), then only the new one."""
        endpoint = services.endpoint_rotate_secret(endpoint=self.get_object())
        return Response(self.get_serializer(endpoint).data)

    @extend_schema(
        responses=WebhookDeliverySerializer(many=True),
        parameters=[
            OpenApiParameter(
                "status", enum=DeliveryStatus.values, description="Only deliveries in this status."
            )
        ],
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=FeedPagination,  # newest first (its default ordering)
        filter_backends=[],
    )
    def deliveries(self, request, pk=None):
        """Deliveries to this endpoint, newest first, each with its attempts: an append-only
        feed paged by cursor (follow `next`), like the other feeds."""
        endpoint = self.get_object()
        deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).prefetch_related("attempt_log")
        status_filter = request.query_params.get("status")
        if status_filter:
            if status_filter not in DeliveryStatus.values:
                raise serializers.ValidationError(
                    {
                        "status": [
                            f"Unknown status {status_filter!r}: one of {', '.join(DeliveryStatus.values)}."
                        ]
                    }
                )
            deliveries = deliveries.filter(status=status_filter)
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={201: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>\d+)/replay")
    def replay(self, request, pk=None, delivery_id=None):
        """Send a delivery again now (same webhook-id and body), with its own retries."""
        endpoint = self.get_object()
        delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, endpoint=endpoint)
        replay = services.delivery_replay(delivery=delivery)
        return Response(WebhookDeliverySerializer(replay).data, status=status.HTTP_201_CREATED)

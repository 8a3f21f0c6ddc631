"""``notifications/``: the caller's notifications, newest first; ``?unread=true``; read one or all."""

import django_filters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.filters import updated_after_filter
from sms.inbox.api import StrictBooleanFilter
from sms.models import Notification
from sms.notifications import services


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "conversation", "text", "created_at", "read_at", "updated_at"]
        read_only_fields = fields


class NotificationFilter(django_filters.FilterSet):
    unread = StrictBooleanFilter(method="filter_unread", help_text="`true`: only unread; `false`: only read.")
    kind = django_filters.CharFilter()
    updated_after = updated_after_filter()

    class Meta:
        model = Notification
        fields = ["unread", "kind", "conversation", "updated_after"]

    def filter_unread(self, queryset, name, value):
        return queryset.filter(read_at__isnull=value)


class NotificationViewSet(viewsets.ReadOnlyModelViewSet):
    """What needs you: conversations assigned to you, replies in them, reply deadlines due
    within 15 minutes or missed, and escalations of your reports' missed deadlines."""

    serializer_class = NotificationSerializer
    filterset_class = NotificationFilter
    ordering_fields = ["created_at", "updated_at", "id"]
    search_fields = ["text"]

    queryset = Notification.objects.none()  # for the schema; each caller sees their own

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        return Notification.objects.filter(recipient=self.request.user).order_by("-created_at", "-id")

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = services.notification_read(notification=self.get_object())
        return Response(NotificationSerializer(notification).data)

    @extend_schema(
        request=None,
        responses=inline_serializer("NotificationsReadAll", {"marked": serializers.IntegerField()}),
    )
    @action(detail=False, methods=["post"], url_path="read-all", filterset_class=None)
    def read_all(self, request):
        return Response({"marked": services.notifications_read_all(recipient=request.user)})

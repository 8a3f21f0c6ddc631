"""``users/`` and ``users/me/``: the team. Everyone signed in reads; admins change a user's
role, manager and timezone; each user changes their own timezone and email opt-in on ``me``."""

import django_filters
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.filters import updated_after_filter
from crm import services
from crm.models import _timezone_names
from crm.roles import can_manage_users

User = get_user_model()


class UserSerializer(serializers.ModelSerializer):
    full_name = serializers.SerializerMethodField(help_text="First and last name, or the username.")
    manager = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(),
        allow_null=True,
        required=False,
        help_text="Who hears of this user's escalations (a user id), or null.",
    )
    timezone = serializers.CharField(
        allow_blank=True,
        required=False,
        max_length=64,
        help_text="IANA time zone (e.g. America/Chicago); blank means the team's.",
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "full_name",
            "email",
            "role",
            "manager",
            "timezone",
            "notify_by_email",
            "is_active",
            "updated_at",
        ]
        read_only_fields = ["id", "username", "full_name", "email", "is_active", "updated_at"]

    def get_full_name(self, user) -> str:
        return user.get_full_name() or user.username

    def validate_timezone(self, value: str) -> str:
        value = value.strip()
        if value and value not in _timezone_names():
            raise serializers.ValidationError(
                f"{value!r} is not an IANA timezone (for example America/Chicago)."
            )
        return value

    def update(self, instance, validated_data: dict):
        return services.user_update(user=instance, **validated_data)


class OwnSettingsSerializer(UserSerializer):
    """What a user changes about themselves: their timezone and email opt-in."""

    class Meta(UserSerializer.Meta):
        read_only_fields = [*UserSerializer.Meta.read_only_fields, "role", "manager"]


class UserFilter(django_filters.FilterSet):
    updated_after = updated_after_filter()

    class Meta:
        model = User
        fields = ["role", "is_active", "manager"]


class AdminChangesUsers(permissions.BasePermission):
    message = "Only admins can change users."

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS or getattr(view, "action", None) == "me":
            return True
        return can_manage_users(request.user)


class UserViewSet(mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The team, for assignment and escalation. Admins PATCH ``role``, ``manager`` (no loops)
    and ``timezone`` (validated IANA name)."""

    queryset = User.objects.order_by("username", "id")
    serializer_class = UserSerializer
    permission_classes = [permissions.IsAuthenticated, AdminChangesUsers]
    search_fields = ["username", "first_name", "last_name", "email"]
    filterset_class = UserFilter
    ordering_fields = ["username", "id", "updated_at"]
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(request=OwnSettingsSerializer, responses=OwnSettingsSerializer)
    @action(detail=False, methods=["get", "patch"], filterset_class=None, search_fields=[])
    def me(self, request):
        """The caller; PATCH changes their own ``timezone`` and ``notify_by_email``."""
        if request.method == "GET":
            return Response(OwnSettingsSerializer(request.user, context={"request": request}).data)
        serializer = OwnSettingsSerializer(
            request.user, data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)

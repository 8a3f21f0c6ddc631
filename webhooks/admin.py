from django.contrib import admin

from crm.roles import can_manage_users
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class AdminsOnly:
    """Webhooks are for admins: staff with another role do not see them."""

    def has_module_permission(self, request):
        return can_manage_users(request.user)

    def has_view_permission(self, request, obj=None):
        return can_manage_users(request.user)

    def has_add_permission(self, request, *args):
        return can_manage_users(request.user)

    def has_change_permission(self, request, obj=None):
        return can_manage_users(request.user)

    def has_delete_permission(self, request, obj=None):
        return can_manage_users(request.user)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AdminsOnly, admin.ModelAdmin):
    list_display = ("url", "is_active", "failing_since", "disabled_at", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    # Endpoints are created on the webhooks page, where the URL is checked (https, public
    # address) and the secret shown once; here they can be described and turned on or off.
    exclude = ("secret", "previous_secret")
    readonly_fields = (
        "url",
        "events",
        "failing_since",
        "last_success_at",
        "disabled_at",
        "disabled_reason",
        "created_by",
        "previous_secret_expires_at",
    )

    def has_add_permission(self, request, *args):
        return False


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = (
        "attempted_at",
        "succeeded",
        "response_status",
        "duration_ms",
        "error",
        "response_body",
    )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(AdminsOnly, admin.ModelAdmin):
    list_display = (
        "message_id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "event_type")
    list_select_related = ("endpoint",)
    search_fields = ("message_id",)
    inlines = [WebhookAttemptInline]

    def has_add_permission(self, request, *args):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

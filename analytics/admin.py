"""Admin for analytics: assumptions are edited through the service (so the change history keeps
who and when); snapshots are read-only."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied

from analytics.assumptions import assumption_update
from analytics.models import Assumption, AssumptionChange, Snapshot
from analytics.views import can_change_assumptions
from core.history import ChangeHistoryAdminMixin


class AssumptionChangeInline(admin.TabularInline):
    model = AssumptionChange
    extra = 0
    can_delete = False
    readonly_fields = ["old_value", "new_value", "changed_by", "changed_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Assumption)
class AssumptionAdmin(ChangeHistoryAdminMixin, admin.ModelAdmin):
    list_display = ["label", "value", "unit", "updated_by", "updated_at"]
    fields = ["key", "label", "value", "unit", "help_text", "updated_by", "updated_at"]
    readonly_fields = ["key", "label", "unit", "help_text", "updated_by", "updated_at"]
    inlines = [AssumptionChangeInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and can_change_assumptions(request.user)

    def save_model(self, request, obj, form, change):
        if not can_change_assumptions(request.user):
            raise PermissionDenied
        assumption_update(key=obj.key, value=obj.value, actor=request.user)


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ["metric", "computed_at", "duration_ms", "params"]
    list_filter = ["metric"]
    readonly_fields = ["metric", "params_key", "params", "payload", "computed_at", "duration_ms"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

"""Admin for plays. Enrollments are the exposure log: read-only."""

from django.contrib import admin
from django.db import models

from core.history import ChangeHistoryAdminMixin
from crm.roles import ProgramAdminMixin
from plays.models import Enrollment, Play


@admin.register(Play)
class PlayAdmin(ChangeHistoryAdminMixin, ProgramAdminMixin, admin.ModelAdmin):
    """Edits go through the model's validators (trigger, audience, template, next step). Use
    the API or the status actions for status changes that must stamp `activated_at`."""

    list_display = ("name", "moment", "status", "holdout_percent", "cooldown_days", "owner", "last_run_at")
    list_filter = ("status", "moment")
    search_fields = ("name", "template")
    list_select_related = ("owner",)
    readonly_fields = ("running_since", "last_run_at", "activated_at", "created_at", "updated_at")
    # A link typed without a scheme is an https one (Django 6's default, chosen explicitly now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("decided_at", "play", "contact", "account", "arm", "outcome", "reason", "occurrence")
    list_filter = ("arm", "outcome", "play")
    search_fields = ("occurrence", "reason", "contact__email", "contact__last_name")
    list_select_related = ("play", "contact", "account")
    date_hierarchy = "decided_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

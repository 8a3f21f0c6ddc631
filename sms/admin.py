"""Admin for the SMS module. The ledger and messages are records of what happened: read-only."""

from django.contrib import admin

from core.history import ChangeHistoryAdminMixin
from sms.models import (
    ConsentEvent,
    Conversation,
    Deferral,
    IntentLabel,
    IntentRule,
    Message,
    RevocationReview,
    SavedReply,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    """Record consent in the UI or API (POST /api/v1/sms/consent/) so proof is captured."""

    list_display = ("occurred_at", "action", "source", "contact", "phone", "actor")
    list_filter = ("action", "source", "occurred_at")
    search_fields = ("phone", "contact__email", "contact__last_name")
    list_select_related = ("contact", "actor")
    date_hierarchy = "occurred_at"


@admin.register(RevocationReview)
class RevocationReviewAdmin(ReadOnlyAdmin):
    """Decide reviews in the inbox (or the API), so the decision is audited with its reason."""

    list_display = ("received_at", "due_at", "status", "phone", "contact", "resolved_by", "why")
    list_filter = ("status",)
    search_fields = ("phone", "contact__email", "contact__last_name")
    list_select_related = ("contact", "resolved_by")
    date_hierarchy = "received_at"


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "direction",
        "kind",
        "status",
        "contact",
        "to_number",
        "segments",
        "error_code",
    )
    list_filter = ("status", "direction", "kind", "encoding", "created_at")
    search_fields = ("body", "to_number", "from_number", "provider_sid", "contact__email")
    list_select_related = ("contact",)
    date_hierarchy = "created_at"


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("contact", "status", "assignee", "intent", "last_inbound_at", "sla_due_at")
    list_filter = ("status", "intent", "assignee")
    search_fields = ("contact__email", "contact__last_name", "contact__phone")
    list_select_related = ("contact", "assignee")
    autocomplete_fields = ("assignee",)
    readonly_fields = ("contact", "first_response_at", "last_inbound_at", "last_outbound_at")


@admin.register(IntentRule)
class IntentRuleAdmin(ChangeHistoryAdminMixin, admin.ModelAdmin):
    """The classifier's rules: the matching rule with the highest confidence wins. Changes apply
    to the next reply. Measure them with `python manage.py intent_report`."""

    list_display = ("pattern", "intent", "confidence", "position", "is_active", "description")
    list_editable = ("confidence", "position", "is_active")
    list_filter = ("intent", "is_active")
    search_fields = ("pattern", "description")


@admin.register(IntentLabel)
class IntentLabelAdmin(ReadOnlyAdmin):
    list_display = ("labelled_at", "predicted", "intent", "labelled_by", "message")
    list_filter = ("intent", "predicted")
    list_select_related = ("labelled_by", "message")


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "body")
    list_editable = ("position",)
    search_fields = ("name", "body")


@admin.register(Deferral)
class DeferralAdmin(admin.ModelAdmin):
    list_display = ("contact", "until", "reason", "created_by", "created_at")
    list_filter = ("until",)
    search_fields = ("contact__email", "contact__last_name", "reason")
    list_select_related = ("contact", "created_by")
    autocomplete_fields = ("contact",)
    readonly_fields = ("message", "created_by", "created_at")

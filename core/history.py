"""Change history (django-auditlog, models listed in settings.AUDITLOG_INCLUDE_TRACKING_MODELS):
who changed what, when, from what to what. ``changes_for`` reads one object's history;
``ChangeHistoryAdminMixin`` shows it under the object's admin form."""

from auditlog.models import LogEntry

HISTORY_SHOWN = 50


def changes_for(obj, limit: int = HISTORY_SHOWN) -> list[LogEntry]:
    """The object's recorded changes, newest first, with who made them (one query)."""
    return list(
        LogEntry.objects.get_for_object(obj).select_related("actor").order_by("-timestamp", "-id")[:limit]
    )


class ChangeHistoryAdminMixin:
    """Django admin: the change page lists the object's history below the form."""

    change_form_template = "admin/change_form_with_history.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = {**(extra_context or {}), "change_history": changes_for(obj) if obj else []}
        return super().change_view(request, object_id, form_url, extra_context)

"""Django admin for the CRM. Saves go through crm.services so that phones are parsed, emails
normalised and stage changes/renewal decisions land on the timeline, exactly as in the UI."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import render

from core.history import ChangeHistoryAdminMixin
from crm import services
from crm.data_forms import MergeForm
from crm.merge import account_merge, contact_merge, related_counts
from crm.models import (
    Account,
    Activity,
    ApiToken,
    Contact,
    Deal,
    Event,
    ImportJob,
    Order,
    PipelineStage,
    Renewal,
    Task,
    User,
)
from crm.roles import can_manage_users


def _model_field_values(form) -> dict:
    names = {f.name for f in form._meta.model._meta.concrete_fields}
    return {name: value for name, value in form.cleaned_data.items() if name in names}


class ServiceSavingAdmin(admin.ModelAdmin):
    """Routes admin saves through a create/update service pair.

    ``create_service(actor=..., **fields)`` and ``update_service(<entity>=obj, actor=...,
    **changed_fields)``; services that take no actor are wrapped by the subclass."""

    entity: str = ""

    def create_service(self, request, fields):
        raise NotImplementedError

    def update_service(self, request, instance, fields):
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        fields = _model_field_values(form)
        if change:
            current = type(obj).objects.get(pk=obj.pk)
            changed = {name: fields[name] for name in form.changed_data if name in fields}
            saved = self.update_service(request, current, changed)
        else:
            saved = self.create_service(request, fields)
        obj.pk = saved.pk
        obj.refresh_from_db()


class MergeAdminMixin:
    """An admin action that merges the two selected records, after a page that shows them side
    by side with a choice per differing field (the same form as the UI)."""

    merge_service = None

    @admin.action(description="Merge the two selected %(verbose_name_plural)s")
    def merge_selected(self, request, queryset):
        records = list(queryset.order_by("pk")[:3])
        if len(records) != 2:
            self.message_user(request, "Select exactly two records to merge.", messages.ERROR)
            return None
        first, second = records
        form = MergeForm(request.POST if "apply" in request.POST else None, first=first, second=second)
        if "apply" in request.POST and form.is_valid():
            survivor, other = form.records()
            try:
                result = type(self).merge_service(
                    survivor=survivor, other=other, keep=form.keep(), actor=request.user
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                return None
            moved = ", ".join(f"{n} {label}" for label, n in sorted(result.moved.items())) or "nothing"
            self.message_user(
                request, f"Merged #{other.pk} into #{survivor.pk} (moved {moved}).", messages.SUCCESS
            )
            return None
        counts = related_counts(type(first), [first.pk, second.pk])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Merge two {self.model._meta.verbose_name_plural}",
            "form": form,
            "first": first,
            "second": second,
            "first_counts": counts.get(first.pk, {}),
            "second_counts": counts.get(second.pk, {}),
            "selected": [first.pk, second.pk],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return render(request, "admin/crm/merge.html", context)


class ReadOnlyInline(admin.TabularInline):
    """An overview of related rows with links; edits happen on each row's own page."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ContactInline(ReadOnlyInline):
    model = Contact
    fields = ("first_name", "last_name", "email", "phone", "sms_consent", "owner")


class DealInline(ReadOnlyInline):
    model = Deal
    fields = ("name", "kind", "stage", "amount", "owner", "expected_close")


class RenewalInline(ReadOnlyInline):
    model = Renewal
    fields = ("start_date", "end_date", "acv", "status", "renewed_acv")


@admin.register(User)
class UserAdmin(ChangeHistoryAdminMixin, DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "is_staff", "is_active")
    list_filter = ("role", "is_staff", "is_superuser", "is_active")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("CRM", {"fields": ("role",)}))
    add_fieldsets = (*DjangoUserAdmin.add_fieldsets, ("CRM", {"fields": ("role",)}))

    # Only admins manage users (their roles decide who may change plays and settings).
    def has_add_permission(self, request):
        return super().has_add_permission(request) and can_manage_users(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and can_manage_users(request.user)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and can_manage_users(request.user)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def has_add_permission(self, request):
        # Keys are shown once at creation: create them in the UI or with create_api_token.
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        tokens = list(queryset.filter(revoked_at__isnull=True))
        for token in tokens:
            token.revoke()
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)


@admin.register(Account)
class AccountAdmin(MergeAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "domain",
        "owner",
        "plan",
        "seats",
        "lifecycle_stage",
        "acquisition_channel",
        "signed_up_at",
        "contact_count",
    )
    list_filter = ("lifecycle_stage", "plan", "acquisition_channel", "owner", "signed_up_at")
    search_fields = ("name", "domain")
    list_select_related = ("owner",)
    autocomplete_fields = ("owner", "ae")
    date_hierarchy = "signed_up_at"
    inlines = (ContactInline, DealInline, RenewalInline)
    actions = ("merge_selected",)
    merge_service = account_merge

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(contact_count=Count("contacts"))

    @admin.display(description="Contacts", ordering="contact_count")
    def contact_count(self, obj):
        return obj.contact_count


class ContactAdminForm(forms.ModelForm):
    phone_region = forms.CharField(
        max_length=2, required=False, help_text="Region for numbers typed without +country, e.g. US."
    )

    class Meta:
        model = Contact
        fields = (
            "account",
            "first_name",
            "last_name",
            "email",
            "external_id",
            "owner",
            "phone_raw",
            "timezone",
            "acquisition_channel",
            "attributes",
        )

    def clean(self):
        cleaned = super().clean()
        # Validate exactly what the service will do, so a bad or duplicate number is a form
        # error here rather than a failure in save_model.
        probe = Contact(pk=self.instance.pk, email=services.normalize_email(cleaned.get("email")))
        try:
            services.contact_apply_phone(
                probe, cleaned.get("phone_raw", ""), region=cleaned.get("phone_region") or None
            )
            services.contact_check_unique(probe)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field != "phone" else "phone_raw", errors)
        return cleaned


@admin.register(Contact)
class ContactAdmin(MergeAdminMixin, ServiceSavingAdmin):
    form = ContactAdminForm
    actions = ("merge_selected",)
    merge_service = contact_merge
    list_display = ("__str__", "email", "phone", "phone_valid", "account", "owner", "sms_consent", "timezone")
    list_filter = ("sms_consent", "phone_valid", "acquisition_channel", "owner")
    search_fields = ("first_name", "last_name", "email", "phone", "phone_raw", "account__name")
    list_select_related = ("account", "owner")
    autocomplete_fields = ("account", "owner")
    readonly_fields = ("phone", "phone_valid", "sms_consent", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("account", "first_name", "last_name", "email", "external_id", "owner")}),
        ("Phone", {"fields": ("phone_raw", "phone_region", "phone", "phone_valid", "timezone")}),
        ("Lifecycle", {"fields": ("acquisition_channel", "sms_consent", "attributes")}),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )

    def _service_fields(self, form, fields):
        fields = dict(fields)
        region = form.cleaned_data.get("phone_region") or None
        if "phone_raw" in fields:
            fields["phone"] = fields.pop("phone_raw")
            fields["phone_region"] = region
        return fields

    def save_model(self, request, obj, form, change):
        self._form = form
        super().save_model(request, obj, form, change)

    def create_service(self, request, fields):
        return services.contact_create(**self._service_fields(self._form, fields))

    def update_service(self, request, instance, fields):
        return services.contact_update(contact=instance, **self._service_fields(self._form, fields))


@admin.register(PipelineStage)
class PipelineStageAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "position", "probability", "is_closed", "is_won", "is_late")
    list_editable = ("position", "probability")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Deal)
class DealAdmin(ServiceSavingAdmin):
    list_display = ("name", "account", "kind", "stage", "amount", "owner", "next_step_date", "expected_close")
    list_filter = ("stage", "kind", "owner")
    search_fields = ("name", "account__name", "next_step")
    list_select_related = ("account", "stage", "owner")
    autocomplete_fields = ("account", "contact", "owner")
    readonly_fields = ("closed_at", "created_at", "updated_at")

    def create_service(self, request, fields):
        return services.deal_create(actor=request.user, **fields)

    def update_service(self, request, instance, fields):
        return services.deal_update(deal=instance, actor=request.user, **fields)


@admin.register(Renewal)
class RenewalAdmin(ServiceSavingAdmin):
    list_display = ("account", "start_date", "end_date", "acv", "status", "renewed_acv", "decided_at")
    list_filter = ("status", "end_date")
    search_fields = ("account__name",)
    list_select_related = ("account",)
    autocomplete_fields = ("account",)
    readonly_fields = ("decided_at", "created_at", "updated_at")
    date_hierarchy = "end_date"

    def create_service(self, request, fields):
        return services.renewal_create(actor=request.user, **fields)

    def update_service(self, request, instance, fields):
        return services.renewal_update(renewal=instance, actor=request.user, **fields)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("__str__", "contact", "account", "amount", "gross_margin", "ordered_at", "attribution")
    list_filter = ("ordered_at",)
    search_fields = ("external_id", "contact__email", "account__name", "attribution")
    list_select_related = ("contact", "account")
    autocomplete_fields = ("contact", "account")
    date_hierarchy = "ordered_at"


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "contact", "occurred_at", "external_id")
    list_filter = ("name", "occurred_at")
    search_fields = ("name", "external_id", "account__name", "contact__email")
    list_select_related = ("account", "contact")
    autocomplete_fields = ("account", "contact")
    date_hierarchy = "occurred_at"


@admin.register(Task)
class TaskAdmin(ServiceSavingAdmin):
    list_display = ("title", "owner", "account", "contact", "due_at", "status", "source")
    list_filter = ("status", "source", "owner")
    search_fields = ("title", "account__name", "contact__email")
    list_select_related = ("owner", "account", "contact")
    autocomplete_fields = ("owner", "account", "contact")
    readonly_fields = ("completed_at",)

    def create_service(self, request, fields):
        return services.task_create(actor=request.user, **fields)

    def update_service(self, request, instance, fields):
        return services.task_update(task=instance, **fields)


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    """The timeline is append-only: entries can be read here, never edited."""

    list_display = ("occurred_at", "kind", "summary", "contact", "account", "actor")
    list_filter = ("kind", "occurred_at")
    search_fields = ("summary", "contact__email", "account__name")
    list_select_related = ("contact", "account", "actor")
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Imports are made in the UI (/imports/) or with `manage.py import_csv`; here they are read."""

    list_display = ("created_at", "kind", "file_name", "status", "rows_done", "created_by")
    list_filter = ("kind", "status")
    search_fields = ("file_name",)
    list_select_related = ("created_by",)
    exclude = ("lease_until",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

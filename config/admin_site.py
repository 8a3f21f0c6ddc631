"""The Django admin, with powers that Django's model permissions cannot be trusted with kept to
admins (role): a staff member granted every model permission still cannot reach these models.

- django-q's schedules, tasks and queue: a schedule calls any function by its dotted path;
- intent rules: they decide what every reply triggers (opt-outs, deferrals, routing);
- users, groups and API tokens: who may do what, and other people's keys;
- two-factor devices: their secrets are second factors (an admin deletes a lost phone's here).
"""

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from core.schedules import schedule_func_problem
from crm.roles import can_manage_users

ADMIN_ONLY_MODELS = frozenset(
    {
        "django_q.schedule",
        "django_q.success",
        "django_q.failure",
        "django_q.ormq",
        "django_q.task",
        "sms.intentrule",
        "crm.user",
        "crm.apitoken",
        "auth.group",
        "otp_totp.totpdevice",
    }
)


class AdminOnlyMixin:
    """Every permission of the model admin also needs the admin role (or a superuser)."""

    def has_module_permission(self, request):
        return can_manage_users(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return can_manage_users(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return can_manage_users(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return can_manage_users(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return can_manage_users(request.user) and super().has_delete_permission(request, obj)


class ScheduleFuncMixin:
    """The schedule form refuses a function outside the allow-list with the reason."""

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class ScheduleForm(form):
            def clean_func(self):
                func = self.cleaned_data.get("func")
                problem = schedule_func_problem(func)
                if problem:
                    raise ValidationError(problem)
                return func

        return ScheduleForm


class LifecycleAdminSite(admin.AdminSite):
    site_header = "Lifecycle CRM admin"
    site_title = "Lifecycle CRM"

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request, extra_context=None):
        """Django's admin login, through our password step: a user with two-factor sign-in is
        asked for the code (crm.views.sign_in), as on /login/."""
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        from django.contrib.admin.forms import AdminAuthenticationForm

        from crm.views.sign_in import SignInView

        context = {
            **self.each_context(request),
            "title": "Log in",
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
        }
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        context.update(extra_context or {})
        request.current_app = self.name
        return SignInView.as_view(
            extra_context=context,
            authentication_form=self.login_form or AdminAuthenticationForm,
            template_name=self.login_template or "admin/login.html",
            redirect_authenticated_user=False,
        )(request)

    def register(self, model_or_iterable, admin_class=None, **options):
        models = [model_or_iterable] if isinstance(model_or_iterable, type) else list(model_or_iterable)
        for model in models:
            cls = admin_class or admin.ModelAdmin
            mixins = []
            if model._meta.label_lower in ADMIN_ONLY_MODELS and not issubclass(cls, AdminOnlyMixin):
                mixins.append(AdminOnlyMixin)
            if model._meta.label_lower == "django_q.schedule" and not issubclass(cls, ScheduleFuncMixin):
                mixins.append(ScheduleFuncMixin)
            if mixins:
                cls = type(f"Checked{cls.__name__}", (*mixins, cls), {"__module__": cls.__module__})
            super().register(model, cls, **options)

"""The team page (admins set role, manager and timezone) and each user's own settings."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from crm import services, two_factor
from crm.forms import OwnSettingsForm, UserSettingsForm, add_service_errors
from crm.roles import can_manage_users

User = get_user_model()


def user_list(request: HttpRequest) -> HttpResponse:
    users = list(User.objects.select_related("manager").order_by("username", "id"))
    editable = can_manage_users(request.user)
    rows = [
        (
            user,
            UserSettingsForm(
                prefix=f"u{user.pk}",
                initial={"role": user.role, "manager": user.manager_id, "timezone": user.timezone},
            )
            if editable
            else None,
        )
        for user in users
    ]
    return render(request, "crm/user_list.html", {"rows": rows, "editable": editable})


@require_POST
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    if not can_manage_users(request.user):
        raise PermissionDenied("Only admins can change users.")
    target = get_object_or_404(User, pk=pk)
    form = UserSettingsForm(request.POST, prefix=f"u{target.pk}")
    if form.is_valid():
        try:
            services.user_update(user=target, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
    if form.errors:
        errors = "; ".join(f"{message}" for field in form.errors.values() for message in field)
        messages.error(request, f"{target} was not changed: {errors}")
    else:
        messages.success(request, f"Saved {target}.")
    return redirect("user_list")


def own_settings(request: HttpRequest) -> HttpResponse:
    user = request.user
    if request.method == "POST":
        form = OwnSettingsForm(request.POST)
        if form.is_valid():
            services.user_update(user=user, **form.cleaned_data)
            messages.success(request, "Settings saved.")
            return redirect("own_settings")
    else:
        form = OwnSettingsForm(initial={"timezone": user.timezone, "notify_by_email": user.notify_by_email})
    two_factor_on = two_factor.confirmed_device(user) is not None
    return render(request, "crm/own_settings.html", {"form": form, "two_factor_on": two_factor_on})

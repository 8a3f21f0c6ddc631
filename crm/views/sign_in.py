"""Signing in (password, then a code for users with two-factor sign-in) and resetting a forgotten
password by email. The same password step serves /login/ and /admin/login/
(``config.admin_site``), so the admin's login is no way around the code."""

import hashlib
import logging

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.decorators import method_decorator

from core.ratelimit import client_address, window_hit
from crm import two_factor

logger = logging.getLogger(__name__)


class SignInView(auth_views.LoginView):
    """Django's login, except that a user with a confirmed device is not signed in yet: the
    password step is remembered and the code page asked for. Wrong passwords count toward the
    lockout as before (django-axes, on ``authenticate``)."""

    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if two_factor.confirmed_device(user) is None:
            return super().form_valid(form)
        two_factor.sign_in_pending_start(request=self.request, user=user, redirect_to=self.get_success_url())
        return redirect("sign_in_code")


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app",
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


@login_not_required
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """The second step. A wrong code is a failed sign-in for django-axes, counted with wrong
    passwords for the same username and address; a locked pair gets no code checked at all."""
    pending = two_factor.sign_in_pending(request)
    if pending is None:
        return redirect("login")
    user, backend, redirect_to = pending
    credentials = {"username": user.get_username()}
    if not AxesProxyHandler.is_allowed(request, credentials):
        return get_lockout_response(request, credentials=credentials)
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        device = two_factor.confirmed_device(user)
        if device is None:  # turned off (by an admin) since the password step: start again
            return redirect("login")
        problem = two_factor.code_check(device, form.cleaned_data["code"])
        if not problem:
            two_factor.sign_in_complete(request=request, user=user, backend=backend, device=device)
            return redirect(redirect_to)
        form.add_error("code", problem)
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        status = 400
    elif request.method == "POST":
        status = 400
    return render(request, "registration/sign_in_code.html", {"form": form, "username": user}, status=status)


# --- Password reset by email --------------------------------------------------------------------


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset form (an email goes only to an active user with that address, and the page
    says the same either way), sending at most PASSWORD_RESET_EMAILS_PER_HOUR emails to one
    address: an inbox cannot be flooded, and the answer still does not change."""

    def save(self, *args, **kwargs):
        email = self.cleaned_data["email"].strip().lower()
        digest = hashlib.sha256(email.encode()).hexdigest()
        verdict = window_hit(
            f"password-reset:email:{digest}", limit=settings.PASSWORD_RESET_EMAILS_PER_HOUR, period=3600
        )
        if not verdict.allowed:
            logger.info("password reset email not sent: over the hourly limit for the address")
            return
        super().save(*args, **kwargs)


@method_decorator(login_not_required, name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    form_class = ThrottledPasswordResetForm
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def post(self, request, *args, **kwargs):
        # Many addresses from one client: a plain 429 (it says nothing about any address).
        verdict = window_hit(
            f"password-reset:client:{client_address(request)}",
            limit=settings.PASSWORD_RESET_REQUESTS_PER_HOUR,
            period=3600,
        )
        if not verdict.allowed:
            body = render_to_string("registration/password_reset_throttled.html", request=request)
            response = HttpResponse(body, status=429)
            response["Retry-After"] = str(verdict.reset_in)
            return response
        return super().post(request, *args, **kwargs)

    @property
    def extra_email_context(self):
        # The link is built on our public address, never on the Host header a client sent.
        return {"base_url": settings.PUBLIC_BASE_URL.rstrip("/")}


password_reset = PasswordResetView.as_view()
password_reset_done = login_not_required(
    auth_views.PasswordResetDoneView.as_view(template_name="registration/password_reset_done.html")
)
password_reset_confirm = login_not_required(
    auth_views.PasswordResetConfirmView.as_view(template_name="registration/password_reset_confirm.html")
)
password_reset_complete = login_not_required(
    auth_views.PasswordResetCompleteView.as_view(template_name="registration/password_reset_complete.html")
)

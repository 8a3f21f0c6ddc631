"""Each user's two-factor sign-in: enrol (scan, confirm with a code), or turn it off with a code."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from crm import two_factor
from crm.views.sign_in import CodeForm


def two_factor_settings(request: HttpRequest) -> HttpResponse:
    user = request.user
    device = two_factor.confirmed_device(user)
    form = CodeForm(request.POST or None)
    status = 200
    if device is not None:
        context = {"enabled": True, "form": form, "must_keep": two_factor.must_enrol(user)}
        return render(request, "crm/two_factor.html", context)
    enrolment = two_factor.totp_enrolment_device(user=user)
    if request.method == "POST":
        if form.is_valid():
            code = form.cleaned_data["code"]
            problem = two_factor.totp_confirm(request=request, device=enrolment, code=code)
            if not problem:
                messages.success(request, "Two-factor sign-in is on: sign-in will ask for a code.")
                return redirect("own_settings")
            form.add_error("code", problem)
        status = 400
    context = {
        "enabled": False,
        "form": form,
        "qr": two_factor.totp_qr_data_uri(enrolment),
        "secret": two_factor.totp_secret(enrolment),
        "must_enrol": two_factor.must_enrol(user),
    }
    return render(request, "crm/two_factor.html", context, status=status)


@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST)
    problem = "Enter the code from your app."
    if form.is_valid():
        problem = two_factor.totp_disable(request=request, user=request.user, code=form.cleaned_data["code"])
    if problem:
        if "code" not in form.errors:
            form.add_error("code", problem)
        context = {"enabled": True, "form": form, "must_keep": two_factor.must_enrol(request.user)}
        return render(request, "crm/two_factor.html", context, status=400)
    messages.success(request, "Two-factor sign-in is off.")
    return redirect("own_settings")

"""Plumbing shared by the CRM pages."""

from collections.abc import Callable
from typing import TypeVar

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import IntegrityError
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from crm import services
from crm.forms import add_service_errors

PAGE_SIZE = 50
T = TypeVar("T")


def paginate(request: HttpRequest, items, per_page: int = PAGE_SIZE) -> Page:
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def form_data(request: HttpRequest):
    """POST data for a bound form, None (an unbound form) for other methods."""
    return request.POST if request.method == "POST" else None


def save_with(form: BaseForm, write: Callable[..., T], /, *args, **kwargs) -> T | None:
    """Call a service with the form's data; on ValidationError put the messages on the form
    and return None. A unique value taken by a concurrent writer is reported the same way."""
    try:
        return write(*args, **kwargs)
    except ValidationError as exc:
        add_service_errors(form, exc)
    except IntegrityError:
        form.add_error(None, "This conflicts with an existing record (a unique value is already taken).")
    return None


def safe_next(request: HttpRequest) -> str | None:
    """The ``next`` parameter when it points into this site, else None."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


def redirect_next(request: HttpRequest, default, *args) -> HttpResponseRedirect:
    return redirect(safe_next(request) or default, *args)


def log_touch(request: HttpRequest, form, **subject) -> bool:
    """Put a touch someone logged by hand (email, call, meeting, note) on the timeline of
    ``subject`` (account= or contact=). False, with the errors on the form, when it failed."""
    if form.is_valid() and save_with(
        form,
        services.activity_record,
        actor=request.user,
        kind=form.cleaned_data["kind"],
        summary=form.cleaned_data["summary"],
        **subject,
    ):
        messages.success(request, "Logged on the timeline.")
        return True
    return False

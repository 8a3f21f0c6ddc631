"""The admins' webhooks pages: endpoints, their deliveries and attempts, replay, on/off."""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core.errors import DomainError
from crm.roles import can_manage_users
from webhooks import services
from webhooks.forms import WebhookEndpointForm
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

DELIVERIES_SHOWN = 50


def admin_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not can_manage_users(request.user):
            raise PermissionDenied("Only admins can manage webhooks.")
        return view(request, *args, **kwargs)

    return wrapped


@never_cache
@admin_required
def endpoint_list(request: HttpRequest) -> HttpResponse:
    """Endpoints with their health; a new endpoint's secret is shown in the answer to the POST
    that created it and never again."""
    form = WebhookEndpointForm(request.POST if request.method == "POST" else None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.endpoint_create(actor=request.user, **form.cleaned_data)
        except services.WebhookRefused as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            form = WebhookEndpointForm()
    endpoints = WebhookEndpoint.objects.annotate(
        failed_count=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
        waiting_count=Count(
            "deliveries", filter=Q(deliveries__status__in=(DeliveryStatus.PENDING, DeliveryStatus.SENDING))
        ),
    ).order_by("id")
    return render(
        request,
        "webhooks/endpoint_list.html",
        {
            "form": form,
            "endpoints": endpoints,
            "created": created,
            "disable_after_hours": settings.WEBHOOKS_DISABLE_AFTER_HOURS,
        },
    )


def _detail(request: HttpRequest, endpoint: WebhookEndpoint, *, rotated: bool = False) -> HttpResponse:
    deliveries = (
        WebhookDelivery.objects.filter(endpoint=endpoint).prefetch_related("attempt_log").order_by("-id")
    )[:DELIVERIES_SHOWN]
    return render(
        request,
        "webhooks/endpoint_detail.html",
        {"endpoint": endpoint, "deliveries": deliveries, "rotated": rotated},
    )


@never_cache
@admin_required
def endpoint_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, get_object_or_404(WebhookEndpoint, pk=pk))


@never_cache
@require_POST
@admin_required
def endpoint_rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    """The new secret is shown in this answer and never again (no redirect to a page that could
    show it twice)."""
    endpoint = services.endpoint_rotate_secret(endpoint=get_object_or_404(WebhookEndpoint, pk=pk))
    return _detail(request, endpoint, rotated=True)


@require_POST
@admin_required
def endpoint_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    services.endpoint_update(endpoint=endpoint, is_active=not endpoint.is_active)
    messages.success(request, f"{endpoint.url} is {'on' if endpoint.is_active else 'off'}.")
    return redirect("webhook_endpoint", pk=pk)


@require_POST
@admin_required
def delivery_replay(request: HttpRequest, pk: int, delivery_id: int) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, endpoint_id=pk)
    try:
        replay = services.delivery_replay(delivery=delivery)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"Replaying {delivery.event_type} {delivery.message_id} (delivery {replay.pk})."
        )
    return redirect("webhook_endpoint", pk=pk)

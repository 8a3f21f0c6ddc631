"""The bell (an unread count htmx polls) and the notifications page."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from sms.models import Notification
from sms.notifications import services

BELL_POLL_SECONDS = 15


@never_cache
def notification_bell(request: HttpRequest) -> HttpResponse:
    unread = Notification.objects.filter(recipient=request.user, read_at__isnull=True).count()
    return render(
        request,
        "sms/partials/notification_bell.html",
        {"unread": unread, "poll_seconds": BELL_POLL_SECONDS},
    )


def notification_list(request: HttpRequest) -> HttpResponse:
    notifications = Notification.objects.filter(recipient=request.user).select_related(
        "conversation__contact"
    )
    if request.GET.get("unread") == "true":
        notifications = notifications.filter(read_at__isnull=True)
    page = Paginator(notifications.order_by("-created_at", "-id"), 50).get_page(request.GET.get("page"))
    return render(request, "sms/notifications.html", {"page_obj": page})


@require_POST
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(Notification, pk=pk, recipient=request.user)
    services.notification_read(notification=notification)
    if notification.conversation_id:
        return redirect(reverse("inbox") + f"?conversation={notification.conversation_id}")
    return redirect("notification_list")


@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    services.notifications_read_all(recipient=request.user)
    return redirect("notification_list")

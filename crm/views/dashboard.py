from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from crm import selectors


def dashboard(request: HttpRequest) -> HttpResponse:
    # The inbox and plays panels (settings.HOME_PAGE_PANELS) load with htmx: crm never imports them.
    panels = [reverse(name) for name in settings.HOME_PAGE_PANELS]
    return render(
        request, "crm/dashboard.html", {"dash": selectors.dashboard_for(request.user), "panels": panels}
    )

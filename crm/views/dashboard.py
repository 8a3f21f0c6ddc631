from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm import selectors


def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "crm/dashboard.html", {"dash": selectors.dashboard_for(request.user)})

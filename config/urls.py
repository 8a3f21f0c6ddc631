from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config.api_docs import RedocView
from core import views as core_views
from crm.views import sign_in
from sms import views as sms_views
from sms.urls import inbox_urlpatterns

api_v1 = [
    path("sms/", include("sms.api_urls")),
    path("", include("sms.notifications.api_urls")),
    path("plays/", include("plays.api_urls")),
    path("analytics/", include("analytics.api_urls")),
    path("", include("webhooks.api_urls")),
    path("", include("crm.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The docs pages are HTML: anonymous visitors go to the login page, not a JSON 401.
    # Our templates (templates/api/): drf-spectacular's inline script and styles break the CSP.
    path(
        "docs/",
        login_required(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html")
        ),
        name="api-docs",
    ),
    path(
        "redoc/",
        login_required(RedocView.as_view(url_name="api-schema")),
        name="api-redoc",
    ),
]

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path(
        "login/",
        login_not_required(sign_in.SignInView.as_view()),
        name="login",
    ),
    path("login/code/", sign_in.sign_in_code, name="sign_in_code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", sign_in.password_reset, name="password_reset"),
    path("password-reset/sent/", sign_in.password_reset_done, name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", sign_in.password_reset_confirm, name="password_reset_confirm"),
    path("password-reset/complete/", sign_in.password_reset_complete, name="password_reset_complete"),
    path("api/v1/", include(api_v1)),
    path("inbox/", include(inbox_urlpatterns)),
    path("notifications/", include("sms.notifications.urls")),
    path("l/<str:code>", sms_views.follow_link, name="short_link"),
    path("sms/", include("sms.urls")),
    path("plays/", include("plays.urls")),
    path("analytics/", include("analytics.urls")),
    path("settings/webhooks/", include("webhooks.urls")),
    path("", include("crm.urls")),
]

"""REST API routes of analytics, included at /api/v1/analytics/."""

from django.urls import path

from analytics import api

urlpatterns = [
    *[
        path(f"{metric}/", api.metric_view(metric).as_view(), name=f"api-analytics-{metric}")
        for metric in (
            "ltv",
            "cohorts",
            "retention",
            "mrr-movements",
            "roi",
            "sms-health",
            "maturity",
            "clv",
            "lift",
            "velocity",
            "global-control",
            "health-model",
            "subscription-clv",
            "sms-converted",
        )
    ],
    path("plays/<int:id>/lift/", api.PlayLiftView.as_view(), name="api-analytics-play-lift"),
    path("plays/<int:id>/variants/", api.PlayVariantsView.as_view(), name="api-analytics-play-variants"),
    path("assumptions/", api.AssumptionListView.as_view(), name="api-analytics-assumptions"),
    path("assumptions/<slug:key>/", api.AssumptionDetailView.as_view(), name="api-analytics-assumption"),
]

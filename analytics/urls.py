"""Analytics pages, included at /analytics/ (the REST API is at /api/v1/analytics/)."""

from django.urls import path

from analytics import views

urlpatterns = [
    path("", views.dashboard, name="analytics_dashboard"),
    path("export/<slug:name>.csv", views.export_table, name="analytics_export"),
    path("assumptions/", views.assumptions, name="analytics_assumptions"),
    path("plays/<int:pk>/lift/", views.play_lift, name="analytics_play_lift"),
    path("plays/<int:pk>/variants/", views.play_variants, name="analytics_play_variants"),
    path("assumptions/<slug:key>/", views.assumption_change, name="analytics_assumption_change"),
]

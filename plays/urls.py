"""HTML pages of plays, included at /plays/ (the REST API is at /api/v1/plays/)."""

from django.urls import path

from plays import journey_views, views

urlpatterns = [
    path("", views.play_list, name="play_list"),
    path("home-panel/", views.home_panel, name="plays_home_panel"),
    path("new/", views.play_create, name="play_create"),
    path("preview/", views.play_preview_form, name="play_preview_form"),
    path("<int:pk>/", views.play_detail, name="play_detail"),
    path("<int:pk>/edit/", views.play_edit, name="play_edit"),
    path("<int:pk>/activate/", views.play_activate, name="play_activate"),
    path("<int:pk>/pause/", views.play_pause, name="play_pause"),
    path("<int:pk>/retire/", views.play_retire, name="play_retire"),
    path("<int:pk>/run/", views.play_run_now, name="play_run"),
    path("<int:pk>/journey/", journey_views.journey_editor, name="play_journey"),
    path("<int:pk>/journey/add/", journey_views.journey_step_add, name="play_journey_add"),
    path(
        "<int:pk>/journey/<int:index>/move/<str:direction>/",
        journey_views.journey_step_move,
        name="play_journey_move",
    ),
    path(
        "<int:pk>/journey/<int:index>/remove/", journey_views.journey_step_remove, name="play_journey_remove"
    ),
    path("<int:pk>/journey/exits/", journey_views.journey_exits, name="play_journey_exits"),
    path("<int:pk>/journey/preview/", journey_views.journey_preview, name="play_journey_preview"),
    path("<int:pk>/journey/promote/", journey_views.journey_variant_promote, name="play_journey_promote"),
]

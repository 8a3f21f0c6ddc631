"""HTML pages of plays, included at /plays/ (the REST API is at /api/v1/plays/)."""

from django.urls import path

from plays import views

urlpatterns = [
    path("", views.play_list, name="play_list"),
    path("new/", views.play_create, name="play_create"),
    path("preview/", views.play_preview_form, name="play_preview_form"),
    path("<int:pk>/", views.play_detail, name="play_detail"),
    path("<int:pk>/edit/", views.play_edit, name="play_edit"),
    path("<int:pk>/activate/", views.play_activate, name="play_activate"),
    path("<int:pk>/pause/", views.play_pause, name="play_pause"),
    path("<int:pk>/retire/", views.play_retire, name="play_retire"),
    path("<int:pk>/run/", views.play_run_now, name="play_run"),
]

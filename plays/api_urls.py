"""REST API routes of plays, included at /api/v1/plays/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from plays import api

router = SimpleRouter()
router.register("", api.PlayViewSet, basename="api-play")

urlpatterns = [
    path("<int:id>/enrollments/", api.EnrollmentListView.as_view(), name="api-play-enrollments"),
    *router.urls,
]

"""REST API routes of the CRM under /api/v1/."""

from rest_framework.routers import DefaultRouter

from crm.api import users, views

router = DefaultRouter()
router.include_format_suffixes = False
router.register("accounts", views.AccountViewSet, basename="api-account")
router.register("contacts", views.ContactViewSet, basename="api-contact")
router.register("custom-fields", views.CustomFieldViewSet, basename="api-custom-field")
router.register("pipeline-stages", views.PipelineStageViewSet, basename="api-pipeline-stage")
router.register("deals", views.DealViewSet, basename="api-deal")
router.register("renewals", views.RenewalViewSet, basename="api-renewal")
router.register("orders", views.OrderViewSet, basename="api-order")
router.register("events", views.EventViewSet, basename="api-event")
router.register("tasks", views.TaskViewSet, basename="api-task")
router.register("users", users.UserViewSet, basename="api-user")
router.register("activities", views.ActivityViewSet, basename="api-activity")

urlpatterns = router.urls

"""REST API routes of the outbound webhooks under /api/v1/."""

from rest_framework.routers import SimpleRouter

from webhooks.api import WebhookEndpointViewSet

router = SimpleRouter()
router.register("webhooks", WebhookEndpointViewSet, basename="api-webhook")

urlpatterns = router.urls

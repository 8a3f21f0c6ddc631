"""REST API routes of the SMS module under /api/v1/sms/."""

from rest_framework.routers import SimpleRouter

from sms import api

router = SimpleRouter()
router.register("consent", api.ConsentViewSet, basename="api-sms-consent")
router.register("messages", api.MessageViewSet, basename="api-sms-message")

urlpatterns = router.urls

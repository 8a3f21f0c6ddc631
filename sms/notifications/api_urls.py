"""``/api/v1/notifications/``."""

from rest_framework.routers import SimpleRouter

from sms.notifications.api import NotificationViewSet

router = SimpleRouter()
router.register("notifications", NotificationViewSet, basename="api-notification")

urlpatterns = router.urls

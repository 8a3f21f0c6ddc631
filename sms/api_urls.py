"""REST API routes of the SMS module under /api/v1/sms/."""

from rest_framework.routers import SimpleRouter

from sms import api
from sms.inbox import api as inbox_api

router = SimpleRouter()
router.register("consent", api.ConsentViewSet, basename="api-sms-consent")
router.register("messages", api.MessageViewSet, basename="api-sms-message")
router.register("conversations", inbox_api.ConversationViewSet, basename="api-sms-conversation")

urlpatterns = router.urls

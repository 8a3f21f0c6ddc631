from django.urls import path

from sms import webhooks

urlpatterns = [
    path("twilio/inbound/", webhooks.inbound, name="twilio_inbound"),
    path("twilio/status/", webhooks.status, name="twilio_status"),
]
